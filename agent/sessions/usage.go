package sessions

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The real-use gauge reads the session pods' metrics from metrics.k8s.io,
// in the platform namespace only: a Role rule, like the rest.
// +kubebuilder:rbac:groups=metrics.k8s.io,resources=pods,verbs=get;list,namespace=streamspace

var usedDesc = prometheus.NewDesc("streamspace_session_resource_used",
	"What session pods really use, from metrics.k8s.io (metrics-server), by template and resource (cpu in cores, memory in bytes: the working set); absent when the cluster has no metrics.k8s.io. Compare with streamspace_session_resource_requests.",
	[]string{"template", "resource"}, nil)

// podMetricsList is metrics.k8s.io's PodMetricsList, read as unstructured so
// that the agent needs neither k8s.io/metrics nor a scheme entry for it.
var podMetricsList = schema.GroupVersionKind{Group: "metrics.k8s.io", Version: "v1beta1", Kind: "PodMetricsList"}

// RegisterRealUse registers streamspace_session_resource_used on reg. It
// lists the session pods' PodMetrics in namespace ("": all) with reader at
// every scrape; reader must
// read the API directly (the manager's APIReader): metrics.k8s.io cannot be
// watched, so a cache cannot hold it. Like the cache-computed gauges it is
// reported by the leader only (elected; nil: always).
func RegisterRealUse(reg prometheus.Registerer, reader client.Reader, namespace string, elected <-chan struct{}) error {
	return reg.Register(leaderOnly{elected: elected, Collector: &useCollector{reader: reader, namespace: namespace}})
}

type useCollector struct {
	reader    client.Reader
	namespace string
}

func (c *useCollector) Describe(ch chan<- *prometheus.Desc) { ch <- usedDesc }

func (c *useCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	used, err := realUse(ctx, c.reader, c.namespace)
	if err != nil {
		if metricsAPIAbsent(err) {
			// Nothing, not zeros: a dashboard shows "no data", never a
			// session that seems to use nothing.
			return
		}
		// Not the whole scrape's failure either: the other gauges stand.
		ctrl.Log.WithName("metrics").Error(err, "Cannot read the session pods' metrics from metrics.k8s.io")
		return
	}
	for k, v := range used {
		ch <- prometheus.MustNewConstMetric(usedDesc, prometheus.GaugeValue, v, k.template, k.resource)
	}
}

type useKey struct{ template, resource string }

// realUse sums the session pods' container usage by template and resource.
func realUse(ctx context.Context, reader client.Reader, namespace string) (map[useKey]float64, error) {
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(podMetricsList)
	// PodMetrics carry their pod's labels: only session pods
	if err := reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{LabelApp: AppSession}); err != nil {
		return nil, err
	}
	used := map[useKey]*resource.Quantity{}
	for _, pm := range list.Items {
		template := pm.GetLabels()[LabelTemplate]
		if template == "" {
			continue // not a pod the agent made
		}
		containers, _, _ := unstructured.NestedSlice(pm.Object, "containers")
		for _, ct := range containers {
			usage, _, _ := unstructured.NestedStringMap(ct.(map[string]any), "usage")
			for _, res := range []string{"cpu", "memory"} {
				q, err := resource.ParseQuantity(usage[res])
				if err != nil {
					continue // a container not measured yet
				}
				k := useKey{template, res}
				if used[k] == nil {
					used[k] = &resource.Quantity{}
				}
				used[k].Add(q)
			}
		}
	}
	out := make(map[useKey]float64, len(used))
	for k, q := range used {
		out[k] = q.AsApproximateFloat64()
	}
	return out, nil
}

// metricsAPIAbsent: the cluster has no metrics.k8s.io (no such group), or
// has it registered but not serving (metrics-server down or not ready: 503,
// or 404 for a group that went away since discovery).
func metricsAPIAbsent(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsNotFound(err)
}

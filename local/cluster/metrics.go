package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// metrics-server gives the real node metrics.k8s.io (kubectl top, the
// agent's real-use gauges). It runs as a host process like kube-proxy, not as
// a pod (no registry here to pull its image from), listening on the bridge's
// gateway: an Endpoints address may not be loopback, and the API server
// reaches the gateway directly (--enable-aggregator-routing). The API server
// finds it through an APIService, a Service without a selector and an
// EndpointSlice naming that address.
//
// It reads the kubelet's /metrics/resource over TLS that it verifies: the
// kubelet's serving certificate is signed by the cluster CA for the name
// "localhost" the node is reached by, so --kubelet-insecure-tls is not used.

// MetricsServerVersion is the version hack/metrics-server.sh builds.
const MetricsServerVersion = "v0.8.0"

const metricsServerService = "metrics-server"

// MetricsServerBin is where hack/metrics-server.sh puts the binary (the
// Makefile's cluster-binaries builds it): a folder beside the Kubernetes
// binaries in the cache.
func (c *Cluster) MetricsServerBin() string {
	return filepath.Join(filepath.Dir(c.Bins), "tools-metrics-server-"+MetricsServerVersion, "metrics-server")
}

// metricsServerIPs are the addresses its serving certificate names: the
// address it listens on (a real node's bridge gateway).
func (c *Cluster) metricsServerIPs() []net.IP {
	if ip := net.ParseIP(c.apiAddress); ip != nil {
		return []net.IP{ip}
	}
	return nil
}

func (c *Cluster) metricsServerArgs() []string {
	kc := c.componentKubeconfig("metrics-server")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=" + c.apiAddress,
		"--secure-port=" + strconv.Itoa(c.Ports.MetricsServer),
		"--tls-cert-file=" + c.pki("metrics-server-serving.crt"),
		"--tls-private-key-file=" + c.pki("metrics-server-serving.key"),
		"--cert-dir=" + filepath.Join(c.Dir, "pki", "metrics-server-generated"),
		"--kubelet-preferred-address-types=Hostname",
		"--kubelet-use-node-status-port",
		"--kubelet-certificate-authority=" + c.pki("ca.crt"),
		"--kubelet-client-certificate=" + c.pki("metrics-server.crt"),
		"--kubelet-client-key=" + c.pki("metrics-server.key"),
		"--metric-resolution=15s",
		"--profiling=false",
	}
}

// upMetricsServer starts metrics-server on a real node and registers it.
// Without its binary, beside an API server started without the aggregation
// layer (before this code), or on a simulated node (kwok has no kubelet to
// scrape), it says so and the cluster runs without metrics.k8s.io: nothing
// depends on it to work. Then a registration left from an earlier up goes:
// an APIService that nobody serves breaks discovery, and with it namespace
// deletion.
func (c *Cluster) upMetricsServer(ctx context.Context, out io.Writer) error {
	switch {
	case c.Simulated, !c.MetricsServer:
		return c.unregisterMetricsServer(ctx)
	case !haveFile(c.MetricsServerBin()):
		fmt.Fprintf(out, "==> no metrics.k8s.io (kubectl top): %s is missing; `make cluster-binaries` builds it\n", c.MetricsServerBin())
		return c.unregisterMetricsServer(ctx)
	case !c.aggregationLayer():
		fmt.Fprintln(out, "==> no metrics.k8s.io (kubectl top): the API server that runs was started without the aggregation layer; `streamspace cluster down` then up starts it with it")
		return c.unregisterMetricsServer(ctx)
	}
	if err := c.applyMetricsServerObjects(ctx); err != nil {
		return fmt.Errorf("register metrics-server: %w", err)
	}
	return c.ensureRunning(ctx, out, "metrics-server", c.metricsServerArgs(), nil, c.metricsServerHealthy, 60*time.Second)
}

// aggregationLayer: the API server that runs (if one does) was started
// with the aggregation layer's flags; one started before them cannot reach
// metrics-server, which is then neither started nor expected.
func (c *Cluster) aggregationLayer() bool {
	pid := c.pid("kube-apiserver")
	return pid == 0 || slices.ContainsFunc(cmdline(pid), func(a string) bool {
		return strings.HasPrefix(a, "--requestheader-client-ca-file=")
	})
}

// metricsServerHealthy: it serves /livez (allowed without credentials).
// Its /readyz waits for a first scrape (15 s): kubectl top works from then.
func (c *Cluster) metricsServerHealthy(ctx context.Context) error {
	hc, err := c.tlsClient(c.pki("ca.crt"), "")
	if err != nil {
		return err
	}
	_, err = get(ctx, hc, "https://"+net.JoinHostPort(c.apiAddress, strconv.Itoa(c.Ports.MetricsServer))+"/livez")
	return err
}

// metricsServerObjects are what registers metrics-server, in the shape of
// the project's own components.yaml, less its Deployment: RBAC for
// system:metrics-server (read pods and nodes, the kubelet's metrics,
// delegated authentication and authorization), the reader role aggregated
// into view/edit/admin, a Service without a selector whose EndpointSlice is
// the gateway address, and the APIService trusting the cluster CA.
const metricsServerObjects = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: streamspace:metrics-server
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace:metrics-server
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "streamspace:metrics-server"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %[1]q}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace:metrics-server:auth-delegator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %[1]q}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace:metrics-server:auth-reader
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %[1]q}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: v1
kind: Service
metadata:
  name: %[2]s
  namespace: kube-system
spec:
  ports: [{name: https, port: 443, protocol: TCP, targetPort: %[4]d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[2]s-local
  namespace: kube-system
  labels:
    kubernetes.io/service-name: %[2]s
    endpointslice.kubernetes.io/managed-by: streamspace-local-cluster
addressType: IPv4
endpoints: [{addresses: [%[3]q], conditions: {ready: true}}]
ports: [{name: https, port: %[4]d, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: %[2]s, namespace: kube-system, port: 443}
  caBundle: %[5]s
`

// resourceOf maps the kinds of metricsServerObjects to their resources.
var resourceOf = map[string]string{
	"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "RoleBinding": "rolebindings",
	"Service": "services", "EndpointSlice": "endpointslices", "APIService": "apiservices",
}

// applyMetricsServerObjects server-side applies metricsServerObjects (a
// second up, or a gateway that moved, updates them in place).
func (c *Cluster) applyMetricsServerObjects(ctx context.Context) error {
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return err
	}
	dyn, err := c.dynamicClient()
	if err != nil {
		return err
	}
	manifest := fmt.Sprintf(metricsServerObjects, metricsServerUser, metricsServerService, c.apiAddress, c.Ports.MetricsServer, base64.StdEncoding.EncodeToString(caPEM))
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifest)), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if obj.Object == nil {
			continue
		}
		gvk := obj.GroupVersionKind()
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resourceOf[gvk.Kind]}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns := obj.GetNamespace(); ns != "" {
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		force := true
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "streamspace-local-cluster", Force: &force}); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("%s %s: %w (the API server serves no %s)", gvk.Kind, obj.GetName(), err, gvr)
			}
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// unregisterMetricsServer deletes metrics.k8s.io's APIService if an earlier
// up made it.
func (c *Cluster) unregisterMetricsServer(ctx context.Context) error {
	dyn, err := c.dynamicClient()
	if err != nil {
		return err
	}
	err = dyn.Resource(apiServiceGVR).Delete(ctx, "v1beta1.metrics.k8s.io", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove the metrics.k8s.io APIService nobody serves: %w", err)
	}
	return nil
}

func (c *Cluster) dynamicClient() (*dynamic.DynamicClient, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	return dynamic.NewForConfig(cfg)
}

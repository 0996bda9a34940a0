package sessions

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Metrics of the session controller. Counters and histograms are recorded
// as things happen; the session gauges are counted from the informer cache
// at every scrape, so they are always the real numbers.
type Metrics struct {
	Starts              *prometheus.CounterVec
	Hibernations        *prometheus.CounterVec
	Wakes               *prometheus.CounterVec
	Terminations        *prometheus.CounterVec
	HibernationDuration prometheus.Histogram
	StartLatency        *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them, with a collector that
// counts sessions from reader, on reg.
func NewMetrics(reg prometheus.Registerer, reader client.Reader) (*Metrics, error) {
	m := &Metrics{
		Starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_session_starts_total",
			Help: "Session starts, by template and kind (Launch or Wake).",
		}, []string{"template", "kind"}),
		Hibernations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_session_hibernations_total",
			Help: "Sessions scaled to zero, by reason (IdleTimeout, UserRequest).",
		}, []string{"reason"}),
		Wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_session_wakes_total",
			Help: "Hibernated sessions woken, by reason.",
		}, []string{"reason"}),
		Terminations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_session_terminations_total",
			Help: "Sessions ended by the controller, by reason (MaxSessionDurationReached).",
		}, []string{"reason"}),
		HibernationDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamspace_hibernation_duration_seconds",
			Help:    "How long sessions stayed hibernated before they were woken.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 12), // 1m … ~34h
		}),
		StartLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamspace_session_start_latency_seconds",
			Help:    "Time from a launch or wake request to each start phase (scheduled, image_ready, stream_ready).",
			Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 120, 300},
		}, []string{"phase", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.Starts, m.Hibernations, m.Wakes, m.Terminations, m.HibernationDuration, m.StartLatency, &sessionCollector{reader: reader}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeStart(ls *streamv1.StartTimes, phase string, at interface{ Sub(time.Time) time.Duration }) {
	m.StartLatency.WithLabelValues(phase, ls.Kind).Observe(at.Sub(ls.RequestedAt.Time).Seconds())
}

var (
	activeDesc     = prometheus.NewDesc("streamspace_active_sessions_total", "Sessions in phase Running.", nil, nil)
	hibernatedDesc = prometheus.NewDesc("streamspace_hibernated_sessions_total", "Sessions in phase Hibernated.", nil, nil)
	phaseDesc      = prometheus.NewDesc("streamspace_sessions", "Sessions by phase.", []string{"phase"}, nil)
	usageDesc      = prometheus.NewDesc("streamspace_resource_usage_bytes", "Memory held by running sessions (their requests), by template.", []string{"template"}, nil)
)

// sessionCollector counts sessions from the cache at scrape time.
type sessionCollector struct{ reader client.Reader }

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- hibernatedDesc
	ch <- phaseDesc
	ch <- usageDesc
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list streamv1.SessionList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(activeDesc, err)
		return
	}
	phases := map[streamv1.SessionPhase]int{}
	usage := map[string]*resource.Quantity{}
	for i := range list.Items {
		s := &list.Items[i]
		phases[s.Status.Phase]++
		if s.Status.Phase == streamv1.PhaseRunning && s.Status.ResourceUsage != nil && s.Status.ResourceUsage.Memory != "" {
			q, err := resource.ParseQuantity(s.Status.ResourceUsage.Memory)
			if err != nil {
				continue
			}
			if usage[s.Spec.Template] == nil {
				usage[s.Spec.Template] = &resource.Quantity{}
			}
			usage[s.Spec.Template].Add(q)
		}
	}
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(phases[streamv1.PhaseRunning]))
	ch <- prometheus.MustNewConstMetric(hibernatedDesc, prometheus.GaugeValue, float64(phases[streamv1.PhaseHibernated]))
	for _, p := range []streamv1.SessionPhase{streamv1.PhasePending, streamv1.PhaseRunning, streamv1.PhaseHibernated, streamv1.PhaseFailed, streamv1.PhaseTerminated} {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, float64(phases[p]), string(p))
	}
	for t, q := range usage {
		ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, float64(q.Value()), t)
	}
}

package plugins

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the plugin event outbox and its delivery. The plugin label is
// bounded by the number of Plugin objects; the type label by the eleven
// event types.
type Metrics struct {
	Recorded      *prometheus.CounterVec
	RecordErrors  prometheus.Counter
	Delivered     *prometheus.CounterVec
	Failed        *prometheus.CounterVec
	Retries       *prometheus.CounterVec
	Latency       *prometheus.HistogramVec
	Pruned        prometheus.Counter
	RuntimeErrors *prometheus.CounterVec
}

// NewMetrics registers the plugin event metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Recorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_plugin_events_recorded_total", Help: "Platform events recorded in the plugin event outbox, by type.",
		}, []string{"type"}),
		RecordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamspace_plugin_events_record_errors_total", Help: "Platform events that could not be recorded (the database refused): lost to plugins.",
		}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_plugin_events_delivered_total", Help: "Events delivered to a plugin.",
		}, []string{"plugin"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_plugin_events_failed_total", Help: "Events given up on for a plugin (refused for good, or out of retries).",
		}, []string{"plugin"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_plugin_delivery_retries_total", Help: "Delivery attempts that failed and are retried.",
		}, []string{"plugin"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamspace_plugin_delivery_latency_seconds", Help: "From an event being recorded to its delivery to a plugin.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 120, 600},
		}, []string{"plugin"}),
		Pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamspace_plugin_events_pruned_total", Help: "Events deleted from the outbox by retention.",
		}),
		RuntimeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_plugin_runtime_unavailable_total", Help: "Times a plugin's runtime could not be built (bad target, missing secret or module).",
		}, []string{"plugin"}),
	}
	for _, c := range []prometheus.Collector{m.Recorded, m.RecordErrors, m.Delivered, m.Failed, m.Retries, m.Latency, m.Pruned, m.RuntimeErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

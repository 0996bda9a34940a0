package gitsync

import (
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Metrics of the Git sync, per GitSync: what operators alert on in Grafana.
type Metrics struct {
	Duration    *prometheus.HistogramVec
	LastSuccess *prometheus.GaugeVec
	Revision    *prometheus.GaugeVec
	Inventory   *prometheus.GaugeVec
	Fetches     *prometheus.CounterVec
	FetchErrors *prometheus.CounterVec
	// Drift, for the Grafana alerts.
	Drifted        *prometheus.GaugeVec
	DriftDetected  *prometheus.CounterVec
	DriftCorrected *prometheus.CounterVec
}

// NewMetrics creates and registers the Git sync metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"namespace", "name"}
	m := &Metrics{
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamspace_gitsync_reconcile_duration_seconds", Help: "Duration of GitSync reconciles.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, labels),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_last_success_timestamp_seconds", Help: "When the GitSync last applied its revision successfully.",
		}, labels),
		Revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_applied_revision_info", Help: "The revision a GitSync applied last (value 1).",
		}, append(labels, "revision")),
		Inventory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_inventory_objects", Help: "Objects in a GitSync's inventory.",
		}, labels),
		Fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_gitsync_fetches_total", Help: "Repository fetches (skipped when the remote revision is unchanged).",
		}, labels),
		FetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_gitsync_fetch_errors_total", Help: "Failed ref listings and fetches.",
		}, labels),
		Drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_drifted_objects", Help: "Objects that differ from Git and were not reverted.",
		}, labels),
		DriftDetected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_drift_detected_total", Help: "Live objects found changed away from Git.",
		}, append(labels, "kind", "object")),
		DriftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_drift_corrected_total", Help: "Drifted objects reverted to Git (driftMode correct).",
		}, append(labels, "kind", "object")),
	}
	for _, c := range []prometheus.Collector{m.Duration, m.LastSuccess, m.Revision, m.Inventory, m.Fetches, m.FetchErrors, m.Drifted, m.DriftDetected, m.DriftCorrected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) record(gs *streamv1.GitSync, d time.Duration) {
	m.Duration.WithLabelValues(gs.Namespace, gs.Name).Observe(d.Seconds())
	m.Inventory.WithLabelValues(gs.Namespace, gs.Name).Set(float64(len(gs.Status.Inventory)))
	if conditions.IsReady(gs) {
		m.LastSuccess.WithLabelValues(gs.Namespace, gs.Name).SetToCurrentTime()
		m.Revision.DeletePartialMatch(prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name})
		m.Revision.WithLabelValues(gs.Namespace, gs.Name, gs.Status.LastAppliedRevision).Set(1)
	}
}

package gitsync

import (
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Metrics of the Git sync, per GitSync: what operators alert on in Grafana.
type Metrics struct {
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
	for _, c := range []prometheus.Collector{m.LastSuccess, m.Revision, m.Inventory, m.Fetches, m.FetchErrors, m.Drifted, m.DriftDetected, m.DriftCorrected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// record updates the per-GitSync gauges after a reconcile (the duration is
// the shared streamspace_reconcile_duration_seconds).
func (m *Metrics) record(gs *streamv1.GitSync) {
	if !gs.DeletionTimestamp.IsZero() {
		return // forgotten: a deleted GitSync leaves no series behind
	}
	m.Inventory.WithLabelValues(gs.Namespace, gs.Name).Set(float64(len(gs.Status.Inventory)))
	if conditions.IsReady(gs) {
		m.LastSuccess.WithLabelValues(gs.Namespace, gs.Name).SetToCurrentTime()
		m.Revision.DeletePartialMatch(prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name})
		m.Revision.WithLabelValues(gs.Namespace, gs.Name, gs.Status.LastAppliedRevision).Set(1)
	}
}

// forget deletes the series of a deleted GitSync.
func (m *Metrics) forget(gs *streamv1.GitSync) {
	of := prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.LastSuccess, m.Revision, m.Inventory, m.Fetches, m.FetchErrors, m.Drifted, m.DriftDetected, m.DriftCorrected} {
		v.DeletePartialMatch(of)
	}
}

package gitsync

import (
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Metrics of the Git sync, per GitSync: what operators alert on in Grafana.
type Metrics struct {
	LastSuccess *prometheus.GaugeVec
	// Ready, PruneBlocked and Interval let the alert rules tell a failing,
	// a stale (no success for several intervals) and a blocked sync apart.
	Ready        *prometheus.GaugeVec
	PruneBlocked *prometheus.GaugeVec
	Interval     *prometheus.GaugeVec
	Revision     *prometheus.GaugeVec
	Inventory    *prometheus.GaugeVec
	Fetches      *prometheus.CounterVec
	FetchErrors  *prometheus.CounterVec
	// Drift, for the Grafana alerts.
	Drifted *prometheus.GaugeVec
	// DriftedObject is 1 per drifted object not reverted, labelled with
	// the field manager that changed it: "drift by object and by field
	// manager". Bounded by the GitSync's inventory.
	DriftedObject  *prometheus.GaugeVec
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
		Ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_ready", Help: "1 while the GitSync's Ready condition is True (its last sync applied), else 0.",
		}, labels),
		PruneBlocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_prune_blocked", Help: "1 while objects that left Git are kept because live sessions use them (condition PruneBlocked), else 0.",
		}, labels),
		Interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_interval_seconds", Help: "The GitSync's sync interval (spec.interval).",
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
		DriftedObject: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_gitsync_drifted_object", Help: "1 per object that differs from Git and was not reverted, by object (<namespace>_<name>_<group>_<kind>) and the field manager that changed it.",
		}, append(labels, "object", "manager")),
		DriftDetected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_drift_detected_total", Help: "Live objects found changed away from Git.",
		}, append(labels, "kind", "object")),
		DriftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_drift_corrected_total", Help: "Drifted objects reverted to Git (driftMode correct).",
		}, append(labels, "kind", "object")),
	}
	for _, c := range []prometheus.Collector{m.LastSuccess, m.Ready, m.PruneBlocked, m.Interval, m.Revision, m.Inventory, m.Fetches, m.FetchErrors, m.Drifted, m.DriftedObject, m.DriftDetected, m.DriftCorrected} {
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
	m.Ready.WithLabelValues(gs.Namespace, gs.Name).Set(boolValue(conditions.IsReady(gs)))
	m.PruneBlocked.WithLabelValues(gs.Namespace, gs.Name).Set(boolValue(conditions.IsTrue(gs, streamv1.ConditionPruneBlocked)))
	m.Interval.WithLabelValues(gs.Namespace, gs.Name).Set(gs.Spec.Interval.Seconds())
	if conditions.IsReady(gs) {
		m.LastSuccess.WithLabelValues(gs.Namespace, gs.Name).SetToCurrentTime()
		m.Revision.DeletePartialMatch(prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name})
		m.Revision.WithLabelValues(gs.Namespace, gs.Name, gs.Status.LastAppliedRevision).Set(1)
	}
}

// recordDrift sets the drift gauges from the GitSync's drift status and
// returns how many drifted objects were not reverted.
func (m *Metrics) recordDrift(gs *streamv1.GitSync) int {
	m.DriftedObject.DeletePartialMatch(prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name})
	open := 0
	for _, d := range gs.Status.Drift {
		if !d.Corrected {
			open++
			manager := d.Manager
			if manager == "" {
				manager = "unknown"
			}
			m.DriftedObject.WithLabelValues(gs.Namespace, gs.Name, d.ID, manager).Set(1)
		}
	}
	m.Drifted.WithLabelValues(gs.Namespace, gs.Name).Set(float64(open))
	return open
}

// forget deletes the series of a deleted GitSync.
func (m *Metrics) forget(gs *streamv1.GitSync) {
	of := prometheus.Labels{"namespace": gs.Namespace, "name": gs.Name}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.LastSuccess, m.Ready, m.PruneBlocked, m.Interval, m.Revision, m.Inventory, m.Fetches, m.FetchErrors, m.Drifted, m.DriftedObject, m.DriftDetected, m.DriftCorrected} {
		v.DeletePartialMatch(of)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package plugins

import (
	"github.com/prometheus/client_golang/prometheus"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Metrics of the plugin repositories.
type Metrics struct {
	plugins *prometheus.GaugeVec
}

// NewMetrics creates and registers the plugin repository metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{plugins: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "streamspace_plugin_repository_plugins",
		Help: "Plugin folders of each plugin repository's last indexed revision, by state (indexed, broken, exceeds_trust).",
	}, []string{"namespace", "name", "state"})}
	if err := reg.Register(m.plugins); err != nil {
		return nil, err
	}
	return m, nil
}

// record sets the gauges from the repository's status.
func (m *Metrics) record(repo *streamv1.PluginRepository) {
	if m == nil {
		return
	}
	exceeding := 0
	for _, p := range repo.Status.Plugins {
		if p.ExceedsTrust {
			exceeding++
		}
	}
	for state, n := range map[string]int{"indexed": len(repo.Status.Plugins), "broken": len(repo.Status.Broken), "exceeds_trust": exceeding} {
		m.plugins.WithLabelValues(repo.Namespace, repo.Name, state).Set(float64(n))
	}
}

// forget drops the gauges of a deleted repository.
func (m *Metrics) forget(namespace, name string) {
	if m != nil {
		m.plugins.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
	}
}

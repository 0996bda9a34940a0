package stream

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the stream proxy.
type Metrics struct {
	// Open streams by kind (vnc: the noVNC path; web: a template's own
	// web client).
	Open *prometheus.GaugeVec
	// Bytes proxied, by direction (to_session: the user's input;
	// to_browser: the picture).
	Bytes *prometheus.CounterVec
	// Connects by outcome: streamed, waking, refused, upstream_unavailable,
	// upstream_redirect, upstream_not_session.
	Connects *prometheus.CounterVec
	// PolicyRefusals counts messages the data policy dropped, by direction
	// (in: to the session) and kind (clipboard, file, audio).
	PolicyRefusals *prometheus.CounterVec
}

// NewMetrics registers the stream metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamspace_portal_stream_connections", Help: "Open stream connections through the portal.",
		}, []string{"kind"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_portal_stream_bytes_total", Help: "Bytes proxied between browsers and sessions.",
		}, []string{"direction"}),
		Connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_portal_stream_connects_total", Help: "Stream connection attempts by outcome.",
		}, []string{"outcome"}),
		PolicyRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_stream_policy_refusals_total", Help: "Stream messages dropped by the template's data policy.",
		}, []string{"direction", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.Open, m.Bytes, m.Connects, m.PolicyRefusals} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) connect(outcome string) {
	if m != nil {
		m.Connects.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) refused(r Refusal) {
	if m != nil {
		m.PolicyRefusals.WithLabelValues(string(r.Direction), string(r.Kind)).Inc()
	}
}

func (m *Metrics) open(kind string, delta float64) {
	if m != nil {
		m.Open.WithLabelValues(kind).Add(delta)
	}
}

func (m *Metrics) bytes(direction string, n int64) {
	if m != nil && n > 0 {
		m.Bytes.WithLabelValues(direction).Add(float64(n))
	}
}

// bytesOf counts bytes in direction, its counter looked up once.
func (m *Metrics) bytesOf(direction string) func(int64) {
	if m == nil {
		return func(int64) {}
	}
	c := m.Bytes.WithLabelValues(direction)
	return func(n int64) {
		if n > 0 {
			c.Add(float64(n))
		}
	}
}

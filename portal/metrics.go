package portal

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamspace/streamspace/portal/api"
)

// Metrics of the portal's HTTP API.
type Metrics struct {
	Requests     *prometheus.CounterVec
	Duration     *prometheus.HistogramVec
	AuthFailures *prometheus.CounterVec
}

// NewMetrics registers the portal metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_portal_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamspace_portal_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamspace_portal_auth_failures_total", Help: "Refused requests: unauthenticated (401), forbidden (403), rate limited (429).",
		}, []string{"code"}),
	}
	for _, c := range []prometheus.Collector{m.Requests, m.Duration, m.AuthFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records every request by its route pattern (never the raw path:
// session names would make the label set unbounded) and logs it with its
// request ID. What failed is logged where errors are rendered
// (api.RenderErrors).
func (m *Metrics) observe(log logr.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		code := c.Writer.Status()
		d := time.Since(start)
		if m != nil {
			method := methodLabel(c.Request.Method)
			m.Requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
			m.Duration.WithLabelValues(route, method).Observe(d.Seconds())
			if code == 401 || code == 403 || code == 429 {
				m.AuthFailures.WithLabelValues(strconv.Itoa(code)).Inc()
			}
		}
		log.V(1).Info("Request", "method", c.Request.Method, "route", route, "code", code, "duration", d, "requestID", c.GetString(api.RequestIDKey), "remote", c.ClientIP())
	}
}

// methodLabel bounds the method label: a client may send any token as its
// method, and each one would otherwise become a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

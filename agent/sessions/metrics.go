package sessions

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// The session gauges need the nodes' allocatable resources (cluster capacity).
// Nodes are cluster-scoped, so this is a ClusterRole rule: the agent's only
// one (every other marker says namespace=streamspace and becomes its Role,
// bound in the platform namespace; test/rbac runs the agent with them).
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// Metrics of the session controller. Counters and histograms are recorded
// as things happen; the session gauges are counted from the informer cache
// at every scrape, so they are always the real numbers.
//
// Every agent replica has the same cache, so the cache-computed gauges are
// reported only by the replica that is the leader (see leaderOnly): a `sum`
// over replicas then counts each session once.
type Metrics struct {
	Starts              *prometheus.CounterVec
	Hibernations        *prometheus.CounterVec
	Wakes               *prometheus.CounterVec
	Terminations        *prometheus.CounterVec
	HibernationDuration prometheus.Histogram
	StartLatency        *prometheus.HistogramVec

	mu      sync.Mutex
	counted map[types.UID]time.Time // terminations counted recently
}

// NewMetrics is NewLeaderMetrics for a replica that always reports (a
// reconciler driven alone, as in tests).
func NewMetrics(reg prometheus.Registerer, reader client.Reader) (*Metrics, error) {
	return NewLeaderMetrics(reg, reader, nil)
}

// NewLeaderMetrics creates the metrics and registers them, with a collector
// that counts sessions and nodes from reader, on reg. The cache-computed
// gauges are reported only once elected is closed (the manager's Elected():
// at once without leader election, on winning the lease with it); a nil
// elected reports them always.
func NewLeaderMetrics(reg prometheus.Registerer, reader client.Reader, elected <-chan struct{}) (*Metrics, error) {
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
			Help: "Sessions terminated, by reason (UserRequest, MaxSessionDurationReached).",
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
	for _, c := range []prometheus.Collector{m.Starts, m.Hibernations, m.Wakes, m.Terminations, m.HibernationDuration, m.StartLatency, leaderOnly{elected: elected, Collector: &sessionCollector{reader: reader}}, leaderGauge{elected}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeStart(ls *streamv1.StartTimes, phase string, at interface{ Sub(time.Time) time.Duration }) {
	m.StartLatency.WithLabelValues(phase, ls.Kind).Observe(at.Sub(ls.RequestedAt.Time).Seconds())
}

// terminated counts a session that reached phase Terminated, once: reason is
// why (the state-reason annotation; UserRequest when none). A reconcile may
// run again on a cache that does not show the Terminated status yet, so the
// sessions counted recently are remembered by UID (briefly: the cache
// catches up within seconds; the price is that a session terminated, started
// and terminated again within countedFor counts once).
func (m *Metrics) terminated(s *streamv1.Session, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for uid, at := range m.counted {
		if now.Sub(at) > countedFor {
			delete(m.counted, uid)
		}
	}
	if _, ok := m.counted[s.UID]; ok {
		return
	}
	if m.counted == nil {
		m.counted = map[types.UID]time.Time{}
	}
	m.counted[s.UID] = now
	m.Terminations.WithLabelValues(reason).Inc()
}

// countedFor is how long a counted termination is remembered.
const countedFor = 10 * time.Minute

var (
	activeDesc     = prometheus.NewDesc("streamspace_active_sessions_total", "Sessions in phase Running.", nil, nil)
	hibernatedDesc = prometheus.NewDesc("streamspace_hibernated_sessions_total", "Sessions in phase Hibernated.", nil, nil)
	phaseDesc      = prometheus.NewDesc("streamspace_sessions", "Sessions by phase.", []string{"phase"}, nil)
	usageDesc      = prometheus.NewDesc("streamspace_resource_usage_bytes", "Memory held by running sessions (their requests), by template.", []string{"template"}, nil)
	requestsDesc   = prometheus.NewDesc("streamspace_session_resource_requests", "What running sessions request, by template and resource (cpu in cores, memory in bytes).", []string{"template", "resource"}, nil)
	allocDesc      = prometheus.NewDesc("streamspace_cluster_allocatable", "What the cluster's schedulable nodes can give pods, by resource (cpu in cores, memory in bytes).", []string{"resource"}, nil)
	usersDesc      = prometheus.NewDesc("streamspace_active_users", "Distinct users with a Pending or Running session.", nil, nil)
	overdueDesc    = prometheus.NewDesc("streamspace_sessions_past_idle_deadline", "Running sessions whose idle deadline passed more than a minute ago (hibernation is not keeping up).", nil, nil)
	// One series per Running session, gone when it hibernates or ends: the
	// count is bounded by the running sessions the quotas allow.
	startDesc  = prometheus.NewDesc("streamspace_session_start_time_seconds", "When the current run of each Running session began (launch or wake), as a Unix time.", []string{"namespace", "session", "user", "template"}, nil)
	leaderDesc = prometheus.NewDesc("streamspace_agent_leader", "1 while this agent replica is the leader (the one that reconciles and reports the cache-computed gauges), else 0.", nil, nil)
)

// overdueGrace is how long past its idle deadline a running session may
// still be running before it counts as overdue: the controller hibernates on
// a timer, and scaling down takes a moment.
const overdueGrace = time.Minute

// leaderOnly reports its collector only while this replica is the leader.
// Describe always describes it, so registration is checked the same way on
// every replica; a collector may report nothing in Collect.
type leaderOnly struct {
	elected <-chan struct{}
	prometheus.Collector
}

func (l leaderOnly) Collect(ch chan<- prometheus.Metric) {
	if isClosed(l.elected) {
		l.Collector.Collect(ch)
	}
}

// leaderGauge is streamspace_agent_leader: every replica reports it, so a
// dashboard sees which one leads and an alert sees when none does.
type leaderGauge struct{ elected <-chan struct{} }

func (l leaderGauge) Describe(ch chan<- *prometheus.Desc) { ch <- leaderDesc }

func (l leaderGauge) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if isClosed(l.elected) {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, v)
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// sessionCollector counts sessions (and nodes) from the cache at scrape time.
type sessionCollector struct{ reader client.Reader }

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, hibernatedDesc, phaseDesc, usageDesc, requestsDesc, allocDesc, usersDesc, overdueDesc, startDesc} {
		ch <- d
	}
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list streamv1.SessionList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(activeDesc, err)
		return
	}
	now := time.Now()
	phases := map[streamv1.SessionPhase]int{}
	type key struct{ template, resource string }
	requests := map[key]*resource.Quantity{}
	add := func(template, res, value string) {
		if value == "" {
			return
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return // the controller wrote it from a parsed Quantity; never seen
		}
		k := key{template, res}
		if requests[k] == nil {
			requests[k] = &resource.Quantity{}
		}
		requests[k].Add(q)
	}
	users := map[string]bool{}
	overdue := 0
	for i := range list.Items {
		s := &list.Items[i]
		phases[s.Status.Phase]++
		if s.Status.Phase == streamv1.PhasePending || s.Status.Phase == streamv1.PhaseRunning {
			users[s.Spec.User] = true
		}
		if s.Status.Phase != streamv1.PhaseRunning {
			continue
		}
		if u := s.Status.ResourceUsage; u != nil {
			add(s.Spec.Template, "memory", u.Memory)
			add(s.Spec.Template, "cpu", u.CPU)
		}
		if d := s.Status.IdleDeadline; d != nil && now.Sub(d.Time) > overdueGrace {
			overdue++
		}
		if ls := s.Status.LastStart; ls != nil {
			ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, float64(ls.RequestedAt.Unix()), s.Namespace, s.Name, s.Spec.User, s.Spec.Template)
		}
	}
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(phases[streamv1.PhaseRunning]))
	ch <- prometheus.MustNewConstMetric(hibernatedDesc, prometheus.GaugeValue, float64(phases[streamv1.PhaseHibernated]))
	for _, p := range []streamv1.SessionPhase{streamv1.PhasePending, streamv1.PhaseRunning, streamv1.PhaseHibernated, streamv1.PhaseFailed, streamv1.PhaseTerminated} {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, float64(phases[p]), string(p))
	}
	for k, q := range requests {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, q.AsApproximateFloat64(), k.template, k.resource)
		if k.resource == "memory" {
			ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, float64(q.Value()), k.template)
		}
	}
	ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(len(users)))
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(overdue))
	c.collectCapacity(ctx, ch)
}

// collectCapacity sums the allocatable cpu and memory of the nodes that take
// new pods (not cordoned), the denominator of "cluster capacity %".
func (c *sessionCollector) collectCapacity(ctx context.Context, ch chan<- prometheus.Metric) {
	var nodes corev1.NodeList
	if err := c.reader.List(ctx, &nodes); err != nil {
		// Not the whole scrape's failure (an install without the nodes
		// permission still has every session metric): the series is absent.
		ctrl.Log.WithName("metrics").Error(err, "Cannot list nodes for the cluster capacity gauge")
		return
	}
	var cpu, memory resource.Quantity
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Spec.Unschedulable {
			continue
		}
		cpu.Add(n.Status.Allocatable[corev1.ResourceCPU])
		memory.Add(n.Status.Allocatable[corev1.ResourceMemory])
	}
	ch <- prometheus.MustNewConstMetric(allocDesc, prometheus.GaugeValue, cpu.AsApproximateFloat64(), "cpu")
	ch <- prometheus.MustNewConstMetric(allocDesc, prometheus.GaugeValue, memory.AsApproximateFloat64(), "memory")
}

package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	agentsessions "github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/pgtest"
	"github.com/streamspace/streamspace/test/syncbuf"
)

// replica is one portal process's worth of portal.Run.
type replica struct {
	base string
	stop context.CancelFunc
	done chan struct{} // closed when Run returned, with err
	err  error
	out  *syncbuf.Buffer
}

// startReplica runs the portal as its binary does, with leader election,
// on the shared PostgreSQL and signing key, and waits until it is ready.
func startReplica(t *testing.T, namespace, dsn string, key []byte) *replica {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freeport.For(t))
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{base: "http://" + addr, stop: cancel, done: make(chan struct{}), out: &syncbuf.Buffer{}}
	go func() {
		defer close(r.done)
		r.err = portal.Run(ctx, portal.Config{Addr: addr, Namespace: namespace, Database: dsn, SigningKey: key,
			StateDir: t.TempDir(), Out: r.out, LeaderElection: true, StreamViaPodIP: true, ShutdownGrace: 2 * time.Second,
			Log: zap.New(zap.WriteTo(r.out))}, env.Config)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-r.done:
			t.Fatalf("portal replica stopped: %v\n%s", r.err, r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portal replica not ready:\n%s", r.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *replica) call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	return callAt(t, r.base, method, path, token, body)
}

// historyHolder is who holds the lease of the history recorder.
func historyHolder(t *testing.T, namespace string) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: portal.HistoryLease}, l); err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// playAgent does what the agent and kube-controller-manager would for a
// launched session: its Deployment, ReplicaSet and pod (on loopback, where
// the test's Xvnc listens), and status Running.
func playAgent(t *testing.T, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	s := &streamv1.Session{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{agentsessions.LabelSession: name}
	owned := func(o client.Object, kind string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: o.GetObjectKind().GroupVersionKind().GroupVersion().String(), Kind: kind,
			Name: o.GetName(), UID: o.GetUID(), Controller: ptr.To(true)}
	}
	s.APIVersion = streamv1.GroupVersion.String()
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "localhost/streamspace/light:1.0.0"}}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: agentsessions.ChildName(s), Labels: labels,
		OwnerReferences: []metav1.OwnerReference{owned(s, "Session")}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.APIVersion = appsv1.SchemeGroupVersion.String()
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: d.Name + "-1", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{owned(d, "Deployment")}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	if err := env.Client.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	rs.APIVersion = appsv1.SchemeGroupVersion.String()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: rs.Name + "-x", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{owned(rs, "ReplicaSet")}}, Spec: spec}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP = "127.0.0.1"
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	s.Status.Phase, s.Status.PodName = streamv1.PhaseRunning, pod.Name
	if err := env.Client.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// setPhase moves a session to phase as the agent would report it.
func setPhase(t *testing.T, namespace, name string, phase streamv1.SessionPhase, edit func(*streamv1.SessionStatus)) {
	t.Helper()
	s := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	s.Status.Phase = phase
	if edit != nil {
		edit(&s.Status)
	}
	if err := env.Client.Status().Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// record is the session history row of name, once cond holds for it.
func record(t *testing.T, db store.Store, name string, cond func(store.SessionRecord) bool) store.SessionRecord {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last store.SessionRecord
	for time.Now().Before(deadline) {
		rows, err := db.SessionHistory(context.Background(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Session == name {
				if last = r; cond(r) {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("session history of %s: %+v", name, last)
	return last
}

// TestHA_twoPortalsOnPostgres_launchOnOne_streamOnOther_stopOne_historyFailsOver:
// two portal replicas on one PostgreSQL and one API server. A session is
// launched through one and streamed (real Xvnc) through the other; while
// both run, session history is recorded once, not once per replica; the
// replica that records is stopped without handing its lease over (as when
// its node dies): the stream and API on the other go on, and it takes over
// the history, including a session that ended while nobody recorded.
func TestHA_twoPortalsOnPostgres_launchOnOne_streamOnOther_stopOne_historyFailsOver(t *testing.T) {
	ctx := context.Background()
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	dsn, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hans, err := env.Namespace(ctx, "ha")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(vnc.URL)
	port, _ := strconv.Atoi(u.Port())
	for _, o := range []client.Object{
		&streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: hans, Name: "light"}, Spec: streamv1.TemplateSpec{
			DisplayName: "Light desktop", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
			Ports:  []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: int32(port)}},
			Stream: streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: int32(port)}}},
		&streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: hans, Name: "default"},
			Spec: streamv1.QuotaSpec{Default: true, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](10)}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// The first replica leads (it holds the history lease); the second
	// starts once it does.
	key := []byte("ha-test-signing-key-ha-test-signing-key")
	a := startReplica(t, hans, dsn, key)
	var leaderID string
	for deadline := time.Now().Add(30 * time.Second); leaderID == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		leaderID = historyHolder(t, hans)
	}
	if leaderID == "" {
		t.Fatal("the first replica never took the history lease")
	}
	b := startReplica(t, hans, dsn, key)

	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, _ := auth.HashPassword("password-of-carol")
	if err := db.CreateUser(ctx, &store.User{Username: "carol", PasswordHash: hash, Role: "user", Source: "local"}); err != nil {
		t.Fatal(err)
	}

	// Signed in and launched through A.
	r := a.call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "carol", "password": "password-of-carol"})
	if r.Status != http.StatusOK {
		t.Fatalf("login through A: %d %v", r.Status, r.Body)
	}
	token, refresh := r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
	launch := func(via *replica) string {
		t.Helper()
		r := via.call(t, http.MethodPost, "/api/v1/sessions", token, map[string]any{"template": "light"})
		if r.Status != http.StatusCreated {
			t.Fatalf("launch: %d %v", r.Status, r.Body)
		}
		return r.Body["name"].(string)
	}
	streamed, ended := launch(a), launch(a)
	playAgent(t, hans, streamed)
	playAgent(t, hans, ended)
	record(t, db, ended, func(store.SessionRecord) bool { return true })

	// Streamed through B, with A's token.
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(sctx, "ws"+strings.TrimPrefix(b.base, "http")+"/api/v1/sessions/"+streamed+"/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}, Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatalf("stream through B: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	vncHandshake(t, sctx, conn)
	// From here on, drain the stream as a viewer does, counting what
	// arrives.
	var received atomic.Int64
	go func() {
		for {
			_, data, err := conn.Read(sctx)
			if err != nil {
				return
			}
			received.Add(int64(len(data)))
		}
	}()

	// While both run, one of them records: one hibernation, not two.
	hibernateAndWake := func() {
		t.Helper()
		setPhase(t, hans, streamed, streamv1.PhaseHibernated, func(st *streamv1.SessionStatus) {
			at := metav1.NewTime(time.Now().Add(-time.Hour))
			st.HibernatedAt = &at
		})
		time.Sleep(300 * time.Millisecond) // its own event
		setPhase(t, hans, streamed, streamv1.PhaseRunning, nil)
	}
	hibernateAndWake()
	record(t, db, streamed, func(r store.SessionRecord) bool { return r.Hibernations > 0 })
	time.Sleep(time.Second) // room for a second recorder to count it again
	if r := record(t, db, streamed, func(store.SessionRecord) bool { return true }); r.Hibernations != 1 {
		t.Errorf("one hibernation recorded %d times with two replicas running", r.Hibernations)
	}

	// streamGoesOn asks B for a whole new picture and waits for it.
	streamGoesOn := func(after string) {
		t.Helper()
		was := received.Load()
		if err := conn.Write(sctx, websocket.MessageBinary, []byte{3, 0, 0, 0, 0, 0, 0x02, 0x80, 0x01, 0xe0}); err != nil { // full FramebufferUpdateRequest
			t.Fatalf("stream through B after %s: %v", after, err)
		}
		for deadline := time.Now().Add(10 * time.Second); received.Load()-was < 640*480; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stream through B after %s: %d bytes", after, received.Load()-was)
			}
		}
	}

	// A stops without handing over its lease.
	stopped := time.Now()
	a.stop()
	if <-a.done; a.err != nil {
		t.Errorf("A stopped with %v", a.err)
	}
	// A session ends while nobody records.
	setPhase(t, hans, ended, streamv1.PhaseTerminated, func(st *streamv1.SessionStatus) {
		at := metav1.Now()
		st.TerminatedAt = &at
	})

	// The stream through B goes on: input reaches the session (and counts
	// as activity), a whole new picture comes back.
	before := lastActivityIn(t, hans, streamed)
	if err := conn.Write(sctx, websocket.MessageBinary, []byte{4, 1, 0, 0, 0, 0, 0, 0x61}); err != nil { // KeyEvent down a
		t.Fatalf("input through B after A stopped: %v", err)
	}
	streamGoesOn("A stopped")
	for deadline := time.Now().Add(10 * time.Second); !lastActivityIn(t, hans, streamed).After(before); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("input through B after A stopped is not activity: %v (was %v)", lastActivityIn(t, hans, streamed), before)
		}
	}
	// So does the API, with tokens A issued.
	if r := b.call(t, http.MethodGet, "/api/v1/sessions", token, nil); r.Status != http.StatusOK {
		t.Errorf("list through B: %d %v", r.Status, r.Body)
	}
	if r := b.call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}); r.Status != http.StatusOK {
		t.Errorf("refresh through B of a token A issued: %d %v", r.Status, r.Body)
	}

	// B takes the lease over once it runs out, and records what happened
	// meanwhile.
	for historyHolder(t, hans) == leaderID {
		if time.Since(stopped) > 60*time.Second {
			t.Fatal("B did not take the history lease over")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("history recorder failover: B took the lease %v after A stopped", time.Since(stopped).Round(100*time.Millisecond))
	got := record(t, db, ended, func(r store.SessionRecord) bool { return r.EndedAt != nil })
	if got.EndReason == "" {
		t.Errorf("end recorded without a reason: %+v", got)
	}
	hibernateAndWake()
	if r := record(t, db, streamed, func(r store.SessionRecord) bool { return r.Hibernations > 1 }); r.Hibernations != 2 {
		t.Errorf("hibernations recorded: %d, want 2 (one per replica that led)", r.Hibernations)
	}

	// B loses its lease (taken by a replica it cannot see, as in a network
	// split): it stops recording, but not serving; it records again once
	// the lease runs out and it leads again.
	bID := historyHolder(t, hans)
	l := &coordinationv1.Lease{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: hans, Name: portal.HistoryLease}, l); err != nil {
		t.Fatal(err)
	}
	l.Spec.HolderIdentity, l.Spec.RenewTime = ptr.To("a-replica-elsewhere"), &metav1.MicroTime{Time: time.Now()}
	if err := env.Client.Update(ctx, l); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	for historyHolder(t, hans) != bID {
		select {
		case <-b.done:
			t.Fatalf("B ended when it lost the lease: %v", b.err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(taken) > 90*time.Second {
			t.Fatal("B did not lead again")
		}
	}
	t.Logf("B led again %v after its lease was taken", time.Since(taken).Round(100*time.Millisecond))
	if !strings.Contains(b.out.String(), "Lease lost") {
		t.Errorf("B did not log that it stopped recording:\n%s", b.out.String())
	}
	streamGoesOn("B lost the lease")
	hibernateAndWake()
	if r := record(t, db, streamed, func(r store.SessionRecord) bool { return r.Hibernations > 2 }); r.Hibernations != 3 {
		t.Errorf("hibernations recorded: %d, want 3", r.Hibernations)
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
}

func lastActivityIn(t *testing.T, namespace, name string) time.Time {
	t.Helper()
	s := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	if s.Status.LastActivity == nil {
		return time.Time{}
	}
	return s.Status.LastActivity.Time
}

package portal_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/store"
)

func TestStream_clipboardInRefused_droppedCountedAuditedOnce_streamGoesOn(t *testing.T) {
	alice, _ := login(t, "alice")
	no := false
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light-no-paste"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Light desktop, no paste", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
		Ports:      []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
		Stream:     streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080},
		DataPolicy: streamv1.DataPolicy{ClipboardIn: &no}}}
	if err := env.Client.Create(context.Background(), tpl); err != nil {
		t.Fatal(err)
	}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-no-paste"}, Spec: streamv1.SessionSpec{User: "alice", Template: tpl.Name}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	setStatus(t, s, streamv1.PhaseRunning, old)
	refused := streamMetrics.PolicyRefusals.WithLabelValues("in", "clipboard")
	before := testutil.ToFloat64(refused)

	conn, _, err := dial(t, s.Name, alice)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := vncHandshake(t, ctx, conn)
	for i := 0; i < 2; i++ {
		r.send(binary.BigEndian.AppendUint32([]byte{6, 0, 0, 0}, 5))
		r.send([]byte("paste"))
	}
	// the stream goes on (the second paste was framed after the dropped
	// first), and a person pasting or typing is activity, refused or not
	go func() { // drain the picture, as a viewer does
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	r.send([]byte{4, 1, 0, 0, 0, 0, 0, 0x61})
	deadline := time.Now().Add(5 * time.Second)
	for (testutil.ToFloat64(refused)-before != 2 || !lastActivity(t, s.Name).After(old)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(refused) - before; got != 2 {
		t.Errorf("streamspace_stream_policy_refusals_total{direction=in,kind=clipboard} moved by %v, want 2", got)
	}
	if !lastActivity(t, s.Name).After(old) {
		t.Error("the pastes and the key were not recorded as activity")
	}
	events, err := db.AuditLog(context.Background(), store.AuditFilter{Actor: "alice", Action: audit.SessionPolicyRefusal})
	if err != nil {
		t.Fatal(err)
	}
	var mine int
	for _, e := range events {
		if e.Target == s.Name {
			mine++
		}
	}
	if mine != 1 {
		t.Errorf("%d policy refusals audited for the stream, want 1: %+v", mine, events)
	}
}

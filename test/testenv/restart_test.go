package testenv_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/test/testenv"
)

// The API server comes back on the same port and etcd after a SIGKILL: a
// client made before the kill reads what was written before it.
func TestEnv_KillAPIServer_restartsOnSameEtcd(t *testing.T) {
	env, err := testenv.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kept"}, Data: map[string]string{"k": "v"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := env.StartAPIServer(ctx); err == nil {
		t.Fatal("StartAPIServer before KillAPIServer: want an error")
	}
	if err := env.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
		t.Fatal("the API server answered after it was killed")
	}
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	got := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Fatalf("after restart: data %v, want k=v", got.Data)
	}
	// A second kill finds the restarted process.
	if err := env.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := env.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
}

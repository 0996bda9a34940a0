package crd

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestOverlays_buildAndAreAccepted builds the install manifests and every
// environment the way the agent builds them, and has the API server accept
// each object (server-side dry-run).
func TestOverlays_buildAndAreAccepted(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"streamspace", "streamspace-dev"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"deploy", "environments/local", "environments/dev", "environments/prod"} {
		objs, err := gitsync.Build(testenv.RepoRoot(), dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if len(objs) == 0 {
			t.Errorf("%s builds to nothing", dir)
		}
		internet := false
		for _, o := range objs {
			internet = internet || (o.GetKind() == "NetworkPolicy" && o.GetName() == "session-internet-egress")
		}
		if dir == "environments/prod" && internet {
			t.Error("prod sessions must not reach the internet")
		}
		if dir == "environments/local" && !internet {
			t.Error("local sessions reach the internet")
		}
		if dir == "environments/local" {
			// `make run` shows this project's plugin catalog and a theme
			var catalog, theme bool
			for _, o := range objs {
				catalog = catalog || (o.GetKind() == "PluginRepository" && o.GetName() == "streamspace-plugins")
				theme = theme || (o.GetKind() == "Plugin" && o.GetName() == "midnight-theme")
			}
			if !catalog || !theme {
				t.Errorf("environments/local: PluginRepository streamspace-plugins %v, Plugin midnight-theme %v; want both", catalog, theme)
			}
		}
		for _, o := range objs {
			if o.GroupVersionKind().Group == "cert-manager.io" {
				continue // cert-manager's CRDs are not installed here
			}
			err := env.Client.Patch(ctx, o, client.Apply, client.FieldOwner("overlay-test"), client.ForceOwnership, client.DryRunAll)
			if err != nil {
				t.Errorf("%s: %s %s rejected: %v", dir, o.GetKind(), o.GetName(), err)
			}
		}
	}
}

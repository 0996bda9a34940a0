package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	streamv1alpha1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestChart_installUpgradeUninstall runs helm install, upgrade and
// uninstall against a real API server (no node: pods do not start, but
// every object is admitted, the GitSync by its CRD's validation, and the
// chart's lookup of the existing webhook certificate is exercised for
// real), then a second release with every option on beside the first.
func TestChart_installUpgradeUninstall(t *testing.T) {
	env, err := testenv.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcFile := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := env.Client
	const ns = "streamspace"
	runIn := func(ns string, args ...string) {
		t.Helper()
		if out, err := helm(t, append(args, "--kubeconfig", kcFile, "--namespace", ns)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	run := func(args ...string) { t.Helper(); runIn(ns, args...) }
	run("install", "streamspace", chartDir(), "--create-namespace", "--set", "gitSync.url=https://git.example.com/platform.git")

	var agent appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streamspace-agent"}, &agent); err != nil {
		t.Fatal(err)
	}
	if *agent.Spec.Replicas != 2 {
		t.Errorf("agent replicas %d", *agent.Spec.Replicas)
	}
	var gs streamv1alpha1.GitSync
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "platform"}, &gs); err != nil {
		t.Fatal(err)
	}
	if gs.Spec.URL != "https://git.example.com/platform.git" || gs.Spec.DriftMode != streamv1alpha1.DriftWarn {
		t.Errorf("GitSync spec %+v", gs.Spec)
	}
	var tls corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streamspace-agent-webhook-tls"}, &tls); err != nil {
		t.Fatal(err)
	}
	ca := string(tls.Data["ca.crt"])

	// An upgrade changes the value and keeps the webhook's CA: the running
	// agents keep serving a certificate the API server trusts.
	run("upgrade", "streamspace", chartDir(), "--reuse-values", "--set", "gitSync.driftMode=correct", "--set", "agent.replicas=3")
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "platform"}, &gs); err != nil {
		t.Fatal(err)
	}
	if gs.Spec.DriftMode != streamv1alpha1.DriftCorrect {
		t.Errorf("after upgrade, driftMode %q", gs.Spec.DriftMode)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streamspace-agent"}, &agent); err != nil || *agent.Spec.Replicas != 3 {
		t.Errorf("after upgrade, agent replicas %v (%v)", agent.Spec.Replicas, err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streamspace-agent-webhook-tls"}, &tls); err != nil {
		t.Fatal(err)
	}
	if string(tls.Data["ca.crt"]) != ca {
		t.Error("the upgrade replaced the webhook CA")
	}
	var vwc admissionv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: "streamspace-agent"}, &vwc); err != nil {
		t.Fatal(err)
	}
	if string(vwc.Webhooks[0].ClientConfig.CABundle) != ca {
		t.Error("the webhook configuration does not trust the kept CA")
	}

	// Uninstall removes the agent, portal and RBAC; it keeps the GitSync
	// (whose finalizer needs the agent) and the portal's state volume.
	run("uninstall", "streamspace")
	for _, gone := range []struct {
		name types.NamespacedName
		obj  client.Object
	}{
		{types.NamespacedName{Namespace: ns, Name: "streamspace-agent"}, &appsv1.Deployment{}},
		{types.NamespacedName{Namespace: ns, Name: "streamspace-portal"}, &appsv1.Deployment{}},
		{types.NamespacedName{Name: "streamspace-agent"}, &rbacv1.ClusterRole{}},
		{types.NamespacedName{Name: "streamspace-agent"}, &admissionv1.ValidatingWebhookConfiguration{}},
	} {
		if err := c.Get(ctx, gone.name, gone.obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after uninstall: %v", gone.obj, gone.name, err)
		}
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "platform"}, &streamv1alpha1.GitSync{}); err != nil {
		t.Errorf("GitSync after uninstall: %v", err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streamspace-portal-state"}, &corev1.PersistentVolumeClaim{}); err != nil {
		t.Errorf("portal state volume after uninstall: %v", err)
	}

	// A new install takes the kept objects back.
	run("install", "streamspace", chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git")

	// A second release beside it, with every optional part on: the API
	// server admits each object, and no cluster-wide name collides.
	runIn("edu", "install", "edu", chartDir(), "--create-namespace", "--set", "gitSync.url=ssh://git.example.com/edu.git",
		"--set", "portal.database.external=true", "--set", "portal.autoscaling.enabled=true",
		"--set", "ingress.enabled=true", "--set", "portal.publicURL=https://edu.example.com", "--set", "portal.appsDomain=apps.edu.example.com",
		"--set", "ingress.tlsSecretName=edu-tls", "--set", "ingress.appsTLSSecretName=edu-apps-tls",
		"--set", "portal.networkPolicy.databaseCIDRs={10.1.2.3/32}", "--set", "portal.trustedProxies={10.0.0.0/8}")
	var ing networkingv1.Ingress
	if err := c.Get(ctx, types.NamespacedName{Namespace: "edu", Name: "edu-streamspace-portal"}, &ing); err != nil {
		t.Fatal(err)
	}
	if len(ing.Spec.Rules) != 2 || ing.Spec.Rules[1].Host != "*.apps.edu.example.com" {
		t.Errorf("Ingress rules %+v", ing.Spec.Rules)
	}
	for _, o := range []struct {
		name types.NamespacedName
		obj  client.Object
	}{
		{types.NamespacedName{Namespace: "edu", Name: "edu-streamspace-portal"}, &autoscalingv2.HorizontalPodAutoscaler{}},
		{types.NamespacedName{Namespace: "edu", Name: "edu-streamspace-portal"}, &policyv1.PodDisruptionBudget{}},
		{types.NamespacedName{Namespace: "edu", Name: "edu-streamspace-portal"}, &networkingv1.NetworkPolicy{}},
		{types.NamespacedName{Name: "edu-streamspace-agent"}, &rbacv1.ClusterRole{}},
		{types.NamespacedName{Name: "streamspace-agent"}, &rbacv1.ClusterRole{}},
	} {
		if err := c.Get(ctx, o.name, o.obj); err != nil {
			t.Errorf("%T %s: %v", o.obj, o.name, err)
		}
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "edu-streamspace-agent"}, &vwc); err != nil {
		t.Fatal(err)
	}
	if svc := vwc.Webhooks[0].ClientConfig.Service; svc == nil || svc.Namespace != "edu" || svc.Name != "edu-streamspace-agent-webhook" {
		t.Errorf("edu's webhook calls %+v", svc)
	}
}

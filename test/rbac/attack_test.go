package rbac_test

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// TestAgent_compromised_cannotReachBeyondItsNamespace: an attacker holding
// the agent's token (a compromised agent, a leaked pod token) reads no
// Secret outside the platform namespace nor lists Secrets anywhere,
// writes nothing in another namespace, cannot grant itself more, and is who
// the API server says. The agent's own Secret reads still work, so the
// refusals are RBAC's, not a broken token.
func TestAgent_compromised_cannotReachBeyondItsNamespace(t *testing.T) {
	ctx := context.Background()
	other, err := env.Namespace(ctx, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "db-password"}, StringData: map[string]string{"password": "hunter2"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "git-credentials"}, StringData: map[string]string{"password": "x"}},
	} {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	agent, err := client.New(agentConfig, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	// Who the API server takes the token for.
	cs, err := kubernetes.NewForConfig(agentConfig)
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + platformNS + ":" + agentSA; review.Status.UserInfo.Username != want {
		t.Fatalf("the token authenticates as %q, not %q", review.Status.UserInfo.Username, want)
	}

	// What the agent needs: one Secret of its namespace by name (a
	// GitSync's credentials).
	if err := agent.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "git-credentials"}, &corev1.Secret{}); err != nil {
		t.Fatalf("the agent cannot read its own namespace's Secret: %v", err)
	}

	for name, attempt := range map[string]func() error{
		"get a Secret of another namespace": func() error {
			return agent.Get(ctx, client.ObjectKey{Namespace: other, Name: "db-password"}, &corev1.Secret{})
		},
		"list Secrets of every namespace": func() error { return agent.List(ctx, &corev1.SecretList{}) },
		"list Secrets of another namespace": func() error {
			return agent.List(ctx, &corev1.SecretList{}, client.InNamespace(other))
		},
		"list Secrets of its own namespace": func() error {
			return agent.List(ctx, &corev1.SecretList{}, client.InNamespace(platformNS))
		},
		"watch Secrets of its own namespace": func() error {
			w, err := cs.CoreV1().Secrets(platformNS).Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		"read a ServiceAccount token of another namespace": func() error {
			_, err := cs.CoreV1().ServiceAccounts(other).CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		},
		"create a Deployment in another namespace": func() error {
			return agent.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "miner"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "miner"}}}}}})
		},
		"create a Pod in its own namespace": func() error {
			return agent.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "escape"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
		},
		"exec into a pod": func() error {
			return cs.CoreV1().RESTClient().Post().Namespace(platformNS).Resource("pods").Name("any").SubResource("exec").Do(ctx).Error()
		},
		"bind itself cluster-admin": func() error {
			return agent.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "more"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: agentSA, Namespace: platformNS}}})
		},
		"edit its own Role": func() error {
			r := &rbacv1.Role{}
			if err := agent.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: agentSA}, r); err != nil {
				return err
			}
			return agent.Update(ctx, r)
		},
		"read Sessions of another namespace": func() error {
			return agent.List(ctx, &streamv1.SessionList{}, client.InNamespace(other))
		},
		"create a Template in another namespace": func() error {
			return agent.Create(ctx, &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "t"},
				Spec: streamv1.TemplateSpec{DisplayName: "t", BaseImage: "x"}})
		},
		"read ConfigMaps of another namespace": func() error {
			return agent.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(other))
		},
		"edit the admission webhook": func() error {
			return agent.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "validating-webhook-configuration"}})
		},
	} {
		if err := attempt(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", name, err)
		}
	}
}

package install

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// allowPortalToLocalAPIServer adds the NetworkPolicy an operator adds when
// the API server listens on a port other than the 443 and 6443 the chart's
// portal policy admits: the local node enforces NetworkPolicy (kube-router,
// local/cluster/netpol.go) and its API server listens on the bridge's
// gateway at the cluster's own port, which the portal reaches after
// kube-proxy rewrites the kubernetes Service's address.
func allowPortalToLocalAPIServer(ctx context.Context, t *testing.T, k client.Client, server string) {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || net.ParseIP(u.Hostname()) == nil {
		t.Fatalf("API server %q: want https://<address>:<port>", server)
	}
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal-to-local-apiserver"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "streamspace-portal"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: u.Hostname() + "/32"}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(port))}},
			}},
		},
	}
	if err := k.Create(ctx, np); err != nil {
		t.Fatalf("NetworkPolicy for the portal to the local API server: %v", err)
	}
}

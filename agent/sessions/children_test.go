package sessions

import (
	"maps"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func TestIngress_hostPatternClassAndTLS(t *testing.T) {
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: "alice-ff-1"}, Spec: streamv1.SessionSpec{User: "alice"}}
	tpl := &streamv1.Template{Spec: streamv1.TemplateSpec{Stream: streamv1.StreamSpec{Port: 3000}}}
	o := IngressOptions{ClassName: "traefik", HostPattern: "{user}-{session}.apps.example.com", TLSSecretName: "wildcard-tls"}

	spec := ingressSpec(o, s, tpl)
	if got := spec.Rules[0].Host; got != "alice-alice-ff-1.apps.example.com" {
		t.Errorf("host = %s", got)
	}
	if *spec.IngressClassName != "traefik" {
		t.Errorf("class = %s", *spec.IngressClassName)
	}
	if spec.TLS[0].SecretName != "wildcard-tls" || spec.TLS[0].Hosts[0] != spec.Rules[0].Host {
		t.Errorf("tls = %+v", spec.TLS)
	}
	b := spec.Rules[0].HTTP.Paths[0].Backend.Service
	if b.Name != "ss-alice-ff-1" || b.Port.Number != 3000 {
		t.Errorf("backend = %+v", b)
	}

	r := &SessionReconciler{Options: Options{Ingress: o, PortalURL: "https://portal.example.com"}}
	if got := r.sessionURL(&scope{session: s, template: tpl}); got != "https://alice-alice-ff-1.apps.example.com/" {
		t.Errorf("url with ingress = %s", got)
	}
	r.Options.Ingress = IngressOptions{}
	if got := r.sessionURL(&scope{session: s, template: tpl}); got != "https://portal.example.com/session/alice-ff-1" {
		t.Errorf("url through the portal = %s", got)
	}
}

func TestIngressOptions_Validate_refusesAnIngressWithoutForwardAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    IngressOptions
		want string // part of the refusal; empty: accepted
	}{
		{"no ingress", IngressOptions{}, ""},
		{"no forward auth", IngressOptions{HostPattern: "{session}.apps.example.com"}, "without forward auth anyone who guesses the host gets the desktop: set --ingress-forward-auth"},
		{"no session in the host", IngressOptions{HostPattern: "{user}.apps.example.com", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthNginx, URL: "http://portal/api/v1/auth/forward"}}, "must contain {session}"},
		{"nginx without its URL", IngressOptions{HostPattern: "{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthNginx}}, "needs --ingress-forward-auth-url"},
		{"nginx with a relative URL", IngressOptions{HostPattern: "{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthNginx, URL: "/api/v1/auth/forward"}}, "needs --ingress-forward-auth-url"},
		{"traefik without its middleware", IngressOptions{HostPattern: "{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthTraefik, URL: "http://portal/api/v1/auth/forward"}}, "needs --ingress-forward-auth-middlewares"},
		{"an unknown kind", IngressOptions{HostPattern: "{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: "haproxy"}}, `"haproxy": want nginx or traefik`},
		{"nginx", IngressOptions{HostPattern: "{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthNginx, URL: "http://portal.streamspace.svc/api/v1/auth/forward"}}, ""},
		{"traefik", IngressOptions{HostPattern: "{user}-{session}.apps", ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthTraefik, Middlewares: "streamspace-forward-auth@kubernetescrd"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

// TestSessionsForHost_invertsIngressHost: every session's own host leads
// back to it, and a host naming no session leads nowhere.
func TestSessionsForHost_invertsIngressHost(t *testing.T) {
	mk := func(name, user string) *streamv1.Session {
		return &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1.SessionSpec{User: user}}
	}
	for _, pattern := range []string{"{session}.apps.example.com", "{user}-{session}.apps.example.com", "s-{session}-{user}.apps"} {
		for _, s := range []*streamv1.Session{mk("alice-firefox-1a2b3", "alice"), mk("a-b-c", "a-b"), mk("x.y", "z")} {
			host := IngressHost(pattern, s)
			if got := SessionsForHost(pattern, strings.ToUpper(host)); !slices.Contains(got, s.Name) {
				t.Errorf("%s: host %s gives %v, not %s", pattern, host, got, s.Name)
			}
		}
	}
	for _, tc := range []struct{ pattern, host string }{
		{"{session}.apps.example.com", "apps.example.com"},
		{"{session}.apps.example.com", "x.apps.example.com.evil"},
		{"{session}.apps.example.com", "x.other.example.com"},
		{"{user}.apps.example.com", "alice.apps.example.com"}, // no session in the pattern
		{"{session}.apps", strings.Repeat("a", 250) + ".apps"},
	} {
		if got := SessionsForHost(tc.pattern, tc.host); len(got) != 0 {
			t.Errorf("%s / %s: %v", tc.pattern, tc.host, got)
		}
	}
	if got := SessionsForHost("{user}-{session}.apps", strings.Repeat("a-", 60)+"a.apps"); len(got) > maxHostCandidates {
		t.Errorf("%d candidates: the lookups are not bounded", len(got))
	}
}

func TestIngressAnnotations_perController(t *testing.T) {
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: "alice-ff-1"}, Spec: streamv1.SessionSpec{User: "alice"}}
	nginx := ingressAnnotations(IngressOptions{ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthNginx, URL: "http://p/api/v1/auth/forward"}}, "https://portal.example.com/", s)
	want := map[string]string{
		"nginx.ingress.kubernetes.io/auth-url":              "http://p/api/v1/auth/forward",
		"nginx.ingress.kubernetes.io/auth-signin":           "https://portal.example.com/session/alice-ff-1",
		"nginx.ingress.kubernetes.io/auth-response-headers": "X-StreamSpace-User",
	}
	if !maps.Equal(nginx, want) {
		t.Errorf("nginx: %v", nginx)
	}
	traefik := ingressAnnotations(IngressOptions{ForwardAuth: ForwardAuthOptions{Kind: ForwardAuthTraefik, Middlewares: "ss-fa@kubernetescrd"}}, "", s)
	if !maps.Equal(traefik, map[string]string{"traefik.ingress.kubernetes.io/router.middlewares": "ss-fa@kubernetescrd"}) {
		t.Errorf("traefik: %v", traefik)
	}
}

package sessions

import (
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

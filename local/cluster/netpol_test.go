package cluster

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// An `iptables -t filter -S` of a machine where kube-router ran beside
// other firewall users: only kube-router's hooks and chains go.
const filterRules = `-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-N DOCKER-USER
-N KUBE-NWPLCY-4ZXHVQ2RRBB7UAU6
-N KUBE-POD-FW-YDJOQ2M6KPKCD5MH
-N KUBE-ROUTER-FORWARD
-N KUBE-ROUTER-INPUT
-N KUBE-ROUTER-OUTPUT
-A INPUT -m comment --comment "kube-router netpol - 4IA2OSFRMVNDXBVV" -j KUBE-ROUTER-INPUT
-A INPUT -j DOCKER-USER
-A FORWARD -m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD
-A OUTPUT -m comment --comment "kube-router netpol - VEAAIY32XVBHCSCY" -j KUBE-ROUTER-OUTPUT
-A DOCKER-USER -j RETURN
-A KUBE-POD-FW-YDJOQ2M6KPKCD5MH -m comment --comment "run through nw policy session-isolation" -j KUBE-NWPLCY-4ZXHVQ2RRBB7UAU6
-A KUBE-ROUTER-FORWARD -m comment --comment "rule to jump traffic destined to POD name:a namespace: streamspace to chain KUBE-POD-FW-YDJOQ2M6KPKCD5MH" -d 10.88.0.5/32 -j KUBE-POD-FW-YDJOQ2M6KPKCD5MH`

func TestKubeRouterCleanup(t *testing.T) {
	got := kubeRouterCleanup(strings.Split(filterRules, "\n"))
	want := [][]string{
		{"-D", "INPUT", "-m", "comment", "--comment", "kube-router netpol - 4IA2OSFRMVNDXBVV", "-j", "KUBE-ROUTER-INPUT"},
		{"-D", "FORWARD", "-m", "comment", "--comment", "kube-router netpol - TEMCG2JMHZYE7H7T", "-j", "KUBE-ROUTER-FORWARD"},
		{"-D", "OUTPUT", "-m", "comment", "--comment", "kube-router netpol - VEAAIY32XVBHCSCY", "-j", "KUBE-ROUTER-OUTPUT"},
		{"-F", "KUBE-NWPLCY-4ZXHVQ2RRBB7UAU6"}, {"-F", "KUBE-POD-FW-YDJOQ2M6KPKCD5MH"},
		{"-F", "KUBE-ROUTER-FORWARD"}, {"-F", "KUBE-ROUTER-INPUT"}, {"-F", "KUBE-ROUTER-OUTPUT"},
		{"-X", "KUBE-NWPLCY-4ZXHVQ2RRBB7UAU6"}, {"-X", "KUBE-POD-FW-YDJOQ2M6KPKCD5MH"},
		{"-X", "KUBE-ROUTER-FORWARD"}, {"-X", "KUBE-ROUTER-INPUT"}, {"-X", "KUBE-ROUTER-OUTPUT"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cleanup commands:\n got %q\nwant %q", got, want)
	}
	if !hasJump(strings.Split(filterRules, "\n"), "FORWARD", "KUBE-ROUTER-FORWARD") || hasJump(strings.Split(filterRules, "\n"), "FORWARD", "KUBE-ROUTER-INPUT") {
		t.Error("hasJump misreads the FORWARD hook")
	}
	for set, ours := range map[string]bool{"KUBE-SRC-ABCDEF": true, "KUBE-DST-ABCDEF": true, "kube-proxy-x": false, "KUBE-CLUSTER-IP": false} {
		if kubeRouterSet(set) != ours {
			t.Errorf("kubeRouterSet(%q) = %v", set, !ours)
		}
	}
}

func TestRuleArgs(t *testing.T) {
	for line, want := range map[string][]string{
		`-A INPUT -j KUBE-ROUTER-INPUT`:                      {"-A", "INPUT", "-j", "KUBE-ROUTER-INPUT"},
		`-A X -m comment --comment "a \"quoted\" word" -j Y`: {"-A", "X", "-m", "comment", "--comment", `a "quoted" word`, "-j", "Y"},
		`-A X --comment ""`:                                  {"-A", "X", "--comment", ""},
	} {
		if got := ruleArgs(line); !reflect.DeepEqual(got, want) {
			t.Errorf("ruleArgs(%s) = %q, want %q", line, got, want)
		}
	}
}

func TestKubeRouterIdentityAndArgs(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	if err := c.writeKubeconfigs(); err != nil {
		t.Fatal(err)
	}
	cert := load(t, c.pki("kube-router.crt"))
	if cert.Subject.CommonName != kubeRouterUser || len(cert.Subject.Organization) != 0 {
		t.Errorf("kube-router's certificate: %v (a user of its own, in no group such as system:masters)", cert.Subject)
	}
	if _, err := clientcmd.BuildConfigFromFlags("", c.componentKubeconfig("kube-router")); err != nil {
		t.Error(err)
	}
	args := strings.Join(c.kubeRouterArgs(), " ")
	for _, want := range []string{"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--health-port=0", "--service-cluster-ip-range=" + serviceCIDR, "--kubeconfig=" + c.componentKubeconfig("kube-router")} {
		if !strings.Contains(args, want) {
			t.Errorf("kube-router args lack %s: %s", want, args)
		}
	}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkPolicy on the real node is enforced by kube-router's network-policy
// controller alone (--run-firewall; no routing, no service proxy: the CNI
// bridge routes and kube-proxy serves Services), as a host process like
// kube-proxy. It writes iptables rules in the filter table (chains
// KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*, hooked from INPUT, FORWARD and
// OUTPUT) and ipsets (KUBE-SRC-*, KUBE-DST-*); Down deletes exactly those.
//
// LOCAL LAB ONLY: the Go module proxy serves kube-router only at v2.1.0, for
// which security problems are reported, and this machine's kernel has no
// NFQUEUE (sigs.k8s.io/kube-network-policies needs it). Nothing in deploy/
// or chart/ uses it: a real cluster enforces NetworkPolicy with its CNI.
//
// kube-router's chains have one name on the whole machine, like kube-proxy's
// table: it starts after upKubeProxy, which lets one local cluster at a time
// past, and its rules are removed under the same machine-wide lock.

// KubeRouterVersion is the version hack/kube-router.sh builds.
const KubeRouterVersion = "v2.1.0"

// kubeRouterUser is kube-router's client certificate's name; the
// ClusterRole kubeRouterRole lets it read what it enforces, nothing more.
const (
	kubeRouterUser = "system:streamspace-local:kube-router"
	kubeRouterRole = "streamspace-local:kube-router"
)

// DefaultKubeRouter is $KUBE_ROUTER when set, else the binary the Makefile
// builds: $XDG_CACHE_HOME/streamspace/tools-kube-router-<version>/kube-router,
// else under ~/.cache.
func DefaultKubeRouter() string {
	if p := os.Getenv("KUBE_ROUTER"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(DefaultBins()), "tools-kube-router-"+KubeRouterVersion, "kube-router")
}

func (c *Cluster) checkKubeRouter() error {
	if _, err := os.Stat(DefaultKubeRouter()); err != nil {
		return fmt.Errorf("kube-router (the local node's NetworkPolicy enforcer) is missing at %s: build it with `make cluster-binaries` (hack/kube-router.sh)", DefaultKubeRouter())
	}
	return nil
}

func (c *Cluster) kubeRouterArgs() []string {
	return []string{
		"--kubeconfig=" + c.componentKubeconfig("kube-router"),
		"--hostname-override=" + NodeName,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
		// no CNI configuration written: the node keeps its bridge network
		"--enable-cni=false",
		"--enable-ipv4=true", "--enable-ipv6=false",
		"--service-cluster-ip-range=" + serviceCIDR,
		// Its health server would listen on every address of this machine,
		// the bridge's gateway (which pods reach) included: off. Readiness
		// is read from the rules themselves (kubeRouterHealthy).
		"--health-port=0", "--metrics-port=0",
		"--v=1",
	}
}

// upKubeRouter grants kube-router read access, then starts it and waits
// until its top-level chains are hooked into INPUT, FORWARD and OUTPUT.
func (c *Cluster) upKubeRouter(ctx context.Context, out io.Writer) error {
	if err := c.ensureKubeRouterAccess(ctx); err != nil {
		return err
	}
	pid := c.pid("kube-router")
	var done func(string)
	if pid != 0 {
		done = step(out, "kube-router (NetworkPolicy) already runs (pid %d)", pid)
	} else {
		done = step(out, "starting kube-router %s (NetworkPolicy enforcement, local lab only)", KubeRouterVersion)
		var err error
		if pid, err = c.start("kube-router", DefaultKubeRouter(), c.kubeRouterArgs(), pathEnv()); err != nil {
			fmt.Fprintln(out, "failed")
			return fmt.Errorf("start kube-router: %w", err)
		}
	}
	if err := c.waitHealthy(ctx, "kube-router", pid, c.kubeRouterHealthy, 90*time.Second); err != nil {
		fmt.Fprintln(out, "failed")
		return err
	}
	done("ready")
	return nil
}

// ensureKubeRouterAccess binds kube-router's user to a read-only
// ClusterRole: the informers it starts (whatever it runs) and what the
// policy controller reads.
func (c *Cluster) ensureKubeRouterAccess(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	read := []string{"get", "list", "watch"}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: kubeRouterRole},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes", "services", "endpoints"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: read},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = cs.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("kube-router's ClusterRole: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("kube-router's ClusterRole: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kubeRouterRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: kubeRouterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: kubeRouterUser}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kube-router's ClusterRoleBinding: %w", err)
	}
	return nil
}

// kubeRouterChains are the top-level chains kube-router hooks into the
// filter table's built-in chains once its policy controller has run.
var kubeRouterChains = map[string]string{"INPUT": "KUBE-ROUTER-INPUT", "FORWARD": "KUBE-ROUTER-FORWARD", "OUTPUT": "KUBE-ROUTER-OUTPUT"}

// kubeRouterHealthy: every built-in chain jumps to kube-router's chain.
func (c *Cluster) kubeRouterHealthy(ctx context.Context) error {
	rules, err := iptablesRules(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for builtin, chain := range kubeRouterChains {
		if !hasJump(rules, builtin, chain) {
			missing = append(missing, builtin+" -j "+chain)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no NetworkPolicy hooks yet (%s)", strings.Join(missing, ", "))
	}
	return nil
}

// iptablesRules is `iptables -t filter -S`: "-N chain" and "-A chain ..." lines.
func iptablesRules(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "iptables", "-w", "5", "-t", "filter", "-S").Output()
	if err != nil {
		return nil, &cmdError{"iptables -t filter -S", err, out}
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

func hasJump(rules []string, from, to string) bool {
	for _, r := range rules {
		if strings.HasPrefix(r, "-A "+from+" ") && strings.HasSuffix(r, " -j "+to) {
			return true
		}
	}
	return false
}

// kubeRouterChain: a chain of kube-router's network-policy controller.
func kubeRouterChain(name string) bool {
	for _, p := range []string{"KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// kubeRouterSet: an ipset of kube-router's network-policy controller.
func kubeRouterSet(name string) bool {
	return strings.HasPrefix(name, "KUBE-SRC-") || strings.HasPrefix(name, "KUBE-DST-")
}

// kubeRouterCleanup are the iptables commands that remove kube-router's
// rules from rules (`iptables -S` lines): the jumps from chains that are not
// its own, then its chains flushed, then deleted (a chain still referenced
// cannot be deleted, hence the order).
func kubeRouterCleanup(rules []string) [][]string {
	var unhook, flush, del [][]string
	for _, r := range rules {
		f := ruleArgs(r)
		if len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "-N" && kubeRouterChain(f[1]):
			flush = append(flush, []string{"-F", f[1]})
			del = append(del, []string{"-X", f[1]})
		case f[0] == "-A" && !kubeRouterChain(f[1]) && kubeRouterChain(f[len(f)-1]) && f[len(f)-2] == "-j":
			unhook = append(unhook, append([]string{"-D"}, f[1:]...))
		}
	}
	return append(append(unhook, flush...), del...)
}

// ruleArgs splits an `iptables -S` line into the arguments that wrote it:
// iptables quotes an argument with spaces ("...", with \" and \\ inside).
func ruleArgs(line string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			quoted = !quoted
			inArg = true
		case ch == ' ' && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(ch)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// cleanupKubeRouter deletes kube-router's iptables rules and ipsets (it
// leaves them when it stops, so that policies hold across its restarts).
// The caller holds proxyLock and has checked that no other local cluster
// runs on this machine.
func cleanupKubeRouter(ctx context.Context) error {
	rules, err := iptablesRules(ctx)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil
		}
		return err
	}
	var errs []error
	for _, args := range kubeRouterCleanup(rules) {
		args = append([]string{"-w", "5", "-t", "filter"}, args...)
		if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
			errs = append(errs, &cmdError{"iptables " + strings.Join(args, " "), err, out})
		}
	}
	if _, err := exec.LookPath("ipset"); err != nil {
		return errors.Join(errs...)
	}
	out, err := exec.CommandContext(ctx, "ipset", "list", "-n").Output()
	if err != nil {
		return errors.Join(append(errs, &cmdError{"ipset list -n", err, out})...)
	}
	for _, set := range strings.Fields(string(out)) {
		if !kubeRouterSet(set) {
			continue
		}
		if out, err := exec.CommandContext(ctx, "ipset", "destroy", set).CombinedOutput(); err != nil {
			errs = append(errs, &cmdError{"ipset destroy " + set, err, out})
		}
	}
	return errors.Join(errs...)
}

// downKubeRouter stops kube-router and removes its rules, unless another
// local cluster's node runs on this machine now (its kube-router owns the
// chains then).
func (c *Cluster) downKubeRouter(ctx context.Context, stop func(name string, grace time.Duration)) error {
	stop("kube-router", 10*time.Second)
	unlock, err := lockFile(ctx, proxyLock)
	if err != nil {
		return err
	}
	defer unlock()
	if holder := proxyHolder(); holder != "" && holder != c.Dir {
		return nil
	}
	return cleanupKubeRouter(ctx)
}

package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func (c *Cluster) bin(name string) string { return filepath.Join(c.Bins, name) }

func (c *Cluster) etcdArgs() []string {
	client := fmt.Sprintf("https://127.0.0.1:%d", c.Ports.Etcd)
	peer := fmt.Sprintf("https://127.0.0.1:%d", c.Ports.EtcdPeer)
	return []string{
		"--name=" + c.Name,
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + c.Name + "=" + peer,
		"--cert-file=" + c.pki("etcd-server.crt"),
		"--key-file=" + c.pki("etcd-server.key"),
		"--trusted-ca-file=" + c.pki("etcd-ca.crt"),
		"--client-cert-auth",
		"--peer-cert-file=" + c.pki("etcd-server.crt"),
		"--peer-key-file=" + c.pki("etcd-server.key"),
		"--peer-trusted-ca-file=" + c.pki("etcd-ca.crt"),
		"--peer-client-cert-auth",
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs() []string {
	args := []string{
		"--advertise-address=" + c.apiHost(),
		"--bind-address=" + c.apiHost(),
		"--secure-port=" + strconv.Itoa(c.Ports.APIServer),
		"--etcd-servers=" + fmt.Sprintf("https://127.0.0.1:%d", c.Ports.Etcd),
		"--etcd-cafile=" + c.pki("etcd-ca.crt"),
		"--etcd-certfile=" + c.pki("apiserver-etcd-client.crt"),
		"--etcd-keyfile=" + c.pki("apiserver-etcd-client.key"),
		"--client-ca-file=" + c.pki("ca.crt"),
		"--tls-cert-file=" + c.pki("apiserver.crt"),
		"--tls-private-key-file=" + c.pki("apiserver.key"),
		"--cert-dir=" + filepath.Join(c.Dir, "pki", "apiserver-generated"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki("sa.pub"),
		"--service-account-signing-key-file=" + c.pki("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--kubelet-client-certificate=" + c.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + c.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + c.pki("ca.crt"),
		// The node's InternalIP is the machine's interface address: reach
		// the kubelet by its name, localhost, instead.
		"--kubelet-preferred-address-types=Hostname",
		// The aggregation layer (metrics.k8s.io served by metrics-server):
		// the API server authenticates to an extension API server with the
		// front-proxy client certificate and passes the user in these
		// headers, which the extension trusts only from that certificate.
		"--requestheader-client-ca-file=" + c.pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + frontProxyUser,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + c.pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + c.pki("front-proxy-client.key"),
		// Call an extension at its endpoint, not its Service's ClusterIP:
		// the endpoint is this machine's bridge address, which the API
		// server reaches without kube-proxy's rules.
		"--enable-aggregator-routing=true",
		"--profiling=false",
	}
	if c.apiAddress == "" {
		// A loopback advertise address makes the default endpoint
		// reconciler exit; on loopback no pod could use the endpoint.
		args = append(args, "--endpoint-reconciler-type=none")
	}
	return args
}

func (c *Cluster) controllerManagerArgs() []string {
	return append(c.controlLoopArgs("controller-manager", c.Ports.ControllerManager),
		"--service-account-private-key-file="+c.pki("sa.key"),
		"--root-ca-file="+c.pki("ca.crt"),
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file="+c.pki("ca.crt"),
		"--cluster-signing-key-file="+c.pki("ca.key"),
		"--service-cluster-ip-range="+serviceCIDR,
	)
}

func (c *Cluster) schedulerArgs() []string {
	return c.controlLoopArgs("scheduler", c.Ports.Scheduler)
}

// controlLoopArgs are what the controller manager and the scheduler share:
// their kubeconfig for the API and for delegated authn/authz, a serving
// port on loopback with self-signed certificates in their own folder, and
// no leader election (one of each runs).
func (c *Cluster) controlLoopArgs(name string, port int) []string {
	kc := c.componentKubeconfig(name)
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.Dir, "pki", name+"-generated"),
		"--leader-elect=false",
		"--profiling=false",
	}
}

// ensureRunning starts name unless it already runs, then waits until healthy.
func (c *Cluster) ensureRunning(ctx context.Context, out io.Writer, name string, args, env []string, health func(context.Context) error, timeout time.Duration) error {
	bin := c.bin(name)
	switch name {
	case "containerd":
		bin = "containerd"
	case "metrics-server": // built into its own cache folder
		bin = c.MetricsServerBin()
	}
	pid := c.pid(name)
	var done func(string)
	if pid != 0 {
		done = step(out, "%s already runs (pid %d)", name, pid)
	} else {
		done = step(out, "starting %s", name)
		var err error
		if pid, err = c.start(name, bin, args, env); err != nil {
			fmt.Fprintln(out, "failed")
			return fmt.Errorf("start %s: %w", name, err)
		}
	}
	if err := c.waitHealthy(ctx, name, pid, health, timeout); err != nil {
		fmt.Fprintln(out, "failed")
		return err
	}
	done("ready")
	return nil
}

func (c *Cluster) waitHealthy(ctx context.Context, name string, pid int, health func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if !alive(pid) {
			return fmt.Errorf("%s exited; the end of %s:\n%s", name, c.logFile(name), lastLines(c.logFile(name), 15))
		}
		hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
		last = health(hctx)
		hcancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %s (%v); see %s", name, timeout, last, c.logFile(name))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) upControlPlane(ctx context.Context, out io.Writer) error {
	if err := c.ensureRunning(ctx, out, "etcd", c.etcdArgs(), nil, c.etcdHealthy, 60*time.Second); err != nil {
		return err
	}
	if err := c.ensureRunning(ctx, out, "kube-apiserver", c.apiserverArgs(), nil, c.apiserverHealthy, 120*time.Second); err != nil {
		return err
	}
	if err := c.ensureAPIServerKubeletAccess(ctx); err != nil {
		return err
	}
	if err := c.ensureRunning(ctx, out, "kube-controller-manager", c.controllerManagerArgs(), nil, c.httpsHealthy(c.Ports.ControllerManager), 90*time.Second); err != nil {
		return err
	}
	return c.ensureRunning(ctx, out, "kube-scheduler", c.schedulerArgs(), nil, c.httpsHealthy(c.Ports.Scheduler), 90*time.Second)
}

// ensureAPIServerKubeletAccess lets the API server's kubelet client
// certificate use the kubelet API (logs, exec, port-forward).
func (c *Cluster) ensureAPIServerKubeletAccess(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "streamspace:apiserver-kubelet-client"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: apiserverKubeletUser}},
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("grant the API server access to the kubelet: %w", err)
	}
	return nil
}

func (c *Cluster) clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// tlsClient is an HTTP client presenting the cert/key pair (empty: none) and
// trusting caFile (empty: trusting anything, for self-signed health ports).
func (c *Cluster) tlsClient(caFile, cert string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		cfg.InsecureSkipVerify = true // loopback health probe of a self-signed port
	} else {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(c.pki(cert+".crt"), c.pki(cert+".key"))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 3 * time.Second}, nil
}

var plainHTTP = &http.Client{Timeout: 3 * time.Second}

func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

func (c *Cluster) etcdHealthy(ctx context.Context) error {
	hc, err := c.tlsClient(c.pki("etcd-ca.crt"), "apiserver-etcd-client")
	if err != nil {
		return err
	}
	body, err := get(ctx, hc, fmt.Sprintf("https://127.0.0.1:%d/health", c.Ports.Etcd))
	if err != nil {
		return err
	}
	if !strings.Contains(body, `"health":"true"`) {
		return errors.New("etcd: " + body)
	}
	return nil
}

func (c *Cluster) apiserverHealthy(ctx context.Context) error {
	hc, err := c.tlsClient(c.pki("ca.crt"), "admin")
	if err != nil {
		return err
	}
	_, err = get(ctx, hc, c.Server()+"/readyz")
	return err
}

func (c *Cluster) httpsHealthy(port int) func(context.Context) error {
	return func(ctx context.Context) error {
		hc, err := c.tlsClient("", "")
		if err != nil {
			return err
		}
		_, err = get(ctx, hc, fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
		return err
	}
}

// nodeReady reports whether the node's Ready condition is True, as last
// heard after since (a Ready stored before a restart does not count).
func (c *Cluster) nodeReady(ctx context.Context, since time.Time) (bool, error) {
	cs, err := c.clientset()
	if err != nil {
		return false, err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, errors.New("not registered")
		}
		return false, err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) {
				return false, errors.New("no heartbeat since the node started")
			}
			if cond.Status == corev1.ConditionTrue {
				return true, nil
			}
			return false, fmt.Errorf("%s: %s", cond.Reason, cond.Message)
		}
	}
	return false, errors.New("no Ready condition yet")
}

// waitNodeReady waits for a Ready heard after since, failing early if one
// of the watched components exits.
func (c *Cluster) waitNodeReady(ctx context.Context, out io.Writer, since time.Time, timeout time.Duration, watch ...string) error {
	done := step(out, "waiting for node %s", NodeName)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, name := range watch {
			if c.pid(name) == 0 {
				fmt.Fprintln(out, "failed")
				return fmt.Errorf("%s exited; the end of %s:\n%s", name, c.logFile(name), lastLines(c.logFile(name), 15))
			}
		}
		ready, err := c.nodeReady(ctx, since)
		if ready {
			done("Ready")
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "failed")
			return fmt.Errorf("node %s not Ready after %s (%v); see %s", NodeName, timeout, last, filepath.Join(c.Dir, "logs"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitDefaultServiceAccount waits for the controller manager to create
// default/default: until then every pod in "default" is refused.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service account default/default not created (%v); see %s", err, c.logFile("kube-controller-manager"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

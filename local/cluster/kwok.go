package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KwokVersion is the kwok hack/kube-binaries.sh builds.
const KwokVersion = "v0.8.0"

// kwokStages are the stage files kwok needs (it exits "no stages found"
// without them), from its module.
var kwokStages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

const kwokAnnotation = "kwok.x-k8s.io/node"

// kwokFakePodCIDR is where kwok draws fake pod IPs from; nothing routes it.
const kwokFakePodCIDR = "10.244.0.0/16"

// ensureKwokStages copies the stage files into Dir/kwok (once).
func (c *Cluster) ensureKwokStages(ctx context.Context) ([]string, error) {
	dir := filepath.Join(c.Dir, "kwok")
	var paths []string
	for _, s := range kwokStages {
		paths = append(paths, filepath.Join(dir, filepath.Base(s)))
	}
	if _, err := os.Stat(paths[len(paths)-1]); err == nil {
		return paths, nil
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kwok@"+KwokVersion)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, &cmdError{"go mod download sigs.k8s.io/kwok@" + KwokVersion, err, out}
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download sigs.k8s.io/kwok@%s: %v %s", KwokVersion, err, mod.Error)
	}
	for i, s := range kwokStages {
		data, err := os.ReadFile(filepath.Join(mod.Dir, s))
		if err != nil {
			return nil, err
		}
		if err := writeFile(paths[i], data, 0o644); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

func (c *Cluster) upKwok(ctx context.Context, out io.Writer) error {
	stages, err := c.ensureKwokStages(ctx)
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + c.Kubeconfig(),
		"--manage-nodes-with-annotation-selector=" + kwokAnnotation + "=fake",
		"--cidr=" + kwokFakePodCIDR,
		"--node-ip=127.0.0.1",
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	since := time.Time{}
	if c.pid("kwok") == 0 {
		since = time.Now()
	}
	if err := c.ensureRunning(ctx, out, "kwok", args, nil, func(context.Context) error { return nil }, 10*time.Second); err != nil {
		return err
	}
	if err := c.ensureFakeNode(ctx, !since.IsZero()); err != nil {
		return err
	}
	return c.waitNodeReady(ctx, out, since, 60*time.Second, "kwok")
}

// ensureFakeNode registers the node kwok fakes. After kwok (re)started, an
// existing fake node's Ready goes Unknown, so that kwok initializes it at
// once instead of at its next heartbeat, 20-45 s later.
func (c *Cluster) ensureFakeNode(ctx context.Context, restarted bool) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        NodeName,
				Annotations: map[string]string{kwokAnnotation: "fake"},
				Labels:      map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Capacity: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("16"),
					corev1.ResourceMemory: resource.MustParse("64Gi"),
					corev1.ResourcePods:   resource.MustParse("110"),
				},
			},
		}
		node.Status.Allocatable = node.Status.Capacity
		_, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if node.Annotations[kwokAnnotation] == "fake" {
		if !restarted {
			return nil
		}
		for i, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				node.Status.Conditions[i].Status = corev1.ConditionUnknown
				node.Status.Conditions[i].Reason = "KwokRestarted"
			}
		}
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	}
	// A real kubelet registered it before: start over with a fake node.
	if err := cs.CoreV1().Nodes().Delete(ctx, NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return c.ensureFakeNode(ctx, restarted)
}

// forgetFakeNode deletes a node kwok faked before, so the kubelet registers
// afresh.
func (c *Cluster) forgetFakeNode(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || node.Annotations[kwokAnnotation] != "fake" {
		return err
	}
	err = cs.CoreV1().Nodes().Delete(ctx, NodeName, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

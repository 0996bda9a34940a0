package volumes_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/local/volumes"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestProvisioner: a claim without a class gets the default class (the API
// server's admission does that), then a folder-backed volume owned by the
// sessions' user; deleting the claim keeps the folder.
func TestProvisioner(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Expect(volumes.EnsureStorageClass(ctx, env.Client)).To(Succeed())
	g.Expect(volumes.EnsureStorageClass(ctx, env.Client)).To(Succeed()) // twice is fine

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()
	uid := os.Getuid() // chown to ourselves works without root too
	g.Expect((&volumes.Provisioner{Client: mgr.GetClient(), Dir: dir, Owner: uid}).SetupWithManager(mgr)).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()

	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "home-alice"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}}
	g.Expect(env.Client.Create(ctx, pvc)).To(Succeed())
	g.Expect(*pvc.Spec.StorageClassName).To(Equal(volumes.StorageClass), "the default class")

	pv := &corev1.PersistentVolume{}
	g.Eventually(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Name: "local-" + string(pvc.UID)}, pv)
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	folder := filepath.Join(dir, "default_home-alice")
	g.Expect(pv.Spec.HostPath.Path).To(Equal(folder))
	g.Expect(pv.Spec.ClaimRef.UID).To(Equal(pvc.UID))
	g.Expect(pv.Spec.PersistentVolumeReclaimPolicy).To(Equal(corev1.PersistentVolumeReclaimRetain))
	g.Expect(pv.Spec.Capacity.Storage().String()).To(Equal("10Gi"))
	info, err := os.Stat(folder)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(int(info.Sys().(*syscall.Stat_t).Uid)).To(Equal(uid))

	g.Expect(os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("mine"), 0o600)).To(Succeed())
	g.Expect(env.Client.Delete(ctx, pvc)).To(Succeed())
	time.Sleep(500 * time.Millisecond)
	g.Expect(filepath.Join(folder, "notes.txt")).To(BeAnExistingFile(), "a deleted claim keeps its folder")
}

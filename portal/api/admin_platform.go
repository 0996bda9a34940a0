package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/audit"
)

// PlatformAPI serves the admin views of what Git put in the cluster: the
// GitSync status with its drift, and the quotas.
type PlatformAPI struct {
	Client    client.Client
	Namespace string
	Audit     *audit.Log
}

// SyncView is one GitSync as the sync page shows it.
type SyncView struct {
	Name                   string          `json:"name"`
	URL                    string          `json:"url"`
	Ref                    string          `json:"ref"`
	Path                   string          `json:"path,omitempty"`
	DriftMode              string          `json:"driftMode"`
	Suspended              bool            `json:"suspended"`
	Ready                  string          `json:"ready"` // True, False, Unknown
	Reason                 string          `json:"reason,omitempty"`
	Message                string          `json:"message,omitempty"`
	LastAppliedRevision    string          `json:"lastAppliedRevision,omitempty"`
	LastAttemptedRevision  string          `json:"lastAttemptedRevision,omitempty"`
	LastHandledReconcileAt string          `json:"lastHandledReconcileAt,omitempty"`
	Inventory              []InventoryView `json:"inventory"`
	Drift                  []DriftView     `json:"drift"`
	Conditions             []ConditionView `json:"conditions"`
}

// InventoryView is one object a GitSync applied.
type InventoryView struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	ID   string `json:"id"`
}

// DriftView is one object changed in the cluster but not in Git.
type DriftView struct {
	ID         string    `json:"id"`
	Fields     []string  `json:"fields,omitempty"`
	Manager    string    `json:"manager,omitempty"`
	DetectedAt time.Time `json:"detectedAt"`
	Corrected  bool      `json:"corrected"`
}

// ConditionView is a status condition.
type ConditionView struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since"`
}

// ListSyncs returns every GitSync's status.
func (a *PlatformAPI) ListSyncs(c *gin.Context) {
	var list streamv1.GitSyncList
	if err := a.Client.List(c, &list, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, err)
		return
	}
	out := make([]SyncView, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, syncView(&list.Items[i]))
	}
	c.JSON(http.StatusOK, gin.H{"syncs": out})
}

func syncView(gs *streamv1.GitSync) SyncView {
	v := SyncView{Name: gs.Name, URL: gs.Spec.URL, Ref: refString(gs.Spec.Ref), Path: gs.Spec.Path, DriftMode: string(gs.Spec.DriftMode),
		Suspended: gs.Spec.Suspend, Ready: "Unknown", LastAppliedRevision: gs.Status.LastAppliedRevision,
		LastAttemptedRevision: gs.Status.LastAttemptedRevision, LastHandledReconcileAt: gs.Status.LastHandledReconcileAt,
		Inventory: []InventoryView{}, Drift: []DriftView{}, Conditions: []ConditionView{}}
	if r := meta.FindStatusCondition(gs.Status.Conditions, streamv1.ConditionReady); r != nil {
		v.Ready, v.Reason, v.Message = string(r.Status), r.Reason, r.Message
	}
	for _, cond := range gs.Status.Conditions {
		v.Conditions = append(v.Conditions, ConditionView{Type: cond.Type, Status: string(cond.Status), Reason: cond.Reason, Message: cond.Message, Since: cond.LastTransitionTime.UTC()})
	}
	for _, e := range gs.Status.Inventory {
		v.Inventory = append(v.Inventory, inventoryView(e.ID))
	}
	for _, d := range gs.Status.Drift {
		v.Drift = append(v.Drift, DriftView{ID: d.ID, Fields: d.Fields, Manager: d.Manager, DetectedAt: d.DetectedAt.UTC(), Corrected: d.Corrected})
	}
	return v
}

// inventoryView reads an inventory ID (namespace_name_group_kind).
func inventoryView(id string) InventoryView {
	parts := strings.Split(id, "_")
	if len(parts) != 4 {
		return InventoryView{ID: id}
	}
	return InventoryView{Kind: parts[3], Name: parts[1], ID: id}
}

func refString(r streamv1.GitReference) string {
	switch {
	case r.Commit != "":
		return "commit " + r.Commit
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return r.Branch
	}
	return "main"
}

// Reconcile asks the agent to sync a GitSync now (the same annotation the
// push receiver and `kubectl annotate` use).
func (a *PlatformAPI) Reconcile(c *gin.Context) {
	gs := &streamv1.GitSync{}
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: c.Param("name")}, gs); err != nil {
		if apierrors.IsNotFound(err) {
			Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no GitSync %q", c.Param("name"))))
			return
		}
		Fail(c, err)
		return
	}
	token := time.Now().UTC().Format(time.RFC3339Nano)
	patch := client.MergeFrom(gs.DeepCopy())
	if gs.Annotations == nil {
		gs.Annotations = map[string]string{}
	}
	gs.Annotations[streamv1.ReconcileRequestAnnotation] = token
	if err := a.Client.Patch(c, gs, patch, client.FieldOwner(FieldManager)); err != nil {
		Fail(c, kubeError(err))
		return
	}
	audited(c, a.Audit, audit.AdminSyncReconcile, gs.Name, token)
	c.JSON(http.StatusAccepted, gin.H{"requestedAt": token, "sync": syncView(gs)})
}

// QuotaView is a quota as the admin pages show it.
type QuotaView struct {
	Name    string               `json:"name"`
	Default bool                 `json:"default"`
	Users   []string             `json:"users"`
	Groups  []string             `json:"groups"`
	Limits  streamv1.QuotaLimits `json:"limits"`
	Created metav1.Time          `json:"createdAt"`
}

// ListQuotas returns every quota.
func (a *PlatformAPI) ListQuotas(c *gin.Context) {
	var list streamv1.QuotaList
	if err := a.Client.List(c, &list, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, err)
		return
	}
	out := make([]QuotaView, 0, len(list.Items))
	for _, q := range list.Items {
		out = append(out, QuotaView{Name: q.Name, Default: q.Spec.Default, Users: nonNil(q.Spec.Users), Groups: nonNil(q.Spec.Groups), Limits: q.Spec.Limits, Created: q.CreationTimestamp})
	}
	c.JSON(http.StatusOK, gin.H{"quotas": out})
}

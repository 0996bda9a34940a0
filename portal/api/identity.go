package api

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/store"
)

// Identities mirrors what the portal knows about an account (groups from
// the identity provider or an admin, disabled) into the user's User
// object, where the quota webhook and the agent read it: a group quota
// then applies to an OIDC user's group, and a disabled account cannot
// start sessions even through kubectl.
//
// The portal applies only the fields it owns, as its own field manager and
// without force: when a User's groups are kept in Git, Git wins and the
// conflict is reported instead of fought over.
type Identities struct {
	Client    client.Client
	Namespace string
}

var emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)

// Apply writes u's identity to its User object, creating it if needed.
func (i *Identities) Apply(ctx context.Context, u *store.User) error {
	if i == nil || i.Client == nil {
		return nil
	}
	spec := map[string]any{"groups": nonNil(u.Groups), "disabled": u.Disabled}
	if u.Display != "" {
		spec["displayName"] = u.Display
	}
	if emailPattern.MatchString(u.Email) {
		spec["email"] = u.Email
	}
	obj := map[string]any{
		"apiVersion": streamv1.GroupVersion.String(), "kind": "User",
		"metadata": map[string]any{"name": u.Username, "namespace": i.Namespace},
		"spec":     spec,
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	target := &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: i.Namespace, Name: u.Username}}
	err = i.Client.Patch(ctx, target, client.RawPatch(types.ApplyPatchType, body), client.FieldOwner(FieldManager))
	if apierrors.IsConflict(err) {
		return fmt.Errorf("user %s is managed elsewhere (Git?), its identity was not updated: %w", u.Username, err)
	}
	return err
}

// UserEvents records account events for plugins (user.*: the portal's is
// portal/plugins.Events); nil records none. Recording never fails the
// request: the change it tells of is made already.
type UserEvents interface {
	User(ctx context.Context, eventType string, u *store.User)
}

func userEvent(ctx context.Context, ev UserEvents, eventType string, u *store.User) {
	if ev != nil {
		ev.User(ctx, eventType, u)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

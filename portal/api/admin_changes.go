package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/store"
)

// ChangesAPI serves POST, PUT and DELETE of /api/v1/admin/templates and
// /api/v1/admin/quotas: an admin's create, edit or delete becomes a pull
// request (or a commit) in the platform repository. The portal never writes the object
// itself; the change reaches the cluster when the agent syncs it from Git,
// after review.
type ChangesAPI struct {
	Client    client.Client
	Namespace string
	// Writer proposes changes; nil: write-back is not configured (503).
	Writer *gitwrite.Writer
	// Users give the proposing admin's email to the commit.
	Users UserDirectory
	Audit *audit.Log
}

// UserDirectory finds an account by its name.
type UserDirectory interface {
	UserByName(ctx context.Context, username string) (*store.User, error)
}

// ChangeRequest is the body of a change: the object's whole new spec and
// why.
type ChangeRequest struct {
	Spec   json.RawMessage `json:"spec"`
	Reason string          `json:"reason"`
}

// UpdateTemplate proposes a Template change.
func (a *ChangesAPI) UpdateTemplate(c *gin.Context) {
	a.propose(c, "Template", &streamv1.Template{}, func(o client.Object) any { return &o.(*streamv1.Template).Spec })
}

// UpdateQuota proposes a Quota change.
func (a *ChangesAPI) UpdateQuota(c *gin.Context) {
	a.propose(c, "Quota", &streamv1.Quota{}, func(o client.Object) any { return &o.(*streamv1.Quota).Spec })
}

func (a *ChangesAPI) propose(c *gin.Context, kind string, live client.Object, spec func(client.Object) any) {
	if !a.configured(c) {
		return
	}
	var req ChangeRequest
	if !bindJSON(c, &req) {
		return
	}
	fields := map[string]string{}
	if len(req.Reason) == 0 || len(req.Reason) > 200 {
		fields["reason"] = "required, at most 200 characters: it titles the pull request"
	}
	if len(req.Spec) == 0 {
		fields["spec"] = "required: the whole new spec"
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	name := c.Param("name")
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no %s %q", kind, name)))
			return
		}
		Fail(c, err)
		return
	}
	edited := live.DeepCopyObject().(client.Object)
	dec := json.NewDecoder(bytes.NewReader(req.Spec))
	dec.DisallowUnknownFields()
	target := spec(edited)
	if err := dec.Decode(target); err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "spec: " + err.Error(), Fields: map[string]string{"spec": err.Error()}})
		return
	}
	// The API server checks the edit (schema, CEL rules, webhooks) without
	// keeping it, so a pull request is never opened for an object the agent
	// could not apply.
	if err := a.Client.Update(c, edited.DeepCopyObject().(client.Object), client.DryRunAll, client.FieldOwner(FieldManager)); err != nil {
		if apierrors.IsInvalid(err) {
			Fail(c, invalidObject(err))
			return
		}
		Fail(c, kubeError(err))
		return
	}
	if res := a.write(c, gitwrite.Change{Kind: kind, Name: name, Object: edited, Base: live, Reason: req.Reason}); res != nil {
		c.JSON(http.StatusAccepted, res)
	}
}

// proposed records a write-back in the audit log: the action names the
// kind, the detail the operation and where it went.
func (a *ChangesAPI) proposed(c *gin.Context, kind, name string, op gitwrite.Op, res *gitwrite.Result) {
	detail := res.Mode + " " + res.Commit
	if res.URL != "" {
		detail = res.Mode + " " + res.URL
	}
	if op != gitwrite.OpEdit {
		detail = string(op) + ": " + detail
	}
	audited(c, a.Audit, map[string]string{"Template": audit.AdminTemplatePropose, "Quota": audit.AdminQuotaPropose}[kind], name, detail)
}

// writeBackError is the API's answer to a write-back that failed.
// writeBack is what the admin changes and the plugin changes share:
// proposing a change to Git as the signed-in admin.
type writeBack struct {
	writer *gitwrite.Writer
	users  UserDirectory
}

// configured answers 503 unless write-back is set up.
func (w writeBack) configured(c *gin.Context) bool {
	if w.writer == nil {
		Fail(c, Errorf(http.StatusServiceUnavailable, CodeUnavailable, "write-back is not configured: set the platform repository (STREAMSPACE_GIT_URL) and its write credentials"))
		return false
	}
	return true
}

// propose writes ch to Git as the signed-in admin. It answers the request
// itself and returns nil when nothing was proposed (no change: 200; an
// error: its status).
func (w writeBack) propose(c *gin.Context, ch gitwrite.Change) *gitwrite.Result {
	p := auth.Principal(c)
	ch.Actor = p.Subject
	if u, err := w.users.UserByName(c, p.Subject); err == nil {
		ch.ActorEmail = u.Email
	}
	ctx, cancel := context.WithTimeout(c, 2*time.Minute)
	defer cancel()
	res, err := w.writer.Propose(ctx, ch)
	if errors.Is(err, gitwrite.ErrNoChange) {
		c.JSON(http.StatusOK, gin.H{"unchanged": true, "message": fmt.Sprintf("%s %s already is as asked in Git", ch.Kind, ch.Name)})
		return nil
	}
	if err != nil {
		Fail(c, writeBackError(err))
		return nil
	}
	return res
}

func writeBackError(err error) error {
	switch {
	case errors.Is(err, gitwrite.ErrInvalidChange):
		return Errorf(http.StatusBadRequest, CodeInvalid, err.Error())
	case errors.Is(err, gitwrite.ErrNotFound):
		return Errorf(http.StatusNotFound, CodeNotFound, err.Error()+": it was not created from Git, so it cannot be changed through Git")
	case errors.Is(err, gitwrite.ErrAmbiguous), errors.Is(err, gitwrite.ErrConflict), errors.Is(err, gitwrite.ErrAlreadyExists):
		return Errorf(http.StatusConflict, CodeConflict, err.Error())
	}
	// also ErrAuthentication: a 401 would read as the admin's own sign-in
	// having expired
	return Errorf(http.StatusBadGateway, CodeUpstream, "the platform repository refused the change: "+err.Error())
}

// invalidObject turns the API server's field errors into the API's.
func invalidObject(err error) error {
	e := &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error(), Fields: map[string]string{}}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, cause := range status.Status().Details.Causes {
			e.Fields[cause.Field] = cause.Message
		}
	}
	return e
}

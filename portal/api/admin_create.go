package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/catalog"
	"github.com/streamspace/streamspace/portal/gitwrite"
)

// TemplateCreateRequest is a new template from an image; the catalog's
// conventions fill in the rest (see catalog.FromImage).
type TemplateCreateRequest struct {
	Image       string               `json:"image"`
	Name        string               `json:"name,omitempty"`
	DisplayName string               `json:"displayName,omitempty"`
	Category    string               `json:"category,omitempty"`
	Description string               `json:"description,omitempty"`
	Stream      *streamv1.StreamSpec `json:"stream,omitempty"`
	HomePath    string               `json:"homePath,omitempty"`
	Reason      string               `json:"reason"`
}

// QuotaCreateRequest is a new quota: its name and whole spec.
type QuotaCreateRequest struct {
	Name   string          `json:"name"`
	Spec   json.RawMessage `json:"spec"`
	Reason string          `json:"reason"`
}

// CreateTemplate proposes a new Template built from an image reference.
func (a *ChangesAPI) CreateTemplate(c *gin.Context) {
	var req TemplateCreateRequest
	if !a.ready(c, &req) || !validReason(c, req.Reason) {
		return
	}
	var models streamv1.TemplateList
	if err := a.Client.List(c, &models, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, kubeError(err))
		return
	}
	tpl, notes, err := catalog.FromImage(catalog.Request{Image: req.Image, Name: req.Name, DisplayName: req.DisplayName, Category: req.Category,
		Description: req.Description, Stream: req.Stream, HomePath: req.HomePath}, models.Items)
	if err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error(), Fields: map[string]string{"image": err.Error()}})
		return
	}
	res := a.create(c, "Template", tpl, req.Reason)
	if res != nil {
		c.JSON(http.StatusAccepted, gin.H{"result": res, "template": tpl, "notes": notes})
	}
}

// CreateQuota proposes a new Quota.
func (a *ChangesAPI) CreateQuota(c *gin.Context) {
	var req QuotaCreateRequest
	if !a.ready(c, &req) || !validReason(c, req.Reason) {
		return
	}
	q := &streamv1.Quota{}
	q.APIVersion, q.Kind, q.Name = streamv1.GroupVersion.String(), "Quota", req.Name
	if len(req.Spec) == 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "spec is required", Fields: map[string]string{"spec": "required: the whole spec"}})
		return
	}
	if err := strictDecode(req.Spec, &q.Spec); err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "spec: " + err.Error(), Fields: map[string]string{"spec": err.Error()}})
		return
	}
	if res := a.create(c, "Quota", q, req.Reason); res != nil {
		c.JSON(http.StatusAccepted, res)
	}
}

// create checks obj with the API server (a dry-run create: schema, CEL
// rules, webhooks, and that no object of that name is live) and proposes
// it. It answers the request itself on failure and returns nil then.
func (a *ChangesAPI) create(c *gin.Context, kind string, obj client.Object, reason string) *gitwrite.Result {
	obj.SetNamespace(a.Namespace)
	if err := a.Client.Create(c, obj.DeepCopyObject().(client.Object), client.DryRunAll, client.FieldOwner(FieldManager)); err != nil {
		switch {
		case apierrors.IsInvalid(err):
			Fail(c, invalidObject(err))
		case apierrors.IsAlreadyExists(err):
			Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("%s %q already exists; edit it instead", kind, obj.GetName())))
		default:
			Fail(c, kubeError(err))
		}
		return nil
	}
	obj.SetNamespace("") // the overlay sets it
	return a.write(c, gitwrite.Change{Op: gitwrite.OpCreate, Kind: kind, Name: obj.GetName(), Object: obj, Reason: reason})
}

// DeleteTemplate proposes removing a Template; the pull request names the
// sessions that still use it.
func (a *ChangesAPI) DeleteTemplate(c *gin.Context) {
	a.remove(c, "Template", func(ctx context.Context, name string) ([]string, error) {
		var sessions streamv1.SessionList
		if err := a.Client.List(ctx, &sessions, client.InNamespace(a.Namespace)); err != nil {
			return nil, err
		}
		var users []string
		for _, s := range sessions.Items {
			if s.Spec.Template == name && s.Status.Phase != streamv1.PhaseTerminated && s.Spec.State != streamv1.StateTerminated {
				phase := string(s.Status.Phase)
				if phase == "" {
					phase = "Pending"
				}
				users = append(users, fmt.Sprintf("%s/%s (%s)", s.Spec.User, s.Name, phase))
			}
		}
		return users, nil
	})
}

// DeleteQuota proposes removing a Quota; its users fall back to the next
// quota that names them, or the default.
func (a *ChangesAPI) DeleteQuota(c *gin.Context) {
	a.remove(c, "Quota", func(context.Context, string) ([]string, error) { return nil, nil })
}

// remove takes the reason from ?reason=, since a DELETE carries no body.
func (a *ChangesAPI) remove(c *gin.Context, kind string, usedBy func(context.Context, string) ([]string, error)) {
	if !a.configured(c) {
		return
	}
	reason := c.Query("reason")
	if !validReason(c, reason) {
		return
	}
	name := c.Param("name")
	users, err := usedBy(c, name)
	if err != nil {
		Fail(c, kubeError(err))
		return
	}
	if res := a.write(c, gitwrite.Change{Op: gitwrite.OpDelete, Kind: kind, Name: name, Reason: reason, UsedBy: users}); res != nil {
		c.JSON(http.StatusAccepted, gin.H{"result": res, "usedBy": users})
	}
}

// write proposes ch as the signed-in admin and audits it; on failure it
// answers the request and returns nil.
func (a *ChangesAPI) write(c *gin.Context, ch gitwrite.Change) *gitwrite.Result {
	res := writeBack{a.Writer, a.Users}.propose(c, ch)
	if res != nil {
		a.proposed(c, ch.Kind, ch.Name, ch.Op, res)
	}
	return res
}

func (a *ChangesAPI) configured(c *gin.Context) bool {
	return writeBack{a.Writer, a.Users}.configured(c)
}

func (a *ChangesAPI) ready(c *gin.Context, req any) bool {
	return a.configured(c) && bindJSON(c, req)
}

// validReason answers 400 unless reason can title a pull request.
func validReason(c *gin.Context, reason string) bool {
	if r := strings.TrimSpace(reason); r == "" || len(reason) > 200 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields",
			Fields: map[string]string{"reason": "required, at most 200 characters: it titles the pull request"}})
		return false
	}
	return true
}

func strictDecode(data []byte, into any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

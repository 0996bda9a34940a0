package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
)

// FieldManager is the portal's field manager for what it writes.
const FieldManager = "streamspace-portal"

// SessionsAPI serves /api/v1/sessions. Sessions are Session objects in the
// platform namespace; a caller sees and touches only their own (admins
// see all), and asking for someone else's answers 404, so that names do
// not leak.
type SessionsAPI struct {
	Client    client.Client
	Namespace string
	Audit     *audit.Log
	// Cache is the informer cache Client reads from, if it does: the list
	// is then kept sorted and encoded per change of it; nil: every list
	// is read through Client.
	Cache cache.Cache

	list sessionList
}

// SessionView is a session as the API shows it.
type SessionView struct {
	Name         string            `json:"name"`
	User         string            `json:"user"`
	Template     string            `json:"template"`
	State        string            `json:"state"`
	Phase        string            `json:"phase"`
	Reason       string            `json:"reason,omitempty"`
	Message      string            `json:"message,omitempty"`
	URL          string            `json:"url,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	LastActivity *time.Time        `json:"lastActivity,omitempty"`
	IdleDeadline *time.Time        `json:"idleDeadline,omitempty"`
	ExpiresAt    *time.Time        `json:"expiresAt,omitempty"`
	Resources    map[string]string `json:"resources,omitempty"`
	// Start is the progress of the latest launch or wake, for the UI to
	// show while the session comes up.
	Start *StartProgress `json:"start,omitempty"`
}

// StartProgress is how far a launch or wake got: each step's time once it
// happened, and the step reached.
type StartProgress struct {
	Kind          string     `json:"kind"` // Launch or Wake
	Step          string     `json:"step"` // requested, scheduled, image-ready, stream-ready
	RequestedAt   time.Time  `json:"requestedAt"`
	ScheduledAt   *time.Time `json:"scheduledAt,omitempty"`
	ImageReadyAt  *time.Time `json:"imageReadyAt,omitempty"`
	StreamReadyAt *time.Time `json:"streamReadyAt,omitempty"`
}

func view(s *streamv1.Session) SessionView {
	v := SessionView{Name: s.Name, User: s.Spec.User, Template: s.Spec.Template, State: string(s.DesiredState()),
		Phase: string(s.Status.Phase), URL: s.Status.URL, CreatedAt: s.CreationTimestamp.UTC()}
	for _, c := range s.Status.Conditions {
		if c.Type == streamv1.ConditionReady {
			v.Reason, v.Message = c.Reason, c.Message
		}
	}
	at := func(t *metav1.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	v.LastActivity, v.IdleDeadline, v.ExpiresAt = at(s.Status.LastActivity), at(s.Status.IdleDeadline), at(s.Status.ExpiresAt)
	if ls := s.Status.LastStart; ls != nil {
		p := &StartProgress{Kind: ls.Kind, Step: "requested", RequestedAt: ls.RequestedAt.UTC(),
			ScheduledAt: at(ls.ScheduledAt), ImageReadyAt: at(ls.ImageReadyAt), StreamReadyAt: at(ls.StreamReadyAt)}
		switch {
		case p.StreamReadyAt != nil:
			p.Step = "stream-ready"
		case p.ImageReadyAt != nil:
			p.Step = "image-ready"
		case p.ScheduledAt != nil:
			p.Step = "scheduled"
		}
		v.Start = p
	}
	if r := s.Spec.Resources; r.Memory != nil || r.CPU != nil {
		v.Resources = map[string]string{}
		if r.Memory != nil {
			v.Resources["memory"] = r.Memory.String()
		}
		if r.CPU != nil {
			v.Resources["cpu"] = r.CPU.String()
		}
	}
	return v
}

// Get returns one session.
func (a *SessionsAPI) Get(c *gin.Context) {
	if s := a.owned(c); s != nil {
		c.JSON(http.StatusOK, view(s))
	}
}

// CreateRequest is the body of POST /api/v1/sessions. The user is always
// the caller; it is never read from the body.
type CreateRequest struct {
	Template  string `json:"template"`
	Resources struct {
		Memory string `json:"memory"`
		CPU    string `json:"cpu"`
	} `json:"resources"`
}

// Create launches a session of a template for the caller, after the same
// quota check the admission webhook makes.
func (a *SessionsAPI) Create(c *gin.Context) {
	p := auth.Principal(c)
	var req CreateRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the body must be JSON: " + err.Error()})
		return
	}
	fields := map[string]string{}
	if req.Template == "" {
		fields["template"] = "required"
	}
	s := &streamv1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace},
		Spec:       streamv1.SessionSpec{User: p.Subject, Template: req.Template, State: streamv1.StateRunning},
	}
	for name, val := range map[string]string{"resources.memory": req.Resources.Memory, "resources.cpu": req.Resources.CPU} {
		if val == "" {
			continue
		}
		q, err := resource.ParseQuantity(val)
		if err != nil || q.Sign() <= 0 {
			fields[name] = fmt.Sprintf("%q is not a positive quantity (e.g. 2Gi, 500m)", val)
			continue
		}
		if name == "resources.memory" {
			s.Spec.Resources.Memory = &q
		} else {
			s.Spec.Resources.CPU = &q
		}
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	t := &streamv1.Template{}
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: req.Template}, t); err != nil {
		if apierrors.IsNotFound(err) {
			Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("template %q does not exist", req.Template),
				Fields: map[string]string{"template": "unknown template"}})
			return
		}
		Fail(c, err)
		return
	}
	s.Name = sessionName(p.Subject, t.Name)
	if err := quota.CheckSession(c, a.Client, s, t, true, nil); err != nil {
		Fail(c, quotaError(err))
		return
	}
	if err := a.Client.Create(c, s, client.FieldOwner(FieldManager)); err != nil {
		Fail(c, kubeError(err))
		return
	}
	audited(c, a.Audit, audit.SessionCreate, s.Name, t.Name)
	c.JSON(http.StatusCreated, view(s))
}

// Delete terminates a session: it stops, its record stays.
func (a *SessionsAPI) Delete(c *gin.Context) {
	s := a.owned(c)
	if s == nil {
		return
	}
	if err := a.setState(c, s, streamv1.StateTerminated); err != nil {
		Fail(c, kubeError(err))
		return
	}
	audited(c, a.Audit, audit.SessionDelete, s.Name, "")
	c.JSON(http.StatusOK, view(s))
}

// Wake starts a hibernated session again; the quota decides.
func (a *SessionsAPI) Wake(c *gin.Context) {
	s := a.owned(c)
	if s == nil {
		return
	}
	if s.DesiredState() == streamv1.StateRunning {
		c.JSON(http.StatusOK, view(s))
		return
	}
	if err := a.wake(c, s); err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, view(s))
}

// Hibernate scales a running session to zero now, as the idle timeout
// would: its home and its record stay, and a wake brings it back.
func (a *SessionsAPI) Hibernate(c *gin.Context) {
	s := a.owned(c)
	if s == nil {
		return
	}
	changed, err := HibernateSession(c, a.Client, s, streamv1.ReasonUserRequest)
	if err != nil {
		Fail(c, err)
		return
	}
	if !changed {
		c.JSON(http.StatusOK, view(s))
		return
	}
	audited(c, a.Audit, audit.SessionHibernate, s.Name, streamv1.ReasonUserRequest)
	c.JSON(http.StatusAccepted, view(s))
}

// HibernateSession sets s (read by the caller) hibernated, recording why
// (reason, a condition reason the agent reports); false when it already
// was. The portal's hibernate action and a plugin's (sessions:hibernate)
// both go through here. A terminated session is a conflict.
func HibernateSession(ctx context.Context, c client.Client, s *streamv1.Session, reason string) (bool, error) {
	switch s.DesiredState() {
	case streamv1.StateTerminated:
		return false, Errorf(http.StatusConflict, CodeConflict, "the session was terminated; there is nothing to hibernate")
	case streamv1.StateHibernated:
		return false, nil
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.State = streamv1.StateHibernated
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[streamv1.StateReasonAnnotation] = reason
	if err := c.Patch(ctx, s, patch, client.FieldOwner(FieldManager)); err != nil {
		return false, kubeError(err)
	}
	return true, nil
}

// wake sets a hibernated session running after the quota check.
func (a *SessionsAPI) wake(c *gin.Context, s *streamv1.Session) error {
	if s.DesiredState() == streamv1.StateTerminated {
		return Errorf(http.StatusConflict, CodeConflict, "the session was terminated; launch a new one")
	}
	t := &streamv1.Template{}
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: s.Spec.Template}, t); err != nil {
		return kubeError(err)
	}
	if err := quota.CheckSession(c, a.Client, withState(s, streamv1.StateRunning), t, false, func(o *streamv1.Session) bool { return o.Name == s.Name }); err != nil {
		return quotaError(err)
	}
	if err := a.setState(c, s, streamv1.StateRunning); err != nil {
		return kubeError(err)
	}
	audited(c, a.Audit, audit.SessionWake, s.Name, "")
	return nil
}

// NotRunning answers a connection to a session that is not streaming: a
// hibernated session is woken, and a starting one reports its progress
// (202 with the session and Retry-After), so the viewer shows it and
// connects by itself once the stream is ready. A terminated or failed
// session is a 409 that says why.
func (a *SessionsAPI) NotRunning(c *gin.Context, s *streamv1.Session) {
	switch {
	case s.DesiredState() == streamv1.StateTerminated:
		Fail(c, Errorf(http.StatusConflict, CodeNotRunning, fmt.Sprintf("session %s was terminated; launch a new one", s.Name)))
		return
	case s.Status.Phase == streamv1.PhaseFailed && s.DesiredState() == streamv1.StateRunning:
		v := view(s)
		Fail(c, Errorf(http.StatusConflict, CodeNotRunning, fmt.Sprintf("session %s failed (%s): %s", s.Name, v.Reason, v.Message)))
		return
	case s.DesiredState() == streamv1.StateHibernated:
		if err := a.wake(c, s); err != nil {
			Fail(c, err)
			return
		}
	}
	c.Header("Retry-After", "2")
	c.JSON(http.StatusAccepted, view(s))
}

// owned loads the session named in the path if the caller may see it, or
// renders 404.
func (a *SessionsAPI) owned(c *gin.Context) *streamv1.Session {
	s := &streamv1.Session{}
	err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: c.Param("id")}, s)
	p := auth.Principal(c)
	if apierrors.IsNotFound(err) || (err == nil && !p.MayUse(s.Spec.User)) {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no session %q", c.Param("id"))))
		return nil
	}
	if err != nil {
		Fail(c, err)
		return nil
	}
	return s
}

func (a *SessionsAPI) setState(ctx context.Context, s *streamv1.Session, state streamv1.SessionState) error {
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.State = state
	return a.Client.Patch(ctx, s, patch, client.FieldOwner(FieldManager))
}

func withState(s *streamv1.Session, state streamv1.SessionState) *streamv1.Session {
	w := s.DeepCopy()
	w.Spec.State = state
	return w
}

// sessionName is <user>-<template>-<5 hex>, cut to the 60 characters a
// Session name may have.
func sessionName(user, template string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)[:5]
	base := user + "-" + template
	if max := 60 - len(suffix) - 1; len(base) > max {
		base = strings.TrimRight(base[:max], "-.")
	}
	return base + "-" + suffix
}

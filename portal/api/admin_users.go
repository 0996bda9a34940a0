package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// AdminUsersAPI serves /api/v1/admin/users: accounts, roles, groups,
// service accounts and their tokens. Admins only (the router says so).
type AdminUsersAPI struct {
	Store      Accounts
	Tokens     *auth.Tokens
	Client     client.Reader
	Namespace  string
	Identities *Identities
	Audit      *audit.Log
	// Watcher hears of disabled, deleted and demoted accounts, whose open
	// streams it closes; nil: nobody listens.
	Watcher auth.AccountWatcher
	// Events records user.created, user.updated and user.deleted; nil:
	// none.
	Events UserEvents
}

// Accounts are the users, their tokens and the audit log, as admins
// manage them.
type Accounts interface {
	TokenStore
	ListUsers(ctx context.Context) ([]store.User, error)
	CreateUser(ctx context.Context, u *store.User) error
	UserByName(ctx context.Context, username string) (*store.User, error)
	UpdateUser(ctx context.Context, u *store.User) error
	RevokeUserTokens(ctx context.Context, username string, at time.Time) error
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	DeleteUser(ctx context.Context, username, by string, at time.Time) error
	DeletedUser(ctx context.Context, username string) (*store.DeletedUser, error)
	ListDeletedUsers(ctx context.Context) ([]store.DeletedUser, error)
	ReleaseDeletedUser(ctx context.Context, username string) error
}

// usernamePattern is what a Session's spec.user accepts: a username names
// the user's home volume and sessions.
var usernamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,56}[a-z0-9])?$`)

// AdminUserView is an account as the admin pages show it.
type AdminUserView struct {
	Username       string     `json:"username"`
	Display        string     `json:"display,omitempty"`
	Email          string     `json:"email,omitempty"`
	Role           string     `json:"role"`
	Groups         []string   `json:"groups"`
	Source         string     `json:"source"`
	Disabled       bool       `json:"disabled"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastLoginAt    *time.Time `json:"lastLoginAt,omitempty"`
	Quota          string     `json:"quota,omitempty"`
	ActiveSessions int        `json:"activeSessions"`
}

// List returns every account with its quota and running sessions.
func (a *AdminUsersAPI) List(c *gin.Context) {
	users, err := a.Store.ListUsers(c)
	if err != nil {
		Fail(c, err)
		return
	}
	var sessions streamv1.SessionList
	if err := a.Client.List(c, &sessions, client.InNamespace(a.Namespace)); err != nil {
		Fail(c, err)
		return
	}
	active := map[string]int{}
	for _, s := range sessions.Items {
		if s.DesiredState() == streamv1.StateRunning {
			active[s.Spec.User]++
		}
	}
	out := make([]AdminUserView, 0, len(users))
	for _, u := range users {
		v := a.view(&u)
		v.ActiveSessions = active[u.Username]
		if q, _, err := quota.Resolve(c, a.Client, a.Namespace, u.Username); err == nil {
			v.Quota = q.Name
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"users": out})
}

func (a *AdminUsersAPI) view(u *store.User) AdminUserView {
	g := u.Groups
	if g == nil {
		g = []string{}
	}
	return AdminUserView{Username: u.Username, Display: u.Display, Email: u.Email, Role: u.Role, Groups: g, Source: u.Source,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
}

// NewUserRequest is the body of POST /api/v1/admin/users.
type NewUserRequest struct {
	Username string   `json:"username"`
	Display  string   `json:"display"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Role     string   `json:"role"`
	Groups   []string `json:"groups"`
	// ServiceAccount makes an account for automation: no password, signs
	// in with API tokens only.
	ServiceAccount bool `json:"serviceAccount"`
}

// Create adds a local account or a service account.
func (a *AdminUsersAPI) Create(c *gin.Context) {
	var req NewUserRequest
	if !bindJSON(c, &req) {
		return
	}
	fields := map[string]string{}
	if !usernamePattern.MatchString(req.Username) {
		fields["username"] = "lowercase letters, digits and '-', at most 58 characters, starting and ending with a letter or digit"
	}
	if req.Role == "" {
		req.Role = "user"
	}
	if req.Role != "user" && req.Role != "admin" {
		fields["role"] = `"user" or "admin"`
	}
	u := &store.User{Username: req.Username, Display: req.Display, Email: req.Email, Role: req.Role, Groups: req.Groups, Source: "local"}
	switch {
	case req.ServiceAccount && req.Password != "":
		fields["password"] = "service accounts have no password; give them API tokens"
	case req.ServiceAccount:
		u.Source = auth.SourceService
	default:
		hash, err := auth.HashPassword(req.Password)
		if err != nil {
			fields["password"] = err.Error()
		}
		u.PasswordHash = hash
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	if !a.nameFree(c, u.Username) {
		return
	}
	if err := a.Store.CreateUser(c, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("user %q already exists", u.Username)))
			return
		}
		Fail(c, err)
		return
	}
	audited(c, a.Audit, audit.AdminUserCreate, u.Username, "role="+u.Role+" source="+u.Source)
	userEvent(c, a.Events, event.UserCreated, u)
	applyIdentity(c, a.Identities, u)
	c.JSON(http.StatusCreated, a.view(u))
}

// UpdateUserRequest is the body of PATCH /api/v1/admin/users/{name}; only
// the fields given change.
type UpdateUserRequest struct {
	Role     *string   `json:"role"`
	Groups   *[]string `json:"groups"`
	Disabled *bool     `json:"disabled"`
	Password *string   `json:"password"`
}

// Update changes an account. Disabling signs the user out everywhere: their
// refresh tokens are revoked and their API tokens stop working at once.
func (a *AdminUsersAPI) Update(c *gin.Context) {
	var req UpdateUserRequest
	if !bindJSON(c, &req) {
		return
	}
	u := a.user(c)
	if u == nil {
		return
	}
	self := auth.Principal(c).Subject == u.Username
	fields := map[string]string{}
	var changed []string
	if req.Role != nil {
		switch {
		case *req.Role != "user" && *req.Role != "admin":
			fields["role"] = `"user" or "admin"`
		case self && *req.Role != "admin":
			fields["role"] = "you cannot take the admin role from yourself"
		default:
			u.Role = *req.Role
			changed = append(changed, "role="+u.Role)
		}
	}
	if req.Disabled != nil {
		if self && *req.Disabled {
			fields["disabled"] = "you cannot disable yourself"
		} else {
			u.Disabled = *req.Disabled
			changed = append(changed, fmt.Sprintf("disabled=%t", u.Disabled))
		}
	}
	if req.Groups != nil {
		u.Groups = *req.Groups
		changed = append(changed, fmt.Sprintf("groups=%v", u.Groups))
	}
	if req.Password != nil {
		if u.Source != "local" {
			fields["password"] = "only local accounts have a password (this one signs in by " + u.Source + ")"
		} else if hash, err := auth.HashPassword(*req.Password); err != nil {
			fields["password"] = err.Error()
		} else {
			u.PasswordHash = hash
			changed = append(changed, "password")
		}
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	if err := a.Store.UpdateUser(c, u); err != nil {
		Fail(c, err)
		return
	}
	if u.Disabled || req.Password != nil {
		if err := a.Store.RevokeUserTokens(c, u.Username, time.Now()); err != nil {
			Fail(c, err)
			return
		}
	}
	// the next request already sees the account as it is now
	// (auth.Tokens.Authenticate); streams opened before are closed here
	if a.Watcher != nil && (req.Disabled != nil || req.Role != nil) {
		a.Watcher.AccountChanged(u.Username, u, "an admin changed the account: "+strings.Join(changed, ", "))
	}
	audited(c, a.Audit, audit.AdminUserUpdate, u.Username, fmt.Sprint(changed))
	userEvent(c, a.Events, event.UserUpdated, u)
	applyIdentity(c, a.Identities, u)
	c.JSON(http.StatusOK, a.view(u))
}

// Delete removes an account: it is signed out everywhere at once (its
// tokens revoked, its next request refused, its open streams closed), its
// User object is marked disabled (its home volume is kept: deleting data
// is not this call's business) and its name stays taken until an admin
// releases it (DELETE /api/v1/admin/deleted-users/{name}), so that nobody
// else, above all no one an identity provider names so, inherits it.
func (a *AdminUsersAPI) Delete(c *gin.Context) {
	u := a.user(c)
	if u == nil {
		return
	}
	if auth.Principal(c).Subject == u.Username {
		Fail(c, Errorf(http.StatusConflict, CodeConflict, "you cannot delete yourself"))
		return
	}
	if err := a.Store.DeleteUser(c, u.Username, auth.Principal(c).Subject, time.Now()); err != nil {
		Fail(c, err)
		return
	}
	if a.Watcher != nil {
		a.Watcher.AccountChanged(u.Username, nil, "an admin deleted the account")
	}
	audited(c, a.Audit, audit.AdminUserDelete, u.Username, "source="+u.Source)
	userEvent(c, a.Events, event.UserDeleted, u)
	u.Disabled = true
	applyIdentity(c, a.Identities, u)
	c.Status(http.StatusNoContent)
}

// DeletedUserView is a deleted account's name, still taken.
type DeletedUserView struct {
	Username  string    `json:"username"`
	Source    string    `json:"source"`
	DeletedAt time.Time `json:"deletedAt"`
	DeletedBy string    `json:"deletedBy"`
}

// ListDeleted returns the names of deleted accounts, which no new account
// may take until released.
func (a *AdminUsersAPI) ListDeleted(c *gin.Context) {
	list, err := a.Store.ListDeletedUsers(c)
	if err != nil {
		Fail(c, err)
		return
	}
	out := make([]DeletedUserView, 0, len(list))
	for _, d := range list {
		out = append(out, DeletedUserView{Username: d.Username, Source: d.Source, DeletedAt: d.DeletedAt, DeletedBy: d.DeletedBy})
	}
	c.JSON(http.StatusOK, gin.H{"deletedUsers": out})
}

// ReleaseName lets a deleted account's name be taken again: the admin
// says whoever takes it next (by SSO, or an account they create) may have
// what is left under it (its home volume).
func (a *AdminUsersAPI) ReleaseName(c *gin.Context) {
	err := a.Store.ReleaseDeletedUser(c, c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("%q is not the name of a deleted account", c.Param("name"))))
		return
	}
	if err != nil {
		Fail(c, err)
		return
	}
	audited(c, a.Audit, audit.AdminNameRelease, c.Param("name"), "")
	c.Status(http.StatusNoContent)
}

// nameFree renders 409 and answers false when name belonged to a deleted
// account that no admin released.
func (a *AdminUsersAPI) nameFree(c *gin.Context, name string) bool {
	d, err := a.Store.DeletedUser(c, name)
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	if err != nil {
		Fail(c, err)
		return false
	}
	Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("%q belonged to an account deleted on %s (its home volume may still exist): release the name first (DELETE /api/v1/admin/deleted-users/%s)",
		name, d.DeletedAt.Format(time.DateOnly), name)))
	return false
}

// user loads the account named in the path, or renders 404.
func (a *AdminUsersAPI) user(c *gin.Context) *store.User {
	u, err := a.Store.UserByName(c, c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no user %q", c.Param("name"))))
		return nil
	}
	if err != nil {
		Fail(c, err)
		return nil
	}
	return u
}

// CreateToken issues an API token for a service account.
func (a *AdminUsersAPI) CreateToken(c *gin.Context) {
	u := a.user(c)
	if u == nil {
		return
	}
	if u.Source != auth.SourceService {
		Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("%s is a person; people create their own tokens (POST /api/v1/tokens)", u.Username)))
		return
	}
	(&TokensAPI{Store: a.Store, Tokens: a.Tokens, Audit: a.Audit}).issue(c, u.Username)
}

// ListTokens lists a user's API tokens.
func (a *AdminUsersAPI) ListTokens(c *gin.Context) {
	listTokens(c, a.Store, c.Param("name"))
}

// RevokeToken revokes any user's token.
func (a *AdminUsersAPI) RevokeToken(c *gin.Context) {
	err := a.Store.RevokeAPIToken(c, c.Param("name"), c.Param("id"), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s has no API token %s", c.Param("name"), c.Param("id"))))
		return
	}
	if err != nil {
		Fail(c, err)
		return
	}
	audited(c, a.Audit, audit.AdminTokenRevoke, c.Param("name"), c.Param("id"))
	c.Status(http.StatusNoContent)
}

// ListAudit returns the audit log, newest first (?actor=, ?action=, ?limit=).
func (a *AdminUsersAPI) ListAudit(c *gin.Context) {
	f := store.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action"), Limit: 200}
	if l := c.Query("limit"); l != "" {
		if _, err := fmt.Sscan(l, &f.Limit); err != nil || f.Limit < 1 || f.Limit > 5000 {
			Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "bad query", Fields: map[string]string{"limit": "a number from 1 to 5000"}})
			return
		}
	}
	events, err := a.Store.AuditLog(c, f)
	if err != nil {
		Fail(c, err)
		return
	}
	if events == nil {
		events = []store.AuditEvent{}
	}
	c.JSON(http.StatusOK, gin.H{"events": events})
}

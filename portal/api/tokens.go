package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// TokensAPI serves /api/v1/tokens: a caller's own API tokens, for scripts
// and automation that cannot sign in through a browser.
type TokensAPI struct {
	Store  TokenStore
	Tokens *auth.Tokens
	Audit  *audit.Log
}

// TokenStore keeps users' API tokens.
type TokenStore interface {
	ListAPITokens(ctx context.Context, username string) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, username, id string, at time.Time) error
}

// TokenView is an API token as lists show it (never its value).
type TokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	User       string     `json:"user"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

func tokenView(t store.APIToken) TokenView {
	return TokenView{ID: t.ID, Name: t.Name, User: t.Username, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// NewTokenRequest is the body of POST /api/v1/tokens.
type NewTokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expiresInDays"` // 0: never
}

// NewTokenResponse carries the token's value, shown this once.
type NewTokenResponse struct {
	TokenView
	Token string `json:"token"`
}

// List returns the caller's tokens.
func (a *TokensAPI) List(c *gin.Context) {
	listTokens(c, a.Store, auth.Principal(c).Subject)
}

// listTokens answers with a user's tokens.
func listTokens(c *gin.Context, s TokenStore, username string) {
	list, err := s.ListAPITokens(c, username)
	if err != nil {
		Fail(c, err)
		return
	}
	out := make([]TokenView, 0, len(list))
	for _, t := range list {
		out = append(out, tokenView(t))
	}
	c.JSON(http.StatusOK, gin.H{"tokens": out})
}

// Create issues a token with the caller's rights. A token cannot mint
// another: a leaked token must not be able to outlive its revocation.
func (a *TokensAPI) Create(c *gin.Context) {
	p := auth.Principal(c)
	if p.APIToken != "" {
		Fail(c, Errorf(http.StatusForbidden, CodeForbidden, "API tokens cannot create API tokens; sign in as a person"))
		return
	}
	a.issue(c, p.Subject)
}

func (a *TokensAPI) issue(c *gin.Context, username string) {
	var req NewTokenRequest
	if !bindJSON(c, &req) {
		return
	}
	fields := map[string]string{}
	if req.Name == "" || len(req.Name) > 64 {
		fields["name"] = "required, at most 64 characters"
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		fields["expiresInDays"] = "between 0 (never) and 3650"
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	raw, tok, err := a.Tokens.IssueAPIToken(c, username, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
	if err != nil {
		Fail(c, err)
		return
	}
	audited(c, a.Audit, audit.TokenCreate, username, tok.ID+" "+tok.Name)
	c.JSON(http.StatusCreated, NewTokenResponse{TokenView: tokenView(tok), Token: raw})
}

// Revoke revokes one of the caller's tokens.
func (a *TokensAPI) Revoke(c *gin.Context) {
	user := auth.Principal(c).Subject
	err := a.Store.RevokeAPIToken(c, user, c.Param("id"), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, "you have no API token "+c.Param("id")))
		return
	}
	if err != nil {
		Fail(c, err)
		return
	}
	audited(c, a.Audit, audit.TokenRevoke, user, c.Param("id"))
	c.Status(http.StatusNoContent)
}

// bindJSON reads the request body into v, or renders a clear 400.
func bindJSON(c *gin.Context, v any) bool {
	if err := c.ShouldBindJSON(v); err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the body must be JSON of the documented shape: " + err.Error()})
		return false
	}
	return true
}

// Package portal is StreamSpace's web portal. This file shows every route
// and the middleware in front of it.
package portal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"

	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/stream"
)

// Handlers are the resource handlers the router serves, and what it
// observes them with.
type Handlers struct {
	Auth      *api.AuthAPI
	OIDC      *api.OIDCAPI // nil: single sign-on off
	Sessions  *api.SessionsAPI
	Templates *api.TemplatesAPI
	Users     *api.UsersAPI
	Tokens    *api.TokensAPI
	Stream    *stream.Proxy
	// ForwardAuth answers Ingress controllers in front of session hosts.
	ForwardAuth *api.ForwardAuthAPI
	// Apps serves sessions on their own hosts; nil: no apps domain.
	Apps *stream.Apps
	// PathWebClients serves web clients on the portal's origin too.
	PathWebClients bool
	// TrustedProxies may say who the client is (X-Forwarded-For); nobody
	// else can, so login limits and audit addresses cannot be forged.
	TrustedProxies []string
	// admin pages
	AdminUsers *api.AdminUsersAPI
	Analytics  *api.AnalyticsAPI
	Platform   *api.PlatformAPI
	Changes    *api.ChangesAPI
	Plugins    *api.PluginsAPI

	// UI serves the web UI for every GET or HEAD outside /api/ that no
	// route matches (client-side routes included); nil: no UI.
	UI http.Handler

	Metrics  *Metrics     // nil: no request metrics
	Gatherer http.Handler // serves /metrics when set
	Ready    func(*gin.Context) error
	Log      logr.Logger
}

// NewRouter builds the portal's HTTP routes.
func NewRouter(h Handlers) *gin.Engine {
	r := api.NewEngine(h.TrustedProxies)
	r.Use(gin.Recovery(), requestID(), h.Metrics.observe(h.Log), api.RenderErrors(h.Log), api.BoundedJSONBodies(api.MaxBody, isPathWebClient))

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", func(c *gin.Context) {
		if h.Ready != nil {
			if err := h.Ready(c); err != nil {
				h.Log.Error(err, "Not ready")
				what := "a dependency"
				var nr *NotReadyError
				if errors.As(err, &nr) {
					what = nr.Dependency
				}
				c.String(http.StatusServiceUnavailable, "not ready: "+what)
				return
			}
		}
		c.String(http.StatusOK, "ok")
	})
	if h.Gatherer != nil {
		r.GET("/metrics", gin.WrapH(h.Gatherer))
	}
	r.GET("/api/v1/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", openAPI) })

	v1 := r.Group("/api/v1")
	v1.POST("/auth/login", h.Auth.Login)
	v1.POST("/auth/refresh", h.Auth.Refresh)
	v1.GET("/auth/providers", h.OIDC.Providers)
	v1.GET("/auth/oidc/login", h.OIDC.Login)
	v1.GET("/auth/oidc/callback", h.OIDC.Callback)
	// The theme (name, palette, logo) is public: the sign-in page wears it.
	v1.GET("/plugins/theme", h.Plugins.Theme)
	v1.GET("/plugins/theme/logo", h.Plugins.ThemeLogo)
	// An account with a one-time password (the bootstrap admin's) may only
	// see who it is, change the password, or sign out.
	passwordChanged := auth.RequirePasswordChanged(passwordChangeRequired, "/api/v1/users/me", "/api/v1/users/me/password", "/api/v1/auth/logout")
	cookies := h.Auth.Cookies()
	v1.Match([]string{http.MethodGet, http.MethodHead}, "/auth/forward", h.ForwardAuth.Count, h.ForwardAuth.Authenticate(auth.Authenticate(h.Auth.Tokens, cookies.Access, unauthorized)), passwordChanged, h.ForwardAuth.Check) // Ingress forward auth: reads, changes nothing, no CSRF

	signedIn := v1.Group("", auth.Authenticate(h.Auth.Tokens, cookies.Access, unauthorized), auth.RequireCSRF(cookies.CSRF, forbidden), passwordChanged)
	signedIn.POST("/auth/logout", h.Auth.Logout)
	signedIn.GET("/users/me", h.Users.Me)
	signedIn.POST("/users/me/password", h.Auth.ChangePassword)
	signedIn.GET("/templates", h.Templates.List)
	signedIn.GET("/sessions", h.Sessions.List)
	signedIn.POST("/sessions", h.Sessions.Create)
	signedIn.GET("/sessions/:id", h.Sessions.Get)
	signedIn.DELETE("/sessions/:id", h.Sessions.Delete)
	signedIn.POST("/sessions/:id/wake", h.Sessions.Wake)
	signedIn.POST("/sessions/:id/hibernate", h.Sessions.Hibernate)
	signedIn.GET("/sessions/:id/connect", h.Stream.Connect) // WebSocket (noVNC)
	signedIn.POST("/sessions/:id/apps-ticket", h.Apps.Ticket)
	signedIn.GET("/tokens", h.Tokens.List)
	signedIn.POST("/tokens", h.Tokens.Create)
	signedIn.DELETE("/tokens/:id", h.Tokens.Revoke)
	signedIn.GET("/plugins/catalog", h.Plugins.Catalog) // every user may browse
	signedIn.GET("/plugins/installed", h.Plugins.Installed)
	plugins := signedIn.Group("/plugins", auth.RequireAdmin(forbidden)) // each change → pull request
	plugins.GET("/proposals", h.Plugins.Proposals)
	plugins.POST("/install", h.Plugins.Install)
	plugins.POST("/:id/enable", h.Plugins.Enable)
	plugins.POST("/:id/disable", h.Plugins.Disable)
	plugins.PUT("/:id/config", h.Plugins.Configure)
	plugins.PUT("/:id/permissions", h.Plugins.Approve)
	plugins.DELETE("/:id", h.Plugins.Uninstall)

	// A template's own web client, in the viewer's iframe. Its requests
	// carry no CSRF header (the client is not ours), so this path takes
	// none: the cookie is SameSite=Lax, which another site's form or
	// script cannot send with anything but a top-level GET.
	// Only with --path-web-clients: the client then runs on our origin.
	webClient := v1.Group("", auth.Authenticate(h.Auth.Tokens, cookies.Access, unauthorized), passwordChanged)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		if h.PathWebClients {
			webClient.Handle(method, "/sessions/:id/web/*path", h.Stream.Web)
		}
	}

	admin := signedIn.Group("/admin", auth.RequireAdmin(forbidden))
	admin.GET("/users", h.AdminUsers.List)
	admin.POST("/users", h.AdminUsers.Create)
	admin.PATCH("/users/:name", h.AdminUsers.Update)
	admin.DELETE("/users/:name", h.AdminUsers.Delete)
	admin.GET("/deleted-users", h.AdminUsers.ListDeleted)
	admin.DELETE("/deleted-users/:name", h.AdminUsers.ReleaseName) // the name may be taken again
	admin.GET("/users/:name/tokens", h.AdminUsers.ListTokens)
	admin.POST("/users/:name/tokens", h.AdminUsers.CreateToken)
	admin.DELETE("/users/:name/tokens/:id", h.AdminUsers.RevokeToken)
	admin.GET("/audit", h.AdminUsers.ListAudit)
	admin.GET("/analytics", h.Analytics.Get)
	admin.GET("/quotas", h.Platform.ListQuotas)
	admin.POST("/quotas", h.Changes.CreateQuota)               // → pull request
	admin.PUT("/quotas/:name", h.Changes.UpdateQuota)          // → pull request
	admin.DELETE("/quotas/:name", h.Changes.DeleteQuota)       // → pull request
	admin.POST("/templates", h.Changes.CreateTemplate)         // → pull request, from an image
	admin.PUT("/templates/:name", h.Changes.UpdateTemplate)    // → pull request
	admin.DELETE("/templates/:name", h.Changes.DeleteTemplate) // → pull request naming its sessions
	admin.GET("/sync", h.Platform.ListSyncs)
	admin.POST("/sync/:name/reconcile", h.Platform.Reconcile)

	r.NoRoute(func(c *gin.Context) {
		if h.UI != nil && isPage(c.Request) {
			h.UI.ServeHTTP(c.Writer, c.Request)
			return
		}
		api.Fail(c, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no route "+c.Request.Method+" "+c.Request.URL.Path))
	})
	return r
}

// isPage tells a browser asking for a page or a file of the UI from a call
// to the API, which keeps its JSON errors.
func isPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/")
}

func unauthorized(c *gin.Context, msg string) {
	api.Fail(c, api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, msg))
}

func passwordChangeRequired(c *gin.Context) {
	api.Fail(c, api.Errorf(http.StatusForbidden, api.CodePasswordChangeRequired,
		"this account's password is one-time: change it first (POST /api/v1/users/me/password)"))
}

func forbidden(c *gin.Context, msg string) {
	api.Fail(c, api.Errorf(http.StatusForbidden, api.CodeForbidden, msg))
}

// requestID tags each request (and its log lines and errors) with an ID.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if id == "" || len(id) > 64 {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(api.RequestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

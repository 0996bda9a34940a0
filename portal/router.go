// Package portal is StreamSpace's web portal. This file shows every route
// and the middleware in front of it.
package portal

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

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
	Sessions  *api.SessionsAPI
	Templates *api.TemplatesAPI
	Users     *api.UsersAPI
	Stream    *stream.Proxy

	Metrics  *Metrics     // nil: no request metrics
	Gatherer http.Handler // serves /metrics when set
	Ready    func(*gin.Context) error
	Log      logr.Logger
}

// NewRouter builds the portal's HTTP routes.
func NewRouter(h Handlers) *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery(), requestID(), h.Metrics.observe(h.Log), api.RenderErrors())

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", func(c *gin.Context) {
		if h.Ready != nil {
			if err := h.Ready(c); err != nil {
				c.String(http.StatusServiceUnavailable, err.Error())
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

	signedIn := v1.Group("", auth.Authenticate(h.Auth.Tokens, unauthorized), auth.RequireCSRF(forbidden))
	signedIn.POST("/auth/logout", h.Auth.Logout)
	signedIn.GET("/users/me", h.Users.Me)
	signedIn.GET("/templates", h.Templates.List)
	signedIn.GET("/sessions", h.Sessions.List)
	signedIn.POST("/sessions", h.Sessions.Create)
	signedIn.GET("/sessions/:id", h.Sessions.Get)
	signedIn.DELETE("/sessions/:id", h.Sessions.Delete)
	signedIn.POST("/sessions/:id/wake", h.Sessions.Wake)
	signedIn.GET("/sessions/:id/connect", h.Stream.Connect) // WebSocket

	return r
}

func unauthorized(c *gin.Context, msg string) {
	_ = c.Error(api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, msg))
	c.Abort()
}

func forbidden(c *gin.Context, msg string) {
	_ = c.Error(api.Errorf(http.StatusForbidden, api.CodeForbidden, msg))
	c.Abort()
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

// FailStream renders the stream proxy's refusals in the API's error shape.
func FailStream(c *gin.Context, status int, code, msg string) {
	_ = c.Error(api.Errorf(status, code, msg))
	c.Abort()
}

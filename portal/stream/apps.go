package stream

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/publicsuffix"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// AppsPrefix starts the paths an apps host answers itself; every other
// path is the session's.
const AppsPrefix = "/_streamspace/"

// Ticket and credential lifetimes.
const (
	TicketTTL = 30 * time.Second
	// ticketSkew: how long past its expiry a spent ticket is remembered
	// (clocks of portal replicas may differ by less).
	ticketSkew = 5 * time.Minute
	// AppsCookieTTL bounds the apps host credential: the cookie itself
	// lives as long as the browser session, the signed value no longer.
	AppsCookieTTL = 12 * time.Hour
)

// Users is what an apps host asks the portal's store: who the user named
// in its cookie is, on every request (a disabled or deleted user, or one
// who lost the admin role, is refused at once), and whether a ticket was
// spent already, by any portal replica.
type Users interface {
	UserByName(ctx context.Context, username string) (*store.User, error)
	SpendTicket(ctx context.Context, id string, keepUntil, now time.Time) error
}

// Apps serves what sessions serve on an origin that is not the portal's:
// one host per session, <label>.<Domain>, with the scheme and port of the
// portal's public URL. A session's page there cannot read the portal's
// cookies nor call its API with the user's credentials (another origin), and
// its own credential opens that session alone.
//
// Sign-in: the portal hands a signed-in user a one-time ticket (Ticket)
// bound to session and user, valid TicketTTL; the apps host exchanges it
// once (/_streamspace/auth) for a host-only cookie, a signed credential
// naming session and user.
type Apps struct {
	// Domain is the wildcard apps domain (apps.example.com, or localhost).
	Domain string
	// Portal is the portal's public URL: apps hosts take its scheme and
	// port, and only it may frame them.
	Portal *url.URL
	Proxy  *Proxy
	Users  Users
	// Key signs tickets and credentials, each under a key derived from it
	// for that use alone: a portal access token is no apps credential, and
	// an apps credential no ticket nor access token.
	Key []byte
	Now func() time.Time

	once                        sync.Once
	ticketKey, cookieKey        []byte
	engine                      *gin.Engine
	use                         []gin.HandlerFunc // the portal's request ID and metrics
	trustedProxies              []string          // as the portal's: who may say X-Forwarded-For
	sameSite, secure, crossSite bool
}

// NewApps checks the apps domain against the portal's public URL. The
// portal's host may be the apps domain itself (localhost: its hosts are
// x.localhost) but never one of its hosts, which would make the portal an
// app.
func NewApps(domain string, portal *url.URL, p *Proxy, users Users, key []byte, trustedProxies []string, use ...gin.HandlerFunc) (*Apps, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return nil, fmt.Errorf("apps domain %q: %s", domain, strings.Join(errs, "; "))
	}
	if portal == nil || (portal.Scheme != "http" && portal.Scheme != "https") || portal.Hostname() == "" {
		return nil, errors.New("an apps domain needs the portal's public URL (http:// or https://host[:port]): apps hosts take its scheme and port, and only it may frame them")
	}
	a := &Apps{Domain: domain, Portal: portal, Proxy: p, Users: users, Key: key, trustedProxies: trustedProxies, use: use}
	if _, under := a.label(portal.Host); under {
		return nil, fmt.Errorf("the portal's host %s is under the apps domain %s: it would be served as a session's app", portal.Hostname(), domain)
	}
	a.init()
	if a.crossSite && !a.secure {
		return nil, fmt.Errorf("the portal (%s) and the apps domain (%s) are different sites: the apps cookie must then be SameSite=None, which browsers take only when Secure: serve them over https", portal.Host, domain)
	}
	return a, nil
}

func (a *Apps) init() {
	a.once.Do(func() {
		a.ticketKey, a.cookieKey = derive(a.Key, "apps ticket"), derive(a.Key, "apps credential")
		// Secure: TLS, or a *.localhost host, which Chromium and Firefox
		// treat as a secure context for cookies even over plain HTTP.
		a.secure = a.Portal.Scheme == "https" || a.Domain == "localhost" || strings.HasSuffix(a.Domain, ".localhost")
		// portal.example.com and x.apps.example.com are one site (the
		// registrable domain example.com): the frame's cookie is first
		// party, SameSite=Strict. localhost and x.localhost are not
		// (localhost has no registrable domain, each host is its own
		// site): there the cookie is a third-party cookie, which needs
		// SameSite=None;Secure, and Partitioned (CHIPS) so that Chromium
		// keeps it, keyed to the portal as top-level site, even where
		// third-party cookies are blocked.
		portalSite, err1 := publicsuffix.EffectiveTLDPlusOne(a.Portal.Hostname())
		appsSite, err2 := publicsuffix.EffectiveTLDPlusOne("x." + a.Domain)
		a.crossSite = err1 != nil || err2 != nil || portalSite != appsSite
		a.engine = a.router()
	})
}

func derive(key []byte, use string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("streamspace " + use))
	return m.Sum(nil)
}

func (a *Apps) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CookieName is the apps host's credential: __Host- under TLS (the browser
// then refuses it with a Domain attribute, a path other than /, or from
// plain HTTP). It is never one of auth.IsPortalCookie's.
func (a *Apps) CookieName() string {
	if a.Portal.Scheme == "https" {
		return "__Host-" + AppsCookie
	}
	return AppsCookie
}

// Label is the host label of session name: the name itself when it is one
// DNS label (a session name may be a DNS subdomain, with dots).
func Label(name string) (string, error) {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", fmt.Errorf("session %q cannot be served on the apps domain: its name is not one DNS label (%s)", name, strings.Join(errs, "; "))
	}
	return name, nil
}

// Origin is the apps origin of the session labelled label.
func (a *Apps) Origin(label string) string {
	host := label + "." + a.Domain
	if port := a.Portal.Port(); port != "" {
		host = net.JoinHostPort(host, port)
	}
	return a.Portal.Scheme + "://" + host
}

// Sources is the CSP source of every apps host (frame-src of the portal).
func (a *Apps) Sources() string { return a.Origin("*") }

// SocketSources is the CSP source of every apps host's WebSockets
// (connect-src of the portal: its noVNC viewer streams from the apps host).
func (a *Apps) SocketSources() string { return socketURL(a.Sources()) }

// socketURL is the WebSocket URL of an http(s) URL.
func socketURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(u, "http://")
}

// label returns the session label of host, and whether host is under the
// apps domain at all (the domain itself is not).
func (a *Apps) label(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rest, ok := strings.CutSuffix(host, "."+a.Domain)
	if !ok || rest == "" {
		return "", false
	}
	if strings.Contains(rest, ".") {
		return "", true // under the domain, but no session's host
	}
	return rest, true
}

// Serves reports whether host is an apps host (or under the apps domain):
// then ServeHTTP answers it and the portal never does.
func (a *Apps) Serves(host string) bool {
	_, under := a.label(host)
	return under
}

// ServeHTTP answers a request to an apps host.
func (a *Apps) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.engine.ServeHTTP(w, r) }

type ticketClaims struct {
	jwt.RegisteredClaims
}

// Ticket answers POST /api/v1/sessions/{id}/apps-ticket: a one-time ticket
// for the caller (owner or admin) to sign in on the session's apps host,
// as the URL the viewer loads in its frame (url), or as the URL of the
// session's noVNC stream there (connect): one or the other, once.
func (a *Apps) Ticket(c *gin.Context) {
	if a == nil {
		api.Fail(c, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no apps domain is configured (--apps-domain): web clients are served under /api/v1/sessions/{id}/web/"))
		return
	}
	caller := auth.Principal(c)
	s, err := a.owned(c)
	if err != nil {
		api.Fail(c, err)
		return
	}
	label, err := Label(s.Name)
	if err != nil {
		api.Fail(c, api.Errorf(http.StatusConflict, api.CodeConflict, err.Error()))
		return
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	now := a.now()
	exp := now.Add(TicketTTL)
	ticket, err := jwt.NewWithClaims(jwt.SigningMethodHS256, ticketClaims{jwt.RegisteredClaims{
		Subject: caller.Subject, Audience: jwt.ClaimStrings{s.Name}, ID: hex.EncodeToString(id),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}).SignedString(a.ticketKey)
	if err != nil {
		api.Fail(c, err)
		return
	}
	origin := a.Origin(label)
	c.Header("Cache-Control", "no-store")
	q := "?ticket=" + url.QueryEscape(ticket)
	c.JSON(http.StatusCreated, gin.H{"url": origin + AppsPrefix + "auth" + q, "connect": socketURL(origin) + AppsPrefix + "connect" + q,
		"origin": origin, "expiresAt": exp.UTC()})
}

// owned is the session named in the path if the caller may use it.
func (a *Apps) owned(c *gin.Context) (*streamv1.Session, error) {
	s := &streamv1.Session{}
	err := a.Proxy.Client.Get(c, client.ObjectKey{Namespace: a.Proxy.Namespace, Name: c.Param("id")}, s)
	if apierrors.IsNotFound(err) || (err == nil && !auth.Principal(c).MayUse(s.Spec.User)) {
		return nil, api.Errorf(http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no session %q", c.Param("id")))
	}
	if err != nil {
		return nil, fmt.Errorf("read session %s: %w", c.Param("id"), err)
	}
	return s, nil
}

// awake refuses a request to a session that is not running, and does not
// wake it (the portal's own /connect would): on an apps host only the
// session's content is served, and a web client reconnects by itself, so
// from a tab left open it would wake the session at every idle
// hibernation. The viewer wakes a session through the portal, then
// opens it here.
func (a *Apps) awake(c *gin.Context) {
	s, err := a.owned(c)
	if err == nil && (s.Status.Phase != streamv1.PhaseRunning || s.DesiredState() != streamv1.StateRunning) {
		err = api.Errorf(http.StatusConflict, api.CodeNotRunning, fmt.Sprintf("session %s is not running: open it from the portal to wake it", s.Name))
	}
	if err != nil {
		api.Fail(c, err)
		return
	}
	c.Next()
}

// verify checks a signed ticket or credential for session and returns the
// user it names.
func (a *Apps) verify(raw string, key []byte, session string, once bool) (string, error) {
	claims := &ticketClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(session),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	if err != nil || claims.Subject == "" {
		return "", fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	if once && !a.spend(claims.ID, claims.ExpiresAt.Time) {
		return "", fmt.Errorf("%w: the ticket was used already", auth.ErrInvalidToken)
	}
	return claims.Subject, nil
}

// spend marks a ticket used in the portal's store, so that it is spent
// once whichever replica sees it; false if it was, or if the store cannot
// say (refused: the viewer asks for another ticket). A spent ticket is
// remembered past its expiry by ticketSkew, the clock skew between
// replicas tolerated; after that its signature refuses it.
func (a *Apps) spend(id string, exp time.Time) bool {
	if id == "" {
		return false
	}
	// verify is not given the request's context; the store's answer is
	// bounded here instead
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.Users.SpendTicket(ctx, id, exp.Add(ticketSkew), a.now())
	if err != nil && !errors.Is(err, store.ErrConflict) {
		a.Proxy.Log.Error(err, "Spend apps ticket")
	}
	return err == nil
}

func (a *Apps) router() *gin.Engine {
	r := api.NewEngine(a.trustedProxies)
	// every path but ours is the session's, and no answer of ours is a
	// redirect built from the request (gin's would honour X-Forwarded-Prefix)
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false
	r.Use(gin.Recovery())
	r.Use(a.use...)
	r.Use(a.headers(), api.RenderErrors(a.Proxy.Log), a.session())
	r.GET(AppsPrefix+"auth", a.exchange)
	r.GET(AppsPrefix+"connect", a.authenticateStream, a.awake, a.Proxy.Connect) // the noVNC stream (WebSocket)
	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, AppsPrefix) {
			api.Fail(c, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no route "+c.Request.URL.Path))
			return
		}
		if a.authenticate(c); c.IsAborted() {
			return
		}
		if a.awake(c); c.IsAborted() {
			return
		}
		a.Proxy.webClient(c, c.Request.URL.Path, "")
	})
	return r
}

// headers: only the portal may frame an apps host (X-Frame-Options cannot
// name another origin), and no URL of it (a ticket among them) leaks in a
// Referer.
func (a *Apps) headers() gin.HandlerFunc {
	portal := a.Portal.Scheme + "://" + a.Portal.Host
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", "frame-ancestors "+portal)
		c.Header("Referrer-Policy", "no-referrer")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Next()
	}
}

// session puts the session named by the host where the proxy reads it.
func (a *Apps) session() gin.HandlerFunc {
	return func(c *gin.Context) {
		label, _ := a.label(c.Request.Host)
		if label == "" {
			api.Fail(c, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no session is served on "+c.Request.Host))
			return
		}
		c.Params = append(c.Params, gin.Param{Key: "id", Value: label})
		c.Next()
	}
}

// exchange trades a ticket for this host's credential, once, and sends the
// browser to the web client's root: a fixed path on this host, never a
// URL from the request.
func (a *Apps) exchange(c *gin.Context) {
	session := c.Param("id")
	user, err := a.verify(c.Query("ticket"), a.ticketKey, session, true)
	if err != nil {
		api.Fail(c, ticketRefused())
		return
	}
	if _, err := a.allowed(c, user); err != nil {
		api.Fail(c, err)
		return
	}
	value, err := jwt.NewWithClaims(jwt.SigningMethodHS256, ticketClaims{jwt.RegisteredClaims{
		Subject: user, Audience: jwt.ClaimStrings{session},
		IssuedAt: jwt.NewNumericDate(a.now()), ExpiresAt: jwt.NewNumericDate(a.now().Add(AppsCookieTTL)),
	}}).SignedString(a.cookieKey)
	if err != nil {
		api.Fail(c, err)
		return
	}
	ck := &http.Cookie{Name: a.CookieName(), Value: value, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteStrictMode}
	if a.crossSite {
		ck.SameSite, ck.Partitioned = http.SameSiteNoneMode, true
	}
	http.SetCookie(c.Writer, ck) // no Domain: this host only
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, "/")
}

func ticketRefused() error {
	return api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "the ticket is invalid, expired, for another session or used already: open the session from the portal again")
}

// authenticateStream admits the portal's noVNC viewer, which opens the
// stream from the portal's page with a ticket of its own (spent here: a
// WebSocket cannot take a cookie from its answer), or a request carrying
// this host's credential. With a ticket, the portal's page is the one other
// origin allowed to open the stream (the WebSocket's own check admits only
// this host's); any other origin is refused there as before.
func (a *Apps) authenticateStream(c *gin.Context) {
	ticket := c.Query("ticket")
	if ticket == "" {
		a.authenticate(c)
		return
	}
	user, err := a.verify(ticket, a.ticketKey, c.Param("id"), true)
	if err != nil {
		api.Fail(c, ticketRefused())
		return
	}
	claims, err := a.allowed(c, user)
	if err != nil {
		api.Fail(c, err)
		return
	}
	if c.GetHeader("Origin") == a.Portal.Scheme+"://"+a.Portal.Host {
		c.Request.Header.Del("Origin") // checked: the portal's viewer
	}
	c.Set(auth.PrincipalKey, claims)
	c.Next()
}

// authenticate admits a request carrying this host's credential for a
// user who may still use the session; nothing of the portal's (its
// cookies, its tokens) counts here.
func (a *Apps) authenticate(c *gin.Context) {
	ck, err := c.Cookie(a.CookieName())
	if err != nil {
		api.Fail(c, api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "open this session from the portal"))
		return
	}
	user, err := a.verify(ck, a.cookieKey, c.Param("id"), false)
	if err != nil {
		api.Fail(c, api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "the credential is invalid, expired or for another session: open this session from the portal"))
		return
	}
	claims, err := a.allowed(c, user)
	if err != nil {
		api.Fail(c, err)
		return
	}
	c.Set(auth.PrincipalKey, claims)
	c.Next()
}

// Credential checks the value raw of an apps host's cookie for session
// and returns who it names, as they are now: forward auth asks it for a
// session's Ingress host, which is that session's apps host when
// --ingress-host is {session}.<apps domain>.
func (a *Apps) Credential(c *gin.Context, raw, session string) (*auth.Claims, error) {
	user, err := a.verify(raw, a.cookieKey, session, false)
	if err != nil {
		return nil, err
	}
	return a.allowed(c, user)
}

// allowed returns who user is now: refused when disabled or gone. Whether
// they may use the session (owner or admin, by the role they have now) is
// the proxy's authorize.
func (a *Apps) allowed(c *gin.Context, user string) (*auth.Claims, error) {
	u, err := a.Users.UserByName(c, user)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, api.Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "the account is disabled")
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", user, err)
	}
	return &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: u.Username}, Role: u.Role, Groups: u.Groups}, nil
}

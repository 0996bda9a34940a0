package api

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// MaxBody bounds every request body the API reads: its JSON documents are
// small, and nothing from the network is buffered unbounded. (Web clients'
// own requests, file uploads among them, stream through unread.)
const MaxBody = 1 << 20

// NewEngine is a gin engine that believes X-Forwarded-For only from the
// trusted proxies (gin believes anyone by default), so that a client cannot
// choose the address that login limits and the audit log see. The list is
// checked by ParseTrustedProxies first.
func NewEngine(trustedProxies []string) *gin.Engine {
	r := gin.New()
	if err := r.SetTrustedProxies(trustedProxies); err != nil {
		// unreachable with a parsed list; trust nobody rather than everybody
		_ = r.SetTrustedProxies(nil)
	}
	return r
}

// ParseTrustedProxies reads a comma-separated list of IP addresses and
// CIDRs, naming the entry that is neither.
func ParseTrustedProxies(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// BoundedJSONBodies refuses, before any handler reads it, a body that is
// not JSON (415) or is over limit bytes (413), whatever Content-Length
// says; skip names the paths whose bodies are not the API's (a session's
// web client). Requests without a body pass.
func BoundedJSONBodies(limit int64, skip func(path string) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || skip(r.URL.Path) {
			c.Next()
			return
		}
		if r.ContentLength > limit {
			abortTooLarge(c, limit)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			Fail(c, Errorf(http.StatusBadRequest, CodeInvalid, "the request body could not be read"))
			return
		}
		if int64(len(body)) > limit {
			abortTooLarge(c, limit)
			return
		}
		if len(body) > 0 {
			if media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || media != "application/json" {
				Fail(c, Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the request body must be application/json"))
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.Next()
	}
}

func abortTooLarge(c *gin.Context, limit int64) {
	Fail(c, Errorf(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("the request body is over the %d-byte limit", limit)))
}

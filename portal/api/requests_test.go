package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
)

// bodyEcho is an API behind BoundedJSONBodies that answers how many body
// bytes its handler read; /web/ stands for a session's web client.
func bodyEcho(limit int64) *gin.Engine {
	r := NewEngine(nil)
	r.Use(RenderErrors(logr.Discard()), BoundedJSONBodies(limit, func(p string) bool { return strings.HasPrefix(p, "/web/") }))
	echo := func(c *gin.Context) {
		n, _ := io.Copy(io.Discard, c.Request.Body)
		c.JSON(http.StatusOK, gin.H{"read": n})
	}
	r.POST("/api", echo)
	r.POST("/web/upload", echo)
	return r
}

func TestBoundedJSONBodies(t *testing.T) {
	const limit = 64
	json64 := `{"k":"` + strings.Repeat("a", limit-8) + `"}`
	tests := []struct {
		name, path, contentType string
		body                    io.Reader
		chunked                 bool // no Content-Length: only reading tells the size
		wantStatus              int
		wantCode                string
		wantRead                int
	}{
		{name: "no body", path: "/api", wantStatus: 200},
		{name: "JSON at the limit, read whole", path: "/api", contentType: "application/json; charset=utf-8", body: strings.NewReader(json64), wantStatus: 200, wantRead: limit},
		{name: "declared over the limit", path: "/api", contentType: "application/json", body: strings.NewReader(json64 + " "), wantStatus: 413, wantCode: CodePayloadTooLarge},
		{name: "chunked over the limit, refused before the handler", path: "/api", contentType: "application/json", body: strings.NewReader(strings.Repeat(" ", 10*limit)), chunked: true, wantStatus: 413, wantCode: CodePayloadTooLarge},
		{name: "a cross-site form (login CSRF) is not JSON", path: "/api", contentType: "text/plain", body: strings.NewReader(`{"username":"mallory","password":"x"}`), wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "urlencoded form", path: "/api", contentType: "application/x-www-form-urlencoded", body: strings.NewReader("username=mallory"), wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "no content type", path: "/api", body: strings.NewReader(`{}`), wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "a web client's upload is not the API's: unread, unbounded here", path: "/web/upload", contentType: "application/octet-stream", body: strings.NewReader(strings.Repeat("x", 10*limit)), wantStatus: 200, wantRead: 10 * limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.path, tt.body)
			if tt.chunked {
				req.ContentLength = -1
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			w := httptest.NewRecorder()
			bodyEcho(limit).ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			var got struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
				Read int `json:"read"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			if got.Error.Code != tt.wantCode || got.Read != tt.wantRead {
				t.Errorf("code %q read %d, want %q and %d", got.Error.Code, got.Read, tt.wantCode, tt.wantRead)
			}
		})
	}
}

func TestNewEngine_believesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	clientIP := func(trusted []string, remote string) string {
		r := NewEngine(trusted)
		r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) })
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Body.String()
	}
	if got := clientIP(nil, "192.0.2.10:4242"); got != "192.0.2.10" {
		t.Errorf("no trusted proxies: a client's own X-Forwarded-For chose its address: %s", got)
	}
	if got := clientIP([]string{"192.0.2.0/24"}, "192.0.2.10:4242"); got != "203.0.113.9" {
		t.Errorf("from a trusted proxy: %s, want the forwarded address", got)
	}
	if got := clientIP([]string{"192.0.2.0/24"}, "198.51.100.7:4242"); got != "198.51.100.7" {
		t.Errorf("from an untrusted peer: %s, want its own address", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.1 ,,fd00::/8")
	if err != nil || strings.Join(got, " ") != "10.0.0.0/8 192.0.2.1 fd00::/8" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8,proxy.example.com"); err == nil || !strings.Contains(err.Error(), `"proxy.example.com"`) {
		t.Errorf("a host name: %v, want an error naming it", err)
	}
}

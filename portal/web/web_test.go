package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/stream"
	"github.com/streamspace/streamspace/portal/web"
)

var app = fstest.MapFS{
	"index.html":         {Data: []byte("<!doctype html><div id=root></div>")},
	"favicon.svg":        {Data: []byte("<svg/>")},
	"assets/index-1a.js": {Data: []byte(strings.Repeat("console.log('streamspace');\n", 200))},
}

func get(t *testing.T, h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSPA_clientRoutesGetIndex_assetsCachedForever(t *testing.T) {
	h := web.SPA(app)
	for _, path := range []string{"/", "/dashboard", "/session/alice-firefox-1a2b3", "/admin/users", "/session/a.b-c"} {
		rec := get(t, h, http.MethodGet, path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "id=root") {
			t.Errorf("GET %s: %d %q, want index.html", path, rec.Code, rec.Body.String())
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", path, cc)
		}
	}
	rec := get(t, h, http.MethodGet, "/assets/index-1a.js")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("asset: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("asset Content-Type %q", ct)
	}
	if rec := get(t, h, http.MethodGet, "/assets/index-old.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing asset: %d, want 404 (not index.html)", rec.Code)
	}
	if rec := get(t, h, http.MethodGet, "/favicon.svg"); rec.Body.String() != "<svg/>" {
		t.Errorf("favicon: %q", rec.Body.String())
	}
}

func TestSPA_gzipsTextForBrowsersThatAcceptIt(t *testing.T) {
	h := web.SPA(app)
	rec := get(t, h, http.MethodGet, "/assets/index-1a.js", "Accept-Encoding", "br, gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !bytes.Equal(body, app["assets/index-1a.js"].Data) {
		t.Error("gunzipped body differs from the file")
	}
	if rec := get(t, h, http.MethodGet, "/assets/index-1a.js"); rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzipped for a client that does not accept it")
	}
}

// The portal's router hands the UI what is not the API, and the API keeps
// its JSON errors.
func TestRouter_mountsTheUIOutsideTheAPI(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	r := portal.NewRouter(portal.Handlers{Auth: &api.AuthAPI{}, Sessions: &api.SessionsAPI{}, Templates: &api.TemplatesAPI{}, Users: &api.UsersAPI{},
		Stream: &stream.Proxy{}, UI: web.SPA(app)})
	if rec := get(t, r, http.MethodGet, "/catalog"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "id=root") {
		t.Errorf("GET /catalog: %d %q", rec.Code, rec.Body.String())
	}
	for _, c := range []struct{ method, path string }{{http.MethodGet, "/api/v1/nothing"}, {http.MethodPost, "/catalog"}, {http.MethodGet, "/api"}} {
		rec := get(t, r, c.method, c.path)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("%s %s: %d %q, want a JSON not_found", c.method, c.path, rec.Code, rec.Body.String())
		}
	}
}

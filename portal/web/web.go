// Package web serves the portal's React UI: the single-page app built by
// Vite into dist/ (see package.json), embedded into the portal binary when
// it is built with the "ui" build tag (make build). Without the tag — plain
// `go build` and `go test ./...` — the portal serves a page that says how
// to build the UI in, so Go tests never need a JavaScript build.
package web

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Handler serves the UI: the built files, and index.html for every other
// path so that client-side routes (/dashboard, /session/…) load the app.
// The portal's router sends it only GET and HEAD requests outside /api/.
func Handler() http.Handler {
	if dist == nil {
		return notBuilt()
	}
	return SPA(dist)
}

// SPA serves a built single-page app from files. Vite's hashed files under
// assets/ never change, so browsers keep them for a year; everything else,
// index.html first, is revalidated on every load so a new release shows at
// once.
func SPA(files fs.FS) http.Handler {
	gz := newGzipCache(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if !isFile(files, name) {
			if strings.HasPrefix(name, "assets/") {
				// a stale page asking for an asset of another release
				http.NotFound(w, r)
				return
			}
			name = "index.html"
		}
		h := w.Header()
		if strings.HasPrefix(name, "assets/") {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		if name == "index.html" {
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
		}
		gz.serve(w, r, name)
	})
}

func isFile(files fs.FS, name string) bool {
	info, err := fs.Stat(files, name)
	return err == nil && !info.IsDir()
}

// notBuilt is the page of a portal built without the UI.
func notBuilt() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(notBuiltPage))
	})
}

const notBuiltPage = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>StreamSpace — UI not built in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#eee;padding:.1em .3em;border-radius:3px}</style>
<h1>The web UI is not built into this binary</h1>
<p>This portal was built without the <code>ui</code> build tag, so it serves only the API under <code>/api/v1</code>
(described at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>).</p>
<p>To build the portal with its UI, from the repository root:</p>
<pre><code>make build     # make ui (npm ci + vite build), then go build -tags ui</code></pre>
<p>or build the UI alone with <code>make ui</code> and run <code>go build -tags ui ./cmd/...</code>.</p>
</html>
`

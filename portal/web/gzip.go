package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// compressible are the text files worth gzipping (fonts in woff2 and
// images already are compressed).
var compressible = map[string]bool{".html": true, ".js": true, ".css": true, ".svg": true, ".json": true, ".map": true, ".txt": true}

// gzipCache serves files, gzipped for browsers that accept it. The files
// are embedded and never change, so each is compressed once, on its first
// request, and kept.
type gzipCache struct {
	files fs.FS
	mu    sync.Mutex
	gz    map[string][]byte
}

func newGzipCache(files fs.FS) *gzipCache {
	return &gzipCache{files: files, gz: map[string][]byte{}}
}

func (c *gzipCache) serve(w http.ResponseWriter, r *http.Request, name string) {
	body, err := fs.ReadFile(c.files, name)
	if err != nil {
		http.Error(w, "read "+name, http.StatusInternalServerError)
		return
	}
	ext := path.Ext(name)
	if ctype := mime.TypeByExtension(ext); ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	if compressible[ext] && len(body) > 1024 {
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body = c.compressed(name, body)
			w.Header().Set("Content-Encoding", "gzip")
		}
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

func (c *gzipCache) compressed(name string, body []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gz, ok := c.gz[name]; ok {
		return gz
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = io.Copy(zw, bytes.NewReader(body))
	_ = zw.Close()
	c.gz[name] = buf.Bytes()
	return c.gz[name]
}

func acceptsGzip(r *http.Request) bool {
	for _, enc := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(enc, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

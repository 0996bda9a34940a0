package images

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	fallbackMirror         = "http://deb.debian.org/debian"
	fallbackSecurityMirror = "http://deb.debian.org/debian-security"
)

// aptSource is one URI and the suites it serves, from the machine's apt
// configuration.
type aptSource struct {
	URI    string
	Suites []string
}

// machineSources reads /etc/apt/sources.list, sources.list.d/*.list and the
// deb822 sources.list.d/*.sources files. Unreadable files are skipped:
// this only suggests mirrors.
func machineSources(etc string) []aptSource {
	var out []aptSource
	if b, err := os.ReadFile(filepath.Join(etc, "sources.list")); err == nil {
		out = append(out, parseOneLine(string(b))...)
	}
	lists, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.list"))
	for _, f := range lists {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, parseOneLine(string(b))...)
		}
	}
	deb822, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.sources"))
	for _, f := range deb822 {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, parseDeb822(string(b))...)
		}
	}
	return out
}

// parseOneLine reads "deb [options] uri suite components..." lines.
func parseOneLine(s string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 {
			out = append(out, aptSource{URI: f[0], Suites: []string{f[1]}})
		}
	}
	return out
}

// parseDeb822 reads stanzas of Types/URIs/Suites fields.
func parseDeb822(s string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(s, "\n\n") {
		fields := map[string][]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
		}
		if !slices.Contains(fields["types"], "deb") || strings.EqualFold(strings.Join(fields["enabled"], ""), "no") {
			continue
		}
		for _, u := range fields["uris"] {
			out = append(out, aptSource{URI: u, Suites: fields["suites"]})
		}
	}
	return out
}

// pickMirror returns the first plain-HTTP source serving suite whose
// Release file answers, else fallback when that answers; "" when nothing
// does. HTTPS mirrors are left to the flags: a minbase chroot has no CA
// certificates to reach them with.
func pickMirror(ctx context.Context, sources []aptSource, suite, fallback string) string {
	var candidates []string
	for _, s := range sources {
		u := strings.TrimSuffix(s.URI, "/")
		if strings.HasPrefix(u, "http://") && slices.Contains(s.Suites, suite) && !slices.Contains(candidates, u) {
			candidates = append(candidates, u)
		}
	}
	if !slices.Contains(candidates, fallback) {
		candidates = append(candidates, fallback)
	}
	for _, u := range candidates {
		if releaseAnswers(ctx, u, suite) == nil {
			return u
		}
	}
	return ""
}

func releaseAnswers(ctx context.Context, mirror, suite string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, mirror+"/dists/"+suite+"/InRelease", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	return nil
}

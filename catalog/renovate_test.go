package catalog

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// renovateConfig is the part of renovate.json these tests read.
type renovateConfig struct {
	CustomManagers []struct {
		CustomType                string   `json:"customType"`
		ManagerFilePatterns       []string `json:"managerFilePatterns"`
		MatchStrings              []string `json:"matchStrings"`
		DatasourceTemplate        string   `json:"datasourceTemplate"`
		AutoReplaceStringTemplate string   `json:"autoReplaceStringTemplate"`
	} `json:"customManagers"`
	PackageRules []packageRule `json:"packageRules"`
}

type packageRule struct {
	Description       string   `json:"description"`
	MatchManagers     []string `json:"matchManagers"`
	MatchDatasources  []string `json:"matchDatasources"`
	MatchPackageNames []string `json:"matchPackageNames"`
	MatchCurrentValue string   `json:"matchCurrentValue"`
	Versioning        string   `json:"versioning"`
	PinDigests        *bool    `json:"pinDigests"`
}

func readRenovate(t *testing.T) renovateConfig {
	t.Helper()
	data, err := os.ReadFile("../renovate.json")
	if err != nil {
		t.Fatal(err)
	}
	var c renovateConfig
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// glob is a minimatch pattern as Renovate reads managerFilePatterns and
// matchPackageNames: "**" any number of path segments, "*" within one.
func glob(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case pattern[i] == '*':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	return regexp.MustCompile(b.String() + "$")
}

// jsRegex compiles a Renovate regex ("/…/" in matchCurrentValue, bare in
// matchStrings and regex: versioning). Go reads JavaScript's (?<name>…)
// groups as they are; a construct RE2 lacks (lookaround) fails the test
// instead of being checked differently.
func jsRegex(t *testing.T, s string) *regexp.Regexp {
	t.Helper()
	s = strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/")
	re, err := regexp.Compile(s)
	if err != nil {
		t.Fatalf("regex %q: %v", s, err)
	}
	return re
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob(p).MatchString(s) {
			return true
		}
	}
	return false
}

// catalogImage is one Template's image as a custom manager extracts it.
type catalogImage struct {
	file, depName, currentValue, currentDigest string
}

// TestRenovate_everyCatalogImageHasAManagerAndAVersioning runs every custom
// manager's regex over the catalog files as Renovate would and proves that
// each Template's image is extracted exactly once, whole, and falls under
// exactly one versioning rule that parses its tag, plus digest pinning: an
// image that matches nothing is never bumped, silently.
func TestRenovate_everyCatalogImageHasAManagerAndAVersioning(t *testing.T) {
	cfg := readRenovate(t)
	var images []catalogImage
	templates := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || d.Name() == "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var tpl streamv1.Template
		if err := yaml.Unmarshal(data, &tpl); err != nil || tpl.Kind != "Template" {
			return err
		}
		templates++
		file := "catalog/" + filepath.ToSlash(p)
		var found []catalogImage
		for _, m := range cfg.CustomManagers {
			if m.CustomType != "regex" || !anyGlob(m.ManagerFilePatterns, file) {
				continue
			}
			for _, ms := range m.MatchStrings {
				re := jsRegex(t, ms)
				for _, sub := range re.FindAllStringSubmatch(string(data), -1) {
					img := catalogImage{file: file}
					for i, name := range re.SubexpNames() {
						switch name {
						case "depName":
							img.depName = sub[i]
						case "currentValue":
							img.currentValue = sub[i]
						case "currentDigest":
							img.currentDigest = sub[i]
						}
					}
					found = append(found, img)
				}
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: the custom managers extract %d images, want its one spec.baseImage %s", file, len(found), tpl.Spec.BaseImage)
			return nil
		}
		got := found[0].depName + ":" + found[0].currentValue
		if found[0].currentDigest != "" {
			got += "@" + found[0].currentDigest
		}
		if got != tpl.Spec.BaseImage {
			t.Errorf("%s: extracted %q, want the whole of spec.baseImage %q", file, got, tpl.Spec.BaseImage)
		}
		images = append(images, found[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if templates < 61 || len(images) != templates {
		t.Errorf("%d templates, %d images extracted", templates, len(images))
	}

	applies := func(r packageRule, img catalogImage) bool {
		if len(r.MatchManagers) > 0 && !contains(r.MatchManagers, "custom.regex") ||
			len(r.MatchDatasources) > 0 && !contains(r.MatchDatasources, "docker") ||
			len(r.MatchPackageNames) > 0 && !anyGlob(r.MatchPackageNames, img.depName) {
			return false
		}
		return r.MatchCurrentValue == "" || jsRegex(t, r.MatchCurrentValue).MatchString(img.currentValue)
	}
	for _, img := range images {
		var versionings []packageRule
		pinned := false
		for _, r := range cfg.PackageRules {
			if !applies(r, img) {
				continue
			}
			if r.Versioning != "" {
				versionings = append(versionings, r)
			}
			if r.PinDigests != nil {
				pinned = *r.PinDigests
			}
		}
		if !pinned {
			t.Errorf("%s: %s:%s: no packageRule pins its digest", img.file, img.depName, img.currentValue)
		}
		if len(versionings) != 1 {
			var which []string
			for _, r := range versionings {
				which = append(which, r.Description)
			}
			t.Errorf("%s: tag %q falls under %d versioning rules, want exactly one: %q", img.file, img.currentValue, len(versionings), which)
			continue
		}
		if _, ok := parseVersion(t, versionings[0].Versioning, img.currentValue); !ok {
			t.Errorf("%s: tag %q does not parse with its rule's versioning %s", img.file, img.currentValue, versionings[0].Versioning)
		}
	}
}

// regexVersion is a tag as Renovate's regex versioning reads it.
type regexVersion struct {
	parts         [5]int // major, minor, patch, build, revision; absent: 0
	compatibility string
}

// parseVersion reads tag with a "regex:…" versioning the way Renovate's
// regex versioning does (lib/modules/versioning/regex): the named groups
// must be numeric, an absent one counts as 0.
func parseVersion(t *testing.T, versioning, tag string) (regexVersion, bool) {
	t.Helper()
	expr, ok := strings.CutPrefix(versioning, "regex:")
	if !ok {
		t.Fatalf("versioning %q is not a regex versioning", versioning)
	}
	re := jsRegex(t, expr)
	m := re.FindStringSubmatch(tag)
	if m == nil {
		return regexVersion{}, false
	}
	var v regexVersion
	for i, name := range re.SubexpNames() {
		idx := map[string]int{"major": 0, "minor": 1, "patch": 2, "build": 3, "revision": 4}
		if name == "compatibility" {
			v.compatibility = m[i]
			continue
		}
		if j, isPart := idx[name]; isPart && m[i] != "" {
			n, err := strconv.Atoi(m[i])
			if err != nil {
				return regexVersion{}, false // Renovate: groups must be numeric
			}
			v.parts[j] = n
		}
	}
	return v, true
}

// isUpdate says whether Renovate would offer to move from current to
// candidate: same compatibility, greater version.
func isUpdate(current, candidate regexVersion) bool {
	if current.compatibility != candidate.compatibility {
		return false
	}
	for i := range current.parts {
		if candidate.parts[i] != current.parts[i] {
			return candidate.parts[i] > current.parts[i]
		}
	}
	return false
}

// Each family's versioning orders its real tags: the update Renovate
// would offer is a newer build of the same app and flavor.
func TestRenovate_versioningOrdersEachFamily(t *testing.T) {
	cfg := readRenovate(t)
	rule := func(currentValue string) string {
		for _, r := range cfg.PackageRules {
			if r.Versioning != "" && r.MatchCurrentValue != "" && jsRegex(t, r.MatchCurrentValue).MatchString(currentValue) {
				return r.Versioning
			}
		}
		t.Fatalf("no versioning rule for %q", currentValue)
		return ""
	}
	for _, tc := range []struct {
		current, candidate string
		update             bool
	}{
		{"v8.16.2-ls374", "v8.16.2-ls375", true},
		{"v8.16.2-ls374", "v8.17.0-ls376", true},
		{"7.6.3797.58-ls62", "7.6.3797.61-ls63", true},
		{"7.6.3797.58-ls62", "7.6.3797.57-ls70", false},
		{"2509-ls23", "2512-ls24", true},
		{"1143.0.1build1-1xtradeb1.2404.1-ls35", "1144.0build1-1xtradeb1.2404.1-ls36", true},
		{"1143.0.1build1-1xtradeb1.2404.1-ls35", "1143.0.1build1-1xtradeb1.2404.1-ls34", false},
		{"143.0.1-1-ls58", "143.0.1-1-ls59", true},
		{"25.2.5.2-r0-ls158", "25.8.1.1-r0-ls160", true},
		{"3.5.2-linux1-ls115", "3.5.3-linux1-ls116", true},
		{"version-2025.3-ls45", "version-2025.4-ls46", true},
		{"version-2025.3-ls45", "version-2025.3-ls44", false},
		{"version-b0ddd401", "1c2d3e4f-ls120", true},
		{"version-b0ddd401", "version-1c2d3e4f", false},
		{"ubuntu-kde-version-0f29909a", "ubuntu-kde-1a2b3c4d-ls160", true},
		{"ubuntu-kde-version-0f29909a", "ubuntu-xfce-1a2b3c4d-ls160", false},
		{"debian-xfce-64164505-ls154", "debian-xfce-7a8b9c0d-ls155", true},
		{"debian-xfce-64164505-ls154", "debian-kde-7a8b9c0d-ls155", false},
	} {
		versioning := rule(tc.current)
		cur, ok1 := parseVersion(t, versioning, tc.current)
		cand, ok2 := parseVersion(t, versioning, tc.candidate)
		if got := ok1 && ok2 && isUpdate(cur, cand); got != tc.update {
			t.Errorf("%s → %s: update %v, want %v (%s)", tc.current, tc.candidate, got, tc.update, versioning)
		}
	}
}

// TestRenovate_configValidator runs Renovate's own validator, installed
// once from npm into the shared cache by hack/renovate-validator.sh.
func TestRenovate_configValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: installs Renovate from npm on first use")
	}
	version := "44.121.2"
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(home, ".cache", "streamspace", "tools-renovate-"+version)
	install := exec.Command("../hack/renovate-validator.sh", dest)
	install.Env = append(os.Environ(), "RENOVATE_VERSION="+version)
	if out, err := install.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "ENOTFOUND") || strings.Contains(string(out), "EAI_AGAIN") || strings.Contains(string(out), "ECONNREFUSED") || strings.Contains(string(out), "ETIMEDOUT") {
			t.Skipf("the npm registry is unreachable, Renovate's validator cannot be installed: %s", lastLine(string(out)))
		}
		t.Fatalf("install renovate: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(dest, "node_modules", ".bin", "renovate-config-validator"), "--strict", "../renovate.json")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=info")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Config validated successfully") {
		t.Errorf("renovate-config-validator --strict renovate.json: %v\n%s", err, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

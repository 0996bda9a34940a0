package validate

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamspace/streamspace/deploy"
)

var (
	fuzzValidatorOnce sync.Once
	fuzzValidator     *Validator
	fuzzValidatorErr  error
)

// FuzzRepo runs validate, as `streamspace validate` does, on a repository
// whose one catalog file is arbitrary bytes: it must never panic, and every
// problem names that file, a line in it and what is wrong.
func FuzzRepo(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: a}\nspec: {displayName: A, category: Utilities, baseImage: x/y:1, ports: [{name: vnc, containerPort: 6080}], stream: {protocol: WebsockifyVNC, port: 6080}}\n",
		"apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: a}\nspec: {baseImage: x/y:latest, security: {addCapabilities: [SYS_ADMIN]}}\n",
		"kind: Quota\napiVersion: stream.space/v1alpha1\nmetadata: {name: q}\nspec: {default: true, limits: {maxSessions: 1, maxRunningSessions: 2}}\n---\nkind: Session\n",
		"a: 1\na: 2\n",
		"- [\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
		"{\"apiVersion\": \"stream.space/v1alpha1\", \"kind\": \"Template\", \"metadata\": {\"name\": 7}}",
		"&a [*a]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzValidatorOnce.Do(func() { fuzzValidator, fuzzValidatorErr = LoadFS(deploy.CRDs()) })
		if fuzzValidatorErr != nil {
			t.Fatal(fuzzValidatorErr)
		}
		root := t.TempDir()
		file := filepath.Join(root, "catalog", "app.yaml")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		problems, _, err := fuzzValidator.Repo(root)
		if err != nil {
			t.Fatalf("validate: %v", err)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range problems {
			if p.File != filepath.Join("catalog", "app.yaml") || p.Line < 0 || p.Line > lines+1 || strings.TrimSpace(p.Message) == "" {
				t.Fatalf("problem %q: want the file, a line within its %d and a message", p.String(), lines)
			}
		}
	})
}

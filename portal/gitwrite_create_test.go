package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestWriteBack_createAndDelete: an admin creates a template from an image
// reference and a quota, and deletes a template in use, each as a pull
// request on a real Git server holding this checkout's catalog and
// policies; bad input and non-admins never reach Git.
func TestWriteBack_createAndDelete(t *testing.T) {
	own, gitRoot, gh := writeBackPortal(t, nil, "catalog", "policies")
	repo, err := git.PlainOpen(filepath.Join(gitRoot, "platform.git"))
	if err != nil {
		t.Fatal(err)
	}
	branchHead := func(branch string) *object.Commit {
		t.Helper()
		ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
		if err != nil {
			t.Fatalf("branch %s: %v", branch, err)
		}
		c, err := repo.CommitObject(ref.Hash())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fileAt := func(c *object.Commit, path string) string {
		t.Helper()
		f, err := c.File(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		s, _ := f.Contents()
		return s
	}
	root, _ := login(t, "root")
	user, _ := login(t, "bob")

	// refused before Git: a user, a :latest image, an unknown image family
	// without its stream, a quota spec the CRD refuses, no reason
	for _, tc := range []struct {
		token, method, path string
		body                any
		status              int
		says                string
	}{
		{user, http.MethodPost, "/api/v1/admin/templates", map[string]any{"image": "lscr.io/linuxserver/musescore:4.5.2-ls3", "reason": "x"}, http.StatusForbidden, ""},
		{root, http.MethodPost, "/api/v1/admin/templates", map[string]any{"image": "lscr.io/linuxserver/musescore:latest", "category": "Media", "reason": "x"}, http.StatusBadRequest, ":latest"},
		{root, http.MethodPost, "/api/v1/admin/templates", map[string]any{"image": "ghcr.io/acme/cad:2.0", "category": "3D", "reason": "x"}, http.StatusBadRequest, "no template in the catalog comes from ghcr.io/acme/"},
		{root, http.MethodPost, "/api/v1/admin/templates", map[string]any{"image": "lscr.io/linuxserver/musescore:4.5.2-ls3", "category": " Media", "reason": "x"}, http.StatusBadRequest, "spec.category"},
		{root, http.MethodPost, "/api/v1/admin/templates", map[string]any{"image": "lscr.io/linuxserver/firefox:2.0.0", "reason": "x"}, http.StatusConflict, "already exists; edit it instead"},
		{root, http.MethodPost, "/api/v1/admin/quotas", map[string]any{"name": "musicians", "spec": map[string]any{"limits": map[string]any{"maxSessions": -2}}, "reason": "x"}, http.StatusBadRequest, "maxSessions"},
		{root, http.MethodPost, "/api/v1/admin/quotas", map[string]any{"name": "musicians", "spec": map[string]any{"limits": map[string]any{}}}, http.StatusBadRequest, "reason"},
		{root, http.MethodDelete, "/api/v1/admin/templates/firefox", nil, http.StatusBadRequest, "reason"},
		{user, http.MethodDelete, "/api/v1/admin/quotas/designers?reason=x", nil, http.StatusForbidden, ""},
	} {
		r := callAt(t, own.URL, tc.method, tc.path, tc.token, tc.body)
		if r.Status != tc.status || !strings.Contains(rawOf(r), tc.says) {
			t.Errorf("%s %s %v: %d %s, want %d saying %q", tc.method, tc.path, tc.body, r.Status, rawOf(r), tc.status, tc.says)
		}
	}
	if len(gh.calls) != 0 {
		t.Fatalf("a refused change reached GitHub: %v", gh.calls)
	}

	// a template from an image: the conventions of the catalog's template
	// of the same image family (the live vlc, from this checkout's catalog)
	vlc := &streamv1.Template{}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "catalog/media/vlc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, vlc); err != nil {
		t.Fatal(err)
	}
	vlc.Namespace = ns
	if err := env.Client.Create(context.Background(), vlc); err != nil {
		t.Fatal(err)
	}
	defer env.Client.Delete(context.Background(), vlc)
	r := callAt(t, own.URL, http.MethodPost, "/api/v1/admin/templates", root, map[string]any{
		"image": "lscr.io/linuxserver/musescore:4.5.2-ls3", "category": "Audio & Video", "reason": "MuseScore for the music course"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create template: %d %s", r.Status, rawOf(r))
	}
	res := r.Body["result"].(map[string]any)
	if notes := rawOf(response{Body: map[string]any{"n": r.Body["notes"]}}); !strings.Contains(notes, "follow template vlc") {
		t.Errorf("notes: %s", notes)
	}
	if res["file"] != "catalog/audio-video/musescore.yaml" || res["url"] != "https://github.example.com/acme/platform/pull/7" {
		t.Errorf("create template: %v", res)
	}
	c := branchHead(res["branch"].(string))
	var tpl streamv1.Template
	if err := yaml.UnmarshalStrict([]byte(fileAt(c, "catalog/audio-video/musescore.yaml")), &tpl); err != nil {
		t.Fatal(err)
	}
	if tpl.Spec.Stream.Protocol != streamv1.StreamSelkies || tpl.Spec.Stream.Port != 3000 || len(tpl.Spec.VolumeMounts) != 1 ||
		tpl.Spec.VolumeMounts[0].MountPath != "/config" || tpl.Spec.DefaultResources.Memory == nil || tpl.Namespace != "" {
		t.Errorf("the new template does not follow the catalog: %+v", tpl)
	}
	if k := fileAt(c, "catalog/kustomization.yaml"); !strings.Contains(k, "  - audio-video/musescore.yaml\n  - browsers/brave.yaml\n") {
		t.Errorf("catalog/kustomization.yaml:\n%s", k)
	}
	// the cluster is not touched
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "musescore"}, &streamv1.Template{}); err == nil {
		t.Error("the portal created the Template itself")
	}

	// a quota
	r = callAt(t, own.URL, http.MethodPost, "/api/v1/admin/quotas", root, map[string]any{
		"name": "musicians", "spec": map[string]any{"groups": []string{"music"}, "limits": map[string]any{"maxSessions": 2}}, "reason": "Quota for the music course"})
	if r.Status != http.StatusAccepted || r.Body["file"] != "policies/quotas/musicians.yaml" {
		t.Fatalf("create quota: %d %s", r.Status, rawOf(r))
	}

	// delete a template that sessions use: the pull request names them
	for _, s := range []struct{ name, user string }{{"firefox-del-1", "alice"}, {"firefox-del-2", "carol"}} {
		if err := env.Client.Create(context.Background(), &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.name},
			Spec: streamv1.SessionSpec{User: s.user, Template: "firefox", State: streamv1.StateHibernated}}); err != nil {
			t.Fatal(err)
		}
		defer env.Client.Delete(context.Background(), &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.name}})
	}
	r = callAt(t, own.URL, http.MethodDelete, "/api/v1/admin/templates/firefox?reason="+url.QueryEscape("Firefox moves to the managed browser"), root, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("delete template: %d %s", r.Status, rawOf(r))
	}
	used := r.Body["usedBy"].([]any)
	if !strings.Contains(rawOf(r), "alice/firefox-del-1") || !strings.Contains(rawOf(r), "carol/firefox-del-2") {
		t.Errorf("usedBy: %v", used)
	}
	c = branchHead(r.Body["result"].(map[string]any)["branch"].(string))
	if _, err := c.File("catalog/browsers/firefox.yaml"); err == nil {
		t.Error("catalog/browsers/firefox.yaml is still there")
	}
	if k := fileAt(c, "catalog/kustomization.yaml"); strings.Contains(k, "browsers/firefox.yaml") {
		t.Errorf("catalog/kustomization.yaml still lists firefox:\n%s", k)
	}
	last := gh.calls[len(gh.calls)-1]
	if body := last["body"].(string); !strings.Contains(body, "alice/firefox-del-1") || !strings.Contains(body, "prune keeps Template `firefox`") {
		t.Errorf("pull request body:\n%s", body)
	}
	if len(gh.calls) != 3 {
		t.Errorf("GitHub calls: %d, want 3", len(gh.calls))
	}
	events, _ := db.AuditLog(context.Background(), store.AuditFilter{Action: "admin.template.propose"})
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, strings.SplitN(e.Detail, ":", 2)[0])
	}
	if strings.Join(kinds, ",") != "delete,create" && strings.Join(kinds, ",") != "create,delete" {
		t.Errorf("audit: %+v", events)
	}
}

// rawOf is the answer's body as JSON text, to search in.
func rawOf(r response) string {
	data, _ := json.Marshal(r.Body)
	return string(data)
}

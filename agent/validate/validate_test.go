package validate

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/catalog"
	"github.com/streamspace/streamspace/deploy"
	"github.com/streamspace/streamspace/test/testenv"
)

// load is the validator `streamspace validate` uses: the CRDs built into
// the binary.
func load(t *testing.T) *Validator {
	t.Helper()
	v, err := LoadFS(deploy.CRDs())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLoadFS_embeddedCRDs_everyKindOfTheAPI(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := streamv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// the group also holds metav1's option types: only the API's own kinds
	api := reflect.TypeFor[streamv1.Template]().PkgPath()
	var want []schema.GroupVersionKind
	for kind, typ := range scheme.KnownTypes(streamv1.GroupVersion) {
		if typ.PkgPath() == api && !strings.HasSuffix(kind, "List") {
			want = append(want, streamv1.GroupVersion.WithKind(kind))
		}
	}
	embedded := slices.SortedFunc(maps.Keys(load(t).kinds), compareGVK)
	slices.SortFunc(want, compareGVK)
	if !slices.Equal(embedded, want) {
		t.Errorf("the embedded CRDs define %v, the API has %v", embedded, want)
	}
	fromCheckout, err := Load(filepath.Join(testenv.RepoRoot(), "deploy", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.SortedFunc(maps.Keys(fromCheckout.kinds), compareGVK); !slices.Equal(got, embedded) {
		t.Errorf("deploy/crd/bases defines %v, the embedded CRDs %v", got, embedded)
	}
}

func TestLoad_folderWithoutCRDs_namesIt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || err.Error() != dir+": no CRDs found" {
		t.Errorf("got %v, want %q", err, dir+": no CRDs found")
	}
}

func compareGVK(a, b schema.GroupVersionKind) int { return strings.Compare(a.String(), b.String()) }

func TestRepo_ownContentIsValid(t *testing.T) {
	problems, n, err := load(t).Repo(testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if n < 40 {
		t.Errorf("validated %d objects, want the whole catalog and policies", n)
	}
}

func TestRepo_brokenFixtures_fileLineMessages(t *testing.T) {
	problems, _, err := load(t).Repo("testdata/broken")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"catalog/bad-tag.yaml:8: Template no-tag: spec.baseImage: baseImage must carry a tag or a digest",
		`catalog/unknown-field.yaml:9: Template unknown-field: unknown field "spec.colour"`,
		`catalog/duplicate.yaml:8: duplicate key "displayName" (first at line 6)`,
		"catalog/cel.yaml:7: warning: Template wrong-port: category \"Browsers\" is not a recommended one (Web Browsers, ",
		`policies/user.yaml:7: User alice: spec.quota refers to Quota "premium", which is not in the repository`,
		"catalog/kustomization.yaml:6: overlay environments/test does not build: resource gone.yaml",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing problem:\n  %s\ngot:\n  %s", want, strings.ReplaceAll(all, "\n", "\n  "))
		}
	}
}

func TestObject_celRuleAfterSchema(t *testing.T) {
	objs, probs := readFile("testdata/broken/catalog/cel.yaml", "cel.yaml")
	if len(probs) > 0 || len(objs) != 1 {
		t.Fatalf("read: %v", probs)
	}
	objs[0].obj["spec"].(map[string]any)["category"] = "Utilities" // only the CEL rule is broken now
	got := load(t).Object(objs[0])
	if len(got) != 1 || !strings.Contains(got[0].String(), "cel.yaml:6: Template wrong-port: spec: stream.port must be one of ports[].containerPort") {
		t.Errorf("got %v", got)
	}
}

// A category outside the recommended list is a warning, never an error;
// a patch that breaks an object valid in its own file is an error at the
// overlay; only the overlays asked for are built.
func TestRepoOverlays_warningsAndPatchedObjects(t *testing.T) {
	v := load(t)
	problems, n, err := v.Repo("testdata/patched")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"catalog/synth.yaml:8: warning: Template synth: category \"Audio & Video\" is not a recommended one (" + strings.Join(catalog.Recommended, ", ") + "); it will be a group of its own in the catalog",
		"environments/prod/kustomization.yaml:1: overlay environments/prod builds an invalid object: Template synth: spec.baseImage: baseImage must not use the mutable :latest tag; pin a version",
	}
	if !slices.Equal(got, want) || n != 1 || Errors(problems) != 1 {
		t.Errorf("got %d objects, %d errors:\n  %s\nwant:\n  %s", n, Errors(problems), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	problems, _, err = v.RepoOverlays("testdata/patched", []string{"environments/lab"})
	if err != nil || Errors(problems) != 0 || len(problems) != 1 || !problems[0].Warning {
		t.Errorf("only the lab overlay: %v %v", problems, err)
	}
	for _, bad := range []string{"../broken/environments/test", "environments/none", "/etc"} {
		if _, _, err := v.RepoOverlays("testdata/patched", []string{bad}); err == nil {
			t.Errorf("overlay %q was accepted", bad)
		}
	}
}

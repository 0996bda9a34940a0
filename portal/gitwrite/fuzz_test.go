package gitwrite

import (
	"bytes"
	"os"
	"reflect"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/runtime"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// FuzzEditDocument edits an arbitrary Template document sitting between two
// other documents of its file, as the write-back does: the edit never
// panics, and when it succeeds the file still parses, reads back as
// exactly the asked-for object, and the documents around it are kept byte
// for byte.
func FuzzEditDocument(f *testing.F) {
	firefox, err := readFixture("catalog/browsers/firefox.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(firefox, "Firefox ESR", "kiosk", uint8(0))
	f.Add("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: a}\nspec: {displayName: A, tags: [x]}\n", "B", "y", uint8(1))
	f.Add("kind: Template\nmetadata:\n  name: a # the app\nspec:\n  displayName: >-\n    folded\n    text\n  tags:\n    - a\n", "", "b", uint8(2))
	f.Add("spec:\n  displayName: 'quoted'\n  tags: []\n", "new\nline", "", uint8(3))
	const before, after = "# head\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: before}\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\n"
	f.Fuzz(func(t *testing.T, doc, display, tag string, drop uint8) {
		if len(splitDocuments([]byte(doc))) != 1 {
			return // a separator inside: not one document
		}
		if !utf8.ValidString(display) || !utf8.ValidString(tag) {
			return // edits come from JSON: always UTF-8
		}
		file := []byte(before + "---\n" + doc)
		if !bytes.HasSuffix(file, []byte("\n")) {
			file = append(file, '\n')
		}
		file = append(file, "---\n"+after...)
		ranges := splitDocuments(file)
		if len(ranges) != 3 {
			t.Fatalf("the test's file has %d documents", len(ranges))
		}
		d := &document{data: file, start: ranges[1][0], end: ranges[1][1]}
		var node yaml.Node
		if yaml.Unmarshal(d.body(), &node) != nil || node.Kind != yaml.DocumentNode || len(node.Content) != 1 || node.Content[0].Kind != yaml.MappingNode {
			return
		}
		canon, err := canonical(d.body(), &streamv1.Template{})
		if err != nil {
			return // not a Template: the writer refuses it before editing
		}
		want := runtime.DeepCopyJSON(canon)
		spec, _ := want["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			want["spec"] = spec
		}
		if display != "" {
			spec["displayName"] = display
		}
		if tag != "" {
			tags, _ := spec["tags"].([]any)
			spec["tags"] = append(append([]any{}, tags...), tag)
		}
		if drop%4 == 0 {
			delete(spec, "description")
		}
		body, err := editDocument(d.body(), &node, canon, want)
		if err != nil {
			return
		}
		out := d.replaced(body)
		got := splitDocuments(out)
		if len(got) != 3 {
			t.Fatalf("the edit left %d documents in the file:\n%s", len(got), out)
		}
		if string(out[got[0][0]:got[0][1]]) != before || string(out[got[2][0]:got[2][1]]) != after {
			t.Fatalf("the documents around the edited one changed:\n%s", out)
		}
		dec := yaml.NewDecoder(bytes.NewReader(out))
		for i := 0; i < 3; i++ {
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("document %d of the edited file does not parse: %v\n%s", i, err, out)
			}
		}
		readBack, err := canonical(out[got[1][0]:got[1][1]], &streamv1.Template{})
		if err != nil {
			t.Fatalf("the edited document does not read back: %v\n%s", err, body)
		}
		if !reflect.DeepEqual(readBack, want) {
			t.Fatalf("the edited document reads back as\n%v\nwant\n%v\n%s", readBack, want, body)
		}
	})
}

func readFixture(path string) (string, error) {
	data, err := os.ReadFile("testdata/platform/" + path)
	return string(data), err
}

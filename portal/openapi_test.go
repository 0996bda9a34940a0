package portal

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/deploy"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/stream"
)

// TestOpenAPI_describesEveryRoute keeps the description and the router in
// step: every /api/v1 route is described, and nothing else is.
func TestOpenAPI_describesEveryRoute(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	described := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			if method != "parameters" {
				described[strings.ToUpper(method)+" /api/v1"+path] = true
			}
		}
	}
	served := map[string]bool{}
	r := NewRouter(Handlers{Auth: &api.AuthAPI{}, Sessions: &api.SessionsAPI{}, Templates: &api.TemplatesAPI{}, Users: &api.UsersAPI{}, Stream: &stream.Proxy{}, PathWebClients: true})
	for _, rt := range r.Routes() {
		if !strings.HasPrefix(rt.Path, "/api/v1/") || rt.Path == "/api/v1/openapi.json" {
			continue
		}
		path := rt.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		served[rt.Method+" "+path] = true
	}
	var missing, extra []string
	for k := range served {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not in openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json describes routes the router does not serve: %v", extra)
	}
}

// TestOpenAPI_errorCodesAreTheAPIs keeps the error codes in openapi.json
// (from which the UI's types are generated) the set portal/api answers
// with: every Code constant in errors.go, and no other.
func TestOpenAPI_errorCodesAreTheAPIs(t *testing.T) {
	var spec struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	described := spec.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("api", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Code") {
					code, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					served = append(served, code)
				}
			}
		}
	}
	sort.Strings(described)
	sort.Strings(served)
	if len(served) == 0 || !slices.Equal(described, served) {
		t.Errorf("error codes: openapi.json has %v, portal/api/errors.go %v", described, served)
	}
}

// TestOpenAPI_streamProtocolsAreTheCRDs keeps the protocols the UI knows
// (generated from openapi.json) those a Template may have.
func TestOpenAPI_streamProtocolsAreTheCRDs(t *testing.T) {
	var spec struct {
		Components struct {
			Schemas struct {
				StreamSpec struct {
					Properties struct {
						Protocol struct {
							Enum []string `json:"enum"`
						} `json:"protocol"`
					} `json:"properties"`
				} `json:"StreamSpec"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	raw, err := fs.ReadFile(deploy.CRDs(), "stream.space_templates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var allowed []string
	for _, v := range crd.Spec.Versions {
		for _, e := range v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["stream"].Properties["protocol"].Enum {
			allowed = append(allowed, strings.Trim(string(e.Raw), `"`))
		}
	}
	described := spec.Components.Schemas.StreamSpec.Properties.Protocol.Enum
	sort.Strings(described)
	sort.Strings(allowed)
	if len(allowed) == 0 || !slices.Equal(described, allowed) {
		t.Errorf("stream protocols: openapi.json has %v, the Template CRD %v", described, allowed)
	}
}

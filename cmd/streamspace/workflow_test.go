package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/streamspace/streamspace/agent/validate/githubreport"
	"github.com/streamspace/streamspace/test/githubtest"
)

// exampleRepo is the example platform repository; its workflow is the
// one the README tells platform repositories to copy.
const (
	exampleRepo     = "../../examples/platform-repo"
	exampleWorkflow = ".github/workflows/streamspace.yaml"
)

type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			If   string            `yaml:"if"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// actions evaluates the few expressions the workflow uses, as GitHub
// would; one it does not know fails the test, which then needs teaching.
type actions struct {
	t       *testing.T
	secrets map[string]string
	token   string
	env     map[string]string
}

var expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

func (a *actions) value(expr string) string {
	a.t.Helper()
	switch m := regexp.MustCompile(`^secrets\.(\w+)( != '')?$`).FindStringSubmatch(expr); {
	case expr == "github.token":
		return a.token
	case m != nil && m[2] != "":
		return fmt.Sprint(a.secrets[m[1]] != "")
	case m != nil:
		return a.secrets[m[1]]
	}
	a.t.Fatalf("the workflow uses the expression %q, which this test does not evaluate", expr)
	return ""
}

func (a *actions) interpolate(s string) string {
	return expression.ReplaceAllStringFunc(s, func(e string) string { return a.value(expression.FindStringSubmatch(e)[1]) })
}

// condition is a step's `if`: empty, or env.NAME == / != 'value'.
func (a *actions) condition(cond string) bool {
	a.t.Helper()
	if cond == "" {
		return true
	}
	m := regexp.MustCompile(`^env\.(\w+) (==|!=) '([^']*)'$`).FindStringSubmatch(cond)
	if m == nil {
		a.t.Fatalf("the workflow's condition %q is not one this test evaluates", cond)
	}
	return (a.env[m[1]] == m[3]) == (m[2] == "==")
}

// runJob runs the workflow's job as a runner would on a pull request:
// actions (uses:) are skipped (the checkout is cwd), `run:` scripts go
// through a real shell interpreter with bash -e semantics, and in them
// `streamspace …` is this binary's command tree, in this process, and
// `go install` is checked to name this module's command. It returns
// the `streamspace` command lines run and the output.
func runJob(t *testing.T, wf *workflow, a *actions, base map[string]string) ([][]string, string) {
	t.Helper()
	if len(wf.Jobs) != 1 {
		t.Fatalf("want one job, got %d", len(wf.Jobs))
	}
	var ran [][]string
	var out bytes.Buffer
	for name, job := range wf.Jobs {
		a.env = map[string]string{}
		for k, v := range base {
			a.env[k] = v
		}
		for _, env := range []map[string]string{wf.Env, job.Env} {
			for k, v := range env {
				a.env[k] = a.interpolate(v)
			}
		}
		for _, step := range job.Steps {
			if step.Run == "" || !a.condition(step.If) {
				continue
			}
			env := map[string]string{}
			for k, v := range a.env {
				env[k] = v
			}
			for k, v := range step.Env {
				env[k] = a.interpolate(v)
			}
			var pairs []string
			for k, v := range env {
				pairs = append(pairs, k+"="+v)
				t.Setenv(k, v) // the in-process command reads the job's environment
			}
			script, err := syntax.NewParser().Parse(strings.NewReader(a.interpolate(step.Run)), step.Name)
			if err != nil {
				t.Fatalf("job %s, step %q: %v", name, step.Name, err)
			}
			r, err := interp.New(
				interp.Params("-e"),
				interp.Env(expand.ListEnviron(pairs...)),
				interp.StdIO(nil, &out, &out),
				// The interpreter has no umask builtin: the exec handler
				// below sets the process's, which its redirections use.
				interp.CallHandler(func(ctx context.Context, args []string) ([]string, error) {
					if args[0] == "umask" {
						args[0] = "umask-of-the-process"
					}
					return args, nil
				}),
				interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
					return func(ctx context.Context, args []string) error {
						switch args[0] {
						case "umask-of-the-process":
							mask, err := strconv.ParseUint(args[1], 8, 32)
							if err != nil {
								t.Fatalf("step %q: umask %q", step.Name, args[1])
							}
							syscall.Umask(int(mask))
							return nil
						case "go":
							if len(args) != 3 || args[1] != "install" || !strings.HasPrefix(args[2], "github.com/streamspace/streamspace/cmd/streamspace@") {
								t.Errorf("step %q runs %q: want go install github.com/streamspace/streamspace/cmd/streamspace@<version>", step.Name, args)
							}
							return nil
						case "streamspace":
							ran = append(ran, args)
							hc := interp.HandlerCtx(ctx)
							root := rootCommand()
							root.SetArgs(args[1:])
							root.SetOut(hc.Stdout)
							root.SetErr(hc.Stderr)
							if err := root.ExecuteContext(ctx); err != nil {
								return interp.NewExitStatus(1)
							}
							return nil
						}
						t.Errorf("step %q runs %q, which this test does not know", step.Name, args)
						return interp.NewExitStatus(127)
					}
				}),
			)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Run(context.Background(), script); err != nil {
				t.Fatalf("job %s, step %q failed: %v\n%s", name, step.Name, err, out.String())
			}
		}
	}
	return ran, out.String()
}

func loadWorkflow(t *testing.T) *workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(exampleRepo, exampleWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("%s: %v", exampleWorkflow, err)
	}
	return &wf
}

// copyExample copies the example platform repository out of this checkout,
// so that nothing of the checkout (its CRDs, its catalog) can help.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(exampleRepo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(exampleRepo, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// The example workflow, run as GitHub runs it on a pull request: without
// the kubeconfig secret it validates with annotations; with it, it
// validates, forecasts the impact on a real API server with sessions in it
// and reports to the GitHub stand-in. Its command lines are real: a flag
// or command that this binary lacks fails the step, so the file cannot go
// stale. The README points at it.
func TestExampleWorkflow_runsOnAPullRequest(t *testing.T) {
	wf := loadWorkflow(t)
	if _, ok := wf.On["pull_request"]; !ok {
		t.Errorf("the workflow runs on %v, want pull_request", wf.On)
	}
	if wf.Permissions["checks"] != "write" || wf.Permissions["pull-requests"] != "write" || wf.Permissions["contents"] != "read" {
		t.Errorf("permissions %v: the report needs checks: write and pull-requests: write, nothing more than contents: read besides", wf.Permissions)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("examples/platform-repo/"+exampleWorkflow)) {
		t.Errorf("README.md does not point at examples/platform-repo/%s", exampleWorkflow)
	}

	p := newLivePlatform(t)
	gh := githubtest.New(t, "acme", "platform", reportToken)
	kubeconfig, err := os.ReadFile(p.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o022) // the script's umask is the process's
	t.Cleanup(func() { syscall.Umask(old) })
	repo := copyExample(t)
	// The overlay's namespace is the platform's: here the test's own.
	overlay := filepath.Join(repo, "environments/prod/kustomization.yaml")
	data, err := os.ReadFile(overlay)
	if err != nil || !bytes.Contains(data, []byte("\nnamespace: streamspace\n")) {
		t.Fatalf("%s: %v\n%s", overlay, err, data)
	}
	if err := os.WriteFile(overlay, bytes.Replace(data, []byte("namespace: streamspace"), []byte("namespace: "+p.ns), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(repo)
	base := func() map[string]string {
		return map[string]string{
			"GITHUB_REPOSITORY": "acme/platform", "GITHUB_API_URL": gh.URL, "RUNNER_TEMP": t.TempDir(),
			"GITHUB_EVENT_PATH": pullRequestEvent(t, 7, sha(1)), "GITHUB_TOKEN": "",
		}
	}

	// A pull request from a fork: no secrets.
	ran, out := runJob(t, wf, &actions{t: t, token: reportToken}, base())
	if len(ran) != 1 || strings.Join(ran[0], " ") != "streamspace validate --output github" {
		t.Errorf("without the secret, ran %q", ran)
	}
	if !regexp.MustCompile(`(?m)^::notice title=streamspace validate::2 objects valid, overlays build$`).MatchString(out) {
		t.Errorf("validate's annotations:\n%s", out)
	}
	if len(gh.Calls()) != 0 {
		t.Errorf("without the secret, GitHub was called: %v", gh.Calls())
	}

	// The same repository's pull request: the secret is there.
	a := &actions{t: t, token: reportToken, secrets: map[string]string{"STREAMSPACE_KUBECONFIG": string(kubeconfig)}}
	env := base()
	ran, out = runJob(t, wf, a, env)
	if len(ran) != 1 || ran[0][1] != "validate" || !strings.Contains(strings.Join(ran[0], " "), "--impact --kubeconfig "+env["RUNNER_TEMP"]+"/kubeconfig --github-report") {
		t.Errorf("with the secret, ran %q", ran)
	}
	if fi, err := os.Stat(filepath.Join(env["RUNNER_TEMP"], "kubeconfig")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the kubeconfig written by the step: %v, %v; want it readable by the runner's user only", fi, err)
	}
	if !strings.Contains(out, "GitSync "+p.ns+"/platform (environments/prod):") || !strings.Contains(out, "GitHub: summary comment created") {
		t.Errorf("the impact step's output:\n%s", out)
	}
	runs, comments := gh.CheckRuns(), gh.Comments(7)
	if len(runs) != 1 || runs[0].HeadSHA != sha(1) || runs[0].Conclusion != "success" || len(comments) != 1 || !strings.HasPrefix(comments[0].Body, githubreport.Marker) {
		t.Errorf("GitHub after the impact step: runs %+v, comments %+v", runs, comments)
	}
	if strings.Contains(out, reportToken) {
		t.Error("the job's output shows the token")
	}
}

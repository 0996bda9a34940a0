package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/agent/validate"
	"github.com/streamspace/streamspace/deploy"
)

func validateCommand() *cobra.Command {
	var crds, output string
	var overlays []string
	var im impactFlags
	cmd := &cobra.Command{
		Use:   "validate [repository]",
		Short: "Check catalog/, policies/ and environments/ against the CRDs before they reach a cluster",
		Long: `Check a platform repository (default: the current folder) the way the API
server and the agent would: every object against the StreamSpace CRD schemas
and CEL rules, duplicate YAML keys, unknown fields, overlays that do not
build (every environments/<name>, or those given with --overlay), objects an
overlay's patches break, and references to objects that are not there. The
CRDs are built into this binary, so it runs anywhere.

Warnings (a category outside the recommended list) are shown but do not
fail: the exit code is 1 only when there is an error.

--output text (default) prints file:line: message; json prints one object
with every problem; github prints GitHub Actions annotations
(::error file=…,line=…::message) so a pull request shows each problem on
its line.

--impact --kubeconfig FILE also reads the live platform (read-only; changes
are found by server-side apply dry-runs) and prints what merging would do
for each GitSync there: templates added, changed or removed with the
sessions using them, quota changes and the users who would be over their
new limits (by how much), network policies changed, and what prune would
delete or keep because it is in use. It needs a valid repository first.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			write, ok := outputs[output]
			if !ok {
				return fmt.Errorf("--output %q: want text, json or github", output)
			}
			if err := im.check(output); err != nil {
				return err
			}
			if im.impact {
				// The impact is the report; the problems list stays
				// quiet unless there is one.
				write = quietWhenValid(write)
			}
			var v *validate.Validator
			var err error
			if crds != "" {
				v, err = validate.Load(crds)
			} else {
				v, err = validate.LoadFS(deploy.CRDs())
			}
			if err != nil {
				return err
			}
			problems, n, err := v.RepoOverlays(root, overlays)
			if err != nil {
				return err
			}
			if err := write(cmd.OutOrStdout(), root, problems, n); err != nil {
				return err
			}
			if errs := validate.Errors(problems); errs > 0 {
				return fmt.Errorf("%d problem(s) in %d objects", errs, n)
			}
			if im.impact {
				return im.run(cmd, root, output)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&crds, "crds", "", "Folder of the CRDs to validate against (default: the CRDs built into this binary, those of its deploy/crd/bases).")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text, json or github (GitHub Actions annotations).")
	cmd.Flags().StringArrayVar(&overlays, "overlay", nil, "Overlay folder to build, relative to the repository (repeatable; default: every environments/<name>).")
	im.flags(cmd)
	return cmd
}

type writer func(w io.Writer, root string, problems []validate.Problem, objects int) error

var outputs = map[string]writer{"text": writeText, "json": writeJSON, "github": writeGitHub}

func writeText(w io.Writer, _ string, problems []validate.Problem, objects int) error {
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	if validate.Errors(problems) == 0 {
		warnings := ""
		if len(problems) > 0 {
			warnings = fmt.Sprintf(" (%d warning(s))", len(problems))
		}
		fmt.Fprintf(w, "ok: %d objects valid, overlays build%s\n", objects, warnings)
	}
	return nil
}

// jsonProblem is one problem in --output json.
type jsonProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

func writeJSON(w io.Writer, _ string, problems []validate.Problem, objects int) error {
	out := struct {
		Objects  int           `json:"objects"`
		Errors   int           `json:"errors"`
		Warnings int           `json:"warnings"`
		Problems []jsonProblem `json:"problems"`
	}{Objects: objects, Errors: validate.Errors(problems), Problems: []jsonProblem{}}
	out.Warnings = len(problems) - out.Errors
	for _, p := range problems {
		out.Problems = append(out.Problems, jsonProblem{File: filepath.ToSlash(p.File), Line: p.Line, Severity: severity(p), Message: p.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "Audio & Video", not \u0026
	return enc.Encode(out)
}

// writeGitHub prints workflow commands. File paths are made relative to
// the folder validate runs in (the workspace in a workflow), so that a
// repository given as an argument still annotates the right file.
func writeGitHub(w io.Writer, root string, problems []validate.Problem, objects int) error {
	for _, p := range problems {
		file := filepath.ToSlash(filepath.Join(root, p.File))
		fmt.Fprintf(w, "::%s file=%s,line=%d,title=streamspace validate::%s\n", severity(p), escapeProperty(file), p.Line, escapeData(p.Message))
	}
	if validate.Errors(problems) == 0 {
		fmt.Fprintf(w, "::notice title=streamspace validate::%d objects valid, overlays build\n", objects)
	}
	return nil
}

func severity(p validate.Problem) string {
	if p.Warning {
		return "warning"
	}
	return "error"
}

// escapeData and escapeProperty escape as the Actions runner reads
// workflow commands (toolkit's command.ts): a newline in a message would
// otherwise end the command, and a comma in a path would start a property.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

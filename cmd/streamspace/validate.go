package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/agent/validate"
	"github.com/streamspace/streamspace/agent/validate/githubreport"
	"github.com/streamspace/streamspace/deploy"
)

func validateCommand() *cobra.Command {
	var crds, output string
	var overlays []string
	var im impactFlags
	var report reportFlags
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
delete or keep because it is in use. It needs a valid repository first.

--github-report also puts the result on the GitHub pull request: a check
run "streamspace validate" on the pull request's head commit (conclusion
failure when there are errors, neutral with only warnings, else success;
each problem annotated on its file and line) and one summary comment
(problems and, with --impact, the forecast), which later pushes edit in
place. In GitHub Actions it reads the repository, pull request and head
commit from the job's environment; the token comes from $GITHUB_TOKEN only
(checks: write, pull-requests: write). A GitHub error fails the command
after validate's own output.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			var err error
			write, ok := outputs[output]
			if !ok {
				return fmt.Errorf("--output %q: want text, json or github", output)
			}
			if err := im.check(output); err != nil {
				return err
			}
			if err := report.check(cmd); err != nil {
				return err
			}
			var target githubreport.Target
			if report.report {
				// Before validating: a report that cannot go out is
				// known at once, not after the forecast.
				if target, err = report.target(); err != nil {
					return err
				}
			}
			if im.impact {
				// The impact is the report; the problems list stays
				// quiet unless there is one.
				write = quietWhenValid(write)
			}
			var v *validate.Validator
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
			var invalid error
			if errs := validate.Errors(problems); errs > 0 {
				invalid = fmt.Errorf("%d problem(s) in %d objects", errs, n)
			}
			if !report.report {
				if invalid != nil {
					return invalid
				}
				if im.impact {
					forecast, err := im.forecast(cmd, root)
					if err != nil {
						return err
					}
					return printImpact(cmd.OutOrStdout(), forecast, output)
				}
				return nil
			}

			// The report goes out whatever validate found; an error of
			// the forecast or of GitHub comes after validate's own.
			res := githubreport.Result{Root: root, Problems: problems, Objects: n}
			var forecastErr error
			switch {
			case !im.impact:
				res.NoImpact = "not forecast: validate ran without --impact"
			case invalid != nil:
				res.NoImpact = "not forecast: the repository has errors"
			default:
				if res.Impact, forecastErr = im.forecast(cmd, root); forecastErr != nil {
					res.NoImpact = "the forecast failed: " + forecastErr.Error()
				} else if err := printImpact(cmd.OutOrStdout(), res.Impact, output); err != nil {
					return err
				}
			}
			return errors.Join(invalid, forecastErr, report.publish(cmd, target, res))
		},
	}
	cmd.Flags().StringVar(&crds, "crds", "", "Folder of the CRDs to validate against (default: the CRDs built into this binary, those of its deploy/crd/bases).")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text, json or github (GitHub Actions annotations).")
	cmd.Flags().StringArrayVar(&overlays, "overlay", nil, "Overlay folder to build, relative to the repository (repeatable; default: every environments/<name>).")
	im.flags(cmd)
	report.flags(cmd)
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

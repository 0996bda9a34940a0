package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/agent/validate/githubreport"
)

// reportFlags are validate's --github-report options. The token is read
// from $GITHUB_TOKEN only: a flag's value shows in the process list and
// in a workflow's log.
type reportFlags struct {
	report      bool
	repository  string
	pullRequest int
	sha         string
	apiURL      string
}

func (f *reportFlags) flags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.report, "github-report", false, "Also report on the GitHub pull request: a check run on its head commit (failure when there are errors, each problem annotated on its line) and one summary comment, edited on every later push. Reads $GITHUB_TOKEN and, in GitHub Actions, the repository, pull request and head commit from the job's environment.")
	cmd.Flags().StringVar(&f.repository, "github-repository", "", "owner/name of the pull request's repository, for --github-report (default: $GITHUB_REPOSITORY).")
	cmd.Flags().IntVar(&f.pullRequest, "github-pull-request", 0, "Pull request number, for --github-report (default: the pull_request event's, from $GITHUB_EVENT_PATH).")
	cmd.Flags().StringVar(&f.sha, "github-sha", "", "Head commit the check run is attached to, for --github-report (default: the pull_request event's head SHA, not the merge commit that is checked out).")
	cmd.Flags().StringVar(&f.apiURL, "github-api-url", "", "GitHub REST API, for --github-report (default: $GITHUB_API_URL, else https://api.github.com).")
}

// check refuses the options that go with --github-report without it.
func (f *reportFlags) check(cmd *cobra.Command) error {
	if f.report {
		return nil
	}
	for _, name := range []string{"github-repository", "github-pull-request", "github-sha", "github-api-url"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s goes with --github-report", name)
		}
	}
	return nil
}

// target is the pull request from the Actions environment, with the flags
// given over it.
func (f *reportFlags) target() (githubreport.Target, error) {
	t, err := githubreport.FromActions(os.Getenv)
	if err != nil {
		return t, err
	}
	if f.repository != "" {
		owner, repo, ok := strings.Cut(f.repository, "/")
		if !ok {
			return t, fmt.Errorf("--github-repository %q: want owner/name", f.repository)
		}
		t.Owner, t.Repo = owner, repo
	}
	if f.pullRequest != 0 {
		t.PullRequest = f.pullRequest
	}
	if f.sha != "" {
		t.HeadSHA = f.sha
	}
	if f.apiURL != "" {
		t.APIURL = f.apiURL
	}
	if err := t.Check(); err != nil {
		if t.Token == "" {
			err = fmt.Errorf("%w (set GITHUB_TOKEN: in a workflow, env: {GITHUB_TOKEN: ${{ github.token }}})", err)
		}
		return t, err
	}
	return t, nil
}

// publish reports res and says where it went.
func (f *reportFlags) publish(cmd *cobra.Command, t githubreport.Target, res githubreport.Result) error {
	p, err := githubreport.Publish(cmd.Context(), t, res)
	out := cmd.OutOrStdout()
	if p != nil {
		if p.CheckRunURL != "" {
			fmt.Fprintf(out, "GitHub: check run %q %s (%s, %s, %d annotation(s)): %s\n", githubreport.CheckName, did(p.CheckRunReused, "updated", "created"), t.HeadSHA[:7], res.Conclusion(), p.Annotations, p.CheckRunURL)
		}
		if p.CommentURL != "" {
			fmt.Fprintf(out, "GitHub: summary comment %s: %s\n", did(p.CommentEdited, "edited", "created"), p.CommentURL)
		}
	}
	return err
}

func did(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

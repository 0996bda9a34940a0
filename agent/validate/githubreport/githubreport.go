// Package githubreport puts the result of `streamspace validate` (and its
// --impact forecast) on a GitHub pull request: a check run on the pull
// request's head commit, its conclusion from validate's errors and each
// problem annotated on its file and line, and one summary comment that
// every later push edits in place rather than adding another.
package githubreport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/streamspace/streamspace/agent/validate"
)

// CheckName is the check run's name: with the head commit, what finds the
// run again when validate runs twice on one commit.
const CheckName = "streamspace validate"

// Marker starts the summary comment; the next push finds the comment by it
// and edits it. It is an HTML comment, so GitHub does not show it.
const Marker = "<!-- streamspace validate report -->"

// maxAnnotations is how many annotations GitHub takes in one request.
const maxAnnotations = 50

// maxBody keeps a comment and a check run summary under GitHub's 65,536
// characters, with room for the text around the listings.
const maxBody = 60000

// Target is the pull request to report on.
type Target struct {
	// APIURL is the REST API: https://api.github.com, or a GitHub
	// Enterprise server's https://host/api/v3 ($GITHUB_API_URL in Actions).
	APIURL      string
	Owner, Repo string
	PullRequest int
	// HeadSHA is the pull request's head commit, which the check run is
	// attached to (not the merge commit a pull_request workflow checks out).
	HeadSHA string
	// Token needs checks: write and pull-requests: write; the Checks API
	// takes a GitHub App's token (Actions' GITHUB_TOKEN is one), not a
	// personal one.
	Token string
}

var (
	ownerRepoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	shaRE       = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// Check names what is missing or malformed in t.
func (t Target) Check() error {
	var missing []string
	switch {
	case t.Owner == "" || t.Repo == "":
		missing = append(missing, "the repository (owner/name)")
	case !ownerRepoRE.MatchString(t.Owner) || !ownerRepoRE.MatchString(t.Repo):
		return fmt.Errorf("repository %q/%q: want owner/name", t.Owner, t.Repo)
	}
	if t.PullRequest <= 0 {
		missing = append(missing, "the pull request number")
	}
	switch {
	case t.HeadSHA == "":
		missing = append(missing, "the head commit SHA")
	case !shaRE.MatchString(t.HeadSHA):
		return fmt.Errorf("head commit %q: want a full 40-character lowercase hex SHA", t.HeadSHA)
	}
	if t.Token == "" {
		missing = append(missing, "a token")
	}
	if len(missing) > 0 {
		return fmt.Errorf("GitHub report: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// Result is what validate found.
type Result struct {
	// Root is the repository folder validate ran on; problem files are
	// relative to it, annotations to the folder validate ran in.
	Root     string
	Problems []validate.Problem
	Objects  int
	// Impact is nil when it was not forecast; NoImpact then says why.
	Impact   *validate.Impact
	NoImpact string
}

// Conclusion is the check run's: failure when validate has errors, neutral
// when it has only warnings, success otherwise.
func (r Result) Conclusion() string {
	switch {
	case validate.Errors(r.Problems) > 0:
		return "failure"
	case len(r.Problems) > 0:
		return "neutral"
	}
	return "success"
}

// Published says where the report went.
type Published struct {
	CheckRunURL    string
	CheckRunReused bool // an existing run of this commit was updated
	CommentURL     string
	CommentEdited  bool // the comment of an earlier push was edited
	Annotations    int
}

// Publish reports r on the pull request: the check run first (the comment
// links to it), then the comment. Published says what was done, also when
// the error says what was not.
func Publish(ctx context.Context, t Target, r Result) (*Published, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	gh, err := client(t)
	if err != nil {
		return nil, err
	}
	// One failing does not stop the other: a token that may comment but
	// not create check runs still gets the summary on the pull request.
	p := &Published{}
	var errs []error
	if err := publishCheckRun(ctx, gh, t, r, p); err != nil {
		errs = append(errs, explain(err, t, "check run"))
	}
	if err := publishComment(ctx, gh, t, r, p); err != nil {
		errs = append(errs, explain(err, t, "comment"))
	}
	return p, errors.Join(errs...)
}

func client(t Target) (*github.Client, error) {
	opts := []github.ClientOptionsFunc{
		github.WithAuthToken(t.Token),
		github.WithUserAgent("streamspace-validate"),
		github.WithTimeout(30 * time.Second),
	}
	if api := strings.TrimSuffix(t.APIURL, "/"); api != "" && api != "https://api.github.com" {
		opts = append(opts, github.WithEnterpriseURLs(api, api))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("GitHub API client for %s: %w", t.APIURL, err)
	}
	return c, nil
}

// explain wraps a GitHub error with what was being done and, for the
// refusals people meet, what to change. The token is never part of it:
// go-github's errors carry the method, URL, status and GitHub's message.
func explain(err error, t Target, what string) error {
	hint := ""
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		switch resp.Response.StatusCode {
		case http.StatusUnauthorized:
			hint = " (the token is not accepted: check GITHUB_TOKEN)"
		case http.StatusForbidden, http.StatusNotFound:
			if what == "check run" {
				hint = " (the workflow needs `permissions: checks: write`, and the Checks API takes a GitHub App's token such as Actions' GITHUB_TOKEN, not a personal one; a pull request from a fork gets a read-only token)"
			} else {
				hint = " (the workflow needs `permissions: pull-requests: write`; a pull request from a fork gets a read-only token)"
			}
		}
	}
	msg := fmt.Sprintf("GitHub report on %s/%s#%d: %s: %v%s", t.Owner, t.Repo, t.PullRequest, what, err, hint)
	if t.Token != "" {
		msg = strings.ReplaceAll(msg, t.Token, "***") // belt and braces: never echo the token
	}
	return errors.New(msg)
}

// publishCheckRun creates the check run of the head commit, or updates the
// one an earlier run on the same commit made, then adds the annotations
// 50 at a time and completes it with the last batch.
func publishCheckRun(ctx context.Context, gh *github.Client, t Target, r Result, p *Published) error {
	title, summary := checkTitle(r), render(r, t, "")
	annotations := annotationsOf(r)
	p.Annotations = len(annotations)

	existing, _, err := gh.Checks.ListCheckRunsForRef(ctx, t.Owner, t.Repo, t.HeadSHA, &github.ListCheckRunsOptions{CheckName: github.Ptr(CheckName), Filter: github.Ptr("latest")})
	if err != nil {
		return fmt.Errorf("find the check run of %s: %w", t.HeadSHA, err)
	}
	var run *github.CheckRun
	for _, c := range existing.CheckRuns {
		// Annotations only add up on an update: a run that has some
		// would show them twice, so a new run replaces it (GitHub shows
		// the newest run of a name on a commit).
		if c.GetName() == CheckName && c.GetOutput().GetAnnotationsCount() == 0 {
			run, p.CheckRunReused = c, true
			break
		}
	}
	batch := func(i int) []*github.CheckRunAnnotation {
		return annotations[min(i, len(annotations)):min(i+maxAnnotations, len(annotations))]
	}
	output := func(i int) *github.CheckRunOutput {
		return &github.CheckRunOutput{Title: github.Ptr(title), Summary: github.Ptr(summary), Annotations: batch(i)}
	}
	last := len(annotations) <= maxAnnotations
	status, conclusion, completedAt := completion(r, last)
	if run == nil {
		run, _, err = gh.Checks.CreateCheckRun(ctx, t.Owner, t.Repo, github.CreateCheckRunOptions{
			Name: CheckName, HeadSHA: t.HeadSHA, Status: status, Conclusion: conclusion, CompletedAt: completedAt, Output: output(0),
		})
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
	} else {
		run, _, err = gh.Checks.UpdateCheckRun(ctx, t.Owner, t.Repo, run.GetID(), github.UpdateCheckRunOptions{
			Name: CheckName, Status: status, Conclusion: conclusion, CompletedAt: completedAt, Output: output(0),
		})
		if err != nil {
			return fmt.Errorf("update %d: %w", run.GetID(), err)
		}
	}
	for i := maxAnnotations; i < len(annotations); i += maxAnnotations {
		status, conclusion, completedAt := completion(r, i+maxAnnotations >= len(annotations))
		if _, _, err := gh.Checks.UpdateCheckRun(ctx, t.Owner, t.Repo, run.GetID(), github.UpdateCheckRunOptions{
			Name: CheckName, Status: status, Conclusion: conclusion, CompletedAt: completedAt, Output: output(i),
		}); err != nil {
			return fmt.Errorf("add annotations %d–%d of %d: %w", i+1, i+len(batch(i)), len(annotations), err)
		}
	}
	p.CheckRunURL = run.GetHTMLURL()
	return nil
}

// completion is in_progress until the last batch of annotations is sent.
func completion(r Result, last bool) (*string, *string, *github.Timestamp) {
	if !last {
		return github.Ptr("in_progress"), nil, nil
	}
	return github.Ptr("completed"), github.Ptr(r.Conclusion()), &github.Timestamp{Time: time.Now()}
}

// annotationsOf are the problems on their lines: errors as failures,
// warnings as warnings. Paths are relative to the folder validate runs
// in, the repository's root in a workflow (as --output github writes them).
func annotationsOf(r Result) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, p := range r.Problems {
		level := "failure"
		if p.Warning {
			level = "warning"
		}
		line := max(p.Line, 1)
		out = append(out, &github.CheckRunAnnotation{
			Path:            github.Ptr(filepath.ToSlash(filepath.Join(r.Root, p.File))),
			StartLine:       github.Ptr(line),
			EndLine:         github.Ptr(line),
			AnnotationLevel: github.Ptr(level),
			Message:         github.Ptr(p.Message),
			Title:           github.Ptr(CheckName),
		})
	}
	return out
}

// publishComment edits the comment an earlier push made (the first one
// that starts with Marker), else adds one.
func publishComment(ctx context.Context, gh *github.Client, t Target, r Result, p *Published) error {
	body := Marker + "\n" + render(r, t, p.CheckRunURL)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		comments, resp, err := gh.Issues.ListComments(ctx, t.Owner, t.Repo, t.PullRequest, opts)
		if err != nil {
			return fmt.Errorf("list the comments: %w", err)
		}
		for _, c := range comments {
			if strings.HasPrefix(c.GetBody(), Marker) {
				edited, _, err := gh.Issues.EditComment(ctx, t.Owner, t.Repo, c.GetID(), &github.IssueComment{Body: github.Ptr(body)})
				if err != nil {
					return fmt.Errorf("edit comment %d: %w", c.GetID(), err)
				}
				p.CommentURL, p.CommentEdited = edited.GetHTMLURL(), true
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	created, _, err := gh.Issues.CreateComment(ctx, t.Owner, t.Repo, t.PullRequest, &github.IssueComment{Body: github.Ptr(body)})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	p.CommentURL = created.GetHTMLURL()
	return nil
}

package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-github/v89/github"
)

// newGitHubClient builds the API client; a BaseURL is a GitHub Enterprise
// host (go-github appends /api/v3/ unless it is there already).
func newGitHubClient(cfg *GitHubConfig) (*github.Client, error) {
	opts := []github.ClientOptionsFunc{
		github.WithAuthToken(cfg.Token),
		github.WithUserAgent("streamspace-portal"),
		github.WithTimeout(30 * time.Second),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, github.WithEnterpriseURLs(cfg.BaseURL, cfg.BaseURL))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("GitHub API client for %s/%s: %w", cfg.Owner, cfg.Repo, err)
	}
	return c, nil
}

// openPullRequest asks GitHub to merge head into base.
func (w *Writer) openPullRequest(ctx context.Context, head, title, body string) (*github.PullRequest, error) {
	gh := w.cfg.GitHub
	pr, _, err := w.github.PullRequests.Create(ctx, gh.Owner, gh.Repo, &github.NewPullRequest{
		Title:               github.Ptr(title),
		Head:                github.Ptr(head),
		Base:                github.Ptr(w.cfg.Branch),
		Body:                github.Ptr(body),
		MaintainerCanModify: github.Ptr(true),
	})
	if err != nil {
		var resp *github.ErrorResponse
		if errors.As(err, &resp) && resp.Response != nil &&
			(resp.Response.StatusCode == http.StatusUnauthorized || resp.Response.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w: open a pull request on %s/%s: %v (check the portal's GitHub token and that it may open pull requests)", ErrAuthentication, gh.Owner, gh.Repo, err)
		}
		return nil, fmt.Errorf("open a pull request on %s/%s: %w", gh.Owner, gh.Repo, err)
	}
	if pr.GetHTMLURL() == "" {
		return nil, fmt.Errorf("open a pull request on %s/%s: GitHub answered without the pull request's URL", gh.Owner, gh.Repo)
	}
	return pr, nil
}

package githubreport

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// FromActions reads the target from a GitHub Actions job's environment:
// GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_TOKEN (which the workflow
// passes in its env), and the pull request's number and head commit from
// the event payload at GITHUB_EVENT_PATH. What is not there stays empty,
// for flags to fill in; Target.Check names what is still missing.
func FromActions(getenv func(string) string) (Target, error) {
	t := Target{APIURL: getenv("GITHUB_API_URL"), Token: getenv("GITHUB_TOKEN")}
	if t.APIURL == "" {
		t.APIURL = "https://api.github.com"
	}
	if repo := getenv("GITHUB_REPOSITORY"); repo != "" {
		t.Owner, t.Repo, _ = strings.Cut(repo, "/")
	}
	path := getenv("GITHUB_EVENT_PATH")
	if path == "" {
		return t, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("GITHUB_EVENT_PATH: %w", err)
	}
	// pull_request and pull_request_target events carry the pull request;
	// others (push, workflow_dispatch) do not, and flags must say which.
	var event struct {
		PullRequest *struct {
			Number int `json:"number"`
			Head   struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(data, &event); err != nil {
		return t, fmt.Errorf("GITHUB_EVENT_PATH %s: %w", path, err)
	}
	if event.PullRequest != nil {
		t.PullRequest, t.HeadSHA = event.PullRequest.Number, event.PullRequest.Head.SHA
	}
	return t, nil
}

// Package githubtest stands in for the GitHub Enterprise REST API
// (/api/v3) of one repository in tests: the calls StreamSpace makes —
// open a pull request (the portal's write-back), create, update and list
// check runs and create, list and edit pull request comments (validate's
// report) — answered with GitHub's status codes, limits and error shapes,
// and kept in memory so that a test reads what GitHub would show.
package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The limits GitHub enforces on what validate's report sends.
const (
	MaxAnnotationsPerRequest = 50    // check run output annotations in one request
	MaxCheckRunSummary       = 65535 // characters of a check run's output summary
	MaxCommentBody           = 65536 // characters of a comment
)

// Call is one request the stand-in received.
type Call struct {
	Method, Path, Query, Authorization, Accept string
	Body                                       []byte
}

// PullRequestCall is one request to open a pull request, its body decoded.
type PullRequestCall struct {
	Method, Path, Authorization, Accept string
	Body                                struct {
		Title, Head, Base, Body string
		MaintainerCanModify     *bool `json:"maintainer_can_modify"`
	}
}

// Annotation is a check run annotation as GitHub stores it.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
}

// CheckRun is a check run as GitHub stores it; Annotations accumulate over
// updates, as GitHub's do.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
}

// Comment is an issue (pull request) comment; Edits counts its edits.
type Comment struct {
	ID     int64
	Issue  int
	Body   string
	Author string
	Edits  int
}

// Server is the stand-in. Requests are authorized with "Bearer <token>".
type Server struct {
	*httptest.Server
	owner, repo, token string
	// Author is the login comments are created as (the token's user).
	Author string

	mu        sync.Mutex
	calls     []Call
	pulls     int
	checkRuns []*CheckRun
	comments  []*Comment
	nextID    int64
	refusals  []refusal
}

type refusal struct {
	method string
	path   *regexp.Regexp
	status int
	body   string
}

// New starts a stand-in for owner/repo that accepts token, stopped when
// the test ends.
func New(t testing.TB, owner, repo, token string) *Server {
	s := &Server{owner: owner, repo: repo, token: token, Author: "github-actions[bot]", nextID: 1000}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Refuse makes every later request whose method is method and whose path
// (below /api/v3/repos/owner/repo) matches the regular expression path
// answer status with GitHub's error body carrying message.
func (s *Server) Refuse(method, path string, status int, message string) {
	body, _ := json.Marshal(map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, refusal{method, regexp.MustCompile("^" + path + "$"), status, string(body)})
}

// AddComment puts a comment on the pull request as author, as if someone
// had written it.
func (s *Server) AddComment(issue int, author, body string) *Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: issue, Body: body, Author: author}
	s.comments = append(s.comments, c)
	return c
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Authorization: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")

	prefix := fmt.Sprintf("/api/v3/repos/%s/%s", s.owner, s.repo)
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	if call.Authorization != "Bearer "+s.token {
		fail(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	for _, rf := range s.refusals {
		if rf.method == r.Method && rf.path.MatchString(path) {
			w.WriteHeader(rf.status)
			fmt.Fprint(w, rf.body)
			return
		}
	}
	var m []string
	route := func(method, pattern string) bool {
		if r.Method != method {
			return false
		}
		m = regexp.MustCompile("^" + pattern + "$").FindStringSubmatch(path)
		return m != nil
	}
	switch {
	case route(http.MethodPost, "/pulls"):
		s.createPull(w, body)
	case route(http.MethodPost, "/check-runs"):
		s.createCheckRun(w, body)
	case route(http.MethodPatch, `/check-runs/(\d+)`):
		s.updateCheckRun(w, atoi(m[1]), body)
	case route(http.MethodGet, `/commits/([^/]+)/check-runs`):
		s.listCheckRuns(w, m[1], r.URL.Query())
	case route(http.MethodGet, `/issues/(\d+)/comments`):
		s.listComments(w, r, int(atoi(m[1])))
	case route(http.MethodPost, `/issues/(\d+)/comments`):
		s.createComment(w, int(atoi(m[1])), body)
	case route(http.MethodPatch, `/issues/comments/(\d+)`):
		s.editComment(w, atoi(m[1]), body)
	default:
		fail(w, http.StatusNotFound, "Not Found")
	}
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func fail(w http.ResponseWriter, status int, message string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) createPull(w http.ResponseWriter, body []byte) {
	var pr PullRequestCall
	err := json.Unmarshal(body, &pr.Body)
	if err != nil || pr.Body.Title == "" || pr.Body.Head == "" || pr.Body.Base == "" {
		reply(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "PullRequest", "code": "missing_field"}}})
		return
	}
	s.pulls++
	number := 41 + s.pulls
	reply(w, http.StatusCreated, map[string]any{
		"id":       1000 + number,
		"number":   number,
		"state":    "open",
		"title":    pr.Body.Title,
		"body":     pr.Body.Body,
		"url":      fmt.Sprintf("https://github.example.com/api/v3/repos/%s/%s/pulls/%d", s.owner, s.repo, number),
		"html_url": fmt.Sprintf("https://github.example.com/%s/%s/pull/%d", s.owner, s.repo, number),
		"head":     map[string]any{"ref": pr.Body.Head, "label": s.owner + ":" + pr.Body.Head},
		"base":     map[string]any{"ref": pr.Body.Base, "label": s.owner + ":" + pr.Body.Base},
		"user":     map[string]any{"login": "streamspace-bot"},
	})
}

// checkRunRequest is the body of a create or update.
type checkRunRequest struct {
	Name       *string `json:"name"`
	HeadSHA    *string `json:"head_sha"`
	Status     *string `json:"status"`
	Conclusion *string `json:"conclusion"`
	Output     *struct {
		Title       *string      `json:"title"`
		Summary     *string      `json:"summary"`
		Text        *string      `json:"text"`
		Annotations []Annotation `json:"annotations"`
	} `json:"output"`
}

var (
	statuses    = map[string]bool{"queued": true, "in_progress": true, "completed": true}
	conclusions = map[string]bool{"success": true, "failure": true, "neutral": true, "cancelled": true, "skipped": true, "timed_out": true, "action_required": true}
	levels      = map[string]bool{"notice": true, "warning": true, "failure": true}
)

// apply checks req as GitHub does and applies it to run; it returns the
// validation message, or "".
func (req *checkRunRequest) apply(run *CheckRun) string {
	if req.Name != nil {
		run.Name = *req.Name
	}
	if req.Status != nil {
		if !statuses[*req.Status] {
			return "Invalid request.\n\nstatus " + *req.Status + " is not a member of [queued, in_progress, completed]"
		}
		run.Status = *req.Status
	}
	if req.Conclusion != nil {
		if !conclusions[*req.Conclusion] {
			return "Invalid request.\n\nconclusion " + *req.Conclusion + " is not a valid conclusion"
		}
		run.Conclusion, run.Status = *req.Conclusion, "completed"
	}
	if run.Status == "completed" && run.Conclusion == "" {
		return "Invalid request.\n\nconclusion is required when status is completed"
	}
	if o := req.Output; o != nil {
		if o.Title == nil || o.Summary == nil {
			return "Invalid request.\n\nNo subschema in \"anyOf\" matched: output needs title and summary"
		}
		if len(*o.Summary) > MaxCheckRunSummary || (o.Text != nil && len(*o.Text) > MaxCheckRunSummary) {
			return "Invalid request.\n\nOnly 65535 characters are allowed in output.summary and output.text"
		}
		if len(o.Annotations) > MaxAnnotationsPerRequest {
			return fmt.Sprintf("Invalid request.\n\nOnly %d annotations are allowed per request", MaxAnnotationsPerRequest)
		}
		for _, a := range o.Annotations {
			if a.Path == "" || a.StartLine < 1 || a.EndLine < a.StartLine || !levels[a.AnnotationLevel] || a.Message == "" {
				return fmt.Sprintf("Invalid request.\n\nannotation %+v: path, start_line ≥ 1, end_line, annotation_level (notice, warning, failure) and message are required", a)
			}
		}
		run.Title, run.Summary = *o.Title, *o.Summary
		if o.Text != nil {
			run.Text = *o.Text
		}
		run.Annotations = append(run.Annotations, o.Annotations...)
	}
	return ""
}

func (s *Server) createCheckRun(w http.ResponseWriter, body []byte) {
	var req checkRunRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if req.Name == nil || *req.Name == "" || req.HeadSHA == nil || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(*req.HeadSHA) {
		fail(w, http.StatusUnprocessableEntity, "Invalid request.\n\nname and head_sha (a commit SHA) are required")
		return
	}
	run := &CheckRun{HeadSHA: *req.HeadSHA, Status: "queued"}
	if msg := req.apply(run); msg != "" {
		fail(w, http.StatusUnprocessableEntity, msg)
		return
	}
	s.nextID++
	run.ID = s.nextID
	s.checkRuns = append(s.checkRuns, run)
	reply(w, http.StatusCreated, s.checkRunJSON(run))
}

func (s *Server) updateCheckRun(w http.ResponseWriter, id int64, body []byte) {
	var req checkRunRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	for _, run := range s.checkRuns {
		if run.ID == id {
			next := *run
			next.Annotations = append([]Annotation(nil), run.Annotations...)
			if msg := req.apply(&next); msg != "" {
				fail(w, http.StatusUnprocessableEntity, msg)
				return
			}
			*run = next
			reply(w, http.StatusOK, s.checkRunJSON(run))
			return
		}
	}
	fail(w, http.StatusNotFound, "Not Found")
}

func (s *Server) checkRunJSON(run *CheckRun) map[string]any {
	return map[string]any{
		"id": run.ID, "name": run.Name, "head_sha": run.HeadSHA, "status": run.Status, "conclusion": nilIfEmpty(run.Conclusion),
		"html_url": fmt.Sprintf("https://github.example.com/%s/%s/runs/%d", s.owner, s.repo, run.ID),
		"output":   map[string]any{"title": run.Title, "summary": run.Summary, "text": run.Text, "annotations_count": len(run.Annotations)},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// listCheckRuns answers the check runs of a commit, newest first; with
// check_name, only those of that name.
func (s *Server) listCheckRuns(w http.ResponseWriter, ref string, q url.Values) {
	runs := []map[string]any{}
	for i := len(s.checkRuns) - 1; i >= 0; i-- {
		run := s.checkRuns[i]
		if run.HeadSHA == ref && (q.Get("check_name") == "" || q.Get("check_name") == run.Name) {
			runs = append(runs, s.checkRunJSON(run))
		}
	}
	reply(w, http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": runs})
}

// listComments pages as GitHub does: per_page (default 30, at most 100),
// page, and a Link header naming the next page.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request, issue int) {
	var all []*Comment
	for _, c := range s.comments {
		if c.Issue == issue {
			all = append(all, c)
		}
	}
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	if to < len(all) {
		next := *r.URL
		q := next.Query()
		q.Set("page", strconv.Itoa(page+1))
		q.Set("per_page", strconv.Itoa(perPage))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, next.RequestURI()))
	}
	out := []map[string]any{}
	for _, c := range all[from:to] {
		out = append(out, s.commentJSON(c))
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	return map[string]any{
		"id": c.ID, "body": c.Body, "user": map[string]any{"login": c.Author},
		"html_url": fmt.Sprintf("https://github.example.com/%s/%s/pull/%d#issuecomment-%d", s.owner, s.repo, c.Issue, c.ID),
	}
}

func commentBody(w http.ResponseWriter, body []byte) (string, bool) {
	var req struct{ Body *string }
	if err := json.Unmarshal(body, &req); err != nil || req.Body == nil || *req.Body == "" {
		fail(w, http.StatusUnprocessableEntity, "Validation Failed: body is missing")
		return "", false
	}
	if len([]rune(*req.Body)) > MaxCommentBody {
		fail(w, http.StatusUnprocessableEntity, "Validation Failed: body is too long (maximum is 65536 characters)")
		return "", false
	}
	return *req.Body, true
}

func (s *Server) createComment(w http.ResponseWriter, issue int, body []byte) {
	text, ok := commentBody(w, body)
	if !ok {
		return
	}
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: issue, Body: text, Author: s.Author}
	s.comments = append(s.comments, c)
	reply(w, http.StatusCreated, s.commentJSON(c))
}

func (s *Server) editComment(w http.ResponseWriter, id int64, body []byte) {
	text, ok := commentBody(w, body)
	if !ok {
		return
	}
	for _, c := range s.comments {
		if c.ID == id {
			c.Body = text
			c.Edits++
			reply(w, http.StatusOK, s.commentJSON(c))
			return
		}
	}
	fail(w, http.StatusNotFound, "Not Found")
}

// Calls are the requests received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// PullRequests are the requests to open a pull request, in order.
func (s *Server) PullRequests() []PullRequestCall {
	var out []PullRequestCall
	for _, c := range s.Calls() {
		if c.Method != http.MethodPost || !strings.HasSuffix(c.Path, "/pulls") {
			continue
		}
		pr := PullRequestCall{Method: c.Method, Path: c.Path, Authorization: c.Authorization, Accept: c.Accept}
		_ = json.Unmarshal(c.Body, &pr.Body)
		out = append(out, pr)
	}
	return out
}

// CheckRuns are the check runs created, in order, as they stand now.
func (s *Server) CheckRuns() []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckRun, len(s.checkRuns))
	for i, r := range s.checkRuns {
		out[i] = *r
		out[i].Annotations = append([]Annotation(nil), r.Annotations...)
	}
	return out
}

// Comments are the comments of a pull request, oldest first.
func (s *Server) Comments(issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Issue == issue {
			out = append(out, *c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

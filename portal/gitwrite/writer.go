// Package writeback turns an admin's edit of a Template or a Quota in the
// portal into Git: a commit on a new branch and a pull request on GitHub,
// or a commit straight onto the synced branch of a plain Git remote. The
// portal never writes the object to the cluster; the agent applies it from
// Git like any other change.
package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-github/v89/github"
)

// Writer proposes changes to one repository. It is safe for concurrent
// use: each Propose works in its own clone.
type Writer struct {
	cfg    Config
	auth   transport.AuthMethod
	github *github.Client

	// direct serialises commits onto the synced branch, so that two admins
	// of this portal never race each other to the same ref; writers outside
	// it are handled by the retry in Propose.
	direct sync.Mutex

	now func() time.Time
	// beforePush runs between commit and push; tests use it to move the
	// branch under a running write-back.
	beforePush func()
}

// New checks cfg and returns a Writer for it. Nothing is contacted yet.
func New(cfg Config) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := cfg.authMethod()
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, auth: auth, now: time.Now}
	if cfg.GitHub != nil {
		if w.github, err = newGitHubClient(cfg.GitHub); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Mode is ModePullRequest when the writer opens pull requests, else
// ModeCommit.
func (w *Writer) Mode() string {
	if w.cfg.GitHub != nil {
		return ModePullRequest
	}
	return ModeCommit
}

// Propose writes c to Git: with GitHub configured, as a commit on a new
// branch streamspace/<kind>-<name>-<time>-<short hash> and a pull request against the
// synced branch; otherwise as a commit on the synced branch itself.
//
// It edits the one document that defines the object, in place: the other
// documents of the file stay byte for byte, and so do the document's
// comments and the lines of fields that did not change. It returns
// ErrNoChange (and commits nothing) when Git already holds the object,
// ErrNotFound or ErrAmbiguous when no document or several define it,
// ErrAuthentication when the credentials are refused, and ErrConflict when
// the branch kept moving.
func (w *Writer) Propose(ctx context.Context, c Change) (*Result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	var edited, base map[string]any
	if c.Op == OpEdit {
		var err error
		if edited, err = desired(c.Object); err != nil {
			return nil, fmt.Errorf("%w: %s %s: %v", ErrInvalidChange, c.Kind, c.Name, err)
		}
	}
	if c.Op == OpEdit && !isNil(c.Base) {
		var err error
		if base, err = desired(c.Base); err != nil {
			return nil, fmt.Errorf("%w: %s %s: base: %v", ErrInvalidChange, c.Kind, c.Name, err)
		}
	}
	if w.cfg.GitHub != nil {
		return w.attempt(ctx, c, edited, base)
	}
	w.direct.Lock()
	defer w.direct.Unlock()
	res, err := w.attempt(ctx, c, edited, base)
	if errors.Is(err, ErrConflict) {
		// Someone else pushed between our clone and our push. Start again
		// from their commit: the change is re-applied to the file as it is
		// now (and may turn out to be there already), never forced.
		res, err = w.attempt(ctx, c, edited, base)
	}
	return res, err
}

// attempt is one clone, edit, commit and push, in a directory of its own.
func (w *Writer) attempt(ctx context.Context, c Change, edited, base map[string]any) (*Result, error) {
	dir, err := os.MkdirTemp("", "streamspace-writeback-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	repo, err := w.clone(ctx, dir)
	if err != nil {
		return nil, err
	}
	var res *Result
	switch c.Op {
	case OpCreate:
		res, err = create(dir, w.cfg.Paths, c)
	case OpDelete:
		res, err = remove(dir, w.cfg.Paths, c)
	default:
		res, err = rewrite(dir, w.cfg.Paths, c, edited, base)
	}
	if err != nil {
		return nil, err
	}
	now := w.now()
	commit, err := w.commit(dir, repo, res.Files, commitMessage(c, res.File, res.Changes), now)
	if err != nil {
		return nil, err
	}
	res.Commit = commit.Hash.String()
	if w.beforePush != nil {
		w.beforePush()
	}

	if w.cfg.GitHub == nil {
		if err := w.push(ctx, repo, w.cfg.Branch, commit.ParentHashes[0]); err != nil {
			return nil, err
		}
		res.Mode, res.Branch = ModeCommit, w.cfg.Branch
		return res, nil
	}
	return w.pullRequest(ctx, repo, c, commit, res, now)
}

// rewrite finds the object's document in the clone at dir and writes the
// change into its file. The Result it returns names the file, the changed
// fields and the warnings.
func rewrite(dir string, paths []string, c Change, edited, base map[string]any) (*Result, error) {
	doc, warnings, err := locate(dir, paths, c.Kind, c.Name)
	if err != nil {
		return nil, err
	}
	canon, err := canonical(doc.body(), c.Object)
	if err != nil {
		return nil, fmt.Errorf("%s %s in %s: %w", c.Kind, c.Name, doc.file, err)
	}
	want := edited
	if base != nil {
		want = rebase(canon, base, edited)
	}
	changes := fieldChanges(canon, want)
	if len(changes) == 0 {
		return nil, fmt.Errorf("%w: %s %s in %s already is as asked", ErrNoChange, c.Kind, c.Name, doc.file)
	}
	body, err := editDocument(doc.body(), doc.node, canon, want)
	if err != nil {
		return nil, fmt.Errorf("edit %s %s in %s: %w", c.Kind, c.Name, doc.file, err)
	}
	if string(body) == string(doc.body()) {
		return nil, fmt.Errorf("%w: %s %s in %s already is as asked", ErrNoChange, c.Kind, c.Name, doc.file)
	}
	path := filepath.Join(dir, filepath.FromSlash(doc.file))
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, doc.replaced(body), info.Mode().Perm()); err != nil {
		return nil, err
	}
	return &Result{File: doc.file, Files: []string{doc.file}, Changes: changes, Warnings: warnings}, nil
}

// pullRequest pushes the commit to a new branch and opens a pull request
// for it; if GitHub refuses, the branch is removed again.
func (w *Writer) pullRequest(ctx context.Context, repo *git.Repository, c Change, commit *object.Commit, res *Result, now time.Time) (*Result, error) {
	diff, err := patch(commit)
	if err != nil {
		return nil, fmt.Errorf("diff of %s: %w", commit.Hash, err)
	}
	op := ""
	if c.Op != OpEdit {
		op = string(c.Op) + "-"
	}
	// The commit's short hash keeps two changes to one object within the
	// same second (approve, then enable) on branches of their own.
	branch := fmt.Sprintf("streamspace/%s%s-%s-%s-%s", op, strings.ToLower(c.Kind), c.Name, now.UTC().Format("20060102-150405"), commit.Hash.String()[:7])
	if err := w.push(ctx, repo, branch, plumbing.ZeroHash); err != nil {
		return nil, err
	}
	pr, err := w.openPullRequest(ctx, branch, title(c, res.Changes), pullRequestBody(c, w.cfg.Branch, res.File, res.Changes, res.Warnings, diff))
	if err != nil {
		// Use a context of its own: ctx may be what just ran out.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := w.deleteBranch(cleanup, repo, branch); derr != nil {
			return nil, fmt.Errorf("%w (and branch %s stays behind: %v)", err, branch, derr)
		}
		return nil, err
	}
	res.Mode, res.Branch, res.URL, res.Number = ModePullRequest, branch, pr.GetHTMLURL(), pr.GetNumber()
	return res, nil
}

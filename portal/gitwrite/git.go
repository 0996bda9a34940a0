package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// clone fetches only the tip of the branch: a write-back needs the files
// and the commit to build on, not the history.
func (w *Writer) clone(ctx context.Context, dir string) (*git.Repository, error) {
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
		URL:           w.cfg.URL,
		Auth:          w.auth,
		ReferenceName: plumbing.NewBranchReferenceName(w.cfg.Branch),
		SingleBranch:  true,
		Depth:         1,
		Tags:          git.NoTags,
	})
	if err != nil {
		var noRef git.NoMatchingRefSpecError
		if errors.As(err, &noRef) || errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, fmt.Errorf("branch %q not found in %s: %w", w.cfg.Branch, redact(w.cfg.URL), err)
		}
		return nil, w.remoteError("clone", err)
	}
	return repo, nil
}

// commit records files (written or removed in the clone at dir) as the
// bot, at now.
func (w *Writer) commit(dir string, repo *git.Repository, files []string, message string, now time.Time) (*object.Commit, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		stage := wt.Add
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(file))); errors.Is(err, fs.ErrNotExist) {
			stage = wt.Remove
		}
		if _, err := stage(file); err != nil {
			return nil, fmt.Errorf("stage %s: %w", file, err)
		}
	}
	file := strings.Join(files, ", ")
	sig := &object.Signature{Name: w.cfg.Author.Name, Email: w.cfg.Author.Email, When: now}
	hash, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", file, err)
	}
	return repo.CommitObject(hash)
}

// push sends the local branch to dst on the remote. It never forces. With
// base set, dst must still be at base (the commit the change was built on):
// if anyone pushed since the clone, that is an ErrConflict and the caller
// decides whether to start over. A shallow clone cannot tell a
// fast-forward from a rewrite by itself, so the check is this
// compare-and-swap rather than go-git's ancestry walk.
func (w *Writer) push(ctx context.Context, repo *git.Repository, dst string, base plumbing.Hash) error {
	ref := plumbing.NewBranchReferenceName(dst)
	opts := &git.PushOptions{
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(plumbing.NewBranchReferenceName(w.cfg.Branch).String() + ":" + ref.String())},
		Auth:       w.auth,
	}
	if !base.IsZero() {
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(base.String() + ":" + ref.String())}
	}
	err := repo.PushContext(ctx, opts)
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, plumbing.ErrObjectNotFound):
		// go-git walked back from our commit looking for the remote's and
		// left the shallow history: dst holds commits we never fetched.
		return fmt.Errorf("%w: push branch %s to %s: the branch already exists with other commits", ErrConflict, dst, redact(w.cfg.URL))
	default:
		return w.remoteError("push branch "+dst+" to", err)
	}
}

// deleteBranch removes a branch this writer pushed, when its pull request
// could not be opened: a branch nobody will review is clutter.
func (w *Writer) deleteBranch(ctx context.Context, repo *git.Repository, branch string) error {
	spec := config.RefSpec(":" + plumbing.NewBranchReferenceName(branch).String())
	err := repo.PushContext(ctx, &git.PushOptions{RemoteName: git.DefaultRemoteName, RefSpecs: []config.RefSpec{spec}, Auth: w.auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return w.remoteError("delete branch "+branch+" from", err)
	}
	return nil
}

// patch is the commit's diff against its parent, as git shows it.
func patch(c *object.Commit) (string, error) {
	parent, err := c.Parent(0)
	if err != nil {
		return "", err
	}
	p, err := parent.Patch(c)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// remoteError names what failed against which remote, and wraps
// ErrAuthentication or ErrConflict when that is what it is.
func (w *Writer) remoteError(op string, err error) error {
	url := redact(w.cfg.URL)
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%w: %s %s: %v (check the portal's write-back token or SSH key, and that it may push)", ErrAuthentication, op, url, err)
	case strings.Contains(msg, "required to be"), strings.Contains(msg, "non-fast-forward"), strings.Contains(msg, "fetch first"),
		strings.Contains(msg, "failed to update ref"), strings.Contains(msg, "cannot lock ref"):
		return fmt.Errorf("%w: %s %s: %v", ErrConflict, op, url, err)
	default:
		return fmt.Errorf("%s %s: %w", op, url, err)
	}
}

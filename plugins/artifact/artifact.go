// Package artifact reads a plugin's files from its PluginRepository at a
// pinned commit, with the Git source the agent uses for every repository
// (auth, pinned ssh host keys): the agent's Plugin controller resolves a
// version to a commit and checks the module's digest with it, and the
// portal loads a WebAssembly module pinned by a Plugin's status.revision and
// status.artifact with Fetch.
//
// Files are read from Git's objects, never from a checkout: a path names an
// entry of the commit's tree, so nothing outside the repository can be
// reached, and a symbolic link or a submodule is refused rather than
// followed.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"gopkg.in/yaml.v3"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// MaxSize bounds a module: it is read into memory by the agent (to check
// its digest) and by the portal (to run it).
const MaxSize = 32 << 20

// MaxWalk bounds how many commits of a plugin repository's history are
// read to find an older version of a plugin.
const MaxWalk = 500

// ErrVersionNotFound: no commit of the walked history has the version.
var ErrVersionNotFound = errors.New("version not found")

// MismatchError is a file whose digest is not the one it is pinned to.
type MismatchError struct {
	Path, Revision, Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s at %s has sha256 %s, not the pinned %s", e.Path, e.Revision, e.Got, e.Want)
}

// Repository is a bare clone of a plugin repository's ref in a temporary
// folder; Close removes it.
type Repository struct {
	git *git.Repository
	dir string
}

// Open clones src's ref into a temporary folder: only its tip when full is
// false (the shallow clone the PluginRepository controller makes), its whole
// history when true (to find an older version, or a commit that is no
// longer the tip).
func Open(ctx context.Context, src *gitsync.Source, full bool) (*Repository, error) {
	dir, err := os.MkdirTemp("", "plugin-artifact-")
	if err != nil {
		return nil, err
	}
	opts := &git.CloneOptions{URL: src.URL, Auth: src.Auth, Tags: git.NoTags, NoCheckout: true}
	if src.Ref.Commit == "" {
		ref := plumbing.NewBranchReferenceName(orDefault(src.Ref.Branch, "main"))
		if src.Ref.Tag != "" {
			ref = plumbing.NewTagReferenceName(src.Ref.Tag)
		}
		opts.ReferenceName, opts.SingleBranch = ref, true
		if !full {
			opts.Depth = 1
		}
	}
	repo, err := git.PlainCloneContext(ctx, dir, true, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("clone %s: %w", src.URL, err)
	}
	return &Repository{git: repo, dir: dir}, nil
}

// OpenAt opens src so that revision can be read: the tip alone when it is
// the revision, the whole history otherwise.
func OpenAt(ctx context.Context, src *gitsync.Source, revision string) (*Repository, error) {
	r, err := Open(ctx, src, false)
	if err != nil {
		return nil, err
	}
	if _, err := r.commit(revision); err == nil {
		return r, nil
	}
	_ = r.Close()
	return Open(ctx, src, true)
}

// Head is the revision the clone's ref points at ("<ref>@sha1:<hash>").
func (r *Repository) Head() (string, error) {
	head, err := r.git.Head()
	if err != nil {
		return "", err
	}
	return head.Name().Short() + "@sha1:" + head.Hash().String(), nil
}

// Close removes the clone.
func (r *Repository) Close() error { return os.RemoveAll(r.dir) }

// Hash is the commit hash of a revision ("<ref>@sha1:<hash>" or
// "sha1:<hash>", as the agent writes them).
func Hash(revision string) (plumbing.Hash, error) {
	_, h, found := strings.Cut(revision, "sha1:")
	if !found || len(h) != 40 || !plumbing.IsHash(h) {
		return plumbing.ZeroHash, fmt.Errorf("revision %q does not name a commit (<ref>@sha1:<hash>)", revision)
	}
	return plumbing.NewHash(h), nil
}

func (r *Repository) commit(revision string) (*object.Commit, error) {
	h, err := Hash(revision)
	if err != nil {
		return nil, err
	}
	c, err := r.git.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s is not in the repository: %w", h, err)
	}
	return c, nil
}

// ReadFile returns the file at name (a path from the repository's root) in
// revision. Only a regular file of at most max bytes is read.
func (r *Repository) ReadFile(revision, name string, max int64) ([]byte, error) {
	c, err := r.commit(revision)
	if err != nil {
		return nil, err
	}
	return r.readFile(c, name, max)
}

func (r *Repository) readFile(c *object.Commit, name string, max int64) ([]byte, error) {
	if name == "" || path.IsAbs(name) || strings.Contains(name, `\`) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return nil, fmt.Errorf("%q is not a path inside the repository", name)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	entry, err := tree.FindEntry(name)
	if err != nil {
		return nil, fmt.Errorf("%s is not in commit %s", name, c.Hash)
	}
	if entry.Mode != filemode.Regular && entry.Mode != filemode.Executable {
		return nil, fmt.Errorf("%s in commit %s is not a regular file (a link or a submodule is never followed)", name, c.Hash)
	}
	blob, err := r.git.BlobObject(entry.Hash)
	if err != nil {
		return nil, err
	}
	if blob.Size > max {
		return nil, fmt.Errorf("%s in commit %s is %d bytes, more than %d", name, c.Hash, blob.Size, max)
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, max))
}

// FindVersion returns the newest commit, walking back from revision along
// first parents (at most MaxWalk commits), whose dir/plugin.yaml has
// version ("v1.2.3" and "1.2.3" are the same version). The result is
// written like revision ("<ref>@sha1:<hash>"); ErrVersionNotFound when no
// walked commit has it.
func (r *Repository) FindVersion(revision, dir, version string) (string, error) {
	c, err := r.commit(revision)
	if err != nil {
		return "", err
	}
	prefix := revision[:strings.LastIndex(revision, "sha1:")]
	file := path.Join(dir, manifest.FileName)
	for range MaxWalk {
		if data, err := r.readFile(c, file, manifest.MaxSize); err == nil {
			var m struct {
				Version string `yaml:"version"`
			}
			if yaml.Unmarshal(data, &m) == nil && SameVersion(m.Version, version) {
				return prefix + "sha1:" + c.Hash.String(), nil
			}
		}
		if c.NumParents() == 0 {
			break
		}
		if c, err = c.Parent(0); err != nil {
			// A shallow clone ends here.
			break
		}
	}
	return "", fmt.Errorf("%w: no commit among the last %d of %s has %s with version %s", ErrVersionNotFound, MaxWalk, strings.TrimSuffix(prefix, "@"), file, version)
}

// SameVersion compares versions with or without their leading "v".
func SameVersion(a, b string) bool {
	return strings.TrimPrefix(a, "v") == strings.TrimPrefix(b, "v")
}

// Digest is the hex sha256 of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Verify returns a *MismatchError when data does not have the digest want.
func Verify(data []byte, name, revision, want string) error {
	if got := Digest(data); got != want {
		return &MismatchError{Path: name, Revision: revision, Want: want, Got: got}
	}
	return nil
}

// Fetch returns the artifact a at revision of repo (a PluginRepository;
// its secretRef's credentials are read with secrets), after checking its
// digest: what a Plugin's status.revision and status.artifact pin.
func Fetch(ctx context.Context, secrets client.Reader, repo *streamv1.PluginRepository, revision string, a streamv1.PluginArtifact) ([]byte, error) {
	src, err := gitsync.SourceFor(ctx, secrets, repo.Namespace, repo.Spec.URL, repo.Spec.Ref, repo.Spec.SecretRef)
	if err != nil {
		return nil, err
	}
	r, err := OpenAt(ctx, src, revision)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := r.ReadFile(revision, a.Path, MaxSize)
	if err != nil {
		return nil, err
	}
	if err := Verify(data, a.Path, revision, a.SHA256); err != nil {
		return nil, err
	}
	return data, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

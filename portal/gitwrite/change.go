package gitwrite

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// The errors a caller tells apart with errors.Is; the returned error wraps
// one of them and names the object, file or remote concerned.
var (
	// ErrInvalidChange: the Change itself is wrong (unknown kind, a name
	// that does not match the object, no actor).
	ErrInvalidChange = errors.New("invalid write-back change")
	// ErrNotFound: no YAML file in the repository defines the object.
	ErrNotFound = errors.New("object not found in the platform repository")
	// ErrAmbiguous: more than one document defines the object.
	ErrAmbiguous = errors.New("object defined more than once in the platform repository")
	// ErrNoChange: Git already holds exactly this object; nothing was
	// committed.
	ErrNoChange = errors.New("no change")
	// ErrAuthentication: the Git remote or the GitHub API refused the
	// write-back credentials.
	ErrAuthentication = errors.New("write-back authentication failed")
	// ErrConflict: the branch moved while the change was being written,
	// again after one retry, or the new branch already exists.
	ErrConflict = errors.New("the branch moved during write-back")
	// ErrAlreadyExists: a create found the object, or the file it would
	// write, already in the repository.
	ErrAlreadyExists = errors.New("object already defined in the platform repository")
)

// Kinds that the portal may write back. Anything else is edited in Git.
var Kinds = []string{"Template", "Quota", "Plugin"}

// Op is what a Change does to its object.
type Op string

const (
	// OpEdit (the zero value) changes an object already in Git, in place.
	OpEdit Op = ""
	// OpCreate adds a new object in a file of its own, placed beside the
	// objects of its kind and listed in the nearest kustomization.
	OpCreate Op = "create"
	// OpDelete removes the object's document, and its file and
	// kustomization entry when nothing else is in that file.
	OpDelete Op = "delete"
)

// Change is one object as an admin wants it to be.
type Change struct {
	// Op is OpEdit, OpCreate or OpDelete.
	Op Op
	// Kind is "Template" or "Quota".
	Kind string
	// Name of the object (metadata.name).
	Name string
	// Object is the desired object: *v1alpha1.Template, *v1alpha1.Quota,
	// *v1alpha1.Plugin or *unstructured.Unstructured. For an edit only its
	// spec (every top-level field but apiVersion, kind, metadata and status)
	// is written: metadata in Git is kept as it is, because a live object's
	// metadata carries what the overlay, the agent and the API server added.
	// A create writes the whole object but only the labels and annotations
	// of its metadata (the overlay sets the namespace). A delete needs none.
	Object runtime.Object
	// Base, when set, is the object the admin's edit started from, usually
	// the live object the handler read. Then only the fields where Object
	// differs from Base are written and every other field keeps its value
	// in Git: a live object carries the overlay's patches (the local
	// environment's smaller default quota) and the CRD's defaults, and
	// neither belongs in the base file. Without Base, Object's whole spec
	// is written.
	Base runtime.Object
	// Actor is the username of the admin who asked, for the Requested-by
	// trailer and the pull request body.
	Actor string
	// ActorEmail, when known, adds a Co-authored-by trailer so that the
	// forge credits the admin.
	ActorEmail string
	// Reason is the admin's summary; its first line becomes the commit and
	// pull request title.
	Reason string
	// UsedBy, for a delete, names who still uses the object (sessions such
	// as "alice/firefox-1 (Running)"): the pull request lists them and says
	// that the agent's prune keeps the object until they are gone.
	UsedBy []string
}

// Mode says how a change was proposed.
const (
	ModePullRequest = "pull-request"
	ModeCommit      = "commit"
)

// Result is where a change went; it is shaped to be returned by the API
// as it is.
type Result struct {
	// Mode is ModePullRequest or ModeCommit.
	Mode string `json:"mode"`
	// Branch that holds the commit: the new branch of the pull request, or
	// the configured branch.
	Branch string `json:"branch"`
	// Commit is the full hash of the commit.
	Commit string `json:"commit"`
	// URL of the pull request (pull-request mode).
	URL string `json:"url,omitempty"`
	// Number of the pull request (pull-request mode).
	Number int `json:"number,omitempty"`
	// File is the repository path of the edited, created or deleted file.
	File string `json:"file"`
	// Files are all the paths the commit changes (a create or delete also
	// changes a kustomization).
	Files []string `json:"files,omitempty"`
	// Changes lists the changed fields, e.g. "spec.limits.memory: 24Gi → 32Gi".
	Changes []string `json:"changes"`
	// Warnings are things the admin should know, e.g. an overlay that
	// patches the same object.
	Warnings []string `json:"warnings,omitempty"`
}

// validate checks the change before anything is cloned.
func (c Change) validate() error {
	if c.Op != OpEdit && c.Op != OpCreate && c.Op != OpDelete {
		return fmt.Errorf("%w: unknown operation %q (create, delete or an edit)", ErrInvalidChange, c.Op)
	}
	if !slices.Contains(Kinds, c.Kind) {
		return fmt.Errorf("%w: kind %q cannot be written back (only %s)", ErrInvalidChange, c.Kind, strings.Join(Kinds, ", "))
	}
	if errs := validation.IsDNS1123Subdomain(c.Name); len(errs) > 0 {
		return fmt.Errorf("%w: %s name %q: %s", ErrInvalidChange, c.Kind, c.Name, strings.Join(errs, "; "))
	}
	if strings.TrimSpace(c.Actor) == "" || strings.ContainsAny(c.Actor, "\r\n<>") {
		return fmt.Errorf("%w: %s %s: the actor must be a username on one line", ErrInvalidChange, c.Kind, c.Name)
	}
	if strings.ContainsAny(c.ActorEmail, "\r\n<> ") {
		return fmt.Errorf("%w: %s %s: actor email %q is not an address", ErrInvalidChange, c.Kind, c.Name, c.ActorEmail)
	}
	for _, u := range c.UsedBy {
		if strings.ContainsAny(u, "\r\n") {
			return fmt.Errorf("%w: %s %s: a user of the object must be named on one line", ErrInvalidChange, c.Kind, c.Name)
		}
	}
	if c.Op == OpDelete && isNil(c.Object) {
		return nil
	}
	if isNil(c.Object) {
		return fmt.Errorf("%w: %s %s: no object", ErrInvalidChange, c.Kind, c.Name)
	}
	if err := c.check("object", c.Object); err != nil {
		return err
	}
	if !isNil(c.Base) {
		return c.check("base object", c.Base)
	}
	return nil
}

// check says whether obj is an object of the change's kind and name.
func (c Change) check(what string, obj runtime.Object) error {
	if _, ok := obj.(*unstructured.Unstructured); !ok {
		// A typed object is read back through its own type: it must be the
		// type of the kind, whatever its (often empty) TypeMeta says.
		if t := reflect.TypeOf(obj); t.Kind() != reflect.Pointer || t.Elem().Name() != c.Kind || t.Elem().PkgPath() != reflect.TypeOf(streamv1.Template{}).PkgPath() {
			return fmt.Errorf("%w: %s %s: %s is a %T", ErrInvalidChange, c.Kind, c.Name, what, obj)
		}
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && (gvk.Kind != c.Kind || gvk.Group != streamv1.GroupVersion.Group) {
		return fmt.Errorf("%w: %s %s: %s is a %s", ErrInvalidChange, c.Kind, c.Name, what, gvk.GroupKind())
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrInvalidChange, c.Kind, c.Name, err)
	}
	if m.GetName() != "" && m.GetName() != c.Name {
		// Renames are not edits: they would leave the old object running.
		return fmt.Errorf("%w: %s %s: %s is named %q", ErrInvalidChange, c.Kind, c.Name, what, m.GetName())
	}
	return nil
}

func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

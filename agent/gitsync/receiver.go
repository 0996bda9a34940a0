package gitsync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-github/v89/github"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Receiver turns a verified push notification into an immediate sync of the
// GitSyncs that follow the pushed repository and ref. It only ever writes
// the "reconcile now" annotation: the sync itself stays the controller's.
//
//	POST /hook/github   GitHub push events, X-Hub-Signature-256 (HMAC-SHA256)
//	POST /hook/generic  {"repository": "<url>", "ref": "refs/heads/main"},
//	                    X-Signature-256: sha256=<HMAC-SHA256 of the body>
type Receiver struct {
	Client    client.Client
	Secret    []byte
	Namespace string // "" watches every namespace
	Log       logr.Logger
	Requests  *prometheus.CounterVec
}

// NewReceiverMetrics registers the receiver's request counter.
func NewReceiverMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamspace_gitsync_webhook_requests_total",
		Help: "Push notifications received, by source and result (triggered, ignored, unauthorized, invalid).",
	}, []string{"source", "result"})
	return c, reg.Register(c)
}

// ServeHTTP routes the two hook kinds.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 10<<20)
	switch r.URL.Path {
	case "/hook/github":
		rc.github(w, r)
	case "/hook/generic":
		rc.generic(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (rc *Receiver) github(w http.ResponseWriter, r *http.Request) {
	payload, err := github.ValidatePayload(r, rc.Secret)
	if err != nil {
		rc.reply(w, "github", http.StatusUnauthorized, "unauthorized", map[string]any{"error": "invalid signature"})
		return
	}
	event, err := github.ParseWebHook(github.WebHookType(r), payload)
	if err != nil {
		rc.reply(w, "github", http.StatusBadRequest, "invalid", map[string]any{"error": err.Error()})
		return
	}
	push, ok := event.(*github.PushEvent)
	if !ok {
		rc.reply(w, "github", http.StatusOK, "ignored", map[string]any{"ignored": github.WebHookType(r)})
		return
	}
	repo := push.GetRepo()
	urls := []string{repo.GetCloneURL(), repo.GetSSHURL(), repo.GetHTMLURL(), repo.GetGitURL()}
	rc.trigger(w, r.Context(), "github", urls, push.GetRef())
}

func (rc *Receiver) generic(w http.ResponseWriter, r *http.Request) {
	payload, err := github.ValidatePayloadFromBody(r.Header.Get("Content-Type"), r.Body, r.Header.Get("X-Signature-256"), rc.Secret)
	if err != nil {
		rc.reply(w, "generic", http.StatusUnauthorized, "unauthorized", map[string]any{"error": "invalid signature"})
		return
	}
	var body struct {
		Repository string `json:"repository"`
		Ref        string `json:"ref"`
	}
	if err := json.Unmarshal(payload, &body); err != nil || body.Repository == "" || body.Ref == "" {
		rc.reply(w, "generic", http.StatusBadRequest, "invalid", map[string]any{"error": `body must be {"repository": "<url>", "ref": "refs/heads/<branch>"}`})
		return
	}
	rc.trigger(w, r.Context(), "generic", []string{body.Repository}, body.Ref)
}

// trigger asks every GitSync following one of urls at ref to sync now.
func (rc *Receiver) trigger(w http.ResponseWriter, ctx context.Context, source string, urls []string, ref string) {
	var list streamv1.GitSyncList
	opts := []client.ListOption{}
	if rc.Namespace != "" {
		opts = append(opts, client.InNamespace(rc.Namespace))
	}
	if err := rc.Client.List(ctx, &list, opts...); err != nil {
		rc.reply(w, source, http.StatusInternalServerError, "error", map[string]any{"error": "list GitSyncs"})
		return
	}
	want := map[string]bool{}
	for _, u := range urls {
		if u != "" {
			want[normalizeRepoURL(u)] = true
		}
	}
	token := time.Now().UTC().Format(time.RFC3339Nano)
	triggered := []string{}
	for i := range list.Items {
		gs := &list.Items[i]
		if !want[normalizeRepoURL(gs.Spec.URL)] || !followsRef(gs.Spec.Ref, ref) {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.ReconcileRequestAnnotation, token)
		if err := rc.Client.Patch(ctx, gs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
			rc.Log.Error(err, "Request sync", "gitsync", client.ObjectKeyFromObject(gs))
			continue
		}
		triggered = append(triggered, gs.Namespace+"/"+gs.Name)
	}
	rc.Log.Info("Push received", "source", source, "ref", ref, "triggered", triggered)
	result := "triggered"
	if len(triggered) == 0 {
		result = "ignored"
	}
	rc.reply(w, source, http.StatusAccepted, result, map[string]any{"triggered": triggered})
}

func (rc *Receiver) reply(w http.ResponseWriter, source string, code int, result string, body map[string]any) {
	if rc.Requests != nil {
		rc.Requests.WithLabelValues(source, result).Inc()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// followsRef reports whether a GitSync at ref r follows the pushed ref.
func followsRef(r streamv1.GitReference, pushed string) bool {
	switch {
	case r.Commit != "":
		return false // pinned: a push changes nothing
	case r.Tag != "":
		return pushed == "refs/tags/"+r.Tag
	}
	return pushed == "refs/heads/"+orDefault(r.Branch, "main")
}

// normalizeRepoURL makes the URL forms of one repository compare equal:
// https://github.com/org/repo(.git), ssh://git@github.com/org/repo.git and
// git@github.com:org/repo.git all become github.com/org/repo.
func normalizeRepoURL(u string) string {
	u = strings.TrimSpace(strings.ToLower(u))
	for _, p := range []string{"https://", "http://", "ssh://", "git://", "file://"} {
		u = strings.TrimPrefix(u, p)
	}
	if at := strings.Index(u, "@"); at >= 0 && at < strings.Index(u+"/", "/") {
		u = u[at+1:]
	}
	if c := strings.Index(u, ":"); c >= 0 && !strings.Contains(u[:c], "/") {
		if port := u[c+1:]; len(port) > 0 && port[0] >= '0' && port[0] <= '9' {
			u = u[:c] + u[c+strings.IndexAny(u[c:]+"/", "/"):] // drop a port
		} else {
			u = u[:c] + "/" + u[c+1:] // scp-like git@host:org/repo
		}
	}
	return strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
}

package stream

import (
	"sync"

	"github.com/coder/websocket"

	"github.com/streamspace/streamspace/portal/store"
)

// accountStreams is the registry of open streams by the account that
// opened them, so that an account that loses access (disabled, deleted,
// signed out by its identity provider) or the right to a session it views
// (an admin demoted while watching someone else's) loses the stream at
// once, not when it next reconnects: the checks of every request
// (auth.Tokens.Authenticate) only see new requests.
type accountStreams struct {
	mu     sync.Mutex
	byUser map[string]map[*stream]string // viewer → stream → the session's owner
}

// follow registers st, opened by viewer on a session of owner's; the
// returned func forgets it.
func (p *Proxy) follow(st *stream, viewer, owner string) (forget func()) {
	r := &p.accounts
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byUser == nil {
		r.byUser = map[string]map[*stream]string{}
	}
	if r.byUser[viewer] == nil {
		r.byUser[viewer] = map[*stream]string{}
	}
	r.byUser[viewer][st] = owner
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.byUser[viewer], st)
		if len(r.byUser[viewer]) == 0 {
			delete(r.byUser, viewer)
		}
	}
}

// AccountChanged closes the streams username may no longer have: all of
// them when the account lost access (now nil, or disabled), those of other
// people's sessions when it is no admin any more. The viewer sees the
// close code 1008 (policy violation) with reason as its text; the closes
// finish in the background.
func (p *Proxy) AccountChanged(username string, now *store.User, reason string) {
	if n := p.closeStreams(username, now, reason); n > 0 {
		p.Log.Info("Closing streams of an account that lost access", "user", username, "streams", n, "reason", reason)
	}
}

func (p *Proxy) closeStreams(username string, now *store.User, reason string) int {
	r := &p.accounts
	r.mu.Lock()
	var closing []*stream
	for st, owner := range r.byUser[username] {
		if now == nil || now.Disabled || (owner != username && now.Role != "admin") {
			closing = append(closing, st)
		}
	}
	r.mu.Unlock()
	reason = closeReason(reason)
	for _, st := range closing {
		// Close waits for the peer's answer (up to seconds): not on the
		// caller's request
		go func() {
			_ = st.down.Close(websocket.StatusPolicyViolation, reason)
			_ = st.up.Close(websocket.StatusNormalClosure, "")
		}()
	}
	return len(closing)
}

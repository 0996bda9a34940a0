package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LoginLimiter slows password guessing: each client address and each
// username gets a small burst of attempts, then one per interval.
type LoginLimiter struct {
	Every time.Duration // one attempt per Every once the burst is spent
	Burst int

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLoginLimiter allows burst attempts, then one per every.
func NewLoginLimiter(every time.Duration, burst int) *LoginLimiter {
	return &LoginLimiter{Every: every, Burst: burst, keys: map[string]*entry{}}
}

// Allow reports whether a login attempt from addr for username may go on,
// and if not, how long to wait.
func (l *LoginLimiter) Allow(addr, username string) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) > 10000 { // forget idle keys rather than grow forever
		for k, e := range l.keys {
			if now.Sub(e.seen) > time.Duration(l.Burst)*l.Every {
				delete(l.keys, k)
			}
		}
	}
	var wait time.Duration
	ok := true
	for _, k := range []string{"addr:" + addr, "user:" + username} {
		e := l.keys[k]
		if e == nil {
			e = &entry{lim: rate.NewLimiter(rate.Every(l.Every), l.Burst)}
			l.keys[k] = e
		}
		e.seen = now
		r := e.lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			ok = false
			if d > wait {
				wait = d
			}
		}
	}
	return ok, wait
}

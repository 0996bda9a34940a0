package leader_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/streamspace/streamspace/portal/leader"
	"github.com/streamspace/streamspace/test/testenv"
)

// task records when it runs.
type task struct {
	name  string
	mu    *sync.Mutex
	log   *[]event
	start chan time.Time
}

type event struct {
	who   string
	start bool
	at    time.Time
}

func (t *task) Start(ctx context.Context) error {
	now := time.Now()
	t.mu.Lock()
	*t.log = append(*t.log, event{t.name, true, now})
	t.mu.Unlock()
	t.start <- now
	<-ctx.Done()
	// a task that takes a moment to finish (the history recorder's last
	// write): the lease must not be handed over before it has
	time.Sleep(300 * time.Millisecond)
	t.mu.Lock()
	*t.log = append(*t.log, event{t.name, false, time.Now()})
	t.mu.Unlock()
	return nil
}

// TestOnly_gracefulStop_handsOverBeforeTheLeaseRunsOut: a replica that
// stops (its context ends, as on SIGTERM) releases the lease once its task
// has ended, so the other replica's task starts at its next retry, not
// after the lease runs out; the two tasks never overlap. The lease is long
// (20 s) so that waiting it out cannot pass for a handover.
func TestOnly_gracefulStop_handsOverBeforeTheLeaseRunsOut(t *testing.T) {
	env, err := testenv.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() }) // after the replicas' cleanups
	const lease = 20 * time.Second
	var (
		mu  sync.Mutex
		log []event
	)
	type replica struct {
		task   *task
		cancel context.CancelFunc
		done   chan struct{} // closed when Start returned err
		err    error
	}
	run := func(name string) *replica {
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{task: &task{name: name, mu: &mu, log: &log, start: make(chan time.Time, 4)}, cancel: cancel, done: make(chan struct{})}
		o := &leader.Only{Config: env.Config, Namespace: "default", Name: "leader-test", Task: r.task, Log: logr.Discard(),
			LeaseDuration: lease, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}
		go func() { r.err = o.Start(ctx); close(r.done) }()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a, b := run("a"), run("b")
	var first, next *replica
	select {
	case <-a.task.start:
		first, next = a, b
	case <-b.task.start:
		first, next = b, a
	case <-time.After(time.Minute):
		t.Fatal("no replica led within a minute")
	}
	stopped := time.Now()
	first.cancel()
	<-first.done
	if first.err != nil {
		t.Fatal(first.err)
	}
	select {
	case at := <-next.task.start:
		t.Logf("graceful handover: %s's task started %v after %s stopped (lease %v)", next.task.name, at.Sub(stopped).Round(time.Millisecond), first.task.name, lease)
	case <-time.After(lease):
		t.Fatalf("%s's task did not start within the lease (%v) after %s stopped: the lease was waited out, not handed over", next.task.name, lease, first.task.name)
	}
	mu.Lock()
	defer mu.Unlock()
	var firstEnd, nextStart time.Time
	for _, e := range log {
		switch {
		case e.who == first.task.name && !e.start:
			firstEnd = e.at
		case e.who == next.task.name && e.start:
			nextStart = e.at
		}
	}
	if firstEnd.IsZero() || nextStart.Before(firstEnd) {
		t.Errorf("the tasks overlapped: %s ended %v, %s started %v", first.task.name, firstEnd, next.task.name, nextStart)
	}
}

// Package leader runs a portal task (the session history recorder, later
// the plugin event dispatcher) on one replica at a time, the one holding a
// Kubernetes Lease.
//
// A Lease, not a PostgreSQL advisory lock: the lease runs out by itself
// LeaseDuration after its holder stops renewing it, however it died, while
// an advisory lock lives as long as PostgreSQL believes the holder's
// connection is open (a node that vanishes without closing its TCP
// connections holds it until keepalives give up, two hours by default).
//
// Not controller-runtime's manager election either: a manager that loses
// its lease ends, and with it would go every stream and request the
// replica serves. Here losing the lease stops the task alone, and the
// replica campaigns again.
package leader

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Only runs Task while this replica holds the Lease Namespace/Name. It is
// a manager runnable that runs on every replica (each campaigns).
type Only struct {
	Config          *rest.Config
	Namespace, Name string
	Task            manager.Runnable
	Log             logr.Logger
	// LeaseDuration, RenewDeadline and RetryPeriod: zero keeps client-go's
	// usual 15 s, 10 s and 2 s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// NeedLeaderElection: every replica campaigns; Only itself elects.
func (o *Only) NeedLeaderElection() bool { return false }

// Start campaigns until ctx ends, running Task whenever it leads.
func (o *Only) Start(ctx context.Context) error {
	lease, renew, retry := or(o.LeaseDuration, 15*time.Second), or(o.RenewDeadline, 10*time.Second), or(o.RetryPeriod, 2*time.Second)
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("leader election %s: %w", o.Name, err)
	}
	id := host + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, o.Namespace, o.Name,
		resourcelock.ResourceLockConfig{Identity: id}, o.Config, renew)
	if err != nil {
		return fmt.Errorf("leader election %s: %w", o.Name, err)
	}
	log := o.Log.WithValues("lease", o.Namespace+"/"+o.Name, "identity", id)
	for ctx.Err() == nil {
		var (
			mu       sync.Mutex
			running  bool
			taskDone = make(chan struct{})
		)
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: o.Name, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
			Callbacks: leaderelection.LeaderCallbacks{
				// client-go calls this in a goroutine of its own and
				// cancels ctx before Run returns: under mu, a task either
				// starts before that (and is waited for) or never.
				OnStartedLeading: func(ctx context.Context) {
					mu.Lock()
					if ctx.Err() != nil {
						mu.Unlock()
						return
					}
					running = true
					mu.Unlock()
					defer close(taskDone)
					log.Info("Leading: task started")
					if err := o.Task.Start(ctx); err != nil {
						log.Error(err, "Task stopped")
					}
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election %s: %w", o.Name, err)
		}
		elector.Run(ctx) // returns when ctx ends or the lease is lost
		mu.Lock()
		led := running
		mu.Unlock()
		if led {
			// the task is over before the next campaign, so this replica
			// never runs it twice at once
			<-taskDone
			if ctx.Err() == nil {
				log.Info("Lease lost: task stopped, campaigning again")
			} else if err := release(lock, id); err != nil {
				log.Error(err, "Could not release the lease: another replica takes over when it runs out")
			}
		}
	}
	return nil
}

// release hands the lease over on a graceful stop, once the task has
// ended (client-go's ReleaseOnCancel would release it while the task may
// still be finishing), so another replica takes over at its next retry
// instead of after LeaseDuration. It writes only a lease this replica
// still holds.
func release(lock resourcelock.Interface, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if err != nil {
		return err
	}
	if rec.HolderIdentity != id {
		return nil
	}
	now := metav1.NewTime(time.Now())
	return lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

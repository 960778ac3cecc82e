package funchost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/funnelpipe/funnel/storage"
)

// The timer trigger (Microsoft.Azure.WebJobs.Extensions, TimerTriggerAttribute
// and TimerListener) as far as funnel uses it:
//
//   - "schedule" is an NCRONTAB expression of six fields, seconds first
//     ("0 */5 * * * *"), in UTC, or %Setting%; the TimeSpan form
//     ("00:05:00") of App Service plans is refused;
//   - "runOnStartup": true runs the function once when the listener starts;
//   - invocations of one timer never overlap: the next occurrence is
//     computed when one finishes, and a failed invocation is not retried;
//   - the listener is a singleton across every host of the app: it runs
//     only while it holds the lease of the blob
//     azure-webjobs-hosts/locks/<hostId>/Host.Functions.<Name>.Listener
//     (SingletonManager, SingletonOptions: listener lock period 60 s,
//     renewed halfway; a host without it tries again every 60 s).
//
// Not modelled: "useMonitor" (the schedule status blob under
// azure-webjobs-hosts/timers that lets a restarted host run a missed
// occurrence at once, IsPastDue): the setting is accepted and the status
// the handler receives is what this host saw itself.
const (
	typeTimerTrigger           = "timertrigger"
	listenerLockPeriod         = 60 * time.Second
	listenerLockRecoveryPeriod = 60 * time.Second
)

// ncrontab parses the host's six-field NCRONTAB expressions.
var ncrontab = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// parseSchedule parses a timer's schedule; %Setting% is left for
// resolveSettingRefs.
func parseSchedule(s string) (cron.Schedule, error) {
	if n := len(strings.Fields(s)); n != 6 {
		if strings.Count(s, ":") == 2 && n == 1 {
			return nil, fmt.Errorf("%q: the TimeSpan form is only for App Service plans; give an NCRONTAB expression of six fields (\"0 */5 * * * *\")", s)
		}
		return nil, fmt.Errorf("%q: an NCRONTAB expression has six fields, seconds first (\"0 */5 * * * *\"), not %d", s, n)
	}
	sched, err := ncrontab.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	return sched, nil
}

// parseTimerTrigger is the binding parser of a timerTrigger.
func parseTimerTrigger(o *jsonObject, b *binding) error {
	if err := wantDirection(o, b, "in"); err != nil {
		return err
	}
	s, err := requiredString(o, "schedule")
	if err != nil {
		return err
	}
	b.Schedule = s
	if !strings.Contains(s, "%") {
		if b.schedule, err = parseSchedule(s); err != nil {
			return cfgErr(o.file, o.field("schedule"), "%v", err)
		}
	}
	if b.RunOnStartup, _, err = o.boolean("runOnStartup"); err != nil {
		return err
	}
	if _, _, err = o.boolean("useMonitor"); err != nil {
		return err
	}
	return nil
}

// timerListener runs one timer-triggered function while its host holds
// the function's singleton lock.
type timerListener struct {
	h    *Host
	fn   *function
	lock *blobLock
	log  *slog.Logger
	last time.Time // the occurrence last run, zero before the first
}

// timerListeners builds a listener per enabled timer-triggered function.
func (h *Host) timerListeners() []*timerListener {
	var ls []*timerListener
	for _, f := range h.app.Functions {
		if f.Disabled || f.Trigger.Type != typeTimerTrigger {
			continue
		}
		sa := h.storage[defaultConnectionName]
		ls = append(ls, &timerListener{
			h: h, fn: f, log: h.log.With("function", f.Name, "trigger", "timerTrigger"),
			lock: &blobLock{
				client: sa.blob.ServiceClient().NewContainerClient(hostsContainer).NewBlockBlobClient(
					fmt.Sprintf("locks/%s/%s.Listener", h.hostID, functionID(f))),
				id: uuid.NewString(),
			},
		})
	}
	return ls
}

// run holds the singleton lock and fires the schedule until ctx ends; a
// host that loses the lock stops firing and tries to take it again.
func (t *timerListener) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := t.lock.acquire(ctx); err != nil {
			if !errors.Is(err, storage.ErrConflict) && ctx.Err() == nil {
				t.log.Warn("timer lock: cannot acquire", "err", err)
			}
			sleep(ctx, listenerLockRecoveryPeriod)
			continue
		}
		t.log.Info("timer lock acquired", "lock", t.lock.client.URL())
		lost := t.fire(ctx)
		if lost != nil && ctx.Err() == nil {
			t.log.Warn("timer lock lost; not firing until it is acquired again", "err", lost)
			continue
		}
	}
	rctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := t.lock.release(rctx); err != nil {
		t.log.Debug("timer lock: release", "err", err)
	}
}

// fire runs the schedule while the lock holds: it returns the renewal
// error when the lock is lost, nil when ctx ends.
func (t *timerListener) fire(ctx context.Context) error {
	held, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		tick := time.NewTicker(listenerLockPeriod / 2)
		defer tick.Stop()
		for {
			select {
			case <-held.Done():
				return
			case <-tick.C:
				if err := t.lock.renew(held); err != nil && held.Err() == nil {
					stop(err)
					return
				}
			}
		}
	}()
	if t.fn.Trigger.RunOnStartup && t.last.IsZero() {
		t.invoke(time.Now())
	}
	for {
		next := t.fn.Trigger.schedule.Next(time.Now().UTC())
		select {
		case <-held.Done():
			if ctx.Err() != nil {
				return nil
			}
			return context.Cause(held)
		case <-time.After(time.Until(next)):
		}
		t.invoke(next)
	}
}

// invoke runs the function once for occurrence at, on the next instance,
// with the TimerInfo the host passes ({Schedule, ScheduleStatus,
// IsPastDue}). A failure is logged and recorded, never retried.
func (t *timerListener) invoke(at time.Time) {
	next := t.fn.Trigger.schedule.Next(at.UTC())
	info := fmt.Sprintf(`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":%q,"Next":%q,"LastUpdated":%q},"IsPastDue":false}`,
		t.last.UTC().Format(time.RFC3339Nano), next.Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	t.last = at
	bd := newBindingData(t.fn.Name, time.Now())
	inv := &invocation{id: newUUID(), fn: t.fn, meta: bd, data: []dataEntry{{t.fn.Trigger.Name, []byte(info)}}}
	if err := t.h.invoke(t.h.nextInstance(), inv, nil); err != nil {
		t.log.Warn("timer invocation failed", "err", err)
	}
}

// blobLock is a singleton lock: the lease of one blob, created empty when
// missing (SingletonManager's BlobLeaseDistributedLockManager).
type blobLock struct {
	client *blockblob.Client
	id     string
}

// acquire takes the lease; a lease held by another host gives an error
// wrapping storage.ErrConflict.
func (l *blobLock) acquire(ctx context.Context) error {
	lc, err := lease.NewBlobClient(l.client, &lease.BlobClientOptions{LeaseID: to.Ptr(l.id)})
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err = lc.AcquireLease(octx, int32(listenerLockPeriod/time.Second), nil)
	if errors.Is(storageSentinel(err), storage.ErrNotFound) {
		_, cerr := l.client.Upload(octx, nopSeekCloser{bytes.NewReader(nil)}, &blockblob.UploadOptions{
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
		})
		if cerr != nil && !errors.Is(storageSentinel(cerr), storage.ErrConflict) {
			return fmt.Errorf("create lock blob: %w", cerr)
		}
		_, err = lc.AcquireLease(octx, int32(listenerLockPeriod/time.Second), nil)
	}
	if err != nil {
		if s := storageSentinel(err); s != nil {
			return fmt.Errorf("acquire lease: %w: %w", s, err)
		}
		return fmt.Errorf("acquire lease: %w", err)
	}
	return nil
}

func (l *blobLock) renew(ctx context.Context) error {
	lc, err := lease.NewBlobClient(l.client, &lease.BlobClientOptions{LeaseID: to.Ptr(l.id)})
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err = lc.RenewLease(octx, nil)
	return err
}

func (l *blobLock) release(ctx context.Context) error {
	lc, err := lease.NewBlobClient(l.client, &lease.BlobClientOptions{LeaseID: to.Ptr(l.id)})
	if err != nil {
		return err
	}
	_, err = lc.ReleaseLease(ctx, nil)
	return err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

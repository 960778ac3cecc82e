package partition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
)

// Reconciler defaults; the settings FUNNEL_RECONCILE_GRACE and
// FUNNEL_JOB_DEADLINE change them (cmd/partition).
const (
	// DefaultSendGrace is how long a job may stay unplanned or unsent
	// before the reconciler takes over its planning and sending: the plan
	// function normally starts within a second of the submit and its
	// message is retried every visibility timeout (host.json), so a job
	// still unplanned after minutes has lost its plan message. Should the
	// two overlap, planning is idempotent and resent units are folded once.
	DefaultSendGrace = 5 * time.Minute
	// DefaultDeadline is how long a job may run before the reconciler
	// fails it as stuck.
	DefaultDeadline = time.Hour
)

// Reconciler looks after every job that is not finished, so that no job
// stays running for ever whatever failed (it runs as the timer-triggered
// function Reconcile, once a minute):
//
//   - a job whose units are all folded but which is still running (its
//     completion failed on every retry) is finished;
//   - a job left planning for longer than SendGrace (its plan message was
//     lost) is planned and sent as the plan function would; a job with
//     units never sent for that long has the units no shard holds sent;
//     so has a retry whose units were not all sent;
//   - a job running longer than Deadline is failed with the reason: how
//     many units are in and which are missing.
type Reconciler struct {
	Service   *Service
	Jobs      job.JobLister
	SendGrace time.Duration
	Deadline  time.Duration
}

// ReconcileReport says what one pass did.
type ReconcileReport struct {
	Looked, Finished, Resent, Failed int
	// Errors are the jobs a pass could not look after; the next pass tries
	// again.
	Errors []error
}

// Register adds the Reconcile function (timer trigger; its function.json is
// in partition/functions/Reconcile) to app.
func (r *Reconciler) Register(app *handlers.App) {
	app.Handle("Reconcile", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		rep, err := r.Run(ctx)
		if err != nil {
			return nil, err
		}
		inv.Log.Info("reconciled", "jobs", rep.Looked, "finished", rep.Finished, "resent", rep.Resent, "failed", rep.Failed, "errors", len(rep.Errors))
		return nil, errors.Join(rep.Errors...)
	})
}

// Run makes one pass over every job.
func (r *Reconciler) Run(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	ids, err := r.Jobs.JobIDs(ctx)
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Looked++
		if err := r.one(ctx, id, &rep); err != nil {
			rep.Errors = append(rep.Errors, fmt.Errorf("reconcile job %s: %w", id, err))
		}
	}
	return rep, nil
}

func (r *Reconciler) grace() time.Duration {
	if r.SendGrace > 0 {
		return r.SendGrace
	}
	return DefaultSendGrace
}

func (r *Reconciler) deadline() time.Duration {
	if r.Deadline > 0 {
		return r.Deadline
	}
	return DefaultDeadline
}

func (r *Reconciler) one(ctx context.Context, id string, rep *ReconcileReport) error {
	s := r.Service
	st := s.Store
	rec, err := job.Get(ctx, st, id)
	if err != nil {
		return err
	}
	now := s.now()
	age := now.Sub(rec.Submitted)
	switch {
	case rec.State.Final():
		return nil
	case rec.Plan == nil:
		if age < r.grace() {
			return nil
		}
		if age > r.deadline() {
			rep.Failed++
			return job.Fail(ctx, st, id, -1, fmt.Sprintf("planning did not finish within %s", r.deadline()), now)
		}
		// The plan message never came, or kept failing: plan and send as
		// the plan function does.
		if err := s.Plan(ctx, id); err != nil {
			return err
		}
		rep.Resent++
		return nil
	}
	done, err := job.Finish(ctx, st, id, rec.Plan.Units, rec.Plan.Shards, now)
	if err != nil {
		return err
	}
	if done {
		rep.Finished++
		return nil
	}
	pendingRetry := rec.Retry != nil && !rec.Retry.Sent
	if (!rec.Sent && now.Sub(rec.Planned) >= r.grace()) || pendingRetry {
		if err := s.resendMissing(ctx, rec); err != nil {
			return err
		}
		rep.Resent++
		return nil
	}
	if age > r.deadline() {
		missing, err := job.UnappliedUnits(ctx, st, id, rec.Plan.Units, rec.Plan.Shards)
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("stuck: %d of %d units folded after %s (deadline %s); units never folded: %s",
			rec.Plan.Units-len(missing), rec.Plan.Units, age.Round(time.Second), r.deadline(), unitList(missing))
		rep.Failed++
		return job.Fail(ctx, st, id, -1, reason, now)
	}
	return nil
}

// resendMissing sends the units of a job that no shard holds and records
// them sent (the job's, or its retry's).
func (s *Service) resendMissing(ctx context.Context, rec *job.Record) error {
	id := rec.Spec.ID
	missing, err := job.UnappliedUnits(ctx, s.Store, id, rec.Plan.Units, rec.Plan.Shards)
	if err != nil {
		return err
	}
	if err := s.sendOnly(ctx, rec, missing); err != nil {
		return err
	}
	if rec.Retry != nil && !rec.Retry.Sent {
		_, err = job.MarkRetrySent(ctx, s.Store, id)
		return err
	}
	_, err = job.MarkSent(ctx, s.Store, id)
	return err
}

// unitList names up to 20 units.
func unitList(units []int) string {
	var b strings.Builder
	for i, u := range units {
		if i == 20 {
			fmt.Fprintf(&b, " and %d more", len(units)-20)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, u)
	}
	return b.String()
}

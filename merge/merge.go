// Package merge is funnel's third stage: it folds each unit's partial
// aggregate into the job's state exactly once, notices when every unit is
// in, writes the result (results/<job>.json and .csv) and marks the job
// done.
//
// Exactly once under at-least-once delivery: every partial names its unit;
// the job's state is split into merge shards (unit i goes to shard i mod S)
// and each shard records which units it holds. A fold reads the shard,
// skips a unit it already holds, and writes back only if the shard's ETag is
// unchanged (retrying on conflict). So duplicates, retries after a crash
// between two writes, and out-of-order arrivals never change the result, and
// S shards let S merges write at once instead of queueing on one record.
//
// The package also turns poison messages — units or partials that failed
// every retry — into a failed job with the reason.
//
// The binary is cmd/merge.
package merge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// Topics this stage receives on.
const (
	InTopic    = "partials"
	UnitsTopic = "units"
)

// DefaultFoldWindow is how long the merge binary lets a shard's batch wait
// for more partials (job.Folder.Window). Partials arrive one per unit as
// the units finish, so a write per partial would be the job's main cost
// (a blob write costs 13 blob reads). A batch also ends when the host has
// delivered nothing for job.DefaultIdle, so that the waiting invocations do
// not stall the queue, and a shard's last partials are never held back, so
// the window does not delay a job's result.
const DefaultFoldWindow = 500 * time.Millisecond

// Stage folds partials into job state.
type Stage struct {
	Store      job.Store
	Transports map[string]transport.Transport
	Now        func() time.Time
	Log        *slog.Logger

	// Folder batches the folds of concurrent invocations per shard; its
	// Window (zero here, DefaultFoldWindow in the merge binary) trades a
	// partial's wait for fewer shard writes.
	Folder job.Folder
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stage) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Handle folds the partials a trigger delivered through the transport
// named medium (one message carries one unit's partial or several, see
// job.PartialsID). A nil error means every one of them is in the job's
// state (now or before); an error means "retry".
func (s *Stage) Handle(ctx context.Context, medium string, d transport.Delivery) error {
	in, ok := s.Transports[medium]
	if !ok {
		return fmt.Errorf("merge: no transport %q", medium)
	}
	msg, err := in.Open(ctx, InTopic, d)
	if errors.Is(err, storage.ErrNotFound) {
		// The body is gone only after Done, which follows the fold. The
		// completion check that followed that fold may have failed, though:
		// run it again, so that no delivery of a folded unit can leave a
		// complete job running.
		s.log().Info("partial already merged", "id", msg.ID)
		if id, _, ok := job.ParseMessageUnits(msg.ID); ok {
			if err := s.complete(ctx, id); err != nil {
				return fmt.Errorf("merge: message %s: %w", msg.ID, err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: open delivery: %w", err)
	}
	ms, err := job.DecodePartials(msg.ID, msg.Body)
	if err != nil {
		return job.NoteFailure(ctx, s.Store, s.log(), msg.ID, fmt.Errorf("merge: message %s: bad partial: %w", msg.ID, err))
	}
	if err := s.fold(ctx, ms); err != nil {
		return job.NoteFailure(ctx, s.Store, s.log(), msg.ID, fmt.Errorf("merge: %w", err))
	}
	if err := in.Done(ctx, InTopic, msg); err != nil {
		s.log().Warn("could not release partial message", "id", msg.ID, "err", err)
	}
	return nil
}

// fold folds the partials of one message, all of one job, each exactly
// once, and runs the job's completion check where a fold completed its
// shard. The partials go to the Folder together, so those of one shard
// share one write.
func (s *Stage) fold(ctx context.Context, ms []*job.PartialMsg) error {
	outs := make([]job.FoldOutcome, len(ms))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { outs[i], errs[i] = s.Folder.Fold(ctx, s.Store, m) })
	}
	wg.Wait()
	for i, m := range ms {
		if errs[i] != nil {
			return fmt.Errorf("fold unit %d of job %s: %w", m.Index, m.Job, errs[i])
		}
	}
	checked := map[int]bool{}
	for i, m := range ms {
		k := job.ShardOf(m.Index, m.Shards)
		if !outs[i].ShardComplete || checked[k] {
			continue
		}
		checked[k] = true
		all, err := job.ShardDone(ctx, s.Store, m.Job, k, m.Shards)
		if err != nil {
			return fmt.Errorf("job %s: %w", m.Job, err)
		}
		if all {
			if _, err := job.Finish(ctx, s.Store, m.Job, m.Count, m.Shards, s.now()); err != nil {
				return fmt.Errorf("finish job %s: %w", m.Job, err)
			}
			return nil
		}
	}
	return nil
}

// Poison fails the job of a message that ended in a poison queue after
// every retry: topic is the topic the message was sent on (units or
// partials) and medium the transport that carried it. The job's reason
// names the unit and its last recorded error; the message is then released
// with the transport's Done.
//
// A poison queue has no poison queue of its own, so Poison returns an error
// only for what a retry can fix (storage trouble): a message that can never
// succeed — unreadable, naming no unit, naming a job or unit that does not
// exist — is kept as a dead letter in the job store
// (deadletters/<topic>/...) for an operator and acknowledged. A unit that
// has been folded does not fail its job; its delivery re-runs the job's
// completion check instead, which the folding delivery may not have
// finished.
func (s *Stage) Poison(ctx context.Context, medium, topic string, d transport.Delivery) error {
	in, ok := s.Transports[medium]
	if !ok {
		return s.deadLetter(ctx, medium, topic, d, "", fmt.Sprintf("no transport %q in this app", medium))
	}
	msg, err := in.Open(ctx, topic, d)
	if err != nil && msg.ID == "" {
		return s.deadLetter(ctx, medium, topic, d, "", fmt.Sprintf("unreadable message: %v", err))
	}
	id, units, ok := job.ParseMessageUnits(msg.ID)
	if !ok {
		if err := s.deadLetter(ctx, medium, topic, d, msg.ID, "the message ID names no job unit"); err != nil {
			return err
		}
		s.release(ctx, in, topic, msg)
		return nil
	}
	rec, err := job.Get(ctx, s.Store, id)
	if errors.Is(err, storage.ErrNotFound) {
		if err := s.deadLetter(ctx, medium, topic, d, msg.ID, fmt.Sprintf("no job %q", id)); err != nil {
			return err
		}
		s.release(ctx, in, topic, msg)
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: poison message %s: %w", msg.ID, err)
	}
	if last := units[len(units)-1]; rec.Plan != nil && last >= rec.Plan.Units {
		if err := s.deadLetter(ctx, medium, topic, d, msg.ID, fmt.Sprintf("job %s has %d units, not a unit %d", id, rec.Plan.Units, last)); err != nil {
			return err
		}
		s.release(ctx, in, topic, msg)
		return nil
	}
	// A stray copy of a unit that has been folded (a late duplicate that
	// kept failing, or a partial whose completion check failed on every
	// try) must not fail a job whose answer is complete; a message of
	// several units fails the job for the first unit not folded.
	unit := -1
	for _, u := range units {
		applied, err := job.Applied(ctx, s.Store, id, u)
		if err != nil {
			return fmt.Errorf("merge: poison unit %d of job %s: %w", u, id, err)
		}
		if !applied {
			unit = u
			break
		}
	}
	if unit < 0 {
		s.log().Info("poison message for units already merged", "id", msg.ID)
		if err := s.complete(ctx, id); err != nil {
			return fmt.Errorf("merge: poison message %s: %w", msg.ID, err)
		}
		s.release(ctx, in, topic, msg)
		return nil
	}
	last, err := job.LastError(ctx, s.Store, id, unit)
	if err != nil {
		return fmt.Errorf("merge: poison unit %d of job %s: %w", unit, id, err)
	}
	if last == "" {
		last = "no error was recorded (the handler may have crashed or timed out)"
	}
	stage := "aggregate"
	if topic == InTopic {
		stage = "merge"
	}
	reason := fmt.Sprintf("unit %d failed in the %s stage on every retry: %s", unit, stage, last)
	if err := job.Fail(ctx, s.Store, id, unit, reason, s.now()); err != nil {
		return fmt.Errorf("merge: fail job %s: %w", id, err)
	}
	s.log().Warn("job failed", "job", id, "unit", unit, "reason", reason)
	// The job holds the reason now; release what the transport keeps for
	// the message (a blob transport's message blob, a queue overflow blob),
	// as a stage does after applying a message, so nothing is left behind.
	s.release(ctx, in, topic, msg)
	return nil
}

// complete runs a running job's completion check: if every unit is
// folded, the job gets its result and is done.
func (s *Stage) complete(ctx context.Context, id string) error {
	rec, err := job.Get(ctx, s.Store, id)
	if err != nil {
		return err
	}
	if rec.State != job.Running || rec.Plan == nil {
		return nil
	}
	if _, err := job.Finish(ctx, s.Store, id, rec.Plan.Units, rec.Plan.Shards, s.now()); err != nil {
		return fmt.Errorf("finish job %s: %w", id, err)
	}
	return nil
}

// release lets the transport drop what it keeps for a handled message.
func (s *Stage) release(ctx context.Context, in transport.Transport, topic string, msg transport.Message) {
	if err := in.Done(ctx, topic, msg); err != nil {
		s.log().Warn("could not release poisoned message", "id", msg.ID, "err", err)
	}
}

package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// PlanTopic names the control queue of plan messages, <prefix>plans
// (partition/functions/Plan). It is a queue whatever a job's transport: a
// plan message is one small control message per job, and the queue
// trigger gives the plan function retries, a poison queue and, written by
// the job API's output binding in the same app, an immediate wake-up.
const PlanTopic = "plans"

// DefaultSendBatch is how many units the plan function sends between two
// records of its progress. A record costs two storage requests (a read and
// a conditional write of job.json) against at least one per unit sent, so
// 256 units keep the bookkeeping under 1 %; a crash re-sends at most one
// batch, which the units' deterministic message IDs make harmless, in well
// under a second.
const DefaultSendBatch = 256

// PlanMessage is the text of a plan message: a JSON object, not a bare ID,
// because the host base64-decodes a string output that happens to be valid
// base64 (a 16-hex-digit ID is).
type PlanMessage struct {
	Job string `json:"job"`
}

// planMessage encodes the plan message of job id.
func planMessage(id string) string {
	b, err := json.Marshal(PlanMessage{Job: id})
	if err != nil {
		panic(err) // a struct of one string always encodes
	}
	return string(b)
}

// parsePlanMessage reads a plan message; an error means the message names
// no job and never will.
func parsePlanMessage(text string) (string, error) {
	var m PlanMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return "", fmt.Errorf("not a plan message: %w", err)
	}
	if err := job.CheckID(m.Job); err != nil {
		return "", fmt.Errorf("plan message: %w", err)
	}
	return m.Job, nil
}

func (s *Service) sendBatch() int {
	if s.SendBatch > 0 {
		return s.SendBatch
	}
	return DefaultSendBatch
}

// Plan plans a stored job and sends its units: it lists the input, cuts
// the units, writes the plan (once: job.SetPlan) and sends the units in
// batches of SendBatch, recording after each batch how many are sent. It
// is idempotent and resumable: a job already sent, done or failed is left
// alone; a job planned but not wholly sent carries on from its recorded
// progress (the units of the batch a crash interrupted are sent again
// under the same message IDs, which merge folds once).
//
// A job that can never be planned (no input blob, too many units, an input
// the policy refuses, a transport not configured here) is failed with the
// reason and Plan returns nil. Other errors are worth a retry; they are
// recorded as the job's planning error, the reason given should the plan
// message be poisoned (PlanPoisoned).
func (s *Service) Plan(ctx context.Context, id string) error {
	rec, err := job.Get(ctx, s.Store, id)
	if err != nil {
		return err
	}
	if rec.State.Final() || rec.Sent {
		return nil
	}
	if err := s.plan(ctx, rec); err != nil {
		var refused *planRefused
		if errors.As(err, &refused) {
			return job.Fail(ctx, s.Store, id, -1, "planning: "+refused.err.Error(), s.now())
		}
		if rerr := job.RecordError(ctx, s.Store, id, job.PlanningUnit, err.Error()); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// planRefused wraps an error that no retry of planning can fix.
type planRefused struct{ err error }

func (e *planRefused) Error() string { return e.err.Error() }
func (e *planRefused) Unwrap() error { return e.err }

func (s *Service) plan(ctx context.Context, rec *job.Record) error {
	id := rec.Spec.ID
	tr, ok := s.Transports[rec.Spec.Transport]
	if !ok {
		return &planRefused{fmt.Errorf("transport %q is not configured here", rec.Spec.Transport)}
	}
	var planned *job.Plan // the plan, when this call recorded it
	if rec.Plan == nil {
		if err := s.Policy.Check(rec.Spec.Input.Container); err != nil {
			return &planRefused{err}
		}
		files, err := s.inputFiles(ctx, rec.Spec.Input)
		var p job.Plan
		if err == nil {
			p, err = job.PlanFor(&rec.Spec, files)
		}
		if errors.Is(err, job.ErrInvalid) {
			return &planRefused{err}
		}
		if err != nil {
			return err
		}
		if rec, planned, err = job.SetPlan(ctx, s.Store, id, p, s.now()); err != nil {
			return err
		}
	}
	units, err := s.workUnits(ctx, rec, planned)
	if err != nil {
		return err
	}
	batch := s.sendBatch()
	for from := rec.SentUnits; from < len(units); from += batch {
		end := min(from+batch, len(units))
		if err := sendUnits(ctx, tr, id, units[from:end]); err != nil {
			return err
		}
		if rec, err = job.MarkSentUpTo(ctx, s.Store, id, end); err != nil {
			return err
		}
		if rec.State.Final() {
			return nil // failed meanwhile (a poisoned unit): stop sending
		}
	}
	if len(units) == 0 {
		// A job of empty files has nothing to send and is finished at once.
		if _, err := job.MarkSentUpTo(ctx, s.Store, id, 0); err != nil {
			return err
		}
		_, err := job.Finish(ctx, s.Store, id, 0, 1, s.now())
		return err
	}
	return nil
}

// PlanPoisoned handles a plan message that failed on every retry (it is in
// <prefix>plans-poison): a job not yet wholly sent fails with the last
// recorded planning error. A message that names no job, or an unknown one,
// is kept as a dead letter. It returns an error only when storage fails,
// never for the message itself, so that a poison message does not loop.
func (s *Service) PlanPoisoned(ctx context.Context, log *slog.Logger, text string) error {
	id, err := parsePlanMessage(text)
	if err != nil {
		return s.deadLetter(ctx, log, text, "", err.Error())
	}
	rec, err := job.Get(ctx, s.Store, id)
	if errors.Is(err, storage.ErrNotFound) {
		return s.deadLetter(ctx, log, text, id, fmt.Sprintf("no job %q", id))
	}
	if err != nil {
		return err
	}
	if rec.State.Final() || rec.Sent {
		return nil
	}
	last, err := job.LastError(ctx, s.Store, id, job.PlanningUnit)
	if err != nil {
		return err
	}
	if last == "" {
		last = "no error was recorded (the handler may have crashed or timed out)"
	}
	reason := "planning failed on every retry: " + last
	log.Warn("job failed", "job", id, "reason", reason)
	return job.Fail(ctx, s.Store, id, -1, reason, s.now())
}

// deadLetter keeps a plan message that can never succeed, in the form
// merge keeps the transports' (merge.DeadLetter), and logs it.
func (s *Service) deadLetter(ctx context.Context, log *slog.Logger, text, id, reason string) error {
	dl := merge.DeadLetter{Medium: "queue", Topic: PlanTopic, ID: id, Reason: reason, Text: text, At: s.now().UTC()}
	data, err := json.Marshal(&dl)
	if err != nil {
		return fmt.Errorf("plan: dead letter: %w", err)
	}
	name := merge.DeadLetterName(PlanTopic, transport.Delivery{Text: text})
	if _, err := s.Store.Put(ctx, name, data, job.Cond{}); err != nil {
		return fmt.Errorf("plan: keep dead letter %s: %w", name, err)
	}
	log.Warn("plan message kept as a dead letter", "id", id, "reason", reason, "record", name)
	return nil
}

// handlePlan is the Plan function: a queue trigger on <prefix>plans.
func (s *Service) handlePlan(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	text, err := inv.QueueMessage("msg")
	if err != nil {
		return nil, err
	}
	id, err := parsePlanMessage(text)
	if err != nil {
		// No retry can make it name a job.
		return nil, s.deadLetter(ctx, inv.Log, text, "", err.Error())
	}
	err = s.Plan(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		if _, gerr := job.Get(ctx, s.Store, id); errors.Is(gerr, storage.ErrNotFound) {
			// The job API stores a job before it sends its plan message,
			// so this job does not exist and never will.
			return nil, s.deadLetter(ctx, inv.Log, text, id, fmt.Sprintf("no job %q", id))
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// handlePlanPoison is the PlansPoison function: a queue trigger on
// <prefix>plans-poison.
func (s *Service) handlePlanPoison(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	text, err := inv.QueueMessage("msg")
	if err != nil {
		return nil, err
	}
	return nil, s.PlanPoisoned(ctx, inv.Log, text)
}

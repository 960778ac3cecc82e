package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/storage"
)

// State is where a job stands. A job moves Planning → Running → Done, or to
// Failed from Planning or Running; Done and Failed are final. Planning
// starts when the job API has stored the spec and lasts until the plan
// function (partition) has written the plan; Running until every unit is
// folded.
type State string

// States of a job.
const (
	Planning State = "planning"
	Running  State = "running"
	Done     State = "done"
	Failed   State = "failed"
)

// Final reports whether s is Done or Failed: nothing changes a job after.
func (s State) Final() bool { return s == Done || s == Failed }

// ErrExists is returned by Create for an ID already used by another spec.
var ErrExists = errors.New("job exists with a different spec")

// Record is a job's durable record, jobs/<id>/job.json.
type Record struct {
	Spec  Spec  `json:"spec"`
	State State `json:"state"`
	// Plan summarises the plan, kept whole in jobs/<id>/plan.json.
	Plan      *PlanSummary `json:"plan,omitempty"`
	Submitted time.Time    `json:"submitted"`
	Planned   time.Time    `json:"planned,omitzero"`
	Finished  time.Time    `json:"finished,omitzero"`
	Failure   string       `json:"failure,omitempty"`
	// Sent is set once every unit of the plan has been sent; before that,
	// SentUnits says how many have been (units 0 to SentUnits-1: the plan
	// function sends in order and records its progress in batches, so a
	// restart carries on from there).
	Sent      bool `json:"sent,omitempty"`
	SentUnits int  `json:"sent_units,omitempty"`
	// FailedUnits lists the units whose messages ended in a poison queue.
	FailedUnits []int `json:"failed_units,omitempty"`
	// Attempts lists the failed attempts before a retry (Retry), oldest
	// first; Retry is the retry under way, if any.
	Attempts []Attempt   `json:"attempts,omitempty"`
	Retry    *RetryState `json:"retry,omitempty"`
}

// Shard is one merge shard, jobs/<id>/shard-<k>.json: the units folded into
// it and their combined partial.
type Shard struct {
	Applied []int              `json:"applied"` // sorted unit indices
	Partial *aggregate.Partial `json:"partial"`
	Bytes   int64              `json:"bytes"`
	// First and Last bound the aggregate invocations folded in: the earliest
	// start and the latest finish.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
}

func recordName(id string) string       { return "jobs/" + id + "/job.json" }
func planName(id string) string         { return "jobs/" + id + "/plan.json" }
func shardName(id string, k int) string { return fmt.Sprintf("jobs/%s/shard-%03d.json", id, k) }
func errorName(id string, i int) string {
	if i == PlanningUnit {
		return "jobs/" + id + "/errors/plan"
	}
	return fmt.Sprintf("jobs/%s/errors/%06d", id, i)
}

// PlanningUnit stands for a job's planning where a unit index is taken:
// RecordError and LastError keep the last error of planning under it.
const PlanningUnit = -1

func shardsDoneName(id string) string { return "jobs/" + id + "/shards-done.json" }

// ResultName is the blob name of a job's result in the given format
// ("json" or "csv").
func ResultName(id, format string) string { return "results/" + id + "." + format }

// Create writes a new job record in state planning. If the ID is taken by the
// same spec it returns the existing record (idempotent resubmission); by a
// different spec, an error wrapping ErrExists.
func Create(ctx context.Context, st Store, s Spec, now time.Time) (*Record, error) {
	var out Record
	_, err := update(ctx, st, recordName(s.ID), func(cur []byte) ([]byte, error) {
		if cur != nil {
			if err := json.Unmarshal(cur, &out); err != nil {
				return nil, fmt.Errorf("job %s: corrupt record: %w", s.ID, err)
			}
			if !out.Spec.Same(&s) {
				return nil, fmt.Errorf("job %s: %w", s.ID, ErrExists)
			}
			return nil, nil
		}
		out = Record{Spec: s, State: Planning, Submitted: now.UTC()}
		return json.Marshal(&out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Get reads a job record; a missing job is an error wrapping
// storage.ErrNotFound.
func Get(ctx context.Context, st Store, id string) (*Record, error) {
	return getDoc[Record](ctx, st, id, recordName(id), "", "record")
}

// getDoc reads and decodes one of a job's documents; prefix goes before
// a read error ("plan: "), what names the document in a decoding error.
func getDoc[T any](ctx context.Context, st Store, id, name, prefix, what string) (*T, error) {
	data, _, err := st.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("job %s: %s%w", id, prefix, err)
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("job %s: corrupt %s: %w", id, what, err)
	}
	return &v, nil
}

// modify applies fn to a job's record under optimistic concurrency; fn
// returns false to leave it unchanged.
func modify(ctx context.Context, st Store, id string, fn func(r *Record) (bool, error)) (*Record, error) {
	var r Record
	_, err := update(ctx, st, recordName(id), func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, fmt.Errorf("job %s: %w", id, storage.ErrNotFound)
		}
		r = Record{}
		if err := json.Unmarshal(cur, &r); err != nil {
			return nil, fmt.Errorf("job %s: corrupt record: %w", id, err)
		}
		changed, err := fn(&r)
		if err != nil || !changed {
			return nil, err
		}
		return json.Marshal(&r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// SetPlan records the plan and moves the job to running: the plan goes to
// its own document (created once, If-None-Match), its summary to the job
// record. Planning is deterministic, so a repeated SetPlan for the same
// plan is a no-op; a different plan (the input changed between two
// attempts) is kept as first written. It returns the record and the plan
// recorded, whose units the caller must send.
func SetPlan(ctx context.Context, st Store, id string, p Plan, now time.Time) (*Record, *Plan, error) {
	data, err := json.Marshal(&p)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: encode plan: %w", id, err)
	}
	written := &p
	if _, err := st.Put(ctx, planName(id), data, Cond{IfNoneMatch: true}); errors.Is(err, storage.ErrConflict) {
		// An earlier attempt wrote it: that one stands.
		if written, err = GetPlan(ctx, st, id); err != nil {
			return nil, nil, err
		}
	} else if err != nil {
		return nil, nil, fmt.Errorf("job %s: write plan: %w", id, err)
	}
	sum := written.Summary()
	rec, err := modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.Plan != nil {
			return false, nil
		}
		r.Plan = &sum
		r.Planned = now.UTC()
		if r.State == Planning {
			r.State = Running
		}
		return true, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rec, written, nil
}

// GetPlan reads a job's plan; a job not planned yet gives an error
// wrapping storage.ErrNotFound.
func GetPlan(ctx context.Context, st Store, id string) (*Plan, error) {
	return getDoc[Plan](ctx, st, id, planName(id), "plan: ", "plan")
}

// MarkSent records that every unit of the plan has been sent.
func MarkSent(ctx context.Context, st Store, id string) (*Record, error) {
	return modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.Sent {
			return false, nil
		}
		r.Sent = true
		return true, nil
	})
}

// MarkSentUpTo records that units 0 to n-1 of a planned job have been sent;
// n covering the whole plan marks the job sent. Progress only moves
// forward: a smaller n (a late duplicate sender) changes nothing.
func MarkSentUpTo(ctx context.Context, st Store, id string, n int) (*Record, error) {
	return modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.Plan == nil {
			return false, fmt.Errorf("job %s: units sent before the job was planned", id)
		}
		n = min(n, r.Plan.Units)
		if r.Sent || (n <= r.SentUnits && n < r.Plan.Units) {
			return false, nil
		}
		r.SentUnits = n
		r.Sent = n == r.Plan.Units
		return true, nil
	})
}

// Fail marks a job failed with a reason, unless it is already done. unit
// names the work unit that failed, or is -1 for a failure of the whole job.
// The first failure's reason is kept; every failed unit is listed.
func Fail(ctx context.Context, st Store, id string, unit int, reason string, now time.Time) error {
	_, err := modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.State == Done {
			return false, nil
		}
		changed := false
		if unit >= 0 {
			if i, found := slices.BinarySearch(r.FailedUnits, unit); !found {
				r.FailedUnits = slices.Insert(r.FailedUnits, i, unit)
				changed = true
			}
		}
		if r.State != Failed {
			r.State = Failed
			r.Failure = reason
			r.Finished = now.UTC()
			changed = true
		}
		return changed, nil
	})
	return err
}

// maxErrorText bounds a recorded unit error: storage errors can carry a
// whole XML response, and the reason is shown in the job's status.
const maxErrorText = 1000

// RecordError keeps the last error of a failing unit, so that the job can
// give the reason when the unit's message ends in the poison queue. The
// error is kept on one line, without the response body a storage error
// carries (its status and error code stay), cut to maxErrorText bytes.
// unit PlanningUnit keeps the last error of the job's planning.
func RecordError(ctx context.Context, st Store, id string, unit int, msg string) error {
	_, err := st.Put(ctx, errorName(id, unit), []byte(errorText(msg)), Cond{})
	return err
}

// NoteFailure records err as the last error of each unit that message ID
// msgID names (UnitID, PartialID or PartialsID; nothing is recorded for an
// ID that names no unit) and returns err, so that a stage can write
// "return job.NoteFailure(...)". Should the message end in a poison queue,
// the job fails with this reason. A failure to record is only logged: err
// is what the caller acts on.
func NoteFailure(ctx context.Context, st Store, log *slog.Logger, msgID string, err error) error {
	jobID, units, _ := ParseMessageUnits(msgID)
	for _, unit := range units {
		if rerr := RecordError(ctx, st, jobID, unit, err.Error()); rerr != nil {
			log.Warn("could not record unit error", "job", jobID, "unit", unit, "err", rerr)
		}
	}
	return err
}

// errorText folds an error message onto one line: rule lines are dropped,
// and so is everything from the first line that opens a response body.
func errorText(msg string) string {
	var parts []string
	for line := range strings.Lines(msg) {
		line = strings.TrimSpace(line)
		if line == "" || strings.Trim(line, "-=") == "" {
			continue
		}
		if strings.HasPrefix(line, "<") || strings.HasPrefix(line, "{") {
			break
		}
		parts = append(parts, line)
	}
	out := strings.Join(parts, "; ")
	if len(out) > maxErrorText {
		out = strings.ToValidUTF8(out[:maxErrorText], "") + " …"
	}
	return out
}

// Applied reports whether unit has been folded into its job's merge state.
// A job without a plan has applied nothing.
func Applied(ctx context.Context, st Store, id string, unit int) (bool, error) {
	rec, err := Get(ctx, st, id)
	if err != nil {
		return false, err
	}
	if rec.Plan == nil || unit < 0 || unit >= rec.Plan.Units {
		return false, nil
	}
	sh, err := readShard(ctx, st, id, ShardOf(unit, rec.Plan.Shards))
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(sh.Applied, unit)
	return found, nil
}

// LastError returns the recorded last error of a unit, or "" if none.
func LastError(ctx context.Context, st Store, id string, unit int) (string, error) {
	data, _, err := st.Get(ctx, errorName(id, unit))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	return string(data), err
}

func (m *PartialMsg) check() error {
	switch {
	case m.Job == "" || !idPattern.MatchString(m.Job):
		return fmt.Errorf("partial: bad job id %q", m.Job)
	case m.Count < 1 || m.Index < 0 || m.Index >= m.Count:
		return fmt.Errorf("partial: unit %d of %d out of range", m.Index, m.Count)
	case m.Shards < 1 || m.Shards > m.Count:
		return fmt.Errorf("partial: %d shards for %d units", m.Shards, m.Count)
	case m.Partial == nil:
		return fmt.Errorf("partial: unit %d has no partial", m.Index)
	}
	return nil
}

// readShard reads merge shard k of a job; a shard not written yet is empty.
func readShard(ctx context.Context, st Store, id string, k int) (*Shard, error) {
	data, _, err := st.Get(ctx, shardName(id, k))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("job %s shard %d: %w", id, k, err)
	}
	sh, err := decodeShard(data)
	if err != nil {
		return nil, fmt.Errorf("job %s shard %d: %w", id, k, err)
	}
	return sh, nil
}

func decodeShard(data []byte) (*Shard, error) {
	sh := &Shard{Partial: &aggregate.Partial{}}
	if data == nil {
		return sh, nil
	}
	if err := json.Unmarshal(data, sh); err != nil {
		return nil, fmt.Errorf("corrupt shard: %w", err)
	}
	if sh.Partial == nil {
		sh.Partial = &aggregate.Partial{}
	}
	return sh, nil
}

// ShardDone records that merge shard k of a job holds all its units and
// reports whether every one of the job's shards now does. It is idempotent,
// and it lets a merge learn that the job is complete from one small record
// instead of reading every shard each time a shard fills up.
func ShardDone(ctx context.Context, st Store, id string, k, shards int) (bool, error) {
	if k < 0 || k >= shards {
		return false, fmt.Errorf("job %s: shard %d of %d out of range", id, k, shards)
	}
	var done []int
	_, err := update(ctx, st, shardsDoneName(id), func(cur []byte) ([]byte, error) {
		done = nil
		if cur != nil {
			if err := json.Unmarshal(cur, &done); err != nil {
				return nil, fmt.Errorf("job %s: corrupt shard list: %w", id, err)
			}
		}
		i, found := slices.BinarySearch(done, k)
		if found {
			return nil, nil
		}
		done = slices.Insert(done, i, k)
		return json.Marshal(done)
	})
	if err != nil {
		return false, err
	}
	return len(done) >= shards, nil
}

// Progress is the merged view of a job's shards.
type Progress struct {
	Done    int
	Partial *aggregate.Partial
	Bytes   int64
	First   time.Time
	Last    time.Time
}

// ReadProgress reads and combines every merge shard of a job.
func ReadProgress(ctx context.Context, st Store, id string, shards int) (*Progress, error) {
	p := &Progress{Partial: &aggregate.Partial{}}
	for k := 0; k < shards; k++ {
		sh, err := readShard(ctx, st, id, k)
		if err != nil {
			return nil, err
		}
		p.Done += len(sh.Applied)
		p.Partial.Merge(sh.Partial)
		p.Bytes += sh.Bytes
		if !sh.First.IsZero() && (p.First.IsZero() || sh.First.Before(p.First)) {
			p.First = sh.First
		}
		if sh.Last.After(p.Last) {
			p.Last = sh.Last
		}
	}
	return p, nil
}

// Result is a finished job's result: the kernel's result plus the job ID and
// its elapsed time.
type Result struct {
	Job            string  `json:"job"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	aggregate.Result
}

// Finish checks whether every unit of the job has been folded and, if so,
// writes the result (JSON and CSV) and marks the job done. It is idempotent
// and safe to call concurrently: each result document is created once
// (If-None-Match), so the first finisher's answer is the one kept and later
// finishers write nothing; the per-nation figures are a function of the
// folded units only, so any finisher would have written the same figures.
// The result is written before the state changes, so whoever sees "done"
// finds it. Finish reports whether the job is done when it returns: false
// for a job with units still missing and for a failed job, even if every
// unit is in.
func Finish(ctx context.Context, st Store, id string, count, shards int, now time.Time) (bool, error) {
	rec, err := Get(ctx, st, id)
	if err != nil {
		return false, err
	}
	if rec.State == Done {
		return true, nil
	}
	if rec.State == Failed {
		return false, nil
	}
	p, err := ReadProgress(ctx, st, id, shards)
	if err != nil {
		return false, err
	}
	if p.Done < count {
		return false, nil
	}
	res := Result{Job: id, ElapsedSeconds: now.Sub(rec.Submitted).Seconds(), Result: *aggregate.NewResult(p.Partial)}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return false, err
	}
	js = append(js, '\n')
	var csv bytes.Buffer
	if err := res.Result.WriteCSV(&csv); err != nil {
		return false, err
	}
	if err := createOnce(ctx, st, ResultName(id, "json"), js); err != nil {
		return false, err
	}
	if err := createOnce(ctx, st, ResultName(id, "csv"), csv.Bytes()); err != nil {
		return false, err
	}
	r, err := modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.State.Final() {
			return false, nil
		}
		r.State = Done
		r.Finished = now.UTC()
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return r.State == Done, nil
}

// createOnce writes a document that must not change once written: if it
// exists already, the one in storage stands.
func createOnce(ctx context.Context, st Store, name string, data []byte) error {
	_, err := st.Put(ctx, name, data, Cond{IfNoneMatch: true})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return err
	}
	return nil
}

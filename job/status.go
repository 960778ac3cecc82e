package job

import (
	"context"
	"time"

	"github.com/funnelpipe/funnel/aggregate"
)

// Status is what GET /api/jobs/{id} answers: where a job stands.
type Status struct {
	ID        string `json:"id"`
	State     State  `json:"state"`
	Transport string `json:"transport"`
	Failure   string `json:"failure,omitempty"`
	// Sent says that every unit of the plan has been sent (the
	// reconciler sends a job whose submit stopped before that).
	Sent  bool       `json:"sent"`
	Files int        `json:"files"`
	Bytes int64      `json:"bytes"`
	Units UnitCounts `json:"units"`
	// UnitBytes is the unit size the plan used; UnitSizeAuto says that
	// partition chose it from the input size and Parallelism, UnitRule
	// which bound decided (UnitRule*: the parallelism, the transport's
	// floor or the cap).
	UnitBytes    int64              `json:"unit_bytes,omitempty"`
	UnitSizeAuto bool               `json:"unit_size_auto,omitempty"`
	Parallelism  int                `json:"parallelism,omitempty"`
	UnitRule     string             `json:"unit_rule,omitempty"`
	Rows         RowCounts          `json:"rows"`
	Timings      Timings            `json:"timings"`
	Result       *Result            `json:"result,omitempty"`
	Samples      []aggregate.Sample `json:"rejected_samples,omitempty"`
}

// UnitCounts counts work units.
type UnitCounts struct {
	Planned int `json:"planned"`
	// Sent counts the units sent so far (all of them once Sent is set).
	Sent   int `json:"sent"`
	Done   int `json:"done"`
	Failed int `json:"failed"`
}

// RowCounts counts rows folded so far.
type RowCounts struct {
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
}

// Timings are the job's milestones and the time spent per stage.
type Timings struct {
	Submitted time.Time `json:"submitted"`
	Planned   time.Time `json:"planned,omitzero"`
	// FirstUnit and LastUnit bound the aggregate invocations folded so far.
	FirstUnit time.Time `json:"first_unit,omitzero"`
	LastUnit  time.Time `json:"last_unit,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// Seconds per stage: partition (submit to planned), dispatch (planned
	// to the first unit's start: the trigger noticing the first message),
	// aggregate (first unit start to last unit finish), merge (last unit
	// finish to done), and the whole job so far.
	PartitionSeconds float64 `json:"partition_seconds"`
	DispatchSeconds  float64 `json:"dispatch_seconds"`
	AggregateSeconds float64 `json:"aggregate_seconds"`
	MergeSeconds     float64 `json:"merge_seconds"`
	ElapsedSeconds   float64 `json:"elapsed_seconds"`
}

// ReadStatus assembles a job's status from its record and merge shards.
func ReadStatus(ctx context.Context, st Store, id string, now time.Time) (*Status, error) {
	rec, err := Get(ctx, st, id)
	if err != nil {
		return nil, err
	}
	s := &Status{
		ID: id, State: rec.State, Transport: rec.Spec.Transport, Failure: rec.Failure, Sent: rec.Sent,
		Timings: Timings{Submitted: rec.Submitted, Planned: rec.Planned, Finished: rec.Finished},
	}
	end := now
	if !rec.Finished.IsZero() {
		end = rec.Finished
	}
	s.Timings.ElapsedSeconds = end.Sub(rec.Submitted).Seconds()
	if !rec.Planned.IsZero() {
		s.Timings.PartitionSeconds = rec.Planned.Sub(rec.Submitted).Seconds()
	}
	if rec.Plan == nil {
		return s, nil
	}
	s.Files = rec.Plan.Files
	s.Bytes = rec.Plan.Bytes
	s.Units.Planned = rec.Plan.Units
	s.Units.Sent = rec.SentUnits
	if rec.Sent {
		s.Units.Sent = rec.Plan.Units
	}
	s.UnitBytes, s.UnitSizeAuto, s.Parallelism, s.UnitRule = rec.Plan.UnitBytes, rec.Plan.AutoUnit, rec.Plan.Parallelism, rec.Plan.UnitRule
	p, err := ReadProgress(ctx, st, id, rec.Plan.Shards)
	if err != nil {
		return nil, err
	}
	s.Units.Done = p.Done
	s.Units.Failed = len(rec.FailedUnits)
	s.Rows = RowCounts{Accepted: p.Partial.Rows, Rejected: p.Partial.Rejected}
	s.Samples = p.Partial.Samples
	s.Timings.FirstUnit, s.Timings.LastUnit = p.First, p.Last
	if !p.First.IsZero() {
		s.Timings.AggregateSeconds = p.Last.Sub(p.First).Seconds()
		if !rec.Planned.IsZero() {
			s.Timings.DispatchSeconds = max(0, p.First.Sub(rec.Planned).Seconds())
		}
	}
	if rec.State == Done && !p.Last.IsZero() {
		s.Timings.MergeSeconds = rec.Finished.Sub(p.Last).Seconds()
	}
	if rec.State == Done {
		r := Result{Job: id, ElapsedSeconds: s.Timings.ElapsedSeconds, Result: *aggregate.NewResult(p.Partial)}
		s.Result = &r
	}
	return s, nil
}

package bench

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrBadMeasurement marks a measurement that cannot be summarised: an
// invocation record, counter or configuration with a missing or impossible
// value.
var ErrBadMeasurement = errors.New("bench: bad measurement")

// Outcome is how an invocation ended.
type Outcome string

// Invocation outcomes. A failed invocation (non-2xx answer, crash, timeout)
// is still billed and still counted.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// InvocationRecord is one function invocation as the host saw it.
type InvocationRecord struct {
	// Function is the function's name (its folder name), e.g. "aggregate".
	Function string `json:"function"`
	// Instance identifies the handler process that ran the invocation;
	// unique within a run across all apps.
	Instance string `json:"instance"`
	// Start is when the host sent the invocation to the handler.
	Start time.Time `json:"start"`
	// DurationMS is how long the invocation took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	Outcome    Outcome `json:"outcome"`
	// DequeueCount is the trigger message's delivery count (1 on first
	// delivery; 0 for triggers without one).
	DequeueCount int `json:"dequeue_count"`
	// BytesIn and BytesOut are the payload bytes the invocation read and
	// wrote (trigger, input ranges, outputs).
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

// Duration is how long the invocation took.
func (r InvocationRecord) Duration() time.Duration {
	return time.Duration(math.Round(r.DurationMS * float64(time.Millisecond)))
}

// End is when the invocation finished.
func (r InvocationRecord) End() time.Time { return r.Start.Add(r.Duration()) }

// Validate reports a record that cannot be summarised.
func (r InvocationRecord) Validate() error {
	switch {
	case r.Function == "":
		return fmt.Errorf("%w: invocation without a function name", ErrBadMeasurement)
	case r.Instance == "":
		return fmt.Errorf("%w: %s invocation without an instance", ErrBadMeasurement, r.Function)
	case r.Start.IsZero():
		return fmt.Errorf("%w: %s invocation on %s without a start time", ErrBadMeasurement, r.Function, r.Instance)
	case math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) || r.DurationMS < 0:
		return fmt.Errorf("%w: %s invocation on %s has duration %v ms", ErrBadMeasurement, r.Function, r.Instance, r.DurationMS)
	case r.Outcome != OutcomeSuccess && r.Outcome != OutcomeFailure:
		return fmt.Errorf("%w: %s invocation on %s has outcome %q, want %q or %q", ErrBadMeasurement, r.Function, r.Instance, r.Outcome, OutcomeSuccess, OutcomeFailure)
	case r.DequeueCount < 0 || r.BytesIn < 0 || r.BytesOut < 0:
		return fmt.Errorf("%w: %s invocation on %s has a negative count", ErrBadMeasurement, r.Function, r.Instance)
	}
	return nil
}

// StageStats summarises the invocations of one function.
type StageStats struct {
	Function    string `json:"function"`
	Invocations int    `json:"invocations"`
	Failures    int    `json:"failures"`
	// Redeliveries counts invocations whose message had been delivered
	// before (dequeue count above 1).
	Redeliveries int `json:"redeliveries"`
	// Instances is how many distinct instances ran the function.
	Instances int `json:"instances"`
	// Duration percentiles over all invocations, failed ones included
	// (they are billed too), by the nearest-rank method.
	P50MS   float64 `json:"p50_ms"`
	P95MS   float64 `json:"p95_ms"`
	MaxMS   float64 `json:"max_ms"`
	MeanMS  float64 `json:"mean_ms"`
	TotalMS float64 `json:"total_ms"`
	// First is the earliest start, Last the latest end.
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
}

// stageRank puts the pipeline's stages first, in flow order.
func stageRank(fn string) (int, bool) {
	switch fn {
	case "partition", "plan":
		return 0, true
	case "aggregate":
		return 1, true
	case "merge":
		return 2, true
	}
	return 0, false
}

// Summarize computes per-function statistics from invocation records. The
// result has one entry per function: the pipeline's stages first in flow
// order (partition, aggregate, merge), then the others by name. An invalid
// record is an error wrapping ErrBadMeasurement; no records give no stats.
func Summarize(records []InvocationRecord) ([]StageStats, error) {
	type acc struct {
		s         StageStats
		durations []float64
		instances map[string]bool
	}
	byFunc := map[string]*acc{}
	for i, r := range records {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		a := byFunc[r.Function]
		if a == nil {
			a = &acc{s: StageStats{Function: r.Function}, instances: map[string]bool{}}
			byFunc[r.Function] = a
		}
		a.durations = append(a.durations, r.DurationMS)
		a.instances[r.Instance] = true
		s := &a.s
		s.TotalMS += r.DurationMS
		s.BytesIn += r.BytesIn
		s.BytesOut += r.BytesOut
		if r.Outcome == OutcomeFailure {
			s.Failures++
		}
		if r.DequeueCount > 1 {
			s.Redeliveries++
		}
		if s.First.IsZero() || r.Start.Before(s.First) {
			s.First = r.Start
		}
		if end := r.End(); end.After(s.Last) {
			s.Last = end
		}
	}
	out := make([]StageStats, 0, len(byFunc))
	for _, a := range byFunc {
		s := a.s
		s.Invocations = len(a.durations)
		s.Instances = len(a.instances)
		slices.Sort(a.durations)
		s.P50MS = Percentile(a.durations, 50)
		s.P95MS = Percentile(a.durations, 95)
		s.MaxMS = a.durations[len(a.durations)-1]
		s.MeanMS = s.TotalMS / float64(s.Invocations)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b StageStats) int { return compareFunctions(a.Function, b.Function) })
	return out, nil
}

// compareFunctions orders function (or app) names: the pipeline's stages
// first in flow order, then the others by name.
func compareFunctions(a, b string) int {
	ra, okA := stageRank(a)
	rb, okB := stageRank(b)
	if okA != okB {
		if okA {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a, b))
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted values by
// the nearest-rank method: the smallest value such that at least p percent
// of the values are at or below it. It returns 0 for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// lastEnd is the latest end of a successful invocation of fn (zero when
// there is none).
func lastEnd(records []InvocationRecord, fn string) time.Time {
	var last time.Time
	for _, r := range records {
		if r.Function == fn && r.Outcome == OutcomeSuccess && r.End().After(last) {
			last = r.End()
		}
	}
	return last
}

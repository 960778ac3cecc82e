package runner

import (
	"errors"
	"fmt"
	"slices"
	"time"

	agg "github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/testing_data/reference"
)

// ErrWrongAnswer marks a job result that differs from the exact answer.
var ErrWrongAnswer = errors.New("bench: wrong answer")

// stageFunctions maps each pipeline function to the stage it plays, for
// either transport; other functions (the job API's reads, the poison
// handlers) keep their own names in the report.
var stageFunctions = map[string]string{
	"Jobs":          "partition",
	"UnitsQueue":    "aggregate",
	"UnitsBlob":     "aggregate",
	"PartialsQueue": "merge",
	"PartialsBlob":  "merge",
}

// stageOf is the name a function's invocations are reported under.
func stageOf(function string) string {
	if s, ok := stageFunctions[function]; ok {
		return s
	}
	return function
}

// appRecords is one app's invocation records, as its host kept them.
type appRecords struct {
	App     string
	Records []funchost.Record
}

// windowRecords converts the invocations that started in [from, to] into
// InvocationRecords, named by stage and by instance "<app>/<index>", in
// start order. Invocations of other jobs cannot fall in the window: the
// runner runs one job at a time and waits for it to settle.
func windowRecords(apps []appRecords, from, to time.Time) []bench.InvocationRecord {
	var out []bench.InvocationRecord
	for _, a := range apps {
		for _, r := range a.Records {
			if r.Start.Before(from) || r.Start.After(to) {
				continue
			}
			outcome := bench.OutcomeSuccess
			if r.Outcome != funchost.OutcomeSuccess {
				outcome = bench.OutcomeFailure // failure or timeout: billed alike
			}
			out = append(out, bench.InvocationRecord{
				Function:     stageOf(r.Function),
				Instance:     instanceKey(a.App, r.Instance),
				Start:        r.Start,
				DurationMS:   r.DurationMS,
				Outcome:      outcome,
				DequeueCount: int(max(r.DequeueCount, 0)),
				BytesIn:      max(r.BytesIn, 0),
				BytesOut:     max(r.BytesOut, 0),
			})
		}
	}
	slices.SortStableFunc(out, func(a, b bench.InvocationRecord) int { return a.Start.Compare(b.Start) })
	return out
}

// apportionReads adds bytes, what a stage's processes read from blob
// storage during a run, to the BytesIn of the stage's successful
// invocations in equal shares (the first ones take the remainder). The
// host sees only an invocation's trigger payload, while an aggregate
// invocation reads its byte range of the input itself; this puts the
// bytes it read, on average, where the scale model looks for them.
func apportionReads(recs []bench.InvocationRecord, stage string, bytes int64) {
	if bytes <= 0 {
		return
	}
	var idx []int
	for i, r := range recs {
		if r.Function == stage && r.Outcome == bench.OutcomeSuccess {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	share, rest := bytes/int64(len(idx)), bytes%int64(len(idx))
	for k, i := range idx {
		recs[i].BytesIn += share
		if int64(k) < rest {
			recs[i].BytesIn++
		}
	}
}

// verifyResult compares a job's answer, in the format the job API
// publishes it, with the exact one: the row counts and every nation's
// name, count, sum, minimum, maximum and mean. (Rejected samples name
// blobs on one side and files on the other, so only their number is
// compared.) A difference is an error wrapping ErrWrongAnswer that lists
// what differs.
func verifyResult(got agg.Result, want reference.ResultJSON) error {
	r, err := reference.FromResult(got)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWrongAnswer, err)
	}
	if err := reference.Compare(r, want); err != nil {
		return fmt.Errorf("%w: %w", ErrWrongAnswer, err)
	}
	return nil
}

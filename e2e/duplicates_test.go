package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// triggerFunctions names the functions that a medium's messages trigger
// in the aggregate and merge apps.
func triggerFunctions(medium string) (aggregateFn, mergeFn string) {
	if medium == "queue" {
		return "UnitsQueue", "PartialsQueue"
	}
	return "UnitsBlob", "PartialsBlob"
}

// duplicateMessages rebuilds, in the test process, the messages a job's
// stages send: each work unit exactly as partition sends it (same ID, same
// body), and each unit's partial as aggregate would send it (same ID, same
// partial; only the invocation's timestamps differ, as in a real retry),
// computed with the kernel over the unit's bytes.
func duplicateMessages(t *testing.T, st job.Store, rec *job.Record, files map[string][]byte) (units, partials []transport.Message) {
	t.Helper()
	layout, err := rec.Spec.Layout()
	require.NoError(t, err)
	plan, err := job.GetPlan(context.Background(), st, rec.Spec.ID)
	require.NoError(t, err)
	for _, u := range plan.WorkUnits(&rec.Spec, layout) {
		body, err := json.Marshal(u)
		require.NoError(t, err)
		units = append(units, transport.Message{ID: job.UnitID(u.Job, u.Index), Body: body})

		started := time.Now().UTC()
		p := &aggregate.Partial{}
		for _, part := range u.Parts {
			data := files[part.File]
			require.NotNil(t, data, "unit %d names an unknown file %q", u.Index, part.File)
			pp, err := aggregate.ScanRange(context.Background(), bytes.NewReader(data[max(0, part.Start-1):]),
				aggregate.Range{File: part.File, Start: part.Start, End: part.End}, u.Layout)
			require.NoError(t, err)
			p.Merge(pp)
		}
		pm := job.PartialMsg{Job: u.Job, Transport: u.Transport, Index: u.Index, Count: u.Count, Shards: u.Shards,
			Bytes: u.Bytes(), Started: started, Finished: time.Now().UTC(), Partial: p}
		body, err = json.Marshal(&pm)
		require.NoError(t, err)
		partials = append(partials, transport.Message{ID: job.PartialID(u.Job, u.Index), Body: body})
	}
	return units, partials
}

// testDuplicates sends every unit message and every partial message of a
// running job a second time, with the same IDs, through the job's own
// transport — the at-least-once delivery the stages must absorb — and once
// more every partial after the job is done. The answer stays exact and
// every unit is counted once.
func testDuplicates(t *testing.T, s *stack) {
	files := s.upload(t, "dups", generated(t, t.TempDir(), 0.1, 40))
	want := reference(t, files, aggregate.DefaultLayout())
	for _, medium := range job.Transports() {
		t.Run(medium, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
			defer cancel()
			aggFn, mergeFn := triggerFunctions(medium)
			agg0 := s.functionSummary("aggregate", aggFn).Successes
			merge0 := s.functionSummary("merge", mergeFn).Successes
			tr := s.tr[medium]

			id, err := s.client.Submit(ctx, job.Spec{ID: "dups-" + medium, Transport: medium,
				Input: job.Input{Container: "dups", Prefix: "customer."}, UnitMB: 1})
			require.NoError(t, err)
			rec := s.waitSent(t, id)
			n := rec.Plan.Units
			require.Greater(t, n, 1, "1 MiB units of the 40 files' 2.4 MB")
			units, partials := duplicateMessages(t, s.store, rec, files)
			require.NoError(t, tr.Send(ctx, unitsTopic, units...))
			require.NoError(t, tr.Send(ctx, partialsTopic, partials...))
			early, err := s.client.Status(ctx, id)
			require.NoError(t, err)
			t.Logf("duplicates sent with the job %s (%d of %d units done)", early.State, early.Units.Done, n)

			st := s.waitJob(t, id, job.Done)
			checkDone(t, st, n, want)
			s.waitDrained(t, medium)

			// Every partial once more, now that the originals are consumed:
			// each is certainly delivered again.
			merge1 := s.functionSummary("merge", mergeFn).Successes
			require.NoError(t, tr.Send(ctx, partialsTopic, partials...))
			eventually(t, jobTimeout, "late duplicates merged", func() bool {
				return s.functionSummary("merge", mergeFn).Successes >= merge1+n
			}, func() string {
				return fmt.Sprintf("%d of %d merged", s.functionSummary("merge", mergeFn).Successes-merge1, n)
			})
			s.waitDrained(t, medium)

			st, err = s.client.Status(ctx, id)
			require.NoError(t, err)
			checkDone(t, st, n, want)
			s.checkAnswer(t, id, want, nil)

			aggN := s.functionSummary("aggregate", aggFn).Successes - agg0
			mergeN := s.functionSummary("merge", mergeFn).Successes - merge0
			t.Logf("%s: %d aggregate and %d merge invocations for %d units", medium, aggN, mergeN, n)
			assert.GreaterOrEqual(t, aggN, n, "every unit aggregated")
			// Aggregate sends the original partials in batches (at least one
			// message); the duplicates and late duplicates travel one each.
			if medium == "queue" {
				// Every queue message is delivered: the originals, the
				// duplicates and the late duplicates.
				assert.GreaterOrEqual(t, aggN, 2*n, "duplicate units delivered")
				assert.GreaterOrEqual(t, mergeN, 2*n+1, "duplicate partials delivered")
			} else {
				// A blob overwritten before the trigger saw it fires once,
				// so only the late duplicates are certain.
				assert.GreaterOrEqual(t, mergeN, n+1, "duplicate partials delivered")
			}
			assert.Zero(t, s.functionSummary("aggregate", aggFn).Failures, "no aggregate invocation failed")
			assert.Zero(t, s.functionSummary("merge", mergeFn).Failures, "no merge invocation failed")
		})
	}
}

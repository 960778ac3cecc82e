package merge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/aggregate/stage"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/transport"
)

// A poison message that no retry can fix is acknowledged (a poison queue
// has no poison queue: an error would redeliver it forever) and kept as a
// dead letter with the reason.
func TestPoisonThatCanNeverSucceedIsKeptNotLooped(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(files{"c.000": table(1, 10, false)})
	p.submit(t, job.Spec{ID: "real", Transport: "queue", Input: job.Input{Container: "input"}})
	p.tr.Take(stage.InTopic)

	send := func(id string) transport.Delivery {
		require.NoError(t, p.tr.Send(ctx, merge.UnitsTopic, transport.Message{ID: id, Body: []byte("x")}))
		ds := p.tr.Take(merge.UnitsTopic)
		require.Len(t, ds, 1)
		return ds[0]
	}
	cases := []struct {
		name   string
		d      transport.Delivery
		medium string
		reason string
	}{
		{"unreadable", transport.Delivery{Text: "garbage that is no message"}, "queue", "unreadable message"},
		{"names no unit", send("not-a-unit"), "queue", "names no job unit"},
		{"unknown job", send(job.UnitID("ghost", 3)), "queue", `no job "ghost"`},
		{"unit out of range", send(job.UnitID("real", 7)), "queue", "has 1 units, not a unit 7"},
		{"unknown medium", transport.Delivery{Text: "x"}, "carrier-pigeon", `no transport "carrier-pigeon"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, p.merge.Poison(ctx, c.medium, merge.UnitsTopic, c.d), "acknowledged, not retried")
			data, _, err := p.store.Get(ctx, merge.DeadLetterName(merge.UnitsTopic, c.d))
			require.NoError(t, err, "kept for an operator")
			var dl merge.DeadLetter
			require.NoError(t, json.Unmarshal(data, &dl))
			assert.Contains(t, dl.Reason, c.reason)
			assert.Equal(t, merge.UnitsTopic, dl.Topic)
			// A redelivery changes nothing and still succeeds.
			require.NoError(t, p.merge.Poison(ctx, c.medium, merge.UnitsTopic, c.d))
		})
	}
	assert.Equal(t, 1, p.tr.Stored(merge.UnitsTopic), "the poison messages' bodies are released; the real unit's stays")
	st, err := p.part.Status(ctx, "real")
	require.NoError(t, err)
	assert.Equal(t, job.Running, st.State, "a message naming a unit the job does not have fails nothing")

	// Storage trouble while judging a poison message is worth a retry.
	p.store.BeforePut = func(name string) error {
		if strings.HasPrefix(name, "deadletters/") {
			return fmt.Errorf("put: %w", transport.ErrUnavailable)
		}
		return nil
	}
	err = p.merge.Poison(ctx, "queue", merge.UnitsTopic, transport.Delivery{Text: "other garbage"})
	assert.ErrorIs(t, err, transport.ErrUnavailable)
}

// The completion check runs again on any delivery that finds its unit
// applied: when it failed on every try of the delivery that filled the job
// (storage trouble on the result writes), the poisoned partial finishes the
// job instead of being dropped.
func TestCompletionLostOnEveryRetryIsRecheckedByPoison(t *testing.T) {
	ctx := context.Background()
	in := files{"c.000": table(1, 200, false)}
	p := newPipeline(in)
	p.submit(t, job.Spec{ID: "stuck", Transport: "queue", Input: job.Input{Container: "input"}})
	deliver(t, p.tr, stage.InTopic, 1, func(d transport.Delivery) error { return p.agg.Handle(ctx, "queue", d) })
	ds := p.tr.Take(merge.InTopic)
	require.Len(t, ds, 1)

	broken := true
	p.store.BeforePut = func(name string) error {
		if broken && strings.HasPrefix(name, "results/") {
			return fmt.Errorf("put %s: %w", name, transport.ErrUnavailable)
		}
		return nil
	}
	for try := 1; try <= 5; try++ {
		require.ErrorIs(t, p.merge.Handle(ctx, "queue", ds[0]), transport.ErrUnavailable, "try %d", try)
	}
	st, err := p.part.Status(ctx, "stuck")
	require.NoError(t, err)
	require.Equal(t, job.Running, st.State)
	require.Equal(t, 1, st.Units.Done, "the unit is folded, the job not finished")

	// Still broken: the poison delivery asks to be retried rather than
	// dropping the job's completion.
	require.ErrorIs(t, p.merge.Poison(ctx, "queue", merge.InTopic, ds[0]), transport.ErrUnavailable)
	broken = false
	require.NoError(t, p.merge.Poison(ctx, "queue", merge.InTopic, ds[0]))
	st, err = p.part.Status(ctx, "stuck")
	require.NoError(t, err)
	assert.Equal(t, job.Done, st.State)
	assert.Zero(t, st.Units.Failed)
	assert.EqualValues(t, 200, st.Rows.Accepted)
	assert.Zero(t, p.tr.Stored(merge.InTopic), "the partial's body is released")
}

// runUnits submits a job over in and runs every unit through aggregate
// (each partial alone); it returns the partial deliveries, by unit.
func runUnits(t *testing.T, p *pipeline, id string) map[int]transport.Delivery {
	t.Helper()
	ctx := context.Background()
	p.submit(t, job.Spec{ID: id, Transport: "queue", Input: job.Input{Container: "input"}, UnitMB: 1})
	deliver(t, p.tr, stage.InTopic, 1, func(d transport.Delivery) error { return p.agg.Handle(ctx, "queue", d) })
	out := map[int]transport.Delivery{}
	for _, d := range p.tr.Take(merge.InTopic) {
		m, err := p.tr.Open(ctx, merge.InTopic, d)
		require.NoError(t, err)
		_, unit, ok := job.ParseMessageID(m.ID)
		require.True(t, ok, m.ID)
		out[unit] = d
	}
	require.GreaterOrEqual(t, len(out), 3, "the job has several units")
	return out
}

// batchOf sends the partials of units, as delivered in ds, in one message
// and returns its delivery.
func batchOf(t *testing.T, p *pipeline, id string, ds map[int]transport.Delivery, units ...int) transport.Delivery {
	t.Helper()
	ctx := context.Background()
	var ms []*job.PartialMsg
	for _, u := range units {
		m, err := p.tr.Open(ctx, merge.InTopic, ds[u])
		require.NoError(t, err)
		one, err := job.DecodePartials(m.ID, m.Body)
		require.NoError(t, err)
		ms = append(ms, one...)
	}
	body, err := job.EncodePartials(ms)
	require.NoError(t, err)
	require.NoError(t, p.tr.Send(ctx, merge.InTopic, transport.Message{ID: job.PartialsID(id, units), Body: body}))
	got := p.tr.Take(merge.InTopic)
	require.Len(t, got, 1)
	return got[0]
}

// A poisoned message of several units fails the job for the first unit not
// yet folded, and leaves the job alone when all of them are.
func TestPoisonedBatchFailsTheJobForAUnitNotFolded(t *testing.T) {
	ctx := context.Background()
	in := files{"c.000": table(1, 45000, false)}
	p := newPipeline(in)
	ds := runUnits(t, p, "b")
	batch := batchOf(t, p, "b", ds, 0, 1, 2)
	require.NoError(t, p.merge.Handle(ctx, "queue", ds[0]))
	require.NoError(t, p.merge.Poison(ctx, "queue", merge.InTopic, batch))
	st, err := p.part.Status(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, st.State)
	assert.Contains(t, st.Failure, "unit 1 failed in the merge stage")

	// On a job whose units are all folded, the same poison changes nothing.
	q := newPipeline(in)
	ds = runUnits(t, q, "b")
	batch = batchOf(t, q, "b", ds, 0, 1)
	for _, d := range ds {
		require.NoError(t, q.merge.Handle(ctx, "queue", d))
	}
	require.NoError(t, q.merge.Poison(ctx, "queue", merge.InTopic, batch))
	st, err = q.part.Status(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, job.Done, st.State)
	assert.Zero(t, st.Units.Failed)
}

// A batch whose units were partly folded before (their partials travelled
// alone first) folds only the others: the answer stays exact.
func TestBatchOverlappingFoldedUnitsFoldsEachOnce(t *testing.T) {
	ctx := context.Background()
	in := files{"c.000": table(1, 45000, true)}
	p := newPipeline(in)
	ds := runUnits(t, p, "o")
	units := slices.Sorted(maps.Keys(ds))
	batch := batchOf(t, p, "o", ds, units...)
	require.NoError(t, p.merge.Handle(ctx, "queue", ds[units[0]]))
	require.NoError(t, p.merge.Handle(ctx, "queue", ds[units[2]]))
	require.NoError(t, p.merge.Handle(ctx, "queue", batch))
	require.NoError(t, p.merge.Handle(ctx, "queue", batch), "a redelivery of the batch")
	st, err := p.part.Status(ctx, "o")
	require.NoError(t, err)
	require.Equal(t, job.Done, st.State, st.Failure)
	want, err := aggregate.Scan(ctx, bytes.NewReader(in["c.000"]), "c.000", aggregate.DefaultLayout())
	require.NoError(t, err)
	assert.Equal(t, *aggregate.NewResult(want), st.Result.Result)
}

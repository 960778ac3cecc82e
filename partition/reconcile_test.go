package partition

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
)

// clock is a settable time for the service and the reconciler.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func fold(t *testing.T, st job.Store, id string, units []int, count, shards int) {
	t.Helper()
	for _, i := range units {
		_, err := job.Fold(context.Background(), st, &job.PartialMsg{Job: id, Index: i, Count: count, Shards: shards, Partial: &aggregate.Partial{}})
		require.NoError(t, err)
	}
}

func TestReconcilerLooksAfterEveryUnfinishedJob(t *testing.T) {
	ctx := context.Background()
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "f", Size: 4 << 20, ETag: "e"}}}}
	tr := &sink{}
	svc, st := newService(in, tr)
	c := &clock{t: time.Unix(10_000, 0)}
	svc.Now = c.now
	spec := func(id string) job.Spec {
		s := job.Spec{ID: id, Transport: "queue", Input: job.Input{Container: "input"}, UnitMB: 1}
		require.NoError(t, s.Normalize())
		return s
	}

	// complete: every unit folded, the completion lost.
	submitPlanned(t, svc, spec("complete"))
	fold(t, st, "complete", []int{0, 1, 2, 3}, 4, 1)
	var err error
	// unsent: planned, the plan function died before any unit was sent; unit 1
	// arrived anyway (a send that failed half way).
	_, err = job.Create(ctx, st, spec("unsent"), c.t)
	require.NoError(t, err)
	plan, err := job.MakePlan(in.files["input"], 1<<20)
	require.NoError(t, err)
	_, _, err = job.SetPlan(ctx, st, "unsent", plan, c.t)
	require.NoError(t, err)
	fold(t, st, "unsent", []int{1}, 4, plan.Shards)
	// unplanned: its plan message was lost.
	_, err = job.Create(ctx, st, spec("unplanned"), c.t)
	require.NoError(t, err)
	// slow: sent, two units in, the rest never come.
	submitPlanned(t, svc, spec("slow"))
	fold(t, st, "slow", []int{0, 2}, 4, 1)
	// failed and done jobs are left alone.
	submitPlanned(t, svc, spec("failed"))
	require.NoError(t, job.Fail(ctx, st, "failed", 3, "boom", c.t))

	r := &Reconciler{Service: svc, Jobs: st, SendGrace: time.Minute, Deadline: time.Hour}
	tr.sent = nil
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, rep.Errors)
	assert.Equal(t, ReconcileReport{Looked: 5, Finished: 1}, rep, "within the grace only the complete job is touched")
	assert.Empty(t, tr.sent)
	got, err := job.Get(ctx, st, "complete")
	require.NoError(t, err)
	assert.Equal(t, job.Done, got.State)

	c.t = c.t.Add(2 * time.Minute)
	rep, err = r.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, rep.Errors)
	assert.Equal(t, 2, rep.Resent, "the unsent and the unplanned job")
	var ids []string
	for _, m := range tr.sent {
		ids = append(ids, m.ID)
	}
	assert.ElementsMatch(t, []string{
		job.UnitID("unsent", 0), job.UnitID("unsent", 2), job.UnitID("unsent", 3),
		job.UnitID("unplanned", 0), job.UnitID("unplanned", 1), job.UnitID("unplanned", 2), job.UnitID("unplanned", 3),
	}, ids, "only units no shard holds")
	for _, id := range []string{"unsent", "unplanned"} {
		got, err := job.Get(ctx, st, id)
		require.NoError(t, err)
		assert.True(t, got.Sent, id)
		assert.Equal(t, job.Running, got.State, id)
	}

	tr.sent = nil
	c.t = c.t.Add(time.Hour)
	rep, err = r.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, tr.sent, "sent jobs are not sent again")
	assert.Equal(t, 3, rep.Failed, "slow, unsent and unplanned are past the deadline")
	got, err = job.Get(ctx, st, "slow")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, got.State)
	assert.Contains(t, got.Failure, "stuck: 2 of 4 units folded after 1h2m0s (deadline 1h0m0s); units never folded: 1, 3")
	got, err = job.Get(ctx, st, "failed")
	require.NoError(t, err)
	assert.Equal(t, "boom", got.Failure, "a failed job keeps its reason")
	got, err = job.Get(ctx, st, "complete")
	require.NoError(t, err)
	assert.Equal(t, job.Done, got.State)
}

func TestUnitList(t *testing.T) {
	assert.Equal(t, "", unitList(nil))
	assert.Equal(t, "1, 3", unitList([]int{1, 3}))
	long := make([]int, 25)
	for i := range long {
		long[i] = i
	}
	assert.Equal(t, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 and 5 more", unitList(long))
}

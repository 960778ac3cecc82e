package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/storage"
)

// tenUnits is an input of ten 1 MiB units.
func tenUnits() (*fakeInputs, job.Spec) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "f", Size: 10 << 20, ETag: "e"}}}}
	return in, job.Spec{ID: "ten", Transport: "queue", Input: job.Input{Container: "input"}, UnitMB: 1}
}

// submitTen submits the ten-unit job to a new service over tr, whose plan
// function sends batch units between two records of its progress.
func submitTen(t *testing.T, tr *sink, batch int) (*Service, *job.MemStore) {
	t.Helper()
	in, spec := tenUnits()
	svc, st := newService(in, tr)
	svc.SendBatch = batch
	_, err := svc.Submit(context.Background(), spec)
	require.NoError(t, err)
	return svc, st
}

// onRecordWrite runs do before the n-th write of the ten-unit job's record
// (1 records the plan, then one per batch sent) and fails that write with
// do's error, if any.
func onRecordWrite(st *job.MemStore, n int, do func() error) {
	writes := 0
	st.BeforePut = func(name string) error {
		if name != "jobs/ten/job.json" {
			return nil
		}
		if writes++; writes != n {
			return nil
		}
		return do()
	}
}

// countIDs counts the messages sent per message ID.
func countIDs(tr *sink) map[string]int {
	ids := map[string]int{}
	for _, m := range tr.sent {
		ids[m.ID]++
	}
	return ids
}

// A plan function that dies after any number of units sent resumes from
// its last recorded batch: every unit is sent, and only the units of the
// batch the crash interrupted are sent twice.
func TestPlanResumesAfterACrashAtEveryPoint(t *testing.T) {
	const batch = 3
	for crash := 0; crash <= 10; crash++ {
		t.Run(fmt.Sprintf("after %d units", crash), func(t *testing.T) {
			ctx := context.Background()
			tr := &sink{failAfter: crash}
			if crash == 0 {
				tr.failAfter = -1 // fails before the first unit
			}
			svc, _ := submitTen(t, tr, batch)

			err := svc.Plan(ctx, "ten")
			if crash < 10 {
				require.ErrorIs(t, err, storage.ErrUnavailable)
				rec, err := job.Get(ctx, svc.Store, "ten")
				require.NoError(t, err)
				assert.Equal(t, crash/batch*batch, rec.SentUnits, "progress recorded at each batch boundary")
				assert.False(t, rec.Sent)
				st, err := svc.Status(ctx, "ten")
				require.NoError(t, err)
				assert.Equal(t, crash/batch*batch, st.Units.Sent)
				last, err := job.LastError(ctx, svc.Store, "ten", job.PlanningUnit)
				require.NoError(t, err)
				assert.Contains(t, last, "send units of job ten", "the error is kept for the poison handler")
				tr.failAfter = 0
				require.NoError(t, svc.Plan(ctx, "ten"), "the redelivered plan message carries on")
			} else {
				require.NoError(t, err)
			}
			rec, err := job.Get(ctx, svc.Store, "ten")
			require.NoError(t, err)
			assert.True(t, rec.Sent)
			assert.Equal(t, 10, rec.SentUnits)
			ids := countIDs(tr)
			require.Len(t, ids, 10, "every unit sent")
			again := 0 // units sent twice: those of the interrupted batch sent before the crash
			if crash < 10 {
				again = crash % batch
			}
			assert.Equal(t, 10+again, len(tr.sent), "only the interrupted batch is sent again")
			for i := 0; i < 10; i++ {
				want := 1
				if i >= crash-again && i < crash {
					want = 2
				}
				assert.Equal(t, want, ids[job.UnitID("ten", i)], "unit %d", i)
			}
		})
	}
}

// A crash between a batch's send and the record of its progress (the
// job.json write fails) re-sends that batch only.
func TestPlanResumesWhenTheProgressWriteFails(t *testing.T) {
	ctx := context.Background()
	tr := &sink{}
	svc, st := submitTen(t, tr, 4)
	onRecordWrite(st, 3, func() error { return fmt.Errorf("job.json: %w", storage.ErrUnavailable) })
	require.ErrorIs(t, svc.Plan(ctx, "ten"), storage.ErrUnavailable)
	rec, err := job.Get(ctx, st, "ten")
	require.NoError(t, err)
	assert.Equal(t, 4, rec.SentUnits)
	assert.Len(t, tr.sent, 8)
	require.NoError(t, svc.Plan(ctx, "ten"))
	assert.Len(t, tr.sent, 14, "units 4-7 again, then 8-9")
	assert.Len(t, countIDs(tr), 10)
}

// A crash after the plan was written but before the job record took it
// (SetPlan's second write) is resumed with the plan as written.
func TestPlanResumesWhenTheSummaryWriteFails(t *testing.T) {
	ctx := context.Background()
	tr := &sink{}
	svc, st := submitTen(t, tr, 0)
	st.BeforePut = func(name string) error {
		if name == "jobs/ten/job.json" {
			return fmt.Errorf("job.json: %w", storage.ErrUnavailable)
		}
		return nil
	}
	require.ErrorIs(t, svc.Plan(ctx, "ten"), storage.ErrUnavailable)
	assert.Contains(t, st.Names(), "jobs/ten/plan.json")
	assert.Empty(t, tr.sent)
	st.BeforePut = nil
	require.NoError(t, svc.Plan(ctx, "ten"))
	assert.Len(t, countIDs(tr), 10)
	assert.Len(t, tr.sent, 10)
}

// Duplicate plan messages, one after the other or at once, send every unit
// and leave the job sent; a late duplicate of a sent job sends nothing.
func TestDuplicatePlanMessages(t *testing.T) {
	ctx := context.Background()
	tr := &sink{}
	svc, _ := submitTen(t, tr, 2)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = svc.Plan(ctx, "ten")
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	rec, err := job.Get(ctx, svc.Store, "ten")
	require.NoError(t, err)
	assert.True(t, rec.Sent)
	assert.Equal(t, 10, rec.Plan.Units)
	assert.Len(t, countIDs(tr), 10)
	n := len(tr.sent)
	require.NoError(t, svc.Plan(ctx, "ten"))
	assert.Equal(t, n, len(tr.sent), "a duplicate after the job is sent does nothing")

	require.NoError(t, job.Fail(ctx, svc.Store, "ten", 3, "unit 3 failed", svc.now()))
	require.NoError(t, svc.Plan(ctx, "ten"))
	assert.Equal(t, n, len(tr.sent), "nor for a failed job")
}

// A job that fails while its units are being sent (a unit poisoned) is not
// sent further.
func TestPlanStopsSendingAFailedJob(t *testing.T) {
	ctx := context.Background()
	tr := &sink{}
	svc, st := submitTen(t, tr, 4)
	onRecordWrite(st, 2, func() error { return job.Fail(ctx, st, "ten", 0, "unit 0 failed", svc.now()) })
	// The progress write, refused for the ETag the failure changed, is
	// retried on the new record and sees the failure.
	require.NoError(t, svc.Plan(ctx, "ten"))
	assert.Len(t, tr.sent, 4, "the first batch only")
}

// A poisoned plan message fails a job not yet sent with the last planning
// error; it does nothing to a sent or final job, and keeps a message that
// names no job as a dead letter without failing (no poison loop).
func TestPlanPoison(t *testing.T) {
	ctx := context.Background()
	in, spec := tenUnits()
	tr := &sink{failAfter: -1}
	svc, st := newService(in, tr)
	app := handlers.NewApp(handlers.Options{Name: "partition", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(app)
	_, err := svc.Submit(ctx, spec)
	require.NoError(t, err)

	// The plan function fails: the host retries it, then poisons it.
	code, _ := invokeStatus(t, app, "Plan", queueData(`{"job":"ten"}`))
	assert.Equal(t, http.StatusInternalServerError, code, "a failed send fails the invocation, for a retry")
	invokeData(t, app, "PlansPoison", queueData(`{"job":"ten"}`))
	rec, err := job.Get(ctx, st, "ten")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, "planning failed on every retry: send units of job ten")
	invokeData(t, app, "PlansPoison", queueData(`{"job":"ten"}`))
	again, err := job.Get(ctx, st, "ten")
	require.NoError(t, err)
	assert.Equal(t, rec, again, "a duplicate poison message changes nothing")

	// Without a recorded error (the handler crashed), the reason says so.
	spec.ID = "crashed"
	_, err = svc.Submit(ctx, spec)
	require.NoError(t, err)
	invokeData(t, app, "PlansPoison", queueData(`{"job":"crashed"}`))
	rec, err = job.Get(ctx, st, "crashed")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, "no error was recorded")

	// A sent job is not failed by a stray poisoned duplicate.
	tr.failAfter = 0
	spec.ID = "sent"
	submitPlanned(t, svc, spec)
	invokeData(t, app, "PlansPoison", queueData(`{"job":"sent"}`))
	rec, err = job.Get(ctx, st, "sent")
	require.NoError(t, err)
	assert.Equal(t, job.Running, rec.State)

	// Messages that name no job: kept as dead letters, acknowledged by both
	// functions.
	for _, text := range []string{`not json`, `{"job":"Bad/ID"}`, `{"job":"nosuchjob"}`} {
		for _, fn := range []string{"Plan", "PlansPoison"} {
			invokeData(t, app, fn, queueData(text))
		}
	}
	var letters []merge.DeadLetter
	for _, n := range st.Names() {
		if strings.HasPrefix(n, "deadletters/"+PlanTopic+"/") {
			data, _, err := st.Get(ctx, n)
			require.NoError(t, err)
			var dl merge.DeadLetter
			require.NoError(t, json.Unmarshal(data, &dl))
			letters = append(letters, dl)
		}
	}
	require.Len(t, letters, 3, "one per message, a redelivery overwrites its own")
	var reasons []string
	for _, dl := range letters {
		reasons = append(reasons, dl.Reason)
	}
	assert.Contains(t, strings.Join(reasons, "\n"), `no job "nosuchjob"`)
	assert.Contains(t, strings.Join(reasons, "\n"), "not a plan message")
}

func TestPlanMessage(t *testing.T) {
	id, err := parsePlanMessage(planMessage("j0123456789abcdef"))
	require.NoError(t, err)
	assert.Equal(t, "j0123456789abcdef", id)
	assert.True(t, strings.HasPrefix(planMessage("abcd"), "{"), "never valid base64")
	for _, bad := range []string{"", "j1", `{"job":""}`, `{"job":"../x"}`} {
		_, err := parsePlanMessage(bad)
		assert.Error(t, err, bad)
	}
}

package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// fakeInputs serves a fixed container listing.
type fakeInputs struct{ files map[string][]job.File }

func (f *fakeInputs) List(_ context.Context, c, prefix string) ([]job.File, error) {
	fs, ok := f.files[c]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", c, storage.ErrNotFound)
	}
	var out []job.File
	for _, x := range fs {
		if strings.HasPrefix(x.Name, prefix) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (f *fakeInputs) Stat(ctx context.Context, c string, names []string) ([]job.File, error) {
	all, err := f.List(ctx, c, "")
	if err != nil {
		return nil, err
	}
	var out []job.File
	for _, n := range names {
		found := false
		for _, x := range all {
			if x.Name == n {
				out = append(out, x)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("blob %s/%s: %w", c, n, storage.ErrNotFound)
		}
	}
	return out, nil
}

// sink records what is sent; failAfter > 0 makes Send fail once that many
// messages have been sent in total, failAfter < 0 before any.
type sink struct {
	mu        sync.Mutex
	sent      []transport.Message
	failAfter int
}

func (s *sink) Name() string { return "queue" }
func (s *sink) Send(_ context.Context, topic string, msgs ...transport.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if s.failAfter < 0 || (s.failAfter > 0 && len(s.sent) >= s.failAfter) {
			return fmt.Errorf("send: %w", storage.ErrUnavailable)
		}
		s.sent = append(s.sent, m)
	}
	return nil
}
func (s *sink) Open(context.Context, string, transport.Delivery) (transport.Message, error) {
	return transport.Message{}, errors.New("not used")
}
func (s *sink) Done(context.Context, string, transport.Message) error { return nil }

func newService(in *fakeInputs, tr *sink) (*Service, *job.MemStore) {
	st := &job.MemStore{}
	return &Service{
		Store: st, Inputs: in, Transports: map[string]transport.Transport{"queue": tr},
		Now: func() time.Time { return time.Unix(100, 0) }, NewID: func() string { return "fixed" },
	}, st
}

// submitPlanned submits a job and runs the plan function for it, as the
// job API and the Plan function do in turn.
func submitPlanned(t *testing.T, svc *Service, spec job.Spec) *job.Record {
	t.Helper()
	ctx := context.Background()
	rec, err := svc.Submit(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, svc.Plan(ctx, rec.Spec.ID))
	rec, err = job.Get(ctx, svc.Store, rec.Spec.ID)
	require.NoError(t, err)
	return rec
}

// Over blobs the automatic unit size keeps the blob transport's larger
// floor, and the job's status says so.
func TestBlobJobsGetLargerAutomaticUnits(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {
		{Name: "customer.000.csv", Size: 64 << 20, ETag: "e0"},
		{Name: "customer.001.csv", Size: 64 << 20, ETag: "e1"},
	}}}
	tr := &sink{}
	svc, _ := newService(in, tr)
	svc.Transports["blob"] = tr
	rec := submitPlanned(t, svc, job.Spec{Transport: "blob", Input: job.Input{Container: "input", Prefix: "customer."}})
	assert.Equal(t, int64(job.MinAutoUnitBlob), rec.Plan.UnitBytes)
	assert.Equal(t, 4, rec.Plan.Units, "two 64 MiB files in 32 MiB units")
	require.Len(t, tr.sent, 4)
	st, err := svc.Status(context.Background(), rec.Spec.ID)
	require.NoError(t, err)
	assert.True(t, st.UnitSizeAuto)
	assert.Equal(t, job.UnitRuleFloor, st.UnitRule)
	assert.Equal(t, int64(job.MinAutoUnitBlob), st.UnitBytes)
}

func TestSubmitStoresAndPlanSendsUnits(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {
		{Name: "customer.000.csv", Size: 20 << 20, ETag: "e0"},
		{Name: "customer.001.csv", Size: 1, ETag: "e1"},
		{Name: "other.csv", Size: 5, ETag: "e2"},
	}}}
	tr := &sink{}
	svc, _ := newService(in, tr)
	spec := job.Spec{Transport: "queue", Input: job.Input{Container: "input", Prefix: "customer."}}
	rec, err := svc.Submit(context.Background(), spec)
	require.NoError(t, err)
	assert.Equal(t, "fixed", rec.Spec.ID)
	assert.Equal(t, job.Planning, rec.State, "submit only stores the spec")
	assert.Nil(t, rec.Plan)
	assert.True(t, NeedsPlan(rec))
	assert.Empty(t, tr.sent)

	require.NoError(t, svc.Plan(context.Background(), "fixed"))
	rec, err = job.Get(context.Background(), svc.Store, "fixed")
	require.NoError(t, err)
	assert.Equal(t, job.Running, rec.State)
	assert.True(t, rec.Sent)
	assert.False(t, NeedsPlan(rec))
	require.Equal(t, 3, rec.Plan.Units) // 20 MiB + 1 byte in units chosen automatically (8 MiB), which span files
	assert.True(t, rec.Plan.AutoUnit)
	assert.Equal(t, job.UnitRuleFloor, rec.Plan.UnitRule)
	require.Len(t, tr.sent, 3)
	for i, m := range tr.sent {
		assert.Equal(t, job.UnitID("fixed", i), m.ID)
		var u job.WorkUnit
		require.NoError(t, json.Unmarshal(m.Body, &u))
		assert.Equal(t, i, u.Index)
		assert.Equal(t, "input", u.Container)
		assert.Equal(t, 3, u.Count)
	}
}

func TestSubmitIsIdempotentAndPlanResumesSending(t *testing.T) {
	ctx := context.Background()
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "a", Size: 40 << 20, ETag: "e"}}}}
	tr := &sink{failAfter: 2}
	svc, _ := newService(in, tr)
	spec := job.Spec{ID: "resume", Transport: "queue", Input: job.Input{Container: "input"}}
	_, err := svc.Submit(ctx, spec)
	require.NoError(t, err)
	require.ErrorIs(t, svc.Plan(ctx, "resume"), storage.ErrUnavailable, "a failed send is reported")
	rec, err := svc.Submit(ctx, spec)
	require.NoError(t, err)
	assert.True(t, NeedsPlan(rec), "a resubmit of a job not wholly sent asks for a plan again")
	tr.failAfter = 0
	require.NoError(t, svc.Plan(ctx, "resume"))
	rec, err = svc.Submit(ctx, spec)
	require.NoError(t, err)
	assert.True(t, rec.Sent)
	assert.False(t, NeedsPlan(rec))
	ids := map[string]int{}
	for _, m := range tr.sent {
		ids[m.ID]++
	}
	assert.Len(t, ids, 5, "every unit sent, under its deterministic ID")
	n := len(tr.sent)
	require.NoError(t, svc.Plan(ctx, "resume"))
	assert.Equal(t, n, len(tr.sent), "planning a fully sent job again sends nothing")

	other := spec
	other.UnitMB = 16
	_, err = svc.Submit(ctx, other)
	assert.ErrorIs(t, err, job.ErrExists)
}

func TestSubmitRejectsBadRequests(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "a", Size: 10, ETag: "e"}}}}
	tr := &sink{}
	svc, st := newService(in, tr)
	for name, spec := range map[string]job.Spec{
		"bad transport": {Transport: "carrier-pigeon", Input: job.Input{Container: "input"}},
		"unconfigured":  {Transport: "blob", Input: job.Input{Container: "input"}},
		"no container":  {Transport: "queue"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := svc.Submit(context.Background(), spec)
			assert.ErrorIs(t, err, job.ErrInvalid)
		})
	}
	assert.Empty(t, st.Names(), "a rejected request leaves no record")
	assert.Empty(t, tr.sent)
}

// Input that cannot be planned is only seen by the plan function: the job
// fails with the reason, nothing is sent, and the plan message is done
// with (Plan returns nil: no retry can help).
func TestPlanFailsJobsWhoseInputCannotBePlanned(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "a", Size: 10, ETag: "e"}}}}
	tr := &sink{}
	svc, st := newService(in, tr)
	svc.Policy = InputPolicy{Allow: []string{"*"}} // so that a missing container is looked for
	for name, c := range map[string]struct {
		spec job.Spec
		want string
	}{
		"no match":          {job.Spec{ID: "nomatch", Transport: "queue", Input: job.Input{Container: "input", Prefix: "zzz"}}, `no input blobs in container "input" with prefix "zzz"`},
		"missing container": {job.Spec{ID: "nocontainer", Transport: "queue", Input: job.Input{Container: "nothere"}}, "container nothere"},
		"missing blob":      {job.Spec{ID: "noblob", Transport: "queue", Input: job.Input{Container: "input", Blobs: []string{"a", "b"}}}, "blob input/b"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := submitPlanned(t, svc, c.spec)
			assert.Equal(t, job.Failed, rec.State)
			assert.Contains(t, rec.Failure, "planning: ")
			assert.Contains(t, rec.Failure, c.want)
			assert.Nil(t, rec.Plan)
			assert.False(t, NeedsPlan(rec))
			require.NoError(t, svc.Plan(context.Background(), c.spec.ID), "a duplicate plan message of a failed job does nothing")
		})
	}
	assert.Empty(t, tr.sent)
	for _, n := range st.Names() {
		assert.NotContains(t, n, "plan.json")
	}
}

func TestPlanOfEmptyFilesFinishesAtOnce(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "empty", Size: 0, ETag: "e"}}}}
	svc, _ := newService(in, &sink{})
	rec := submitPlanned(t, svc, job.Spec{ID: "empty", Transport: "queue", Input: job.Input{Container: "input"}})
	assert.True(t, rec.Sent)
	st, err := svc.Status(context.Background(), "empty")
	require.NoError(t, err)
	assert.Equal(t, job.Done, st.State)
	data, err := svc.Result(context.Background(), "empty", "json")
	require.NoError(t, err)
	assert.Contains(t, string(data), `"rows": 0`)
}

func TestResultBeforeDone(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "a", Size: 10, ETag: "e"}}}}
	svc, _ := newService(in, &sink{})
	_, err := svc.Submit(context.Background(), job.Spec{ID: "notyet", Transport: "queue", Input: job.Input{Container: "input"}})
	require.NoError(t, err)
	_, err = svc.Result(context.Background(), "notyet", "json")
	assert.ErrorIs(t, err, ErrNotDone)
	_, err = svc.Result(context.Background(), "nope", "json")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

// A job whose plan would exceed job.MaxUnits fails with the reason when it
// is planned, before any plan is written or unit sent.
func TestTooManyUnitsFailsTheJob(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "huge", Size: int64(job.MaxUnits+1) << 20, ETag: "e"}}}}
	tr := &sink{}
	svc, st := newService(in, tr)
	rec := submitPlanned(t, svc, job.Spec{ID: "huge", Transport: "queue", Input: job.Input{Container: "input"}, UnitMB: 1})
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, "larger unit_mb")
	assert.Nil(t, rec.Plan)
	assert.NotContains(t, st.Names(), "jobs/huge/plan.json")
	assert.Empty(t, tr.sent)
}

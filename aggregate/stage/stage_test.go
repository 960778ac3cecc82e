package stage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/mem"
)

// memSource serves one blob from memory and counts range requests.
type memSource struct {
	data     []byte
	etag     string
	mu       sync.Mutex
	requests int
	maxCount int64
}

func (m *memSource) ReadRange(_ context.Context, _, _ string, etag string, off, n int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	m.maxCount = max(m.maxCount, n)
	if etag != m.etag {
		return nil, fmt.Errorf("etag: %w", storage.ErrConflict)
	}
	end := min(off+n, int64(len(m.data)))
	return io.NopCloser(bytes.NewReader(m.data[off:end])), nil
}

// sink records what is sent.
type sink struct {
	mu   sync.Mutex
	sent []transport.Message
}

func (s *sink) Name() string { return "queue" }
func (s *sink) Send(_ context.Context, _ string, msgs ...transport.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, msgs...)
	return nil
}
func (s *sink) Open(context.Context, string, transport.Delivery) (transport.Message, error) {
	return transport.Message{}, errors.New("not used")
}
func (s *sink) Done(context.Context, string, transport.Message) error { return nil }

func rows(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d|Customer#%09d|addr|%d|11-111|%d.%02d|BUILDING|comment %s|\n", i, i, i%25, i%10000-999, i%100, strings.Repeat("x", i%40))
	}
	return b.Bytes()
}

func setup(t *testing.T, data []byte, unitBytes int64) (*Stage, *memSource, *sink, *job.MemStore, []job.WorkUnit) {
	t.Helper()
	st := &job.MemStore{}
	src := &memSource{data: data, etag: "v1"}
	out := &sink{}
	s := &Stage{Source: src, Store: st, Transports: map[string]transport.Transport{"queue": out}, SegmentBytes: 1000, Log: slog.New(slog.DiscardHandler)}
	spec := job.Spec{ID: "j", Transport: "queue", Input: job.Input{Container: "input"}}
	require.NoError(t, spec.Normalize())
	ctx := context.Background()
	_, err := job.Create(ctx, st, spec, time.Unix(1, 0))
	require.NoError(t, err)
	plan, err := job.MakePlan([]job.File{{Name: "f", Size: int64(len(data)), ETag: "v1"}}, unitBytes)
	require.NoError(t, err)
	_, _, err = job.SetPlan(ctx, st, "j", plan, time.Unix(2, 0))
	require.NoError(t, err)
	units := plan.WorkUnits(&spec, aggregate.DefaultLayout())
	return s, src, out, st, units
}

func TestUnitsAddUpToTheWholeFile(t *testing.T) {
	data := rows(2000)
	want, err := aggregate.Scan(context.Background(), bytes.NewReader(data), "f", aggregate.DefaultLayout())
	require.NoError(t, err)
	for _, unit := range []int64{37, 100, 4096, int64(len(data)) - 1, int64(len(data)), 1 << 20} {
		t.Run(fmt.Sprint(unit), func(t *testing.T) {
			s, _, out, _, units := setup(t, data, unit)
			for i := range units {
				require.NoError(t, s.run(context.Background(), &units[i]))
			}
			require.Len(t, out.sent, len(units))
			var got aggregate.Partial
			for i, m := range out.sent {
				assert.Equal(t, job.PartialID("j", i), m.ID)
				var pm job.PartialMsg
				require.NoError(t, json.Unmarshal(m.Body, &pm))
				got.Merge(pm.Partial)
			}
			assert.Equal(t, aggregate.NewResult(want), aggregate.NewResult(&got))
			assert.Equal(t, want.Rows, got.Rows)
		})
	}
}

func TestLongLineCrossesManySegments(t *testing.T) {
	long := []byte("1|name|" + strings.Repeat("a", 50_000) + "|3|p|12.34|s|c|\n")
	data := append(append(rows(3), long...), rows(3)...)
	s, src, out, _, units := setup(t, data, 100)
	for i := range units {
		require.NoError(t, s.run(context.Background(), &units[i]))
	}
	var got aggregate.Partial
	for _, m := range out.sent {
		var pm job.PartialMsg
		require.NoError(t, json.Unmarshal(m.Body, &pm))
		got.Merge(pm.Partial)
	}
	assert.Equal(t, int64(7), got.Rows)
	assert.LessOrEqual(t, src.maxCount, int64(100+firstSlack+1000), "requests stay bounded by the unit and segment sizes")
}

func TestChangedInputFailsTheJob(t *testing.T) {
	data := rows(10)
	s, src, out, st, units := setup(t, data, 1<<20)
	src.etag = "v2"
	err := s.run(context.Background(), &units[0])
	require.ErrorIs(t, err, ErrPermanent)
	rec, err := job.Get(context.Background(), st, "j")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, "changed while the job ran")
	assert.Empty(t, out.sent)

	// A redelivered unit of a failed job is not run: nothing is read or
	// sent, and its message is released.
	d := deliverUnit(t, s, &units[0], 2)
	before := src.requests
	require.NoError(t, s.Handle(context.Background(), "mem", d))
	assert.Equal(t, before, src.requests)
	assert.Empty(t, out.sent)
}

// deliverUnit sends u through an in-memory transport "mem" of s and
// returns its delivery, as the host's nth.
func deliverUnit(t *testing.T, s *Stage, u *job.WorkUnit, n int) transport.Delivery {
	t.Helper()
	tr := mem.New()
	s.Transports["mem"] = tr
	body, err := json.Marshal(u)
	require.NoError(t, err)
	require.NoError(t, tr.Send(context.Background(), InTopic, transport.Message{ID: job.UnitID(u.Job, u.Index), Body: body}))
	d := tr.Take(InTopic)[0]
	d.DequeueCount = n
	return d
}

// countingStore counts the reads of each document.
type countingStore struct {
	job.Store
	mu    sync.Mutex
	reads map[string]int
}

func (c *countingStore) Get(ctx context.Context, name string) ([]byte, string, error) {
	c.mu.Lock()
	c.reads[name]++
	c.mu.Unlock()
	return c.Store.Get(ctx, name)
}

// A unit's first delivery reads its data and nothing of the job's records:
// the message carries what the unit needs.
func TestFirstDeliveryReadsNoJobRecord(t *testing.T) {
	data := rows(100)
	s, src, out, st, units := setup(t, data, 1<<20)
	cs := &countingStore{Store: st, reads: map[string]int{}}
	s.Store = cs
	d := deliverUnit(t, s, &units[0], 1)
	require.NoError(t, s.Handle(context.Background(), "mem", d))
	assert.Len(t, out.sent, 1)
	assert.Equal(t, 1, src.requests, "one ranged read")
	assert.Empty(t, cs.reads, "no job document read")
}

func TestCheckUnit(t *testing.T) {
	good := job.WorkUnit{Job: "j", Transport: "queue", Container: "c", Parts: []job.Part{{File: "f", Size: 10, Start: 0, End: 10}}, Index: 0, Count: 1, Shards: 1, Layout: aggregate.DefaultLayout()}
	require.NoError(t, checkUnit(&good))
	for name, mod := range map[string]func(*job.WorkUnit){
		"no job":      func(u *job.WorkUnit) { u.Job = "" },
		"index":       func(u *job.WorkUnit) { u.Index = 1 },
		"shards":      func(u *job.WorkUnit) { u.Shards = 0 },
		"empty range": func(u *job.WorkUnit) { u.Parts = []job.Part{{File: "f", Size: 10}} },
		"past end":    func(u *job.WorkUnit) { u.Parts = []job.Part{{File: "f", Size: 10, End: 11}} },
		"no file":     func(u *job.WorkUnit) { u.Parts = []job.Part{{Size: 10, End: 10}} },
		"no parts":    func(u *job.WorkUnit) { u.Parts = nil },
		"layout":      func(u *job.WorkUnit) { u.Layout.NationField = 0 },
	} {
		u := good
		mod(&u)
		assert.Error(t, checkUnit(&u), name)
	}
}

// A message that names a job unit but cannot be read as a work unit fails
// on every delivery; its error must be recorded under that unit, so that
// when it ends in the poison queue the job fails with this reason rather
// than "no error was recorded".
func TestUnreadableUnitRecordsItsError(t *testing.T) {
	ctx := context.Background()
	st := &job.MemStore{}
	tr := mem.New()
	s := &Stage{Store: st, Transports: map[string]transport.Transport{"queue": tr}, Log: slog.New(slog.DiscardHandler)}
	for name, tc := range map[string]struct {
		unit int
		body string
		want string
	}{
		"not a work unit": {3, `{"job":"j","index":"three"}`, "bad work unit"},
		"invalid unit":    {4, `{"job":"j","index":4,"count":1}`, "out of range"},
	} {
		require.NoError(t, tr.Send(ctx, InTopic, transport.Message{ID: job.UnitID("j", tc.unit), Body: []byte(tc.body)}), name)
		ds := tr.Take(InTopic)
		require.Len(t, ds, 1)
		err := s.Handle(ctx, "queue", ds[0])
		require.ErrorContains(t, err, tc.want, name)
		last, err := job.LastError(ctx, st, "j", tc.unit)
		require.NoError(t, err)
		assert.Contains(t, last, tc.want, "%s: the unit's recorded error", name)
	}

	// An ID that names no unit has nowhere to record its error.
	require.NoError(t, tr.Send(ctx, InTopic, transport.Message{ID: "stray", Body: []byte(`{}`)}))
	require.Error(t, s.Handle(ctx, "queue", tr.Take(InTopic)[0]))
	assert.Len(t, st.Names(), 2, "only the two units' errors are stored: %v", st.Names())
}

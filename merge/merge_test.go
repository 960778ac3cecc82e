package merge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/aggregate/stage"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/mem"
)

// files is an in-memory container: Inputs for partition, Source for
// aggregate.
type files map[string][]byte

func (f files) List(_ context.Context, _, prefix string) ([]job.File, error) {
	var out []job.File
	for _, name := range []string{"c.000", "c.001", "c.002"} {
		if data, ok := f[name]; ok && strings.HasPrefix(name, prefix) {
			out = append(out, job.File{Name: name, Size: int64(len(data)), ETag: "v1"})
		}
	}
	return out, nil
}

func (f files) Stat(ctx context.Context, c string, names []string) ([]job.File, error) {
	return f.List(ctx, c, "")
}

func (f files) ReadRange(_ context.Context, _, name, _ string, off, n int64) (io.ReadCloser, error) {
	data := f[name]
	return io.NopCloser(bytes.NewReader(data[off:min(off+n, int64(len(data)))])), nil
}

func table(seed uint64, n int, bad bool) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if bad && i%97 == 0 {
			fmt.Fprintf(&b, "%d|broken row|\n", i)
			continue
		}
		fmt.Fprintf(&b, "%d|Customer#%09d|addr|%d|11-111|%d.%02d|BUILDING|c|\n", i, i, r.IntN(25), r.IntN(11000)-1000, r.IntN(100))
	}
	return b.Bytes()
}

type pipeline struct {
	in      files
	tr      *mem.Transport
	store   *job.MemStore
	part    *partition.Service
	agg     *stage.Stage
	merge   *merge.Stage
	applied sync.Map
}

func newPipeline(in files) *pipeline {
	tr := mem.New()
	st := &job.MemStore{}
	trs := map[string]transport.Transport{"queue": tr}
	quiet := slog.New(slog.DiscardHandler)
	return &pipeline{
		in: in, tr: tr, store: st,
		part:  &partition.Service{Store: st, Inputs: in, Transports: trs},
		agg:   &stage.Stage{Source: in, Store: st, Transports: trs, Log: quiet},
		merge: &merge.Stage{Store: st, Transports: trs, Log: quiet},
	}
}

// submit submits a job and runs partition's plan function for it, as the
// job API and the Plan function do in turn.
func (p *pipeline) submit(t *testing.T, spec job.Spec) {
	t.Helper()
	ctx := context.Background()
	rec, err := p.part.Submit(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, p.part.Plan(ctx, rec.Spec.ID))
}

// deliver hands every pending delivery of topic to h, each one dup times,
// shuffled, from 8 goroutines, until the topic is empty.
func deliver(t *testing.T, tr *mem.Transport, topic string, dup int, h func(transport.Delivery) error) {
	for {
		ds := tr.Take(topic)
		if len(ds) == 0 {
			return
		}
		var all []transport.Delivery
		for _, d := range ds {
			for k := 0; k < dup; k++ {
				all = append(all, d)
			}
		}
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		work := make(chan transport.Delivery)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range work {
					assert.NoError(t, h(d))
				}
			}()
		}
		for _, d := range all {
			work <- d
		}
		close(work)
		wg.Wait()
	}
}

func TestPipelineInMemoryIsExactUnderDuplicates(t *testing.T) {
	in := files{"c.000": table(1, 45000, true), "c.001": table(2, 1, false), "c.002": table(3, 2500, false)}
	var want aggregate.Partial
	for _, name := range []string{"c.000", "c.001", "c.002"} {
		p, err := aggregate.Scan(context.Background(), bytes.NewReader(in[name]), name, aggregate.DefaultLayout())
		require.NoError(t, err)
		want.Merge(p)
	}
	for _, tc := range []struct {
		dup    int
		window time.Duration
	}{{1, 0}, {3, 0}, {1, time.Hour}, {3, time.Hour}} {
		t.Run(fmt.Sprintf("dup=%d,window=%v", tc.dup, tc.window), func(t *testing.T) {
			dup := tc.dup
			p := newPipeline(in)
			// With a window, partials may travel in batches (batches go when
			// full or when no unit is running, never by the clock); how many
			// share a message depends on the scheduling, so only the answer
			// is checked here (aggregate/stage's tests check the batching).
			p.agg.Batcher.Window = tc.window
			ctx := context.Background()
			id := fmt.Sprintf("dup%d-%d", dup, tc.window/time.Hour)
			p.submit(t, job.Spec{ID: id, Transport: "queue", Input: job.Input{Container: "input", Prefix: "c."}, UnitMB: 1})
			sent := p.tr.Deliveries(stage.InTopic)
			deliver(t, p.tr, stage.InTopic, dup, func(d transport.Delivery) error { return p.agg.Handle(ctx, "queue", d) })
			partials := len(p.tr.Deliveries(merge.InTopic))
			deliver(t, p.tr, merge.InTopic, dup, func(d transport.Delivery) error { return p.merge.Handle(ctx, "queue", d) })
			st, err := p.part.Status(ctx, id)
			require.NoError(t, err)
			require.Greater(t, st.Units.Planned, 1, "the big file spans several units")
			require.Equal(t, job.Done, st.State, "failure: %s", st.Failure)
			t.Logf("%d units, %d partials messages", st.Units.Planned, partials)
			assert.Equal(t, *aggregate.NewResult(&want), st.Result.Result)
			assert.Equal(t, want.Rejected, st.Rows.Rejected)
			assert.NotEmpty(t, st.Samples)
			assert.Equal(t, 0, p.tr.Stored(stage.InTopic)+p.tr.Stored(merge.InTopic), "every message released")

			// A stray copy of a merged unit that ends in a poison queue
			// leaves the finished job alone.
			require.NoError(t, p.merge.Poison(ctx, "queue", merge.UnitsTopic, sent[0]))
			st, err = p.part.Status(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, job.Done, st.State)
			assert.Zero(t, st.Units.Failed)
		})
	}
}

func TestPoisonFailsTheJobWithTheLastError(t *testing.T) {
	in := files{"c.000": table(1, 10, false)}
	p := newPipeline(in)
	ctx := context.Background()
	p.submit(t, job.Spec{ID: "poisoned", Transport: "queue", Input: job.Input{Container: "input"}})
	ds := p.tr.Take(stage.InTopic)
	require.Len(t, ds, 1)

	boom := errors.New("storage on fire")
	p.tr.SetFault(func(op, topic string) error {
		if op == "send" && topic == merge.InTopic {
			return boom
		}
		return nil
	})
	for attempt := 1; attempt <= 5; attempt++ {
		d := ds[0]
		d.DequeueCount = attempt
		require.ErrorIs(t, p.agg.Handle(ctx, "queue", d), boom)
	}
	// The host moves the message to the poison queue; merge's poison
	// function fails the job.
	require.NoError(t, p.merge.Poison(ctx, "queue", merge.UnitsTopic, ds[0]))
	st, err := p.part.Status(ctx, "poisoned")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, st.State)
	assert.Contains(t, st.Failure, "unit 0 failed in the aggregate stage")
	assert.Contains(t, st.Failure, "storage on fire")
	assert.Equal(t, 1, st.Units.Failed)
	// The job has the reason: the poisoned message's body (a blob of the
	// blob transport, a queue overflow blob) is released, not left behind.
	assert.Zero(t, p.tr.Stored(stage.InTopic), "the poisoned unit's message is released")

	// A redelivered poison message finds its body gone and changes nothing.
	require.NoError(t, p.merge.Poison(ctx, "queue", merge.UnitsTopic, ds[0]))
	again, err := p.part.Status(ctx, "poisoned")
	require.NoError(t, err)
	assert.Equal(t, st.Failure, again.Failure)
	assert.Equal(t, 1, again.Units.Failed)
}

// A partial message that cannot be read fails on every delivery; its error
// must be recorded under the unit its ID names, so that the job fails with
// this reason once the message is poisoned.
func TestUnreadablePartialRecordsItsError(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(files{})
	require.NoError(t, p.tr.Send(ctx, merge.InTopic, transport.Message{ID: job.PartialID("j", 2), Body: []byte(`{"job":"j","index":"two"}`)}))
	ds := p.tr.Take(merge.InTopic)
	require.Len(t, ds, 1)
	require.ErrorContains(t, p.merge.Handle(ctx, "queue", ds[0]), "bad partial")
	last, err := job.LastError(ctx, p.store, "j", 2)
	require.NoError(t, err)
	assert.Contains(t, last, "bad partial")

	// A partial whose body names another unit than its ID.
	body := `{"job":"j","index":5,"count":6,"shards":1,"partial":{"rows":0,"rejected":0,"bytes":0,"nations":[]}}`
	require.NoError(t, p.tr.Send(ctx, merge.InTopic, transport.Message{ID: job.PartialID("j", 4), Body: []byte(body)}))
	require.ErrorContains(t, p.merge.Handle(ctx, "queue", p.tr.Take(merge.InTopic)[0]), "carries the partials of")
	last, err = job.LastError(ctx, p.store, "j", 4)
	require.NoError(t, err)
	assert.Contains(t, last, "carries the partials of")
}

// A job of several merge shards whose partials travel in batches that mix
// shards, each batch delivered twice and in any order: every unit is
// folded into its own shard once, and the job completes across shards with
// the exact answer.
func TestBatchesMixingShardsFoldExactlyOnce(t *testing.T) {
	ctx := context.Background()
	st := &job.MemStore{}
	tr := mem.New()
	m := &merge.Stage{Store: st, Transports: map[string]transport.Transport{"queue": tr}, Log: slog.New(slog.DiscardHandler),
		Folder: job.Folder{Window: time.Millisecond}}
	spec := job.Spec{ID: "wide", Transport: "queue", Input: job.Input{Container: "input"}}
	require.NoError(t, spec.Normalize())
	_, err := job.Create(ctx, st, spec, time.Unix(1, 0))
	require.NoError(t, err)
	files := make([]job.File, 300)
	for i := range files {
		files[i] = job.File{Name: fmt.Sprintf("f%03d", i), Size: 1, ETag: "v"}
	}
	plan, err := job.MakePlan(files, 1)
	require.NoError(t, err)
	_, p, err := job.SetPlan(ctx, st, "wide", plan, time.Unix(2, 0))
	require.NoError(t, err)
	require.Greater(t, p.Shards, 1, "300 units take several merge shards")

	var want aggregate.Partial
	var batch []*job.PartialMsg
	flush := func() {
		units := make([]int, len(batch))
		for i, pm := range batch {
			units[i] = pm.Index
		}
		body, err := job.EncodePartials(batch)
		require.NoError(t, err)
		require.NoError(t, tr.Send(ctx, merge.InTopic, transport.Message{ID: job.PartialsID("wide", units), Body: body}))
		batch = nil
	}
	for i := range p.Units {
		part, err := aggregate.Scan(ctx, bytes.NewReader(table(uint64(i), 3, false)), fmt.Sprint(i), aggregate.DefaultLayout())
		require.NoError(t, err)
		want.Merge(part)
		batch = append(batch, &job.PartialMsg{Job: "wide", Transport: "queue", Index: i, Count: p.Units, Shards: p.Shards, Bytes: 1, Partial: part})
		if len(batch) == 7 {
			flush()
		}
	}
	flush()
	deliver(t, tr, merge.InTopic, 2, func(d transport.Delivery) error { return m.Handle(ctx, "queue", d) })

	rec, err := job.Get(ctx, st, "wide")
	require.NoError(t, err)
	require.Equal(t, job.Done, rec.State, rec.Failure)
	data, _, err := st.Get(ctx, job.ResultName("wide", "json"))
	require.NoError(t, err)
	var res job.Result
	require.NoError(t, json.Unmarshal(data, &res))
	assert.Equal(t, *aggregate.NewResult(&want), res.Result)
}

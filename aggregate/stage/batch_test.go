package stage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// gatedSource holds the first n range reads until all n have started, so
// that n units are running at once when the first of them finishes.
type gatedSource struct {
	Source
	left  atomic.Int64
	ready chan struct{}
}

func newGated(src Source, n int) *gatedSource {
	g := &gatedSource{Source: src, ready: make(chan struct{})}
	g.left.Store(int64(n))
	return g
}

func (g *gatedSource) ReadRange(ctx context.Context, c, name, etag string, off, n int64) (io.ReadCloser, error) {
	if g.left.Add(-1) == 0 {
		close(g.ready)
	}
	<-g.ready
	return g.Source.ReadRange(ctx, c, name, etag, off, n)
}

// runAll runs units at once and returns each run's error.
func runAll(s *Stage, units []job.WorkUnit) []error {
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	for i := range units {
		wg.Go(func() { errs[i] = s.run(context.Background(), &units[i]) })
	}
	wg.Wait()
	return errs
}

// decodeAll decodes every message sent and returns the partials by unit.
func decodeAll(t *testing.T, msgs []transport.Message) map[int][]*job.PartialMsg {
	t.Helper()
	byUnit := map[int][]*job.PartialMsg{}
	for _, m := range msgs {
		ms, err := job.DecodePartials(m.ID, m.Body)
		require.NoError(t, err, m.ID)
		assert.LessOrEqual(t, len(m.Body), max(job.MaxBatchBytes, 8<<10), m.ID)
		for _, pm := range ms {
			byUnit[pm.Index] = append(byUnit[pm.Index], pm)
		}
	}
	return byUnit
}

// Units that finish together share messages, every unit's partial is in
// exactly one of them, and the partials still add up to the whole file.
func TestBatcherSendsUnitsThatFinishTogetherInFewMessages(t *testing.T) {
	data := rows(4000)
	s, src, out, _, units := setup(t, data, int64(len(data))/40)
	require.Greater(t, len(units), job.MaxBatchUnits, "enough units to fill a batch")
	s.Source = newGated(src, len(units))
	// A window far longer than the test: batches go because they are full
	// or because no unit is left running, never because time passed.
	s.Batcher.Window = time.Hour
	for i, err := range runAll(s, units) {
		require.NoError(t, err, "unit %d", i)
	}

	byUnit := decodeAll(t, out.sent)
	assert.Less(t, len(out.sent), len(units)/2, "units running together share messages")
	total := &aggregate.Partial{}
	for i := range units {
		require.Len(t, byUnit[i], 1, "unit %d is sent exactly once", i)
		total.Merge(byUnit[i][0].Partial)
	}
	want, err := aggregate.Scan(context.Background(), bytes.NewReader(data), "f", aggregate.DefaultLayout())
	require.NoError(t, err)
	assert.Equal(t, want, total)
	for _, m := range out.sent {
		_, ids, ok := job.ParseMessageUnits(m.ID)
		require.True(t, ok)
		assert.LessOrEqual(t, len(ids), job.MaxBatchUnits)
	}
}

// Without a window every partial travels alone, under its unit's ID.
func TestBatcherWithoutWindowSendsEachPartialAlone(t *testing.T) {
	data := rows(1000)
	s, src, out, _, units := setup(t, data, int64(len(data))/8)
	s.Source = newGated(src, len(units))
	for i, err := range runAll(s, units) {
		require.NoError(t, err, "unit %d", i)
	}
	require.Len(t, out.sent, len(units))
	for _, m := range out.sent {
		_, unit, ok := job.ParseMessageID(m.ID)
		require.True(t, ok, m.ID)
		assert.Equal(t, job.PartialID("j", unit), m.ID)
	}
}

// A unit running alone is not held back by the window: nothing could join
// its batch. (With an hour's window, a wait would hang the test.)
func TestBatcherSendsALoneUnitAtOnce(t *testing.T) {
	s, _, out, _, units := setup(t, rows(100), 1<<20)
	s.Batcher.Window = time.Hour
	require.NoError(t, s.run(context.Background(), &units[0]))
	require.Len(t, out.sent, 1)
	assert.Equal(t, job.PartialID("j", 0), out.sent[0].ID)
}

// A unit that fails before its partial is ready releases the batch that
// waits for it.
func TestBatcherDoesNotWaitForAFailedUnit(t *testing.T) {
	data := rows(1000)
	s, src, out, _, units := setup(t, data, int64(len(data))/2)
	require.Len(t, units, 2)
	s.Batcher.Window = time.Hour
	s.Source = newGated(src, 2)
	units[1].Parts[0].ETag = "gone"
	errs := runAll(s, units)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], ErrPermanent)
	require.Len(t, out.sent, 1)
	assert.Equal(t, job.PartialID("j", 0), out.sent[0].ID)
}

// failingSink refuses every send.
type failingSink struct{ sink }

func (*failingSink) Send(context.Context, string, ...transport.Message) error {
	return errors.New("storage is down")
}

// When the message holding a batch cannot be sent, every unit in it fails
// (and is retried): none is acknowledged without its partial stored.
func TestBatcherFailsEveryUnitOfAFailedSend(t *testing.T) {
	data := rows(1000)
	s, src, _, _, units := setup(t, data, int64(len(data))/6)
	s.Transports["queue"] = &failingSink{}
	s.Source = newGated(src, len(units))
	s.Batcher.Window = time.Hour
	for i, err := range runAll(s, units) {
		assert.ErrorContains(t, err, "storage is down", "unit %d", i)
	}
}

// Two deliveries of one unit finishing together send its partial once.
func TestBatcherSendsARedeliveredUnitOnce(t *testing.T) {
	data := rows(1000)
	s, src, out, _, units := setup(t, data, int64(len(data))/3)
	s.Source = newGated(src, len(units)+1)
	s.Batcher.Window = time.Hour
	twice := append(slices.Clone(units), units[1])
	for i, err := range runAll(s, twice) {
		require.NoError(t, err, "delivery %d", i)
	}
	byUnit := decodeAll(t, out.sent)
	for i := range units {
		assert.Len(t, byUnit[i], 1, "unit %d", i)
	}
}

// The partials of different merge shards share messages too: concurrent
// units have consecutive indices, which the shards take round robin.
func TestBatcherMixesShards(t *testing.T) {
	data := rows(1000)
	s, src, out, _, units := setup(t, data, int64(len(data))/8)
	for i := range units {
		units[i].Shards = 2
	}
	s.Source = newGated(src, len(units))
	s.Batcher.Window = time.Hour
	for i, err := range runAll(s, units) {
		require.NoError(t, err, "unit %d", i)
	}
	require.Len(t, out.sent, 1)
	byUnit := decodeAll(t, out.sent)
	assert.Len(t, byUnit, len(units))
}

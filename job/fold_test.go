package job

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/storage"
)

// countingStore counts the shard reads and writes of a MemStore.
type countingStore struct {
	MemStore
	reads, writes atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, name string) ([]byte, string, error) {
	if strings.Contains(name, "/shard-") {
		c.reads.Add(1)
	}
	return c.MemStore.Get(ctx, name)
}

func (c *countingStore) Put(ctx context.Context, name string, data []byte, cond Cond) (string, error) {
	if strings.Contains(name, "/shard-") {
		c.writes.Add(1)
	}
	return c.MemStore.Put(ctx, name, data, cond)
}

// foldAll folds the given units of an n-unit job concurrently and returns
// their outcomes. A fold that waits for its whole window (an hour in these
// tests) instead of writing fails the test after 30 s.
func foldAll(t *testing.T, f *Folder, st Store, id string, n, shards int, units ...int) []FoldOutcome {
	t.Helper()
	outs := make([]FoldOutcome, len(units))
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	for j, i := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[j], errs[j] = f.Fold(context.Background(), st, msgFor(id, i, n, shards))
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("folds of units %v still waiting: a batch was held back for its window", units)
	}
	for j, err := range errs {
		require.NoError(t, err, "unit %d", units[j])
	}
	return outs
}

// A shard's last partials are never held back for the window, and the
// partials that arrive while a batch gathers share its one read and one
// write.
func TestFolderWindowWritesACompleteShardAtOnce(t *testing.T) {
	const n = 8
	st := &countingStore{}
	newJob(t, st, "w", n)
	f := &Folder{Window: time.Hour, Idle: time.Hour, MaxBatch: 100}
	outs := foldAll(t, f, st, "w", n, 1, 1, 0, 1, 2, 3, 4, 5, 6, 7)
	applied, complete := 0, 0
	for _, o := range outs {
		if o.Applied {
			applied++
		}
		if o.ShardComplete {
			complete++
		}
	}
	assert.Equal(t, n, applied, "each unit once, the duplicate of unit 1 not again")
	// One completion check for the batch; the duplicate of unit 1, if it
	// came after the write, runs one more.
	assert.GreaterOrEqual(t, complete, 1)
	assert.LessOrEqual(t, complete, 2)
	assert.Equal(t, int64(1), st.writes.Load(), "one write for the batch, none for the duplicate")
	// The write uses the gatherer's read; the duplicate of unit 1 may come
	// after the write and read the complete shard.
	assert.LessOrEqual(t, st.reads.Load(), int64(2))
	done, err := Finish(context.Background(), st, "w", n, 1, time.Unix(1010, 0))
	require.NoError(t, err)
	assert.True(t, done)
}

// A shard that already holds most of its units completes with the rest
// without waiting: the gatherer counts what the shard holds, duplicates
// of it not again.
func TestFolderWindowCountsWhatTheShardHolds(t *testing.T) {
	const n = 6
	st := &countingStore{}
	newJob(t, st, "h", n)
	var plain Folder
	foldAll(t, &plain, st, "h", n, 1, 0, 1, 2)
	f := &Folder{Window: time.Hour, Idle: time.Hour, MaxBatch: 100}
	outs := foldAll(t, f, st, "h", n, 1, 2, 3, 4, 5)
	assert.False(t, outs[0].Applied, "unit 2 was folded before")
	complete := 0
	for _, o := range outs {
		if o.ShardComplete {
			complete++
		}
	}
	for _, o := range outs[1:] {
		assert.True(t, o.Applied)
	}
	// One completion check for the batch; unit 2, if it came after the
	// write, runs one more.
	assert.GreaterOrEqual(t, complete, 1)
	assert.LessOrEqual(t, complete, 2)
}

// MaxBatch partials of one shard, or of all shards together, end the wait.
func TestFolderWindowEndsAtMaxBatch(t *testing.T) {
	const n = 40
	st := &countingStore{}
	newJob(t, st, "m", n)
	f := &Folder{Window: time.Hour, Idle: time.Hour, MaxBatch: 4}
	// Four partials of shard 0 (of 2): one batch.
	outs := foldAll(t, f, st, "m", n, 2, 0, 2, 4, 6)
	for _, o := range outs {
		assert.True(t, o.Applied)
		assert.False(t, o.ShardComplete)
	}
	assert.Equal(t, int64(1), st.writes.Load())
	// Two partials of each shard: four in the Folder, so both write.
	foldAll(t, f, st, "m", n, 2, 8, 10, 1, 3)
	assert.Equal(t, int64(3), st.writes.Load())
	p, err := ReadProgress(context.Background(), st, "m", 2)
	require.NoError(t, err)
	assert.Equal(t, 8, p.Done)
}

// A lone partial is written when the window ends.
func TestFolderWindowEndsInTime(t *testing.T) {
	const n = 10
	st := &countingStore{}
	newJob(t, st, "e", n)
	f := &Folder{Window: 10 * time.Millisecond}
	outs := foldAll(t, f, st, "e", n, 1, 3)
	assert.True(t, outs[0].Applied)
	assert.False(t, outs[0].ShardComplete)
	assert.Equal(t, int64(1), st.writes.Load())
}

// A write that conflicts with another process's (its read is stale after
// the window) is retried on a fresh read, and nothing is lost.
func TestFolderWindowSurvivesAConcurrentWriter(t *testing.T) {
	const n = 4
	st := &countingStore{}
	newJob(t, st, "c", n)
	var raced atomic.Bool
	other := func(name string) error {
		if strings.Contains(name, "/shard-") && raced.CompareAndSwap(false, true) {
			// Another instance folds unit 3 just before this write.
			_, err := Fold(context.Background(), &st.MemStore, msgFor("c", 3, n, 1))
			require.NoError(t, err)
		}
		return nil
	}
	st.BeforePut = other
	f := &Folder{Window: 10 * time.Millisecond}
	foldAll(t, f, st, "c", n, 1, 0, 1)
	st.BeforePut = nil
	outs := foldAll(t, f, st, "c", n, 1, 2)
	assert.True(t, outs[0].ShardComplete)
	p, err := ReadProgress(context.Background(), st, "c", 1)
	require.NoError(t, err)
	assert.Equal(t, n, p.Done)
	assert.Equal(t, expected(n), *aggregate.NewResult(p.Partial))
}

// A failed read fails the batch's partials; they fold on retry.
func TestFolderWindowReadFailure(t *testing.T) {
	const n = 3
	st := &failingReads{}
	newJob(t, st, "r", n)
	st.fail.Store(true)
	f := &Folder{Window: time.Hour, Idle: time.Hour}
	_, err := f.Fold(context.Background(), st, msgFor("r", 0, n, 1))
	require.ErrorIs(t, err, storage.ErrUnavailable)
	st.fail.Store(false)
	outs := foldAll(t, f, st, "r", n, 1, 0, 1, 2)
	complete := 0
	for _, o := range outs {
		assert.True(t, o.Applied)
		if o.ShardComplete {
			complete++
		}
	}
	assert.Equal(t, 1, complete, "the three fold in one write, which runs one completion check")
}

type failingReads struct {
	MemStore
	fail atomic.Bool
}

func (s *failingReads) Get(ctx context.Context, name string) ([]byte, string, error) {
	if strings.Contains(name, "/shard-") && s.fail.Load() {
		return nil, "", fmt.Errorf("injected: %w", storage.ErrUnavailable)
	}
	return s.MemStore.Get(ctx, name)
}

// A batch is written when no partial has arrived for Idle, long before
// its window ends: the host has handed over what it fetched.
func TestFolderWindowEndsWhenIdle(t *testing.T) {
	const n = 10
	st := &countingStore{}
	newJob(t, st, "i", n)
	f := &Folder{Window: time.Hour, Idle: 10 * time.Millisecond}
	outs := foldAll(t, f, st, "i", n, 1, 3, 4)
	for _, o := range outs {
		assert.True(t, o.Applied)
		assert.False(t, o.ShardComplete)
	}
	assert.LessOrEqual(t, st.writes.Load(), int64(2))
}

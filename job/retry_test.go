package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/storage"
)

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"a", "j0123456789abcdef", "job-1", strings.Repeat("a", 63)} {
		assert.NoError(t, CheckID(ok), ok)
	}
	for _, bad := range []string{"", "..", "../funnel", "a/b", "..%2Fx", "A", "-a", "a b", strings.Repeat("a", 64), strings.Repeat("a", 100000)} {
		err := CheckID(bad)
		assert.ErrorIs(t, err, ErrInvalid, "%.20q", bad)
		if err != nil {
			assert.Less(t, len(err.Error()), 300, "the message quotes at most the start of a long ID")
		}
	}
}

// Finish writes each result document once: a second finisher (here one that
// would write another elapsed time) leaves the first answer in place.
func TestFinishWritesTheResultOnce(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	newJob(t, st, "once", 2)
	for i := 0; i < 2; i++ {
		_, err := Fold(ctx, st, msgFor("once", i, 2, 1))
		require.NoError(t, err)
	}
	var writes []string
	st.BeforePut = func(name string) error {
		writes = append(writes, name)
		return nil
	}
	done, err := Finish(ctx, st, "once", 2, 1, time.Unix(1010, 0))
	require.NoError(t, err)
	require.True(t, done)
	first, _, err := st.Get(ctx, ResultName("once", "json"))
	require.NoError(t, err)
	assert.Contains(t, string(first), `"elapsed_seconds": 10`)

	// A finisher that read "running" before the first one finished.
	_, err = modify(ctx, st, "once", func(r *Record) (bool, error) { r.State = Running; return true, nil })
	require.NoError(t, err)
	writes = nil
	done, err = Finish(ctx, st, "once", 2, 1, time.Unix(1020, 0))
	require.NoError(t, err)
	assert.True(t, done)
	again, _, err := st.Get(ctx, ResultName("once", "json"))
	require.NoError(t, err)
	assert.Equal(t, string(first), string(again), "the first result stands")
	assert.Equal(t, []string{ResultName("once", "json"), ResultName("once", "csv"), recordName("once")}, writes,
		"result writes are conditional creates that fail, then the state")
}

// Finish reports false when the job could not be marked done: it failed
// between the progress read and the state change.
func TestFinishTellsTheTruth(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	newJob(t, st, "racy", 1)
	_, err := Fold(ctx, st, msgFor("racy", 0, 1, 1))
	require.NoError(t, err)
	st.BeforePut = func(name string) error {
		if name == ResultName("racy", "csv") {
			st.BeforePut = nil
			require.NoError(t, Fail(ctx, st, "racy", -1, "failed meanwhile", time.Unix(1005, 0)))
		}
		return nil
	}
	done, err := Finish(ctx, st, "racy", 1, 1, time.Unix(1010, 0))
	require.NoError(t, err)
	assert.False(t, done, "the job failed first: Finish must not say done")
	rec, err := Get(ctx, st, "racy")
	require.NoError(t, err)
	assert.Equal(t, Failed, rec.State)

	// A storage failure on the result write is an error, not "not done".
	newJob(t, st, "broken", 1)
	_, err = Fold(ctx, st, msgFor("broken", 0, 1, 1))
	require.NoError(t, err)
	boom := fmt.Errorf("put: %w", storage.ErrUnavailable)
	st.BeforePut = func(name string) error {
		if strings.HasPrefix(name, "results/broken") {
			return boom
		}
		return nil
	}
	done, err = Finish(ctx, st, "broken", 1, 1, time.Unix(1010, 0))
	assert.ErrorIs(t, err, storage.ErrUnavailable)
	assert.False(t, done)
}

func TestRetrySendsOnlyUnappliedUnits(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	const n = 6
	newJob(t, st, "rt", n)
	shards := shardsFor(n)
	for _, i := range []int{0, 2, 3} {
		_, err := Fold(ctx, st, msgFor("rt", i, n, shards))
		require.NoError(t, err)
	}

	_, _, err := Retry(ctx, st, "rt", time.Unix(1100, 0))
	assert.ErrorIs(t, err, ErrNotRetryable, "a running job is not retried")
	_, _, err = Retry(ctx, st, "nope", time.Unix(1100, 0))
	assert.ErrorIs(t, err, storage.ErrNotFound)

	require.NoError(t, Fail(ctx, st, "rt", 4, "unit 4 failed in the aggregate stage on every retry: boom", time.Unix(1050, 0)))
	rec, units, err := Retry(ctx, st, "rt", time.Unix(1100, 0))
	require.NoError(t, err)
	assert.Equal(t, []int{1, 4, 5}, units, "the failed unit and those its failure stopped; never an applied one")
	assert.Equal(t, Running, rec.State)
	assert.Empty(t, rec.Failure)
	assert.Empty(t, rec.FailedUnits)
	assert.True(t, rec.Finished.IsZero())
	require.Len(t, rec.Attempts, 1)
	assert.Equal(t, []int{4}, rec.Attempts[0].FailedUnits)
	assert.Contains(t, rec.Attempts[0].Failure, "boom")

	// Until the units are marked sent, a repeated retry returns them again
	// (a caller that crashed half way sends them again).
	_, again, err := Retry(ctx, st, "rt", time.Unix(1101, 0))
	require.NoError(t, err)
	assert.Equal(t, units, again)
	_, err = MarkRetrySent(ctx, st, "rt")
	require.NoError(t, err)
	_, _, err = Retry(ctx, st, "rt", time.Unix(1102, 0))
	assert.ErrorIs(t, err, ErrNotRetryable, "a retry whose units are sent is running")

	// The resent units arrive (one twice) and the job finishes exactly.
	for _, i := range []int{1, 4, 4, 5} {
		_, err := Fold(ctx, st, msgFor("rt", i, n, shards))
		require.NoError(t, err)
	}
	done, err := Finish(ctx, st, "rt", n, shards, time.Unix(1200, 0))
	require.NoError(t, err)
	require.True(t, done)
	s, err := ReadStatus(ctx, st, "rt", time.Unix(1200, 0))
	require.NoError(t, err)
	assert.Equal(t, expected(n), s.Result.Result)
	_, _, err = Retry(ctx, st, "rt", time.Unix(1300, 0))
	assert.ErrorIs(t, err, ErrNotRetryable, "a done job is not retried")
}

func TestRetryOfAJobFailedBeforePlanning(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	s := Spec{ID: "early", Transport: "queue", Input: Input{Container: "input"}}
	require.NoError(t, s.Normalize())
	_, err := Create(ctx, st, s, time.Unix(1, 0))
	require.NoError(t, err)
	require.NoError(t, Fail(ctx, st, "early", -1, "no input", time.Unix(2, 0)))
	_, _, err = Retry(ctx, st, "early", time.Unix(3, 0))
	require.True(t, errors.Is(err, ErrNotRetryable))
	assert.Contains(t, err.Error(), "submit it again")
}

// Package storetest is the conformance suite every job.Store passes: what
// Get and Put do on a missing document, on a stale or a met condition, on a
// create race, with large and empty documents, and on a cancelled context.
// job.MemStore runs it always; job.BlobStore runs it on Azurite (package
// job's tests).
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// Run runs the suite against the store newStore returns. Every case uses
// document names of its own, so the store may be shared with other tests.
func Run(t *testing.T, newStore func(t *testing.T) job.Store) {
	run := func(name string, f func(t *testing.T, st job.Store, prefix string)) {
		t.Run(name, func(t *testing.T) {
			f(t, newStore(t), uniquePrefix())
		})
	}
	run("get missing", testGetMissing)
	run("put and get", testPutGet)
	run("if-match", testIfMatch)
	run("if-match on a missing document", testIfMatchMissing)
	run("if-none-match", testIfNoneMatch)
	run("create race has one winner", testCreateRace)
	run("conditional updates lose nothing", testUpdateRace)
	run("large document", testLarge)
	run("cancelled context", testCancelled)
	run("job IDs", testJobIDs)
}

func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "conformance/" + hex.EncodeToString(b[:]) + "/"
}

func testGetMissing(t *testing.T, st job.Store, p string) {
	_, _, err := st.Get(context.Background(), p+"missing.json")
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrNotFound)
}

func testPutGet(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "jobs/j1/job.json"
	e1, err := st.Put(ctx, name, []byte(`{"v":1}`), job.Cond{})
	require.NoError(t, err)
	require.NotEmpty(t, e1, "Put returns the new ETag")
	data, etag, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, `{"v":1}`, string(data))
	assert.Equal(t, e1, etag, "Get returns the ETag Put returned")

	e2, err := st.Put(ctx, name, []byte(`{"v":2}`), job.Cond{})
	require.NoError(t, err, "an unconditional Put overwrites")
	assert.NotEqual(t, e1, e2, "every write changes the ETag")
	data, etag, err = st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, `{"v":2}`, string(data))
	assert.Equal(t, e2, etag)

	_, err = st.Put(ctx, p+"empty", nil, job.Cond{})
	require.NoError(t, err)
	data, _, err = st.Get(ctx, p+"empty")
	require.NoError(t, err, "an empty document is a document")
	assert.Empty(t, data)
}

func testIfMatch(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "doc.json"
	e1, err := st.Put(ctx, name, []byte("one"), job.Cond{})
	require.NoError(t, err)
	e2, err := st.Put(ctx, name, []byte("two"), job.Cond{IfMatch: e1})
	require.NoError(t, err, "a write on the current ETag wins")
	_, err = st.Put(ctx, name, []byte("stale"), job.Cond{IfMatch: e1})
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrConflict, "a write on a stale ETag is a conflict")
	data, etag, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "two", string(data), "a failed conditional write changes nothing")
	assert.Equal(t, e2, etag)
}

func testIfMatchMissing(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "gone.json"
	etag, err := st.Put(ctx, p+"other.json", []byte("x"), job.Cond{})
	require.NoError(t, err)
	_, err = st.Put(ctx, name, []byte("x"), job.Cond{IfMatch: etag})
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrConflict, "If-Match on a missing document is a conflict, as in Azure (412)")
	_, _, err = st.Get(ctx, name)
	assert.ErrorIs(t, err, transport.ErrNotFound, "and writes nothing")
}

func testIfNoneMatch(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "create.json"
	e1, err := st.Put(ctx, name, []byte("first"), job.Cond{IfNoneMatch: true})
	require.NoError(t, err, "a create of a missing document wins")
	_, err = st.Put(ctx, name, []byte("second"), job.Cond{IfNoneMatch: true})
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrConflict, "a create of an existing document is a conflict")
	data, etag, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "first", string(data))
	assert.Equal(t, e1, etag)
}

func testCreateRace(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "race.json"
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.Put(ctx, name, []byte(strconv.Itoa(i)), job.Cond{IfNoneMatch: true})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "two creates won")
			winner = i
			continue
		}
		assert.ErrorIs(t, err, transport.ErrConflict, "writer %d", i)
	}
	require.NotEqual(t, -1, winner, "one create wins")
	data, _, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(winner), string(data), "the winner's document is the one stored")
}

// testUpdateRace has writers add to a counter with read, If-Match write,
// retry on conflict (the loop every record update runs): no increment may
// be lost.
func testUpdateRace(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "counter"
	_, err := st.Put(ctx, name, []byte("0"), job.Cond{})
	require.NoError(t, err)
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				for attempt := 0; ; attempt++ {
					if attempt > 500 {
						t.Errorf("writer %d: still conflicting", w)
						return
					}
					data, etag, err := st.Get(ctx, name)
					if !assert.NoError(t, err) {
						return
					}
					v, err := strconv.Atoi(string(data))
					if !assert.NoError(t, err) {
						return
					}
					_, err = st.Put(ctx, name, []byte(strconv.Itoa(v+1)), job.Cond{IfMatch: etag})
					if err == nil {
						break
					}
					if !assert.ErrorIs(t, err, transport.ErrConflict) {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	data, _, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(writers*each), string(data))
}

func testLarge(t *testing.T, st job.Store, p string) {
	ctx := context.Background()
	name := p + "large.json"
	data := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16) // 8 MiB: a shard of a very large job
	data[len(data)-1] = '!'
	etag, err := st.Put(ctx, name, data, job.Cond{IfNoneMatch: true})
	require.NoError(t, err)
	got, etag2, err := st.Get(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, etag, etag2)
	require.Equal(t, len(data), len(got))
	assert.True(t, bytes.Equal(data, got), "the document comes back byte for byte")
}

func testCancelled(t *testing.T, st job.Store, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := st.Get(ctx, p+"x")
	assert.True(t, errors.Is(err, context.Canceled), "Get: %v", err)
	_, err = st.Put(ctx, p+"x", []byte("x"), job.Cond{})
	assert.True(t, errors.Is(err, context.Canceled), "Put: %v", err)
	_, _, err = st.Get(context.Background(), p+"x")
	assert.ErrorIs(t, err, transport.ErrNotFound, fmt.Sprintf("a cancelled Put writes nothing: %v", err))
}

// testJobIDs checks JobLister, for a store that implements it: every job
// folder is listed once, whatever else it holds.
func testJobIDs(t *testing.T, st job.Store, p string) {
	l, ok := st.(job.JobLister)
	if !ok {
		t.Skip("the store does not list jobs")
	}
	ctx := context.Background()
	tag := strings.NewReplacer("conformance/", "", "/", "").Replace(p)
	a, b := "ca"+tag, "cb"+tag
	for _, name := range []string{"jobs/" + a + "/job.json", "jobs/" + b + "/job.json", "jobs/" + b + "/shard-000.json", "jobs/" + b + "/errors/000001"} {
		_, err := st.Put(ctx, name, []byte("{}"), job.Cond{})
		require.NoError(t, err)
	}
	ids, err := l.JobIDs(ctx)
	require.NoError(t, err)
	count := map[string]int{}
	for _, id := range ids {
		count[id]++
	}
	assert.Equal(t, 1, count[a])
	assert.Equal(t, 1, count[b], "one entry per job, not per document")
	assert.True(t, sort.StringsAreSorted(ids), "in name order")
}

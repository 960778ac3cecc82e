package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
	sf1data "github.com/funnelpipe/funnel/testing_data/sf1"
)

// TestSF1ExactOverBothTransports runs the flagship job on the real dbgen
// SF1 customer table, split into 100 chunk blobs, once over each transport,
// and checks that each answer equals customer_sf1.expected.json exactly.
// The time from submit to done, as the client sees it, is logged for each
// transport; the test runs alone (not in parallel) so that the two figures
// are comparable.
func TestSF1ExactOverBothTransports(t *testing.T) {
	start := time.Now()
	s := startStack(t, stackConfig{})
	t.Logf("apps built and stack started in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	dir := t.TempDir()
	table, expectedJSON, want := sf1(t, dir)
	chunks := split(t, table, filepath.Join(dir, "chunks"), 100)
	t.Logf("SF1 decompressed and split in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	files := s.upload(t, "sf1", chunks)
	t.Logf("uploaded 100 chunks in %v", time.Since(start).Round(time.Millisecond))
	var total int64
	for _, data := range files {
		total += int64(len(data))
	}
	require.EqualValues(t, sf1data.Bytes, total, "the chunks hold the whole table")

	for _, medium := range job.Transports() {
		t.Run(medium, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
			defer cancel()
			start := time.Now()
			id, err := s.client.Submit(ctx, job.Spec{ID: "sf1-" + medium, Transport: medium,
				Input: job.Input{Container: "sf1", Prefix: "customer."}})
			require.NoError(t, err)
			submitted := time.Since(start)
			st := s.waitJob(t, id, job.Done)
			took := time.Since(start)
			tm := st.Timings
			t.Logf("SF1 over %s: %v from submit to done as the client saw it (submit answered after %v); "+
				"the job's own elapsed %.3f s = partition %.3f s, aggregate %.3f s, merge %.3f s",
				medium, took.Round(time.Millisecond), submitted.Round(time.Millisecond),
				tm.ElapsedSeconds, tm.PartitionSeconds, tm.AggregateSeconds, tm.MergeSeconds)

			assert.Equal(t, id, st.ID)
			assert.Equal(t, medium, st.Transport)
			assert.Equal(t, 100, st.Files)
			assert.EqualValues(t, sf1data.Bytes, st.Bytes)
			checkDone(t, st, autoUnits(t, files, medium), want)
			assert.EqualValues(t, 150000, st.Rows.Accepted)
			assert.Zero(t, st.Rows.Rejected)
			s.checkAnswer(t, id, want, expectedJSON)
		})
	}
	// With 1 MiB units (24 of them) the units the host hands aggregate
	// together finish together, and their partials travel to merge in
	// batches: fewer merge invocations than units, the answer unchanged.
	t.Run("batched partials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
		defer cancel()
		merges := s.functionSummary("merge", "PartialsQueue").Successes
		id, err := s.client.Submit(ctx, job.Spec{ID: "sf1-1mib", Transport: "queue",
			Input: job.Input{Container: "sf1", Prefix: "customer."}, UnitMB: 1})
		require.NoError(t, err)
		st := s.waitJob(t, id, job.Done)
		n := planUnits(t, files, 1)
		checkDone(t, st, n, want)
		s.checkAnswer(t, id, want, expectedJSON)
		got := s.functionSummary("merge", "PartialsQueue").Successes - merges
		t.Logf("%d units, %d partials messages", n, got)
		assert.Less(t, got, n, "partials travel in batches")
	})
	for _, sum := range s.Summaries() {
		t.Logf("%s: %d invocations, %d poisoned", sum.App, sum.Invocations, len(sum.Poisoned))
	}
}

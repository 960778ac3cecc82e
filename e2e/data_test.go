package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/testing_data/chunk"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
	sf1data "github.com/funnelpipe/funnel/testing_data/sf1"
	"github.com/funnelpipe/funnel/transport/account"
)

// sf1 decompresses the real dbgen SF1 table into dir and returns its path,
// with the expected answer's JSON and its decoded form.
func sf1(t *testing.T, dir string) (table string, expectedJSON []byte, expected *aggregate.Result) {
	t.Helper()
	in, err := sf1data.Open()
	require.NoError(t, err, "the end-to-end tests need shared/testdata beside the repository")
	defer in.Close()
	table = filepath.Join(dir, "customer_sf1.tbl")
	out, err := os.Create(table)
	require.NoError(t, err)
	n, err := io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	require.EqualValues(t, sf1data.Bytes, n, "the testdata README gives the uncompressed size")

	expectedJSON, err = sf1data.ExpectedJSON()
	require.NoError(t, err)
	expected = &aggregate.Result{}
	dec := json.NewDecoder(bytes.NewReader(expectedJSON))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(expected))
	require.EqualValues(t, 150000, expected.Rows)
	return table, expectedJSON, expected
}

// generated writes a dbgen customer table of scale factor sf into dir and
// splits it into n chunk files; it returns the chunk paths.
func generated(t *testing.T, dir string, sf float64, n int) []string {
	t.Helper()
	ctx := context.Background()
	table := filepath.Join(dir, "customer.tbl")
	f, err := os.Create(table)
	require.NoError(t, err)
	require.NoError(t, dbgen.Write(ctx, f, dbgen.Options{ScaleFactor: sf}))
	require.NoError(t, f.Close())
	return split(t, table, filepath.Join(dir, "chunks"), n)
}

// planUnits is how many work units partition makes of files (listed in
// name order, as a prefix listing returns them) with unit_mb unitMB.
func planUnits(t *testing.T, files map[string][]byte, unitMB int) int {
	t.Helper()
	require.Positive(t, unitMB, "a unit size; autoUnits for the automatic one")
	return plannedUnits(t, files, job.Spec{Transport: "queue", UnitMB: unitMB})
}

// autoUnits is how many work units partition makes of files for a job
// over transport that names no unit size (the automatic size depends on
// the transport).
func autoUnits(t *testing.T, files map[string][]byte, transport string) int {
	t.Helper()
	return plannedUnits(t, files, job.Spec{Transport: transport})
}

func plannedUnits(t *testing.T, files map[string][]byte, spec job.Spec) int {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	fs := make([]job.File, len(names))
	for i, n := range names {
		fs[i] = job.File{Name: n, Size: int64(len(files[n]))}
	}
	p, err := job.PlanFor(&spec, fs)
	require.NoError(t, err)
	return p.Units
}

// split cuts a table into n line-aligned chunks named customer.NNN.csv.
func split(t *testing.T, table, dir string, n int) []string {
	t.Helper()
	paths, err := chunk.SplitFile(context.Background(), table, chunk.Options{Chunks: n, Dir: dir})
	require.NoError(t, err)
	require.Len(t, paths, n)
	return paths
}

// upload puts files into container (created if missing) under their base
// names, eight at a time, and returns their contents by blob name.
func (s *stack) upload(t *testing.T, container string, paths []string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files := readFiles(t, paths)
	s.uploadBytes(t, ctx, container, files)
	return files
}

func (s *stack) uploadBytes(t *testing.T, ctx context.Context, container string, files map[string][]byte) {
	t.Helper()
	require.NoError(t, s.acct.CreateContainer(ctx, container))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for name, data := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := s.acct.Blob().UploadBuffer(ctx, container, name, data, &azblob.UploadBufferOptions{})
			if err != nil {
				mu.Lock()
				errs = append(errs, account.Error(ctx, "upload "+name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// reference is the kernel's answer over whole files, computed here in the
// test process: what the pipeline must give for a job over them.
func reference(t *testing.T, files map[string][]byte, layout aggregate.Layout) *aggregate.Result {
	t.Helper()
	var total aggregate.Partial
	for name, data := range files {
		p, err := aggregate.Scan(context.Background(), bytes.NewReader(data), name, layout)
		require.NoError(t, err)
		total.Merge(p)
	}
	return aggregate.NewResult(&total)
}

// checkDone checks the status of a finished job against the answer it
// must have: every unit done once, the row counts, samples and timings.
func checkDone(t *testing.T, st *job.Status, units int, want *aggregate.Result) {
	t.Helper()
	assert.Equal(t, job.Done, st.State)
	assert.Empty(t, st.Failure)
	assert.Equal(t, units, st.Units.Planned, "units planned")
	assert.Equal(t, units, st.Units.Done, "units done: each planned unit exactly once")
	assert.Zero(t, st.Units.Failed, "units failed")
	assert.Equal(t, want.Rows, st.Rows.Accepted, "rows accepted")
	assert.Equal(t, want.Rejected, st.Rows.Rejected, "rows rejected")
	assert.Equal(t, want.RejectedSamples, st.Samples, "rejected samples in the status")

	tm := st.Timings
	for name, ts := range map[string]time.Time{"submitted": tm.Submitted, "planned": tm.Planned,
		"first unit": tm.FirstUnit, "last unit": tm.LastUnit, "finished": tm.Finished} {
		assert.False(t, ts.IsZero(), "timing %q is missing", name)
	}
	assert.False(t, tm.Planned.Before(tm.Submitted), "planned %v before submitted %v", tm.Planned, tm.Submitted)
	assert.False(t, tm.LastUnit.Before(tm.FirstUnit), "last unit %v before first unit %v", tm.LastUnit, tm.FirstUnit)
	assert.False(t, tm.Finished.Before(tm.LastUnit), "finished %v before the last unit %v", tm.Finished, tm.LastUnit)
	assert.Greater(t, tm.ElapsedSeconds, 0.0)
	assert.GreaterOrEqual(t, tm.PartitionSeconds, 0.0)
	assert.GreaterOrEqual(t, tm.AggregateSeconds, 0.0)
	assert.GreaterOrEqual(t, tm.MergeSeconds, 0.0)
	assert.InDelta(t, tm.Finished.Sub(tm.Submitted).Seconds(), tm.ElapsedSeconds, 1e-6, "elapsed is submit to finish")

	if assert.NotNil(t, st.Result, "a done job's status carries the result") {
		assert.Equal(t, st.ID, st.Result.Job)
		assert.Equal(t, *want, st.Result.Result, "the status's result")
	}
}

// checkAnswer reads a finished job's result as JSON and as CSV and checks
// both against want. expectedJSON, when given, is a reference document in
// the result's format, compared as decoded JSON (the job's own fields
// aside).
func (s *stack) checkAnswer(t *testing.T, id string, want *aggregate.Result, expectedJSON []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	data, err := s.client.Result(ctx, id, "json")
	require.NoError(t, err)
	var got job.Result
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&got), "result JSON:\n%s", data)
	assert.Equal(t, id, got.Job)
	assert.Greater(t, got.ElapsedSeconds, 0.0)
	assert.Equal(t, *want, got.Result, "the result document")

	if expectedJSON == nil {
		expectedJSON, err = json.Marshal(want)
		require.NoError(t, err)
	}
	var gotDoc, wantDoc map[string]any
	require.NoError(t, json.Unmarshal(data, &gotDoc))
	require.NoError(t, json.Unmarshal(expectedJSON, &wantDoc))
	delete(gotDoc, "job")
	delete(gotDoc, "elapsed_seconds")
	assert.Equal(t, wantDoc, gotDoc, "the result document, decoded")

	text, err := s.client.Result(ctx, id, "csv")
	require.NoError(t, err)
	checkCSV(t, text, want)
}

// checkCSV checks the CSV result against want, line by line; the total is
// formatted here from the exact sum, independently of the kernel.
func checkCSV(t *testing.T, text []byte, want *aggregate.Result) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(text)).ReadAll()
	require.NoError(t, err, "CSV result:\n%s", text)
	require.NotEmpty(t, recs)
	assert.Equal(t, []string{"key", "name", "customers", "mean", "min", "max", "total"}, recs[0])
	require.Len(t, recs, len(want.Nations)+1, "one line per nation:\n%s", text)
	var rows int64
	for i, n := range want.Nations {
		line := []string{strconv.Itoa(n.Key), n.Name, strconv.FormatInt(n.Count, 10), n.Mean, n.Min, n.Max, decimalCents(n.SumCents.Big())}
		assert.Equal(t, line, recs[i+1], "CSV line %d", i+1)
		c, err := strconv.ParseInt(recs[i+1][2], 10, 64)
		require.NoError(t, err)
		rows += c
	}
	assert.Equal(t, want.Rows, rows, "the CSV's customers add up to the accepted rows")
}

// decimalCents formats a number of cents with two decimal places.
func decimalCents(c *big.Int) string {
	sign := ""
	abs := new(big.Int).Set(c)
	if c.Sign() < 0 {
		sign = "-"
		abs.Neg(abs)
	}
	q, r := new(big.Int).QuoRem(abs, big.NewInt(100), new(big.Int))
	return fmt.Sprintf("%s%s.%02d", sign, q, r.Int64())
}

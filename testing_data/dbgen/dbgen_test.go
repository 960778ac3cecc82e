package dbgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/testing_data/sf1"
)

// sharedGenerator builds the text pool once per test binary; it is
// read-only, so tests and benchmarks may share it.
var sharedGenerator = sync.OnceValue(NewGenerator)

// reference caches the real dbgen 2.14.0 table at SF 1 (shared/testdata):
// decompressing takes a few seconds, so it happens once per test binary.
var reference struct {
	sync.Once
	data []byte
	err  error
}

// readReference returns the reference table, or skips the test when
// shared/testdata is not beside the repository.
func readReference(t *testing.T) []byte {
	t.Helper()
	// Build the text pool meanwhile: the two take about as long.
	pool := make(chan *Generator)
	go func() { pool <- sharedGenerator() }()
	reference.Do(func() { reference.data, reference.err = sf1.Table() })
	<-pool
	if errors.Is(reference.err, sf1.ErrNotFound) {
		t.Skipf("%v; skipping the dbgen comparison", reference.err)
	}
	require.NoError(t, reference.err)
	return reference.data
}

var columnNames = []string{
	"c_custkey", "c_name", "c_address", "c_nationkey", "c_phone",
	"c_acctbal", "c_mktsegment", "c_comment",
}

// requireSameTable compares two customer tables line by line and fails at
// the first differing row, naming the column.
func requireSameTable(t *testing.T, want, got []byte) {
	t.Helper()
	wantLines := bytes.SplitAfter(want, []byte("\n"))
	gotLines := bytes.SplitAfter(got, []byte("\n"))
	for i := range min(len(wantLines), len(gotLines)) {
		if bytes.Equal(wantLines[i], gotLines[i]) {
			continue
		}
		wf := strings.Split(string(wantLines[i]), "|")
		gf := strings.Split(string(gotLines[i]), "|")
		for c := range max(len(wf), len(gf)) {
			if c >= len(wf) || c >= len(gf) || wf[c] != gf[c] {
				name := "past the last column"
				if c < len(columnNames) {
					name = columnNames[c]
				}
				t.Fatalf("line %d differs first in %s:\nwant %q\ngot  %q", i+1, name, wantLines[i], gotLines[i])
			}
		}
	}
	require.Equal(t, len(wantLines), len(gotLines), "line counts differ")
}

func TestSF1MatchesDbgen(t *testing.T) {
	want := readReference(t)
	var got bytes.Buffer
	require.NoError(t, sharedGenerator().Write(context.Background(), &got, Options{ScaleFactor: 1, Workers: 2}))
	requireSameTable(t, want, got.Bytes())
	assert.Equal(t, 24346144, got.Len())
}

func TestSmallScaleFactorIsPrefixOfSF1(t *testing.T) {
	want := readReference(t)
	var got bytes.Buffer
	require.NoError(t, sharedGenerator().Write(context.Background(), &got, Options{ScaleFactor: 0.01, Workers: 1}))
	assert.Equal(t, 1500, bytes.Count(got.Bytes(), []byte("\n")))
	requireSameTable(t, want[:got.Len()], got.Bytes())
}

func TestRows(t *testing.T) {
	for _, tc := range []struct {
		sf   float64
		want int64
	}{
		{0.001, 150},
		{0.01, 1500},
		{0.1, 15000},
		{0.25, 37500},
		{0.999, 149850},
		{1, 150000},
		{10, 1500000},
		{1000, 150000000},
		{MaxScaleFactor, 15000000000},
	} {
		got, err := Rows(tc.sf)
		require.NoError(t, err, "sf %v", tc.sf)
		assert.Equal(t, tc.want, got, "sf %v", tc.sf)
	}
}

func TestRowsRejects(t *testing.T) {
	for _, sf := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 1.5, 0.0015, 0.0001, MaxScaleFactor + 1} {
		_, err := Rows(sf)
		assert.ErrorIs(t, err, ErrOptions, "sf %v", sf)
	}
}

func TestWriteRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{ScaleFactor: 0},
		{ScaleFactor: -0.5},
		{ScaleFactor: 2.5},
		{ScaleFactor: 1, Workers: -1},
		{ScaleFactor: 1, Workers: MaxWorkers + 1},
	} {
		var out bytes.Buffer
		err := sharedGenerator().Write(context.Background(), &out, opts)
		assert.ErrorIs(t, err, ErrOptions, "%+v", opts)
		assert.Zero(t, out.Len(), "%+v wrote output", opts)
		// The package-level Write checks before paying for a text pool.
		assert.ErrorIs(t, Write(context.Background(), &out, opts), ErrOptions, "%+v", opts)
	}
}

func TestParallelEqualsSerial(t *testing.T) {
	g := sharedGenerator()
	var serial bytes.Buffer
	require.NoError(t, g.Write(context.Background(), &serial, Options{ScaleFactor: 0.5, Workers: 1}))
	want := sha256.Sum256(serial.Bytes())
	for _, workers := range []int{0, 2, 3, 8} {
		var par bytes.Buffer
		require.NoError(t, g.Write(context.Background(), &par, Options{ScaleFactor: 0.5, Workers: workers}))
		assert.Equal(t, serial.Len(), par.Len(), "workers %d", workers)
		assert.Equal(t, want, sha256.Sum256(par.Bytes()), "workers %d", workers)
	}
}

func TestAppendRowsRangeMatchesWholeTable(t *testing.T) {
	g := sharedGenerator()
	whole, err := g.AppendRows(nil, 1, 5000)
	require.NoError(t, err)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	for _, r := range [][2]int64{{1, 1}, {2, 10}, {777, 1}, {1234, 3000}, {4999, 2}} {
		got, err := g.AppendRows([]byte("prefix"), r[0], r[1])
		require.NoError(t, err)
		want := append([]byte("prefix"), bytes.Join(lines[r[0]-1:r[0]-1+r[1]], nil)...)
		assert.Equal(t, string(want), string(got), "rows %d+%d", r[0], r[1])
	}
}

func TestAppendRowsBeyondSF1(t *testing.T) {
	// Keys past 10⁹ widen c_name beyond nine digits, as dbgen's %09 does.
	got, err := sharedGenerator().AppendRows(nil, 1_234_567_890, 1)
	require.NoError(t, err)
	fields := strings.Split(string(got), "|")
	require.Len(t, fields, 9)
	assert.Equal(t, "1234567890", fields[0])
	assert.Equal(t, "Customer#1234567890", fields[1])
	assert.Equal(t, "\n", fields[8])
}

func TestAppendRowsRejectsBadRange(t *testing.T) {
	g := sharedGenerator()
	for _, r := range [][2]int64{{0, 1}, {-5, 1}, {1, -1}, {MaxKey, 2}, {MaxKey + 1, 0}} {
		out, err := g.AppendRows([]byte("x"), r[0], r[1])
		assert.ErrorIs(t, err, ErrRowRange, "rows %d+%d", r[0], r[1])
		assert.Equal(t, "x", string(out))
	}
	out, err := g.AppendRows(nil, MaxKey, 1)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(out, []byte("15000000000|Customer#15000000000|")), "%q", out)
}

func TestStreamSkipMatchesStepping(t *testing.T) {
	for _, seed := range []int64{1, 881155353, 933588178, lehmerM - 1} {
		s := stream{x: seed}
		for n := int64(0); n <= 1000; n++ {
			skipped := stream{x: seed}
			skipped.skip(n)
			require.Equal(t, s.x, skipped.x, "seed %d, n %d", seed, n)
			s.next()
		}
		// A long skip equals two shorter ones.
		a, b := stream{x: seed}, stream{x: seed}
		a.skip(9 * 15_000_000_000)
		b.skip(4 * 15_000_000_000)
		b.skip(5 * 15_000_000_000)
		assert.Equal(t, a.x, b.x, "seed %d", seed)
	}
	// Park and Miller's published check: from 1, step 10000 is 1043618065.
	s := stream{x: 1}
	s.skip(10000)
	assert.Equal(t, int64(1043618065), s.x)
}

func TestWriteStopsOnCancel(t *testing.T) {
	for _, workers := range []int{1, 2} {
		ctx, cancel := context.WithCancel(context.Background())
		w := &cancelAfter{limit: 1, cancel: cancel}
		err := sharedGenerator().Write(ctx, w, Options{ScaleFactor: 1, Workers: workers})
		assert.ErrorIs(t, err, context.Canceled, "workers %d", workers)
		assert.Less(t, w.writes, 10, "workers %d kept writing after cancel", workers)
	}
}

// cancelAfter cancels its context after limit writes.
type cancelAfter struct {
	limit, writes int
	cancel        context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.writes++
	if c.writes >= c.limit {
		c.cancel()
	}
	return len(p), nil
}

var errSink = errors.New("sink full")

// failAfter accepts limit writes, then fails.
type failAfter struct{ limit, writes int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.writes >= f.limit {
		return 0, errSink
	}
	f.writes++
	return len(p), nil
}

func TestWriteReportsWriterError(t *testing.T) {
	for _, workers := range []int{1, 2} {
		w := &failAfter{limit: 2}
		err := sharedGenerator().Write(context.Background(), w, Options{ScaleFactor: 1, Workers: workers})
		assert.ErrorIs(t, err, errSink, "workers %d", workers)
		assert.Equal(t, 2, w.writes)
	}
}

func TestTextPoolShape(t *testing.T) {
	pool := sharedGenerator().pool
	require.Len(t, pool, textPoolSize)
	head := string(pool[:200])
	assert.NotContains(t, head, "  ")
	assert.True(t, strings.HasPrefix(head, head[:strings.IndexAny(head, ".;:?!")+1]+" "))
}

// FuzzRowShape checks, for arbitrary keys far beyond SF 1, that every row
// keeps dbgen's column formats and ranges.
func FuzzRowShape(f *testing.F) {
	for _, key := range []int64{1, 2, 150000, 150001, 999_999_999, 1_000_000_000, MaxKey - 7} {
		f.Add(key, uint8(8))
	}
	segments := map[string]bool{}
	for _, m := range distMarketSegments {
		segments[m.text] = true
	}
	g := sharedGenerator()
	f.Fuzz(func(t *testing.T, first int64, count uint8) {
		if first < 1 || first > MaxKey-int64(count) {
			t.Skip()
		}
		out, err := g.AppendRows(nil, first, int64(count))
		require.NoError(t, err)
		lines := strings.SplitAfter(string(out), "\n")
		require.Len(t, lines, int(count)+1)
		for i, line := range lines[:count] {
			checkRowShape(t, first+int64(i), line, segments)
		}
	})
}

func checkRowShape(t *testing.T, key int64, line string, segments map[string]bool) {
	t.Helper()
	f := strings.Split(line, "|")
	require.Len(t, f, 9, "%q", line)
	require.Equal(t, "\n", f[8], "%q", line)
	keyText := strconv.FormatInt(key, 10)
	assert.Equal(t, keyText, f[0])
	assert.Equal(t, "Customer#"+strings.Repeat("0", max(0, 9-len(keyText)))+keyText, f[1])
	assert.True(t, len(f[2]) >= addressMin && len(f[2]) <= addressMax, "address %q", f[2])
	assert.Empty(t, strings.Trim(f[2], alphaNum), "address %q", f[2])
	nation, err := strconv.Atoi(f[3])
	require.NoError(t, err)
	assert.True(t, nation >= 0 && nation < nationCount, "nation %d", nation)
	assert.Regexp(t, `^`+strconv.Itoa(10+nation)+`-[1-9]\d\d-[1-9]\d\d-[1-9]\d\d\d$`, f[4])
	assert.Regexp(t, `^-?\d+\.\d\d$`, f[5])
	cents, err := strconv.ParseFloat(f[5], 64)
	require.NoError(t, err)
	assert.True(t, cents >= -999.99 && cents <= 9999.99, "balance %s", f[5])
	assert.True(t, segments[f[6]], "segment %q", f[6])
	assert.True(t, len(f[7]) >= commentMin && len(f[7]) <= commentMax, "comment %q", f[7])
	assert.NotContains(t, f[7], "|")
}

func benchmarkWrite(b *testing.B, workers int) {
	g := sharedGenerator()
	rows, err := Rows(1)
	require.NoError(b, err)
	var n countingWriter
	require.NoError(b, g.Write(context.Background(), &n, Options{ScaleFactor: 1, Workers: 1}))
	b.SetBytes(n.n)
	b.ReportMetric(float64(rows), "rows/op")
	b.ResetTimer()
	for b.Loop() {
		if err := g.Write(context.Background(), io.Discard, Options{ScaleFactor: 1, Workers: workers}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite measures output throughput at SF 1 with the text pool
// already built.
func BenchmarkWrite(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchmarkWrite(b, 1) })
	b.Run("workers=2", func(b *testing.B) { benchmarkWrite(b, 2) })
}

// BenchmarkTextPool measures the one-off cost of a Generator.
func BenchmarkTextPool(b *testing.B) {
	b.SetBytes(textPoolSize)
	buf := make([]byte, textPoolSize+maxSentence)
	for b.Loop() {
		buildTextPool(buf)
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

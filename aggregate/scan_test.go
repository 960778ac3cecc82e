package aggregate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dbgenRow is a real row of the SF1 table (nation 15, balance 711.56).
const dbgenRow = "1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|to the even, regular platelets. regular, ironic epitaphs nag e|\n"

// row builds a dbgen-shaped row with the given nation and balance fields.
func row(nation, balance string) string {
	return "7|Customer#000000007|TcGe5gaZNgVePxU5kRrvXBfkasDTea|" + nation + "|28-190-982-9759|" + balance + "|AUTOMOBILE|ainst the ironic, express theodolites. |\n"
}

// stat is one nation's expected statistics.
type stat struct {
	count         int64
	sum, min, max int64
}

func scanString(t *testing.T, in string, layout Layout) *Partial {
	t.Helper()
	p, err := Scan(context.Background(), strings.NewReader(in), "in", layout)
	require.NoError(t, err)
	require.EqualValues(t, len(in), p.Bytes, "every byte is owned by exactly one line")
	return p
}

func requireNations(t *testing.T, p *Partial, want map[int]stat) {
	t.Helper()
	for k := range NationCount {
		got := p.Nations[k]
		w, ok := want[k]
		if !ok {
			assert.Zero(t, got.Count, "nation %d", k)
			continue
		}
		assert.Equal(t, w.count, got.Count, "nation %d count", k)
		assert.Equal(t, Int128From64(w.sum), got.Sum, "nation %d sum", k)
		assert.Equal(t, w.min, got.Min, "nation %d min", k)
		assert.Equal(t, w.max, got.Max, "nation %d max", k)
	}
}

func TestScanRowContract(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	tests := []struct {
		name     string
		in       string
		layout   func(*Layout)
		rows     int64
		nations  map[int]stat
		rejected []string // reasons, in order
	}{
		{name: "empty input", in: ""},
		{name: "dbgen row", in: dbgenRow, rows: 1, nations: map[int]stat{15: {1, 71156, 71156, 71156}}},
		{name: "CRLF", in: strings.ReplaceAll(row("3", "12.34")+row("3", "-1.00"), "\n", "\r\n"), rows: 2,
			nations: map[int]stat{3: {2, 1134, -100, 1234}}},
		{name: "CRLF without trailing delimiter, balance last", in: "a|b|c|4|e|5.25\r\n", rows: 1,
			nations: map[int]stat{4: {1, 525, 525, 525}}},
		{name: "missing trailing delimiter", in: "1|n|a|2|p|10.00|seg|comment\n", rows: 1,
			nations: map[int]stat{2: {1, 1000, 1000, 1000}}},
		{name: "exactly six fields", in: "1|n|a|2|p|10.00\n", rows: 1,
			nations: map[int]stat{2: {1, 1000, 1000, 1000}}},
		{name: "missing final newline", in: row("1", "1.00") + strings.TrimSuffix(row("1", "2.00"), "\n"), rows: 2,
			nations: map[int]stat{1: {2, 300, 100, 200}}},
		{name: "missing final newline, CR kept", in: strings.TrimSuffix(row("1", "2.00"), "|\n") + "\r", rows: 1,
			nations: map[int]stat{1: {1, 200, 200, 200}}},
		{name: "blank lines", in: "\n\n" + row("0", "1.00") + "   \n\t\r\n\r\n \v\f \n" + row("0", "1.00") + "\n", rows: 2,
			nations: map[int]stat{0: {2, 200, 100, 100}}},
		{name: "small negative", in: row("5", "-0.05"), rows: 1, nations: map[int]stat{5: {1, -5, -5, -5}}},
		{name: "negative below one", in: row("5", "-0.45"), rows: 1, nations: map[int]stat{5: {1, -45, -45, -45}}},
		{name: "one decimal place", in: row("6", "711.5"), rows: 1, nations: map[int]stat{6: {1, 71150, 71150, 71150}}},
		{name: "one place, long", in: row("6", "1234567.5"), rows: 1, nations: map[int]stat{6: {1, 123456750, 123456750, 123456750}}},
		{name: "no decimal places", in: row("6", "711"), rows: 1, nations: map[int]stat{6: {1, 71100, 71100, 71100}}},
		{name: "minus zero", in: row("6", "-0") + row("6", "-0.0"), rows: 2, nations: map[int]stat{6: {2, 0, 0, 0}}},
		{name: "leading zeros", in: row("007", "0009.90"), rows: 1, nations: map[int]stat{7: {1, 990, 990, 990}}},
		{name: "largest balance", in: row("8", "92233720368547758.07"), rows: 1,
			nations: map[int]stat{8: {1, 1<<63 - 1, 1<<63 - 1, 1<<63 - 1}}},
		{name: "largest nation", in: row("24", "1"), rows: 1, nations: map[int]stat{24: {1, 100, 100, 100}}},
		{name: "spaces and tabs around fields", in: "1 | n | a |\t9\t| p | \t-3.5 \t| s |\n", rows: 1,
			nations: map[int]stat{9: {1, -350, -350, -350}}},
		{name: "three decimal places", in: row("1", "1.234"), rejected: []string{reasonBalanceSyntax}},
		{name: "plus sign", in: row("1", "+5"), rejected: []string{reasonBalanceSyntax}},
		{name: "plus sign on nation", in: row("+1", "5"), rejected: []string{reasonNationSyntax}},
		{name: "point without digits", in: row("1", "5.") + row("1", ".5") + row("1", "-") + row("1", "-.5"),
			rejected: []string{reasonBalanceSyntax, reasonBalanceSyntax, reasonBalanceSyntax, reasonBalanceSyntax}},
		{name: "exponent", in: row("1", "1e3"), rejected: []string{reasonBalanceSyntax}},
		{name: "inner space", in: row("1", "1 000.00"), rejected: []string{reasonBalanceSyntax}},
		{name: "balance out of range", in: row("1", "92233720368547758.08") + row("1", "-92233720368547758.08") + row("1", strings.Repeat("9", 40)+".99"),
			rejected: []string{reasonBalanceRange, reasonBalanceRange, reasonBalanceRange}},
		{name: "nation 25", in: row("25", "1.00"), rejected: []string{reasonNationRange}},
		{name: "nation -1", in: row("-1", "1.00"), rejected: []string{reasonNationSyntax}},
		{name: "huge nation", in: row(strings.Repeat("9", 30), "1.00"), rejected: []string{reasonNationRange}},
		{name: "empty fields", in: row("", "1.00") + row("1", "") + row(" ", " "),
			rejected: []string{reasonNationEmpty, reasonBalanceEmpty, reasonNationEmpty}},
		{name: "too few fields", in: "1|n|a|2|p\n", rejected: []string{"too few fields (need 6)"}},
		{name: "header row is rejected without Header", in: "c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|\n" + row("1", "1"),
			rows: 1, nations: map[int]stat{1: {1, 100, 100, 100}}, rejected: []string{reasonNationSyntax}},
		{name: "header skipped", in: "c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|\n" + row("1", "1"),
			layout: func(l *Layout) { l.Header = true }, rows: 1, nations: map[int]stat{1: {1, 100, 100, 100}}},
		{name: "only the first line is a header", in: row("1", "1") + "c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|\n" + row("1", "2"),
			layout: func(l *Layout) { l.Header = true }, rows: 1, nations: map[int]stat{1: {1, 200, 200, 200}},
			rejected: []string{reasonNationSyntax}},
		{name: "header without newline", in: "key|bal", layout: func(l *Layout) { l.Header = true }},
		{name: "garbage and binary", in: "\x00\xff\xfe garbage\n" + string([]byte{0x80, 0x81, '|', '|', '|', '1', '|', '|', '1', '\n'}) + row("2", "3"),
			rows: 2, nations: map[int]stat{1: {1, 100, 100, 100}, 2: {1, 300, 300, 300}},
			rejected: []string{"too few fields (need 6)"}},
		{name: "CSV with other columns", in: "2.5,4\n-1,24\n",
			layout: func(l *Layout) { *l = Layout{Delimiter: ',', NationField: 2, BalanceField: 1} }, rows: 2,
			nations: map[int]stat{4: {1, 250, 250, 250}, 24: {1, -100, -100, -100}}},
		{name: "tab separated, balance first", in: "-7.5\tx\t\t3\n1\t\n",
			layout: func(l *Layout) { *l = Layout{Delimiter: '\t', NationField: 4, BalanceField: 1} }, rows: 1,
			nations: map[int]stat{3: {1, -750, -750, -750}}, rejected: []string{"too few fields (need 4)"}},
		{name: "3 MiB valid line", in: "1|n|a|11|p|99.99|s|" + long + "|\n" + row("11", "0.01"), rows: 2,
			layout: func(l *Layout) { l.MaxLine = 4 << 20 }, nations: map[int]stat{11: {2, 10000, 1, 9999}}},
		{name: "3 MiB invalid line", in: long + "\n" + row("11", "0.01"), rows: 1,
			layout:  func(l *Layout) { l.MaxLine = 4 << 20 },
			nations: map[int]stat{11: {1, 1, 1, 1}}, rejected: []string{"too few fields (need 6)"}},
		{name: "3 MiB balance", in: row("12", "1."+long), layout: func(l *Layout) { l.MaxLine = 4 << 20 }, rejected: []string{reasonBalanceSyntax}},
		{name: "3 MiB valid line over the default maximum", in: "1|n|a|11|p|99.99|s|" + long + "|\n" + row("11", "0.01"), rows: 1,
			nations: map[int]stat{11: {1, 1, 1, 1}}, rejected: []string{"line too long (no newline within 1048576 bytes)"}},
		{name: "no newline at all", in: long, rejected: []string{"line too long (no newline within 1048576 bytes)"}},
		{name: "line at the maximum", in: "1|n|a|11|p|99.99|s|" + strings.Repeat("z", 980) + "|\n", layout: func(l *Layout) { l.MaxLine = 1000 },
			rows: 1, nations: map[int]stat{11: {1, 9999, 9999, 9999}}},
		{name: "line one past the maximum", in: "1|n|a|11|p|99.99|s|" + strings.Repeat("z", 981) + "|\n", layout: func(l *Layout) { l.MaxLine = 1000 },
			rejected: []string{"line too long (no newline within 1000 bytes)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			layout := DefaultLayout()
			if tc.layout != nil {
				tc.layout(&layout)
			}
			p := scanString(t, tc.in, layout)
			assert.Equal(t, tc.rows, p.Rows)
			assert.EqualValues(t, len(tc.rejected), p.Rejected)
			requireNations(t, p, tc.nations)
			var reasons []string
			for _, s := range p.Samples {
				reasons = append(reasons, s.Reason)
				assert.Equal(t, "in", s.File)
				assert.LessOrEqual(t, len(s.Line), MaxSampleLine+2) // U+FFFD may replace a cut rune
			}
			assert.Equal(t, tc.rejected, reasons)
		})
	}
}

func TestScanSamples(t *testing.T) {
	in := row("1", "1") + "bad one\r\n" + row("99", "1") + strings.Repeat("z", 500) + "\n" +
		"\xff\xfebad\n" + "x\nx\nx\n"
	p := scanString(t, in, DefaultLayout())
	require.EqualValues(t, 7, p.Rejected)
	require.Len(t, p.Samples, MaxSamples)
	first := int64(len(row("1", "1")))
	assert.Equal(t, Sample{File: "in", Offset: first, Reason: "too few fields (need 6)", Line: "bad one"}, p.Samples[0])
	assert.Equal(t, first+int64(len("bad one\r\n")), p.Samples[1].Offset)
	assert.Equal(t, reasonNationRange, p.Samples[1].Reason)
	assert.Equal(t, strings.Repeat("z", MaxSampleLine), p.Samples[2].Line, "long lines are cut")
	assert.Equal(t, "\uFFFDbad", p.Samples[3].Line, "invalid UTF-8 is replaced")
	assert.Equal(t, "x", p.Samples[4].Line)
	for i, s := range p.Samples {
		assert.True(t, strings.HasPrefix(in[s.Offset:], strings.TrimSuffix(s.Line, "\uFFFDbad")), "sample %d offset %d", i, s.Offset)
	}
}

// scanRanges scans in cut into adjacent ranges at the given cut points, each
// read from start-1 to the end of the input through wrap, and merges them.
func scanRanges(t testing.TB, in []byte, cuts []int64, layout Layout, wrap func(io.Reader) io.Reader) *Partial {
	t.Helper()
	var merged Partial
	bounds := append(append([]int64{0}, cuts...), int64(len(in)))
	for i := 0; i+1 < len(bounds); i++ {
		rng := Range{File: "in", Start: bounds[i], End: bounds[i+1]}
		p, err := ScanRange(context.Background(), wrap(bytes.NewReader(in[max(0, rng.Start-1):])), rng, layout)
		require.NoError(t, err, "range %+v", rng)
		merged.Merge(p)
	}
	return &merged
}

func identity(r io.Reader) io.Reader { return r }

func TestScanRangeEveryCut(t *testing.T) {
	in := []byte("hdr|x\n" + row("1", "1.50") + "\n\nbad\r\n" + row("2", "-2") + "x|y|z|3|q|4.4|" + "\r\n" + "tail|no|newline|4|p|9")
	for _, hdr := range []bool{false, true} {
		layout := DefaultLayout()
		layout.Header = hdr
		whole := scanString(t, string(in), layout)
		for a := int64(0); a <= int64(len(in)); a++ {
			for _, b := range []int64{a, a + 1, a + 7, a + 64} {
				b = min(b, int64(len(in)))
				got := scanRanges(t, in, []int64{a, b}, layout, identity)
				require.Equal(t, whole, got, "cuts at %d, %d, header %v", a, b, hdr)
			}
		}
	}
}

func TestScanRangeBeyondEnd(t *testing.T) {
	in := []byte(row("1", "1") + row("2", "2"))
	// A range starting at or past the end of the file owns nothing.
	for _, start := range []int64{int64(len(in)), int64(len(in)) + 10} {
		p, err := ScanRange(context.Background(), bytes.NewReader(in[min(int64(len(in)), start-1):]), Range{File: "in", Start: start, End: start + 100}, DefaultLayout())
		require.NoError(t, err)
		assert.Equal(t, &Partial{}, p)
	}
	// End past the file's end is the file's end.
	p, err := ScanRange(context.Background(), bytes.NewReader(in), Range{File: "in", Start: 0, End: 1 << 40}, DefaultLayout())
	require.NoError(t, err)
	assert.EqualValues(t, 2, p.Rows)
}

// stopReader yields data and fails the test if it is read again after
// having returned everything.
type stopReader struct {
	t    *testing.T
	data []byte
}

func (r *stopReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Errorf("read past the newline that ends the range's last line")
		return 0, errors.New("read too far")
	}
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestScanRangeStopsAtLastLine(t *testing.T) {
	first, second, third := row("1", "1"), strings.Repeat("y", 1<<19)+"|b|c|2|e|2.00|\n", row("3", "3")
	in := first + second + third
	tests := []struct {
		name       string
		start, end int
		readTo     int // the reader ends here: just past the range's last line
		rows       int64
	}{
		{"first line only", 0, 1, len(first), 1},
		{"end on a line start", 0, len(first), len(first), 1},
		{"long line running across end", len(first), len(first) + 10, len(first) + len(second), 1},
		{"start mid-line, end in the next", 10, len(first) + 1, len(first) + len(second), 1},
		{"start mid-line, nothing owned", 10, 20, len(first), 0},
		{"start on a line start", len(first), len(first) + 1, len(first) + len(second), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := max(0, tc.start-1)
			r := &stopReader{t: t, data: []byte(in[from:tc.readTo])}
			p, err := ScanRange(context.Background(), r, Range{File: "in", Start: int64(tc.start), End: int64(tc.end)}, DefaultLayout())
			require.NoError(t, err)
			assert.Equal(t, tc.rows, p.Rows)
			assert.Zero(t, p.Rejected)
		})
	}
}

func TestScanRangeReadsLittlePastEnd(t *testing.T) {
	// A reader that runs to the end of a large file: the scan must not
	// read much beyond the end of its last line.
	var b strings.Builder
	for b.Len() < 4<<20 {
		b.WriteString(dbgenRow)
	}
	in := b.String()
	end := int64(len(in) / 2)
	lineEnd := int(end) + strings.IndexByte(in[end:], '\n') + 1
	cr := &countingReader{r: strings.NewReader(in[end-1000-1:])}
	p, err := ScanRange(context.Background(), cr, Range{File: "in", Start: end - 1000, End: end}, DefaultLayout())
	require.NoError(t, err)
	assert.Positive(t, p.Rows)
	assert.LessOrEqual(t, cr.n, int64(lineEnd-int(end-1001))+2*tailReadSize, "read %d bytes", cr.n)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func TestScanIOTestReaders(t *testing.T) {
	in := []byte(row("1", "1.25") + "junk\n" + row("24", "-3") + strings.Repeat("w", 70000) + "|a|b|4|c|5\n" + row("4", "0.5"))
	whole := scanString(t, string(in), DefaultLayout())
	readers := map[string]func(io.Reader) io.Reader{
		"OneByteReader": iotest.OneByteReader,
		"HalfReader":    iotest.HalfReader,
		"DataErrReader": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			got := scanRanges(t, in, []int64{3, 200, 70100, 70300}, DefaultLayout(), wrap)
			assert.Equal(t, whole, got)
		})
	}
}

func TestScanErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	_, err := Scan(ctx, iotest.ErrReader(boom), "f", DefaultLayout())
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "read f at offset 0")

	_, err = Scan(ctx, iotest.TimeoutReader(strings.NewReader(strings.Repeat(dbgenRow, 10000))), "f", DefaultLayout())
	require.ErrorIs(t, err, iotest.ErrTimeout)

	_, err = Scan(ctx, strings.NewReader(dbgenRow), "f", Layout{})
	require.ErrorIs(t, err, ErrBadLayout)

	for _, rng := range []Range{{Start: -1, End: 5}, {Start: 5, End: 4}} {
		_, err = ScanRange(ctx, strings.NewReader(dbgenRow), rng, DefaultLayout())
		require.ErrorIs(t, err, ErrBadRange)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Scan(cctx, strings.NewReader(dbgenRow), "f", DefaultLayout())
	require.ErrorIs(t, err, context.Canceled)

	_, err = ScanFile(ctx, "/nonexistent/customer.tbl", DefaultLayout())
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestScanStuckReader(t *testing.T) {
	_, err := Scan(context.Background(), stuckReader{}, "f", DefaultLayout())
	require.ErrorIs(t, err, io.ErrNoProgress)
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestScanRangesAcrossLongLines(t *testing.T) {
	// Lines of 3 MiB, valid and not, cut into 100 KiB units, with a
	// maximum line length that admits them: most units start and end
	// inside one line and own nothing; the merge is exact.
	long := strings.Repeat("c", 3<<20)
	in := []byte(row("1", "1") + "9|n|a|2|p|3.5|s|" + long + "|\n" + row("3", "3") + long + "\n" + row("4", "-4"))
	layout := DefaultLayout()
	layout.MaxLine = 4 << 20
	whole := scanString(t, string(in), layout)
	require.EqualValues(t, 4, whole.Rows)
	require.EqualValues(t, 1, whole.Rejected)
	var cuts []int64
	for c := int64(100 << 10); c < int64(len(in)); c += 100 << 10 {
		cuts = append(cuts, c)
	}
	assert.Equal(t, whole, scanRanges(t, in, cuts, layout, identity))
}

func TestOverlongLinesAreRejectedAndBoundReads(t *testing.T) {
	const maxLine = 1000
	layout := DefaultLayout()
	layout.MaxLine = maxLine
	long := strings.Repeat("x", 5000)
	in := []byte(row("1", "1") + "9|n|a|2|p|3.5|s|" + long + "|\n" + row("3", "3") + long + "\n" + row("4", "-4"))
	whole := scanString(t, string(in), layout)
	assert.EqualValues(t, 3, whole.Rows)
	assert.EqualValues(t, 2, whole.Rejected, "both long lines, the valid one too")
	require.Len(t, whole.Samples, 2)
	assert.Contains(t, whole.Samples[0].Reason, "line too long")
	assert.Equal(t, int64(len(row("1", "1"))), whole.Samples[0].Offset)

	// Every cut gives the same rows and rejects; each range reads at most
	// its own bytes, the byte before, and max+1 bytes past its end (plus
	// the kernel's small tail reads).
	for _, unit := range []int64{1, 7, 100, 999, 1000, 1001, 4096} {
		var merged Partial
		for start := int64(0); start < int64(len(in)); start += unit {
			end := min(start+unit, int64(len(in)))
			cr := &countingReader{r: bytes.NewReader(in[max(0, start-1):])}
			p, err := ScanRange(context.Background(), cr, Range{File: "in", Start: start, End: end}, layout)
			require.NoError(t, err)
			assert.LessOrEqual(t, cr.n, end-start+1+maxLine+1+2*tailReadSize, "unit %d: range [%d, %d) read %d bytes", unit, start, end, cr.n)
			merged.Merge(p)
		}
		assert.Equal(t, whole.Rows, merged.Rows, "unit %d", unit)
		assert.Equal(t, whole.Rejected, merged.Rejected, "unit %d", unit)
		assert.Equal(t, whole.Nations, merged.Nations, "unit %d", unit)
		assert.Equal(t, whole.Samples, merged.Samples, "unit %d", unit)
	}
}

func TestNoNewlineAtAll(t *testing.T) {
	// 8 MiB without a newline, in 1 MiB units: one rejected line, and no
	// unit reads more than its range and the default maximum line past it.
	in := bytes.Repeat([]byte("a|b|c|1|"), 1<<20)
	var merged Partial
	var total int64
	const unit = 1 << 20
	for start := int64(0); start < int64(len(in)); start += unit {
		cr := &countingReader{r: bytes.NewReader(in[max(0, start-1):])}
		p, err := ScanRange(context.Background(), cr, Range{File: "in", Start: start, End: start + unit}, DefaultLayout())
		require.NoError(t, err)
		merged.Merge(p)
		total += cr.n
	}
	assert.EqualValues(t, 0, merged.Rows)
	assert.EqualValues(t, 1, merged.Rejected)
	assert.LessOrEqual(t, total, int64(2*len(in)), "bytes read stay within twice the input")
}

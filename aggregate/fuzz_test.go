package aggregate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/testing_data/reference"
)

// referenceScan is the kernel's Partial as the independent reference
// scanner (testing_data/reference) computes it: the row contract written
// as plainly as possible, sharing no code with the scanner.
func referenceScan(in []byte, file string, l Layout) *Partial {
	a := reference.Scan(in, file, reference.Layout{Delimiter: l.Delimiter, NationField: l.NationField, BalanceField: l.BalanceField, Header: l.Header})
	p := &Partial{Rows: a.Rows, Rejected: a.Rejected, Bytes: a.Bytes}
	for k, n := range a.Nations {
		sum, err := Int128FromBig(n.SumCents)
		if err != nil {
			panic(err)
		}
		p.Nations[k] = NationStats{Count: n.Count, Sum: sum, Min: n.Min, Max: n.Max}
	}
	for _, r := range a.Rejections[:min(len(a.Rejections), MaxSamples)] {
		p.Samples = append(p.Samples, Sample{File: r.File, Offset: r.Offset, Reason: r.Reason, Line: sampleText(r.Line)})
	}
	return p
}

// fuzzLayouts are the layouts the fuzz test picks from.
func fuzzLayouts() []Layout {
	return []Layout{
		DefaultLayout(),
		{Delimiter: '|', NationField: 4, BalanceField: 6, Header: true},
		{Delimiter: ',', NationField: 2, BalanceField: 1},
		{Delimiter: '\t', NationField: 1, BalanceField: 3, Header: true},
		{Delimiter: ' ', NationField: 3, BalanceField: 2},
	}
}

// FuzzScanRanges checks, for any input, that the scanner agrees with the
// reference implementation, and that cutting the input into byte ranges at
// random offsets and merging the ranges' Partials gives exactly the
// whole-file Partial, whatever the reader's read sizes.
func FuzzScanRanges(f *testing.F) {
	seeds := []string{
		"",
		dbgenRow,
		dbgenRow + dbgenRow + dbgenRow,
		strings.ReplaceAll(dbgenRow+dbgenRow, "\n", "\r\n"),
		strings.TrimSuffix(dbgenRow, "\n"),
		"\n\n \t\n" + dbgenRow + "\r\n\r\n",
		row("1", "-0.05") + row("24", "711.5") + row("0", "711") + row("3", "1.234") + row("3", "+5"),
		row("25", "1") + row("-1", "1") + "x|y\n" + "\x00\xff|\x80|a|7|b|3.3|\n",
		"c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|\n" + row("2", "99999.99"),
		"1.5,3\n2,24\r\n-0.5,0\n,\n",
		"3\tz\t-4.25\n0\t\t7\n",
		"x 1.25 4\ny -3 0\n",
		row(" 7 ", "\t92233720368547758.07 ") + row("7", "92233720368547758.08"),
		strings.Repeat("a", 5000) + "|b|c|4|d|1|\n" + dbgenRow,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint64(i)*7919, uint8(i))
	}
	layouts := fuzzLayouts()
	wraps := []func(io.Reader) io.Reader{identity, iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, mode uint8) {
		layout := layouts[int(mode)%len(layouts)]
		wrap := wraps[int(mode/8)%len(wraps)]
		whole := scanBytes(t, in, layout)
		require.Equal(t, referenceScan(in, "in", layout), whole, "scanner and reference disagree")

		rng := rand.New(rand.NewPCG(seed, uint64(len(in))))
		cuts := make([]int64, rng.IntN(5))
		for i := range cuts {
			cuts[i] = rng.Int64N(int64(len(in)) + 1)
		}
		slices.Sort(cuts)
		require.Equal(t, whole, scanRanges(t, in, cuts, layout, wrap), "cuts %v", cuts)
	})
}

func scanBytes(t testing.TB, in []byte, layout Layout) *Partial {
	t.Helper()
	p, err := Scan(context.Background(), bytes.NewReader(in), "in", layout)
	require.NoError(t, err)
	require.EqualValues(t, len(in), p.Bytes)
	return p
}

// FuzzParseBalance checks the fast balance parser against the plain one and
// against the reference (regexp and big.Rat).
func FuzzParseBalance(f *testing.F) {
	for _, s := range []string{"711.56", "-997.46", "9999.99", "-0.05", "-0.45", "711.5", "711", "1.234", "+5",
		"", "-", ".5", "5.", "-.5", "00001.10", "99999.99", "123456.7", "1234567.5", "92233720368547758.07",
		"92233720368547758.08", "-92233720368547758.07", "1.2.3", "12:45", "1/.05", "9.9/", "1e5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// parseBalanceAt may read eight bytes past any index of the field.
		buf := append(slices.Clip(b), "9.9.9.9."...)
		fastV, fastR := parseBalanceAt(buf, 0, len(b))
		slowV, slowR := parseBalance(b)
		refV, refR := reference.Balance(b)
		require.Equal(t, refR, slowR, "%q", b)
		require.Equal(t, refV, slowV, "%q", b)
		require.Equal(t, slowR, fastR, "%q", b)
		require.Equal(t, slowV, fastV, "%q", b)
	})
}

func TestParseBalanceFastPathExhaustive(t *testing.T) {
	// Every value of the dbgen range (-999.99..9999.99) as dbgen writes it:
	// an optional minus, the integer part, exactly two decimals; followed
	// by padding, so the fast path may read ahead as it does mid-line.
	buf := make([]byte, 0, 32)
	for c := int64(-99999); c <= 999999; c++ {
		u := c
		sign := ""
		if u < 0 {
			sign, u = "-", -u
		}
		buf = fmt.Appendf(buf[:0], "%s%d.%02d", sign, u/100, u%100)
		n := len(buf)
		buf = append(buf, "........"...)
		got, reason := parseBalanceAt(buf, 0, n)
		if reason != "" || got != c {
			t.Fatalf("%q: got %d %q, want %d", buf[:n], got, reason, c)
		}
	}
}

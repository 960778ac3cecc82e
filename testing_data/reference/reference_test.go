package reference

import (
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/testing_data/sf1"
)

func row(nation, balance string) string {
	return "1|Customer#000000001|addr|" + nation + "|25-989-741-2988|" + balance + "|BUILDING|comment|\n"
}

func TestScan(t *testing.T) {
	in := row("0", "-0.05") + row("0", "10") + "\n  \n" + row("24", "711.5") + row("3", "1.234") + row("25", "1") + "x|y\r\n" + row("7", "")
	a := Scan([]byte(in), "f", TPCH())
	assert.Equal(t, int64(len(in)), a.Bytes)
	assert.Equal(t, int64(3), a.Rows)
	assert.Equal(t, int64(4), a.Rejected)
	assert.Equal(t, Nation{Key: 0, Count: 2, SumCents: big.NewInt(995), Min: -5, Max: 1000}, a.Nations[0])
	assert.Equal(t, "4.98", a.Nations[0].Mean(), "9.95 / 2 = 4.975, half away from zero")
	var reasons []string
	for _, r := range a.Rejections {
		reasons = append(reasons, r.Reason)
	}
	assert.Equal(t, []string{ReasonBalanceSyntax, ReasonNationRange, ReasonTooFew(6), ReasonBalanceEmpty}, reasons)
	assert.Equal(t, "x|y", string(a.Rejections[2].Line), "without its line end")

	// Negative means round away from zero too; a header line is skipped.
	h := Scan([]byte("n,b\n0,-0.01\n0,-0.02\n"), "h", Layout{Delimiter: ',', NationField: 1, BalanceField: 2, Header: true})
	assert.Equal(t, int64(2), h.Rows)
	assert.Equal(t, "-0.02", h.Nations[0].Mean(), "-0.015 rounds to -0.02")
	assert.Equal(t, "-0.02", h.Result().Nations[0].Min)
	assert.Equal(t, "-0.01", h.Result().Nations[0].Max)

	_, reason := Balance([]byte("92233720368547758.08"))
	assert.Equal(t, ReasonBalanceRange, reason)
	_, reason = Balance([]byte("-92233720368547758.08"))
	assert.Equal(t, ReasonBalanceRange, reason, "math.MinInt64 cents is out of the contract's range")
}

func TestScanFilesEqualsScan(t *testing.T) {
	in := row("1", "100.00") + row("2", "-3.50") + row("1", "0.01") + "bad\n" + row("2", "7")
	cut := strings.Index(in, "bad")
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(p1, []byte(in[:cut]), 0o644))
	require.NoError(t, os.WriteFile(p2, []byte(in[cut:]), 0o644))
	got, err := ScanFiles([]string{p1, p2}, TPCH())
	require.NoError(t, err)
	want := Scan([]byte(in), "x", TPCH())
	assert.Equal(t, want.Result(), got.Result())
	assert.Equal(t, want.Bytes, got.Bytes)
	require.Len(t, got.Rejections, 1)
	assert.Equal(t, Rejection{File: p2, Offset: 0, Reason: ReasonTooFew(6), Line: []byte("bad")}, got.Rejections[0])

	r, err := ScanReader(bytes.NewReader([]byte(in)), "x", TPCH())
	require.NoError(t, err)
	assert.Equal(t, want, r)

	_, err = ScanFiles([]string{filepath.Join(dir, "none")}, TPCH())
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCompare(t *testing.T) {
	a := Scan([]byte(row("1", "100.00")+row("2", "-3.50")), "x", TPCH()).Result()
	require.NoError(t, Compare(a, a))
	b := Scan([]byte(row("1", "100.00")+row("2", "-3.51")), "x", TPCH()).Result()
	err := Compare(b, a)
	require.ErrorIs(t, err, ErrDiffers)
	assert.Contains(t, err.Error(), "nation 2 BRAZIL")
	c := Scan([]byte(row("1", "100.00")), "x", TPCH()).Result()
	require.ErrorContains(t, Compare(c, a), "nation 2 BRAZIL is missing")
	require.ErrorContains(t, Compare(a, c), "should not be there")

	parsed, err := ParseResult([]byte(`{"rows":1,"rejected":0,"nations":[{"key":1,"name":"ARGENTINA","count":1,"sum_cents":10000,"min":"100.00","max":"100.00","mean":"100.00"}]}`))
	require.NoError(t, err)
	require.NoError(t, Compare(parsed, c))
	_, err = ParseResult([]byte("nope"))
	require.Error(t, err)
}

// TestSF1 checks the reference scanner against dbgen's own answer for the
// real SF 1 table: the two independent answers agree.
func TestSF1(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses the SF 1 table")
	}
	r, err := sf1.Open()
	if err != nil {
		t.Skipf("no shared SF 1 data: %v", err)
	}
	defer r.Close()
	got, err := ScanReader(r, "customer_sf1.tbl", TPCH())
	require.NoError(t, err)
	assert.Equal(t, int64(sf1.Bytes), got.Bytes)
	b, err := sf1.ExpectedJSON()
	require.NoError(t, err)
	want, err := ParseResult(b)
	require.NoError(t, err)
	require.NoError(t, Compare(got.Result(), want))
}

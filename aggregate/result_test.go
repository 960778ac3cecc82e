package aggregate

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatCents(t *testing.T) {
	tests := map[int64]string{
		0:              "0.00",
		5:              "0.05",
		-5:             "-0.05",
		-45:            "-0.45",
		71150:          "711.50",
		-99999:         "-999.99",
		999999:         "9999.99",
		math.MaxInt64:  "92233720368547758.07",
		math.MinInt64:  "-92233720368547758.08",
		-math.MaxInt64: "-92233720368547758.07",
	}
	for in, want := range tests {
		assert.Equal(t, want, FormatCents(in), "%d", in)
		assert.Equal(t, want, formatBigCents(big.NewInt(in)), "%d", in)
	}
	huge, _ := new(big.Int).SetString("-123456789012345678901234", 10)
	assert.Equal(t, "-1234567890123456789012.34", formatBigCents(huge))
}

func TestMeanRoundsHalfAwayFromZero(t *testing.T) {
	tests := []struct {
		sum   int64
		count int64
		want  string
	}{
		{5, 2, "0.03"},   // 2.5 cents
		{-5, 2, "-0.03"}, // -2.5 cents
		{7, 3, "0.02"},   // 2.33
		{-7, 3, "-0.02"},
		{8, 3, "0.03"}, // 2.67
		{-8, 3, "-0.03"},
		{-1, 3, "0.00"}, // -0.33 rounds to zero, printed without a sign
		{1, 2, "0.01"},
		{-1, 2, "-0.01"},
		{2632297010, 5925, "4442.70"},
		{math.MaxInt64, 1, "92233720368547758.07"},
		{-math.MaxInt64, 2, "-46116860184273879.04"}, // ...03.5
	}
	for _, tc := range tests {
		got := formatBigCents(MeanCents(Int128From64(tc.sum), tc.count))
		assert.Equal(t, tc.want, got, "%d/%d", tc.sum, tc.count)
	}
	// A sum beyond int64: 3 * MaxInt64 + 2 over 3 rows.
	sum := Int128From64(math.MaxInt64).Add64(math.MaxInt64).Add64(math.MaxInt64).Add64(2)
	assert.Equal(t, "92233720368547758.08", formatBigCents(MeanCents(sum, 3))) // 1 + 2/3 rounds up
}

func sampleResult(t *testing.T) *Result {
	in := row("24", "10.00") + row("24", "-3.35") + row("0", "-0.05") + "oops\n"
	return NewResult(scanString(t, in, DefaultLayout()))
}

func TestResultJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleResult(t).WriteJSON(&b))
	assert.JSONEq(t, `{"rows":3,"rejected":1,"nations":[
		{"key":0,"name":"ALGERIA","count":1,"sum_cents":-5,"min":"-0.05","max":"-0.05","mean":"-0.05"},
		{"key":24,"name":"UNITED STATES","count":2,"sum_cents":665,"min":"-3.35","max":"10.00","mean":"3.33"}],
		"rejected_samples":[{"file":"in","offset":`+itoa(int64(len(row("24", "10.00"))+len(row("24", "-3.35"))+len(row("0", "-0.05"))))+`,"reason":"too few fields (need 6)","line":"oops"}]}`, b.String())

	var back Result
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, sampleResult(t), &back)

	b.Reset()
	require.NoError(t, NewResult(&Partial{}).WriteJSON(&b))
	assert.JSONEq(t, `{"rows":0,"rejected":0,"nations":[]}`, b.String())
}

func TestResultCSV(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleResult(t).WriteCSV(&b))
	assert.Equal(t, "key,name,customers,mean,min,max,total\n"+
		"0,ALGERIA,1,-0.05,-0.05,-0.05,-0.05\n"+
		"24,UNITED STATES,2,3.33,-3.35,10.00,6.65\n", b.String())
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	assert.Len(t, recs, 3)
}

func TestResultTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleResult(t).WriteTable(&b))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 4)
	// Columns line up: every table line has the same length, and the
	// headings end where the numbers end.
	assert.Equal(t, len(lines[0]), len(lines[1]))
	assert.Equal(t, len(lines[0]), len(lines[2]))
	assert.Regexp(t, `^\s*KEY\s+NATION\s+CUSTOMERS\s+MEAN\s+MIN\s+MAX\s+TOTAL$`, lines[0])
	assert.Regexp(t, `^\s+24\s+UNITED STATES\s+2\s+3\.33\s+-3\.35\s+10\.00\s+6\.65$`, lines[2])
	assert.Equal(t, strings.Index(lines[0], "TOTAL")+len("TOTAL"), strings.Index(lines[2], "6.65")+len("6.65"))
	assert.Equal(t, "rows accepted: 3, rejected: 1", lines[3])
}

func TestNationName(t *testing.T) {
	assert.Equal(t, "ALGERIA", NationName(0))
	assert.Equal(t, "UNITED KINGDOM", NationName(23))
	assert.Equal(t, "UNITED STATES", NationName(24))
	assert.Equal(t, "NATION 25", NationName(25))
}

func TestCompare(t *testing.T) {
	scan := func(rows string) Result {
		p, err := Scan(context.Background(), strings.NewReader(rows), "f", DefaultLayout())
		require.NoError(t, err)
		return *NewResult(p)
	}
	a := scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\n")
	require.NoError(t, Compare(a, a))
	// Samples name files, which differ between blobs and local chunks.
	withSample := scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\nbad\n")
	otherFile, err := Scan(context.Background(), strings.NewReader("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\nbad\n"), "blob", DefaultLayout())
	require.NoError(t, err)
	require.NoError(t, Compare(withSample, *NewResult(otherFile)))

	cases := []struct {
		name string
		got  Result
		want string
	}{
		{"one cent off", scan("1|a|x|3|p|100.26|s|c|\n2|b|x|7|p|-0.45|s|c|\n"), "nation 3 CANADA: count 1 sum 10026 min 100.26 max 100.26 mean 100.26, want 1 10025"},
		{"other nation", scan("1|a|x|3|p|100.25|s|c|\n2|b|x|8|p|-0.45|s|c|\n"), "nation 8 INDIA should not be there; nation 7 GERMANY is missing"},
		{"a row more", scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\n3|b|x|7|p|1.00|s|c|\n"), "3 rows accepted and 0 rejected, want 2 and 0"},
		{"a rejected row", withSample, "rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, Compare(tc.got, a), tc.want)
		})
	}
}

// TestRunEndToEnd runs the main job at a small scale on the real stack and
// checks the printed tables against an answer computed here.

func TestCompareListsAtMostFive(t *testing.T) {
	want := Result{Rows: 6}
	got := Result{Rows: 6}
	for k := range 7 {
		got.Nations = append(got.Nations, NationResult{Key: k, Name: NationName(k), Count: 1})
	}
	err := Compare(got, want)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(and 2 more differences)")
	twice := Result{Nations: []NationResult{{Key: 3, Count: 1}, {Key: 3, Count: 1}}}
	assert.Contains(t, Compare(twice, Result{Nations: twice.Nations[:1]}).Error(), "nation 3 appears twice")
}

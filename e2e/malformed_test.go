package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
)

// badLine is a line a malformed input carries on purpose, and what the
// job must say about it.
type badLine struct {
	file   string
	offset int64
	reason string
}

// malformedInputs builds three input files from real dbgen rows with bad
// lines among them, and lists the bad lines in (file, offset) order:
//
//	bad/a.tbl    1.2 MB (two 1 MiB units): a nation key out of range and
//	             one that is not a number, a balance with three decimals
//	             and an empty one, a row with too few fields, a garbage
//	             line, blank lines, a run of CRLF lines (fine), and a bad
//	             line that straddles the 1 MiB unit boundary
//	bad/b.tbl    CRLF throughout, no final newline, ending in a bad balance
//	bad/c é.tbl  (a space and a non-ASCII letter in the name) a header
//	             line, a bad row since the job declares no header, then
//	             rows without the trailing delimiter (fine)
func malformedInputs(t *testing.T) (map[string][]byte, []badLine) {
	t.Helper()
	var table bytes.Buffer
	for _, p := range generated(t, t.TempDir(), 0.05, 1) {
		table.Write(readFile(t, p))
	}
	rows := strings.SplitAfter(strings.TrimSuffix(table.String(), "\n"), "\n")
	require.Greater(t, len(rows), 7000)
	setField := func(row string, i int, v string) string {
		f := strings.Split(row, "|")
		f[i] = v
		return strings.Join(f, "|")
	}
	var bads []badLine
	files := map[string][]byte{}

	var a bytes.Buffer
	bad := func(b *bytes.Buffer, file, line, reason string) {
		bads = append(bads, badLine{file, int64(b.Len()), reason})
		b.WriteString(line)
	}
	straddled := false
	for i, row := range rows[:7000] {
		switch {
		case i == 3:
			bad(&a, "bad/a.tbl", setField(row, 3, "25"), "nation key out of range 0..24")
		case i == 5:
			bad(&a, "bad/a.tbl", setField(row, 3, "x7"), "nation key is not an unsigned integer")
		case i == 7:
			bad(&a, "bad/a.tbl", setField(row, 5, "12.345"), "balance is not a decimal number with at most 2 places")
		case i == 9:
			bad(&a, "bad/a.tbl", setField(row, 5, ""), "empty balance")
		case i == 11:
			bad(&a, "bad/a.tbl", "11|Customer#000000011|an address cut short\n", "too few fields (need 6)")
		case i == 13:
			bad(&a, "bad/a.tbl", "%%% this line is garbage, not a customer %%%\n", "too few fields (need 6)")
		case i == 15:
			a.WriteString(" \t \n\n") // blank lines are neither rows nor rejects
			a.WriteString(row)
		case i >= 20 && i < 40:
			a.WriteString(strings.TrimSuffix(row, "\n") + "\r\n")
		case !straddled && a.Len() < 1<<20 && a.Len()+len(row) > 1<<20:
			straddled = true
			bad(&a, "bad/a.tbl", setField(row, 5, "1,000.00"), "balance is not a decimal number with at most 2 places")
		default:
			a.WriteString(row)
		}
	}
	require.True(t, straddled)
	files["bad/a.tbl"] = a.Bytes()

	var b bytes.Buffer
	for _, row := range rows[7000:7050] {
		b.WriteString(strings.TrimSuffix(row, "\n") + "\r\n")
	}
	bad(&b, "bad/b.tbl", strings.TrimSuffix(setField(rows[7050], 5, "NaN"), "\n"), "balance is not a decimal number with at most 2 places")
	files["bad/b.tbl"] = b.Bytes()

	var c bytes.Buffer
	bad(&c, "bad/c é.tbl", "c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|c_mktsegment|c_comment|\n", "nation key is not an unsigned integer")
	for _, row := range rows[7100:7120] {
		c.WriteString(strings.TrimSuffix(row, "|\n") + "\n")
	}
	files["bad/c é.tbl"] = c.Bytes()
	return files, bads
}

// testMalformedInput runs a job over inputs with bad rows: the job is done,
// counts and samples the bad rows (file, offset, reason) in its status and
// its result, and its answer over the good rows is exactly the kernel's,
// computed here over the same bytes.
func testMalformedInput(t *testing.T, s *stack) {
	files, bads := malformedInputs(t)
	ctx := context.Background()
	s.uploadBytes(t, ctx, "malformed", files)
	want := reference(t, files, aggregate.DefaultLayout())

	// The reference agrees with what the inputs were built to hold.
	require.EqualValues(t, len(bads), want.Rejected)
	require.Len(t, want.RejectedSamples, aggregate.MaxSamples)
	for i, smp := range want.RejectedSamples {
		assert.Equal(t, bads[i], badLine{smp.File, smp.Offset, smp.Reason}, "sample %d", i)
	}
	assert.Greater(t, int64(len(files["bad/a.tbl"])), int64(1<<20), "a.tbl spans two units")

	for _, medium := range job.Transports() {
		t.Run(medium, func(t *testing.T) {
			id, err := s.client.Submit(ctx, job.Spec{ID: "malformed-" + medium, Transport: medium, UnitMB: 1,
				Input: job.Input{Container: "malformed", Prefix: "bad/"}})
			require.NoError(t, err)
			st := s.waitJob(t, id, job.Done)
			checkDone(t, st, planUnits(t, files, 1), want)
			assert.EqualValues(t, len(bads), st.Rows.Rejected)
			if assert.Len(t, st.Samples, aggregate.MaxSamples) {
				for i, smp := range st.Samples {
					assert.Equal(t, bads[i], badLine{smp.File, smp.Offset, smp.Reason}, "status sample %d", i)
					assert.NotEmpty(t, smp.Line)
				}
			}
			s.checkAnswer(t, id, want, nil)
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

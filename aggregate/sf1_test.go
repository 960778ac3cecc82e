package aggregate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

// sharedTestdata finds shared/testdata by walking up from the package
// directory, or skips the test.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		cand := filepath.Join(dir, "shared", "testdata")
		if _, err := os.Stat(filepath.Join(cand, "customer_sf1.tbl.xz")); err == nil {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/testdata/customer_sf1.tbl.xz not found in any parent directory; skipping the SF1 check")
		}
		dir = parent
	}
}

// readSF1 returns the decompressed SF1 customer table and its expected
// result JSON.
func readSF1(t testing.TB) (table, expected []byte) {
	t.Helper()
	dir := sharedTestdata(t)
	f, err := os.Open(filepath.Join(dir, "customer_sf1.tbl.xz"))
	require.NoError(t, err)
	defer f.Close()
	// xz reads in small pieces: buffer the file.
	zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<20))
	require.NoError(t, err)
	var buf bytes.Buffer
	buf.Grow(25 << 20)
	_, err = buf.ReadFrom(zr)
	require.NoError(t, err)
	table = buf.Bytes()
	expected, err = os.ReadFile(filepath.Join(dir, "customer_sf1.expected.json"))
	require.NoError(t, err)
	return table, expected
}

// decodeJSON decodes into generic values, for comparing documents
// semantically.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return v
}

func TestScanSF1MatchesExpected(t *testing.T) {
	table, expected := readSF1(t)
	require.Len(t, table, 24346144, "the README gives the uncompressed size")
	ctx := context.Background()

	whole, err := Scan(ctx, bytes.NewReader(table), "customer_sf1.tbl", DefaultLayout())
	require.NoError(t, err)
	require.EqualValues(t, len(table), whole.Bytes)
	var got bytes.Buffer
	require.NoError(t, NewResult(whole).WriteJSON(&got))
	require.Equal(t, decodeJSON(t, expected), decodeJSON(t, got.Bytes()))

	// The pipeline's way: 7 ranges of about 3.5 MB, each read from
	// start-1 to the end of the file, merged in reverse order.
	const units = 7
	var merged Partial
	for i := units - 1; i >= 0; i-- {
		rng := Range{File: "customer_sf1.tbl", Start: int64(len(table) * i / units), End: int64(len(table) * (i + 1) / units)}
		p, err := ScanRange(ctx, bytes.NewReader(table[max(0, rng.Start-1):]), rng, DefaultLayout())
		require.NoError(t, err)
		merged.Merge(p)
	}
	require.Equal(t, *whole, merged)
}

package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/testing_data/sf1"
)

// readSF1 returns the decompressed SF1 customer table and its expected
// result JSON, or skips the test when shared/testdata is not beside the
// repository.
func readSF1(t testing.TB) (table, expected []byte) {
	t.Helper()
	table, err := sf1.Table()
	if errors.Is(err, sf1.ErrNotFound) {
		t.Skip(err)
	}
	require.NoError(t, err)
	expected, err = sf1.ExpectedJSON()
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

package aggregate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// localRanges cuts path of size bytes into ranges of unit bytes (the
// pipeline's cutting is job.Cut; any cut gives the same answer).
func localRanges(path string, size, unit int64) []LocalUnit {
	var units []LocalUnit
	for start := int64(0); start < size; start += unit {
		units = append(units, LocalUnit{Path: path, Range: Range{File: path, Start: start, End: min(start+unit, size)}, Size: size})
	}
	return units
}

func TestScanLocalMatchesScan(t *testing.T) {
	rows := "1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\nbad line\n3|c|x|3|p|9.99|s|c|\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "c.tbl")
	require.NoError(t, os.WriteFile(path, []byte(rows), 0o644))
	empty := filepath.Join(dir, "empty.tbl")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	want, err := Scan(context.Background(), strings.NewReader(rows), path, DefaultLayout())
	require.NoError(t, err)
	for _, unit := range []int64{1, 7, 1 << 20} {
		units := append(localRanges(path, int64(len(rows)), unit), LocalUnit{Path: empty, Range: Range{File: empty}})
		got, err := ScanLocal(context.Background(), units, 3, DefaultLayout())
		require.NoError(t, err)
		assert.Equal(t, want, got, "unit %d", unit)
	}
	_, err = ScanLocal(context.Background(), localRanges(filepath.Join(dir, "gone"), 5, 5), 1, DefaultLayout())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

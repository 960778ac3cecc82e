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

func TestUnitCutting(t *testing.T) {
	for _, c := range []struct {
		size, unit int64
		want       []Range
	}{
		{0, 10, nil}, // an empty file has no lines, so no units
		{1, 10, []Range{{"f", 0, 1}}},
		{10, 10, []Range{{"f", 0, 10}}},
		{11, 10, []Range{{"f", 0, 10}, {"f", 10, 11}}},
		{25, 10, []Range{{"f", 0, 10}, {"f", 10, 20}, {"f", 20, 25}}},
	} {
		n := UnitCount(c.size, c.unit)
		require.Equal(t, len(c.want), n, "size %d unit %d", c.size, c.unit)
		var got []Range
		for k := range n {
			got = append(got, UnitRange("f", c.size, c.unit, k))
		}
		assert.Equal(t, c.want, got, "size %d unit %d", c.size, c.unit)
		var locals []Range
		for _, u := range LocalUnits("f", c.size, c.unit) {
			locals = append(locals, u.Range)
		}
		assert.Equal(t, c.want, locals)
	}
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
		units := append(LocalUnits(path, int64(len(rows)), unit), LocalUnits(empty, 0, unit)...)
		got, err := ScanLocal(context.Background(), units, 3, DefaultLayout())
		require.NoError(t, err)
		assert.Equal(t, want, got, "unit %d", unit)
	}
	_, err = ScanLocal(context.Background(), LocalUnits(filepath.Join(dir, "gone"), 5, 5), 1, DefaultLayout())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

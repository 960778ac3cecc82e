package sf1

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTableAndExpected(t *testing.T) {
	table, err := Table()
	if errors.Is(err, ErrNotFound) {
		t.Skip(err)
	}
	require.NoError(t, err)
	require.Len(t, table, Bytes)
	require.Equal(t, byte('\n'), table[len(table)-1])
	exp, err := ExpectedJSON()
	require.NoError(t, err)
	var v struct{ Rows int }
	require.NoError(t, json.Unmarshal(exp, &v))
	require.Equal(t, Rows, v.Rows)
}

func TestFindWalksUp(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "shared", "testdata")
	require.NoError(t, os.MkdirAll(data, 0o755))
	deep := filepath.Join(root, "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	// A shared/testdata without the table is not it.
	if got, err := findFrom(deep); err == nil {
		require.NotEqual(t, data, got, "a folder without the table")
	}
	require.NoError(t, os.WriteFile(filepath.Join(data, TableFile), nil, 0o644))
	got, err := findFrom(deep)
	require.NoError(t, err)
	require.Equal(t, data, got, "the nearest parent holding the table")
}

func TestFindOutsideTheTree(t *testing.T) {
	// Whether a parent of the temporary folder holds shared/testdata depends
	// on the machine (a checkout under /work has /work/shared): either the
	// walk ends with ErrNotFound, or what it finds is a parent's folder that
	// really holds the table.
	dir := t.TempDir()
	got, err := findFrom(dir)
	if err != nil {
		require.ErrorIs(t, err, ErrNotFound)
		return
	}
	require.FileExists(t, filepath.Join(got, TableFile))
	require.False(t, strings.HasPrefix(got, dir), "found %s inside the empty temporary folder", got)
}

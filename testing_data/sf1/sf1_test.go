package sf1

import (
	"encoding/json"
	"errors"
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

func TestFindFailsOutsideTheTree(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Find()
	require.ErrorIs(t, err, ErrNotFound)
}

package job

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPartialsIDNamesItsUnits(t *testing.T) {
	assert.Equal(t, PartialID("j", 7), PartialsID("j", []int{7}))
	id := PartialsID("j", []int{12, 3, 5})
	assert.Equal(t, "j/p/000003.000005.000012", id)
	j, units, ok := ParseMessageUnits(id)
	require.True(t, ok)
	assert.Equal(t, "j", j)
	assert.Equal(t, []int{3, 5, 12}, units)

	j, units, ok = ParseMessageUnits(UnitID("abc", 4))
	require.True(t, ok)
	assert.Equal(t, "abc", j)
	assert.Equal(t, []int{4}, units)

	many := make([]int, MaxBatchUnits+1)
	for i := range many {
		many[i] = i
	}
	for _, bad := range []string{
		"j/p/000005.000003",    // not increasing
		"j/p/000003.000003",    // twice
		"j/u/000003.000005",    // a unit message names one unit
		"j/p/000003.",          // empty index
		"j/p/-1",               // negative
		"j/x/1", "/p/1", "j/p", // not a message ID
		PartialsID("j", many),    // over MaxBatchUnits
		"j/p/000001/000002",      // too many segments
		"j/p/0x1", "j/p/1e3", "", // not decimal
	} {
		_, _, ok := ParseMessageUnits(bad)
		assert.False(t, ok, bad)
	}
	// A batch ID is no single-unit ID.
	_, _, ok = ParseMessageID(id)
	assert.False(t, ok)
}

func TestDecodePartials(t *testing.T) {
	one := msgFor("j", 3, 10, 1)
	body, err := EncodePartials([]*PartialMsg{one})
	require.NoError(t, err)
	ms, err := DecodePartials(PartialID("j", 3), body)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, one.Partial, ms[0].Partial)

	batch := []*PartialMsg{msgFor("j", 5, 10, 1), msgFor("j", 2, 10, 1), msgFor("j", 9, 10, 1)}
	body, err = EncodePartials(batch)
	require.NoError(t, err)
	ms, err = DecodePartials(PartialsID("j", []int{2, 5, 9}), body)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	for i, m := range ms {
		assert.Equal(t, batch[i].Index, m.Index)
		assert.Equal(t, batch[i].Partial, m.Partial)
	}

	_, err = EncodePartials(nil)
	require.Error(t, err)

	other := msgFor("k", 4, 10, 1)
	otherBody, err := EncodePartials([]*PartialMsg{batch[0], other})
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		id, body, want string
	}{
		"ID names other units":   {PartialsID("j", []int{2, 5, 8}), string(body), "carries the partials of j/p/000002.000005.000009"},
		"ID names fewer units":   {PartialsID("j", []int{2, 5}), string(body), "names 2 units and carries 3 partials"},
		"a partial of other job": {PartialsID("j", []int{4, 5}), string(otherBody), "carries a partial of job k"},
		"a null partial":         {PartialsID("j", []int{1, 2}), "[null,null]", "is null"},
		"not JSON":               {PartialID("j", 1), "{", "partials:"},
		"a bad array":            {PartialsID("j", []int{1, 2}), "[{", "partials:"},
		"a unit ID":              {UnitID("j", 3), `{}`, "not a partials message ID"},
		"out of range":           {PartialID("j", 12), `{"job":"j","index":12,"count":10,"shards":1,"partial":{"rows":0,"rejected":0,"bytes":0,"nations":[]}}`, "out of range"},
		"a unit twice":           {PartialsID("j", []int{3, 4}), "[" + mustJSON(t, msgFor("j", 3, 10, 1)) + "," + mustJSON(t, msgFor("j", 3, 10, 1)) + "]", "carries the partials of"},
	} {
		_, err := DecodePartials(tc.id, []byte(tc.body))
		assert.ErrorContains(t, err, tc.want, name)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// FuzzDecodePartials: whatever the ID and body, decoding either fails with
// an error or returns exactly the units the ID names, each once.
func FuzzDecodePartials(f *testing.F) {
	body, err := EncodePartials([]*PartialMsg{msgFor("j", 1, 4, 1), msgFor("j", 2, 4, 1)})
	require.NoError(f, err)
	f.Add(PartialsID("j", []int{1, 2}), string(body))
	single, err := json.Marshal(msgFor("j", 1, 4, 1))
	require.NoError(f, err)
	f.Add(PartialID("j", 1), string(single))
	f.Add("j/p/000001.000002", "[null]")
	f.Fuzz(func(t *testing.T, id, body string) {
		ms, err := DecodePartials(id, []byte(body))
		if err != nil {
			return
		}
		jobID, units, ok := ParseMessageUnits(id)
		require.True(t, ok)
		require.True(t, strings.Contains(id, "/p/"))
		require.Len(t, ms, len(units))
		seen := map[int]bool{}
		for _, m := range ms {
			require.Equal(t, jobID, m.Job)
			require.False(t, seen[m.Index], fmt.Sprint(m.Index))
			seen[m.Index] = true
		}
		for _, u := range units {
			require.True(t, seen[u])
		}
	})
}

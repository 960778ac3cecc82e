package aggregate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayoutValidate(t *testing.T) {
	tests := []struct {
		name   string
		layout Layout
		ok     bool
	}{
		{"default", DefaultLayout(), true},
		{"csv, balance first", Layout{Delimiter: ',', NationField: 2, BalanceField: 1}, true},
		{"high byte delimiter", Layout{Delimiter: 0xfe, NationField: 1, BalanceField: 2}, true},
		{"zero value", Layout{}, false},
		{"newline delimiter", Layout{Delimiter: '\n', NationField: 4, BalanceField: 6}, false},
		{"CR delimiter", Layout{Delimiter: '\r', NationField: 4, BalanceField: 6}, false},
		{"same field twice", Layout{Delimiter: '|', NationField: 3, BalanceField: 3}, false},
		{"negative field", Layout{Delimiter: '|', NationField: -1, BalanceField: 3}, false},
		{"field too large", Layout{Delimiter: '|', NationField: 1, BalanceField: MaxField + 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.layout.Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadLayout)
			}
		})
	}
}

func TestLayoutJSON(t *testing.T) {
	b, err := json.Marshal(DefaultLayout())
	require.NoError(t, err)
	assert.JSONEq(t, `{"delimiter":"|","nation_field":4,"balance_field":6,"header":false}`, string(b))

	tests := map[string]Layout{
		`{}`:                                   DefaultLayout(),
		`{"delimiter":","}`:                    {Delimiter: ',', NationField: 4, BalanceField: 6},
		`{"delimiter":"\t","header":true}`:     {Delimiter: '\t', NationField: 4, BalanceField: 6, Header: true},
		`{"nation_field":2,"balance_field":1}`: {Delimiter: '|', NationField: 2, BalanceField: 1},
		`{"delimiter":"\u00fe","nation_field":1,"balance_field":2}`: {Delimiter: 0xfe, NationField: 1, BalanceField: 2},
	}
	for in, want := range tests {
		var got Layout
		require.NoError(t, json.Unmarshal([]byte(in), &got), in)
		assert.Equal(t, want, got, in)
		b, err := json.Marshal(got)
		require.NoError(t, err)
		var back Layout
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, got, back, "round trip of %s", b)
	}
	for _, bad := range []string{`{"delimiter":"||"}`, `{"delimiter":""}`, `{"delimiter":"\n"}`, `{"delimiter":"€"}`,
		`{"nation_field":6}`, `{"nation_field":"4"}`, `[]`} {
		var l Layout
		assert.ErrorIs(t, json.Unmarshal([]byte(bad), &l), ErrBadLayout, bad)
	}
}

func TestParseDelimiter(t *testing.T) {
	for in, want := range map[string]byte{"|": '|', ",": ',', `\t`: '\t', "tab": '\t', "\t": '\t', ";": ';'} {
		got, err := ParseDelimiter(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "||", "\n", "\r", "€"} {
		_, err := ParseDelimiter(bad)
		assert.ErrorIs(t, err, ErrBadLayout, "%q", bad)
	}
}

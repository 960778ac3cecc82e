package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultPrices(t *testing.T) {
	tbl, err := DefaultPrices()
	require.NoError(t, err)
	assert.Equal(t, PriceSchema, tbl.Schema)
	assert.Equal(t, "USD", tbl.Currency)
	assert.NotEmpty(t, tbl.Date)
	for _, id := range append(PriceIDs(), OptionalPriceIDs()...) {
		p, ok := tbl.Lookup(id)
		require.True(t, ok, "missing %s", id)
		assert.Positive(t, p.Amount, id)
		assert.NotEmpty(t, p.Source, id)
		if !p.Verified {
			// An unverified figure must say why it is trusted at all.
			assert.NotEmpty(t, p.Note, "%s: unverified price without a note", id)
		}
	}

	// The file on disk is the one compiled in.
	fromFile, err := LoadPrices("prices.json")
	require.NoError(t, err)
	assert.Equal(t, tbl, fromFile)
}

func TestPriceCost(t *testing.T) {
	p := Price{Amount: 0.065, Per: 10000}
	assert.InDelta(t, 0.13, p.Cost(20000), 1e-12)
	assert.InDelta(t, 0.0000065, p.Cost(1), 1e-15)
}

// mutate decodes the default table into generic JSON, applies f and
// re-encodes it.
func mutate(t *testing.T, f func(tbl map[string]any, prices []any)) []byte {
	t.Helper()
	var tbl map[string]any
	require.NoError(t, json.Unmarshal(defaultPricesJSON, &tbl))
	f(tbl, tbl["prices"].([]any))
	b, err := json.Marshal(tbl)
	require.NoError(t, err)
	return b
}

func entry(prices []any, i int) map[string]any { return prices[i].(map[string]any) }

// A table compiled before Event Grid was priced still parses: the price
// is optional.
func TestOptionalPriceMayBeMissing(t *testing.T) {
	doc := mutate(t, func(tbl map[string]any, ps []any) {
		require.Equal(t, string(PriceEventGridOperations), entry(ps, 11)["id"])
		tbl["prices"] = ps[:11]
	})
	tbl, err := ParsePrices(bytes.NewReader(doc))
	require.NoError(t, err)
	_, ok := tbl.Lookup(PriceEventGridOperations)
	assert.False(t, ok)
}

func TestParsePricesErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) []byte
		want string
	}{
		{"not JSON", func(*testing.T) []byte { return []byte("{") }, "unexpected EOF"},
		{"trailing data", func(*testing.T) []byte { return append(bytes.Clone(defaultPricesJSON), []byte("{}")...) }, "data after the table"},
		{"unknown top-level field", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { tbl["vat"] = 0.2 })
		}, `unknown field "vat"`},
		{"unknown entry field", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 2)["discount"] = 0.1 })
		}, `unknown field "discount"`},
		{"missing amount", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { delete(entry(ps, 0), "amount") })
		}, `prices[0] (functions.consumption.execution_time): missing field "amount"`},
		{"missing verified", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { delete(entry(ps, 4), "verified") })
		}, `missing field "verified"`},
		{"empty source", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 1)["source"] = " " })
		}, `field "source" is empty`},
		{"missing date", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { delete(tbl, "date") })
		}, `table: missing field "date"`},
		{"bad date", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { tbl["date"] = "23/11/2026" })
		}, "is not YYYY-MM-DD"},
		{"wrong schema", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { tbl["schema"] = "funnel-prices/2" })
		}, `schema is "funnel-prices/2"`},
		{"negative amount", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 5)["amount"] = -1 })
		}, "amount is -1"},
		{"per zero", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 5)["per"] = 0 })
		}, "per is 0"},
		{"duplicate id", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 1)["id"] = entry(ps, 0)["id"] })
		}, `duplicate price id "functions.consumption.execution_time"`},
		{"unknown id and missing one", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 10)["id"] = "queue.class3_operations" })
		}, `unknown price id "queue.class3_operations"; table: missing price "queue.class2_operations"`},
		{"other currency", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 3)["currency"] = "EUR" })
		}, `currency "EUR" differs from the table's "USD"`},
		{"bad currency", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { tbl["currency"] = "dollars" })
		}, "not an ISO 4217 code"},
		{"bad seen", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 3)["seen"] = "last year" })
		}, `seen "last year" is not a date`},
		{"bad region", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 3)["region"] = "East US" })
		}, `region "East US"`},
		{"amount as string", func(t *testing.T) []byte {
			return mutate(t, func(_ map[string]any, ps []any) { entry(ps, 3)["amount"] = "0.4" })
		}, "cannot unmarshal string"},
		{"no prices", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, _ []any) { delete(tbl, "prices") })
		}, `missing field "prices"`},
		{"null entry", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, ps []any) { tbl["prices"] = append(ps, nil) })
		}, "prices[12]: null entry"},
		{"duplicate optional price", func(t *testing.T) []byte {
			return mutate(t, func(tbl map[string]any, ps []any) { tbl["prices"] = append(ps, entry(ps, 11)) })
		}, `duplicate price id "eventgrid.operations"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrices(bytes.NewReader(tt.doc(t)))
			require.ErrorIs(t, err, ErrBadPrices)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParsePricesReportsEveryProblem(t *testing.T) {
	doc := mutate(t, func(tbl map[string]any, ps []any) {
		delete(entry(ps, 0), "unit")
		entry(ps, 1)["amount"] = -3
	})
	_, err := ParsePrices(bytes.NewReader(doc))
	require.ErrorIs(t, err, ErrBadPrices)
	assert.Contains(t, err.Error(), `missing field "unit"`)
	assert.Contains(t, err.Error(), "amount is -3")
}

func TestLoadPricesNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"schema": "funnel-prices/1"}`), 0o644))
	_, err := LoadPrices(path)
	require.ErrorIs(t, err, ErrBadPrices)
	assert.Contains(t, err.Error(), path)

	_, err = LoadPrices(filepath.Join(t.TempDir(), "absent.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzParsePrices(f *testing.F) {
	f.Add(defaultPricesJSON)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"schema":"funnel-prices/1","date":"2026-01-01","currency":"USD","prices":[]}`))
	f.Add([]byte(`{"prices":[null]}`))
	f.Add([]byte(strings.Replace(string(defaultPricesJSON), "0.000016", "-1e400", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := ParsePrices(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadPrices) {
				t.Fatalf("error %v does not wrap ErrBadPrices", err)
			}
			return
		}
		// A table that parses holds every price, usable for arithmetic.
		for _, id := range PriceIDs() {
			p, ok := tbl.Lookup(id)
			if !ok {
				t.Fatalf("accepted a table without %s", id)
			}
			if p.Per <= 0 || p.Amount < 0 || p.Currency != tbl.Currency {
				t.Fatalf("accepted price %+v", p)
			}
		}
		if n := len(tbl.Prices); n < len(PriceIDs()) || n > len(PriceIDs())+len(OptionalPriceIDs()) {
			t.Fatalf("accepted %d prices, want %d to %d", n, len(PriceIDs()), len(PriceIDs())+len(OptionalPriceIDs()))
		}
	})
}

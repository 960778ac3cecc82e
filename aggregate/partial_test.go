package aggregate

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomPartial is a valid Partial with random content, for quick.Check.
type randomPartial struct{ P Partial }

// Generate makes partials that exercise merging: few or many nations,
// extreme balances, and samples that collide on (file, offset).
func (randomPartial) Generate(r *rand.Rand, _ int) reflect.Value {
	var p Partial
	extremes := []int64{math.MaxInt64, -math.MaxInt64, 0, -5, 99999}
	for range r.Intn(8) {
		k := r.Intn(NationCount)
		for range 1 + r.Intn(4) {
			v := r.Int63n(2_000_000) - 100_000
			if r.Intn(4) == 0 {
				v = extremes[r.Intn(len(extremes))]
			}
			p.Nations[k].add(v)
			p.Rows++
		}
	}
	files := []string{"a.csv", "b.csv", "c.csv"}
	for range r.Intn(9) {
		p.addSample(files[r.Intn(len(files))], int64(r.Intn(50)), []string{reasonNationRange, reasonBalanceSyntax}[r.Intn(2)], []byte{byte('a' + r.Intn(3))})
	}
	p.Rejected += int64(r.Intn(3))
	p.Bytes = int64(r.Intn(1 << 20))
	// a scan's samples are its smallest; normalise like a merge does
	p = merged(p, Partial{})
	return reflect.ValueOf(randomPartial{p})
}

func merged(parts ...Partial) Partial {
	var out Partial
	for _, p := range parts {
		out.Merge(&p)
	}
	return out
}

func TestMergeIsAssociativeAndCommutative(t *testing.T) {
	assoc := func(a, b, c randomPartial) bool {
		ab := merged(a.P, b.P)
		bc := merged(b.P, c.P)
		return reflect.DeepEqual(merged(ab, c.P), merged(a.P, bc))
	}
	comm := func(a, b randomPartial) bool {
		return reflect.DeepEqual(merged(a.P, b.P), merged(b.P, a.P))
	}
	identity := func(a randomPartial) bool {
		z := a.P
		z.Merge(&Partial{})
		return reflect.DeepEqual(z, a.P)
	}
	cfg := &quick.Config{MaxCount: 2000}
	require.NoError(t, quick.Check(assoc, cfg))
	require.NoError(t, quick.Check(comm, cfg))
	require.NoError(t, quick.Check(identity, cfg))
}

func TestMergeDoesNotAlias(t *testing.T) {
	a := Partial{}
	a.addSample("f", 10, "r", []byte("x"))
	b := Partial{}
	b.addSample("f", 5, "r", []byte("y"))
	a.Merge(&b)
	b.Samples[0].Line = "changed"
	assert.Equal(t, "y", a.Samples[0].Line)
	assert.Equal(t, int64(2), a.Rejected)
}

func TestMergeSumsBeyondInt64(t *testing.T) {
	var p Partial
	for range 4 {
		q := Partial{Rows: 1}
		q.Nations[3].add(math.MaxInt64)
		p.Merge(&q)
	}
	want := new(big.Int).Mul(big.NewInt(math.MaxInt64), big.NewInt(4))
	assert.Equal(t, want, p.Nations[3].Sum.Big())
	assert.Equal(t, "92233720368547758.07", NewResult(&p).Nations[0].Mean)
}

func TestPartialJSONRoundTrip(t *testing.T) {
	roundTrip := func(a randomPartial) bool {
		b, err := json.Marshal(&a.P)
		if err != nil {
			return false
		}
		var back Partial
		if err := json.Unmarshal(b, &back); err != nil {
			t.Log(err, string(b))
			return false
		}
		return reflect.DeepEqual(a.P, back)
	}
	require.NoError(t, quick.Check(roundTrip, &quick.Config{MaxCount: 2000}))
}

func TestPartialJSONForm(t *testing.T) {
	p := scanString(t, dbgenRow+"bad\n"+row("15", "-0.05"), DefaultLayout())
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.JSONEq(t, `{"rows":2,"rejected":1,"bytes":`+itoa(p.Bytes)+`,
		"nations":[{"key":15,"count":2,"sum":71151,"min":-5,"max":71156}],
		"samples":[{"file":"in","offset":`+itoa(int64(len(dbgenRow)))+`,"reason":"too few fields (need 6)","line":"bad"}]}`, string(b))

	empty, err := json.Marshal(&Partial{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"rows":0,"rejected":0,"bytes":0,"nations":[]}`, string(empty))
}

func itoa(v int64) string { return big.NewInt(v).String() }

func TestPartialJSONRejectsBadInput(t *testing.T) {
	tests := map[string]string{
		"not an object":         `[1,2]`,
		"negative rows":         `{"rows":-1,"rejected":0,"bytes":0,"nations":[]}`,
		"key out of range":      `{"rows":1,"rejected":0,"bytes":0,"nations":[{"key":25,"count":1,"sum":1,"min":1,"max":1}]}`,
		"duplicate key":         `{"rows":2,"rejected":0,"bytes":0,"nations":[{"key":2,"count":1,"sum":1,"min":1,"max":1},{"key":2,"count":1,"sum":1,"min":1,"max":1}]}`,
		"zero count":            `{"rows":0,"rejected":0,"bytes":0,"nations":[{"key":2,"count":0,"sum":1,"min":1,"max":1}]}`,
		"min above max":         `{"rows":1,"rejected":0,"bytes":0,"nations":[{"key":2,"count":1,"sum":1,"min":2,"max":1}]}`,
		"rows disagree":         `{"rows":5,"rejected":0,"bytes":0,"nations":[{"key":2,"count":1,"sum":1,"min":1,"max":1}]}`,
		"sum not an integer":    `{"rows":1,"rejected":0,"bytes":0,"nations":[{"key":2,"count":1,"sum":1.5,"min":1,"max":1}]}`,
		"sum beyond 128 bits":   `{"rows":1,"rejected":0,"bytes":0,"nations":[{"key":2,"count":1,"sum":999999999999999999999999999999999999999999,"min":1,"max":1}]}`,
		"more samples than bad": `{"rows":0,"rejected":0,"bytes":0,"nations":[],"samples":[{"file":"f","offset":1,"reason":"r","line":"l"}]}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var p Partial
			require.ErrorIs(t, json.Unmarshal([]byte(in), &p), ErrBadPartial)
		})
	}
}

func TestInt128(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	sum, ref := Int128{}, new(big.Int)
	for range 10000 {
		v := r.Int63()
		if r.Intn(2) == 0 {
			v = -v
		}
		if r.Intn(10) == 0 {
			v = []int64{math.MaxInt64, math.MinInt64, 0, -1}[r.Intn(4)]
		}
		sum = sum.Add64(v)
		ref.Add(ref, big.NewInt(v))
		if r.Intn(50) == 0 { // also through Add and a big round trip
			back, err := Int128FromBig(sum.Big())
			require.NoError(t, err)
			require.Equal(t, sum, back)
			sum = Int128{}.Add(sum)
		}
		require.Equal(t, ref.String(), sum.String())
	}
	for _, s := range []string{"0", "-1", "170141183460469231731687303715884105727", "-170141183460469231731687303715884105728", "-18446744073709551616"} {
		var a Int128
		require.NoError(t, json.Unmarshal([]byte(s), &a), s)
		b, err := json.Marshal(a)
		require.NoError(t, err)
		assert.Equal(t, s, string(b))
	}
	var a Int128
	assert.Error(t, json.Unmarshal([]byte("170141183460469231731687303715884105728"), &a))
	assert.Error(t, json.Unmarshal([]byte(`"1"`), &a))
	assert.Equal(t, 1, Int128From64(5).Sign())
	assert.Equal(t, -1, Int128From64(-5).Sign())
	assert.Equal(t, 0, Int128{}.Sign())
}

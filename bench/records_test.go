package bench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	oneToTen := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		values []float64
		p      float64
		want   float64
	}{
		{"median of ten", oneToTen, 50, 5},
		{"p95 of ten", oneToTen, 95, 10},
		{"p90 of ten", oneToTen, 90, 9},
		{"p100", oneToTen, 100, 10},
		{"tiny p", oneToTen, 0.1, 1},
		{"one value", []float64{7}, 95, 7},
		{"median of two", []float64{1, 2}, 50, 1},
		{"none", nil, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Percentile(tt.values, tt.p))
		})
	}
}

func TestSummarize(t *testing.T) {
	var records []InvocationRecord
	// Aggregate: 10 invocations of 10, 20, ..., 100 ms over two instances,
	// the 3rd failed, the 4th a redelivery.
	for i := range 10 {
		r := InvocationRecord{Function: "aggregate", Instance: []string{"a0", "a1"}[i%2],
			Start: synthBase.Add(time.Duration(i) * time.Second), DurationMS: float64(10 * (10 - i)),
			Outcome: OutcomeSuccess, DequeueCount: 1, BytesIn: 1000, BytesOut: 10}
		if i == 2 {
			r.Outcome = OutcomeFailure
		}
		if i == 3 {
			r.DequeueCount = 2
		}
		records = append(records, r)
	}
	records = append(records,
		InvocationRecord{Function: "zz-status", Instance: "p0", Start: synthBase, DurationMS: 1, Outcome: OutcomeSuccess},
		InvocationRecord{Function: "merge", Instance: "m0", Start: synthBase, DurationMS: 4, Outcome: OutcomeSuccess},
		InvocationRecord{Function: "partition", Instance: "p0", Start: synthBase, DurationMS: 8, Outcome: OutcomeSuccess},
	)
	stats, err := Summarize(records)
	require.NoError(t, err)
	require.Len(t, stats, 4)
	names := []string{stats[0].Function, stats[1].Function, stats[2].Function, stats[3].Function}
	assert.Equal(t, []string{"partition", "aggregate", "merge", "zz-status"}, names)

	agg := stats[1]
	assert.Equal(t, 10, agg.Invocations)
	assert.Equal(t, 1, agg.Failures)
	assert.Equal(t, 1, agg.Redeliveries)
	assert.Equal(t, 2, agg.Instances)
	assert.Equal(t, 50.0, agg.P50MS)
	assert.Equal(t, 100.0, agg.P95MS)
	assert.Equal(t, 100.0, agg.MaxMS)
	assert.Equal(t, 55.0, agg.MeanMS)
	assert.Equal(t, 550.0, agg.TotalMS)
	assert.Equal(t, int64(10000), agg.BytesIn)
	assert.Equal(t, int64(100), agg.BytesOut)
	assert.Equal(t, synthBase, agg.First)
	// The last starts at 9 s and lasts 10 ms.
	assert.Equal(t, synthBase.Add(9*time.Second+10*time.Millisecond), agg.Last)

	none, err := Summarize(nil)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestInvocationRecordValidate(t *testing.T) {
	good := InvocationRecord{Function: "aggregate", Instance: "a0", Start: synthBase, DurationMS: 1, Outcome: OutcomeSuccess}
	require.NoError(t, good.Validate())
	tests := []struct {
		name   string
		change func(*InvocationRecord)
		want   string
	}{
		{"no function", func(r *InvocationRecord) { r.Function = "" }, "without a function name"},
		{"no instance", func(r *InvocationRecord) { r.Instance = "" }, "without an instance"},
		{"no start", func(r *InvocationRecord) { r.Start = time.Time{} }, "without a start time"},
		{"negative duration", func(r *InvocationRecord) { r.DurationMS = -1 }, "duration -1 ms"},
		{"NaN duration", func(r *InvocationRecord) { r.DurationMS = math.NaN() }, "duration NaN ms"},
		{"unknown outcome", func(r *InvocationRecord) { r.Outcome = "timeout" }, `outcome "timeout"`},
		{"negative bytes", func(r *InvocationRecord) { r.BytesIn = -5 }, "negative count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			err := r.Validate()
			require.ErrorIs(t, err, ErrBadMeasurement)
			assert.Contains(t, err.Error(), tt.want)

			_, err = Summarize([]InvocationRecord{good, r})
			require.ErrorIs(t, err, ErrBadMeasurement)
			assert.Contains(t, err.Error(), "record 1")
		})
	}
}

func BenchmarkSummarize(b *testing.B) {
	records := make([]InvocationRecord, 0, 100_000)
	for i := range 100_000 {
		records = append(records, InvocationRecord{Function: []string{"partition", "aggregate", "merge"}[i%3],
			Instance: "i" + string(rune('a'+i%8)), Start: synthBase.Add(time.Duration(i) * time.Millisecond),
			DurationMS: float64(i % 997), Outcome: OutcomeSuccess, DequeueCount: 1})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Summarize(records); err != nil {
			b.Fatal(err)
		}
	}
}

package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewStat(t *testing.T) {
	s := NewStat([]float64{3, 1, 2})
	assert.Equal(t, Stat{Median: 2, Mean: 2, Min: 1, Max: 3, N: 3}, s)
	assert.Equal(t, "2 (1–3)", s.String())
	// The median, not the mean, is quoted: one slow run moves only the mean.
	slow := NewStat([]float64{1, 1.1, 1.2, 1.3, 9})
	assert.Equal(t, 1.2, slow.Median)
	assert.InDelta(t, 2.72, slow.Mean, 1e-12)
	assert.Equal(t, "1.2 (1–9)", slow.String())
	assert.Equal(t, 1.5, NewStat([]float64{2, 1}).Median, "an even count takes the middle two's mean")
	assert.Equal(t, "5", NewStat([]float64{5, 5}).String())
	assert.Equal(t, "—", NewStat(nil).String())
}

func TestAggregateRuns(t *testing.T) {
	cq := testConfig(TransportQueue, 4)
	cb := testConfig(TransportBlob, 4)
	runs := synthRuns(t, cb, 2, defaultSynth(TransportBlob))
	runs = append(runs, synthRuns(t, cq, 3, defaultSynth(TransportQueue))...)
	wrong := defaultSynth(TransportQueue)
	wrong.wrong = true
	bad, err := NewRun(synthMeasurement(cq, 4, false, wrong), testPrices(), DefaultBilling())
	require.NoError(t, err)
	runs = append(runs, bad)

	aggs, err := AggregateRuns(runs)
	require.NoError(t, err)
	require.Len(t, aggs, 2)
	// Ordered by transport name: blob, queue.
	assert.Equal(t, cb, aggs[0].Config)
	q := aggs[1]
	assert.Equal(t, cq, q.Config)
	assert.Equal(t, 3, q.Repetitions)
	assert.Equal(t, 1, q.WarmUps)
	assert.Equal(t, 1, q.Invalid)
	require.Len(t, q.Mismatches, 1)
	assert.Contains(t, q.Mismatches[0], "repetition 4")

	// The counted runs are repetitions 1–3; their figures are identical
	// apart from the clock, so min = max = mean.
	counted := runs[4:7]
	assert.Equal(t, counted[0].EndToEndSeconds, q.EndToEndSeconds.Mean)
	assert.Equal(t, 3, q.EndToEndSeconds.N)
	assert.Equal(t, counted[0].Cost.Flex.Total, q.CostFlex.Max)
	assert.Equal(t, float64(counted[0].StorageOpsTotal), q.StorageOps.Mean)
	assert.InDelta(t, counted[0].RatioToBaseline, q.RatioToBaseline.Mean, 1e-9)

	// Stages pool the counted runs' records: 3 × 4 aggregate invocations.
	s, ok := q.Stage("aggregate")
	require.True(t, ok)
	assert.Equal(t, 12, s.Invocations)
	_, ok = q.Stage("nope")
	assert.False(t, ok)

	// Per-class operations and per-app resources.
	var class2 float64
	for _, cs := range q.OpsByClass {
		if cs.Service == ServiceQueue && cs.Class == ClassQueue2 {
			class2 = cs.Count.Mean
		}
	}
	assert.Equal(t, float64(2*4+10), class2)
	require.Len(t, q.Apps, 3)
	assert.Equal(t, []string{"partition", "aggregate", "merge"}, []string{q.Apps[0].App, q.Apps[1].App, q.Apps[2].App})
	assert.Equal(t, float64(60<<20), q.Apps[1].PeakRSSBytes.Max)

	// A configuration whose runs were all left out still appears.
	onlyWrong, err := AggregateRuns([]Run{bad})
	require.NoError(t, err)
	require.Len(t, onlyWrong, 1)
	assert.Equal(t, 0, onlyWrong[0].Repetitions)
	assert.Equal(t, 1, onlyWrong[0].Invalid)
}

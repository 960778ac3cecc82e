package bench

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modelInputs are round figures: units of 100 MB; one machine aggregates
// a unit in 0.5 s plus 0.005 s/MB (1 s per unit), 10 units at once per
// instance.
func modelInputs() ModelInputs {
	return ModelInputs{
		Transport: "queue", Source: "test", UnitSizeBytes: 1e8, Concurrency: 10, ConcurrencySource: "test",
		Dispatch:    Fit{Terms: map[string]float64{"1": 0.5, "n": 0.001}},
		Aggregate:   Fit{Terms: map[string]float64{"n": 0.5, "MB": 0.005, "n²": 0.01}},
		Merge:       Fit{Terms: map[string]float64{"1": 0.2, "n": 0.01}},
		UnitSeconds: 1,
		// Cost: 2 executions, 10 class-1 queue operations, 1 Flex GB-s
		// (at 2,048 MB) and 0.25 Consumption GB-s per unit.
		ExecutionsPerUnit: 2, RequestsPerUnit: 10, QueueMessagesPerUnit: 1,
		OpsPerUnit:           []OpRate{{ServiceQueue, ClassQueue1, 10}},
		FlexGBSecondsPerUnit: 1, FlexMemoryMB: 2048, ConsumptionGBSecondsPerUnit: 0.25,
	}
}

func TestModelEstimate(t *testing.T) {
	// 10 GB: 100 units, W = 100 × 0.5 + 10,000 MB × 0.005 = 100
	// instance-seconds. 10 instances (all have units: ⌈100/10⌉ = 10), four
	// added per 1 s decision: 4 instances in [0,1), 8 in [1,2), then 10:
	// 4 + 8 = 12 done at 2 s, 88 left over 10 instances: 10.8 s.
	// D = 0.5 + 0.1; F = 0.2 + 0.01 × 100 ÷ min(10, 25 shards) = 0.3.
	tbl, err := Model([]ModelInputs{modelInputs()}, DefaultModelLimits(), testPrices(), []int64{10e9}, []int{10, 2, 1000})
	require.NoError(t, err)
	require.Len(t, tbl.Rows, 3)
	e := tbl.Rows[0].Flex
	assert.Equal(t, int64(100), tbl.Rows[0].Units)
	assert.Equal(t, 10, e.Busy)
	assert.Equal(t, BoundCompute, e.Bound)
	assert.InDelta(t, 0.6, e.Dispatch, 1e-9)
	assert.InDelta(t, 10.8, e.Aggregate, 1e-9)
	assert.InDelta(t, 0.3, e.Merge, 1e-9)
	assert.InDelta(t, 11.7, e.Seconds, 1e-9)
	// Money follows the work: 200 executions × 0.4e-6 + 100 GB-s × 26e-6
	// + 1,000 class-1 operations × 0.004 / 10,000.
	assert.InDelta(t, 200*0.4e-6+100*26e-6+1000*0.004/1e4, e.Cost, 1e-12)
	assert.InDelta(t, 25.0, tbl.Rows[0].Consumption.GBSeconds, 1e-9)

	// 2 instances: 2 work from the start; 100 / 2 = 50 s.
	assert.InDelta(t, 50, tbl.Rows[1].Flex.Aggregate, 1e-9)
	// 1,000 requested: only 10 have units, so 1,000 is no faster than 10,
	// and Consumption is capped at 100.
	assert.Equal(t, 10, tbl.Rows[2].Flex.Busy)
	assert.InDelta(t, e.Aggregate, tbl.Rows[2].Flex.Aggregate, 1e-9)
	assert.InDelta(t, 0.2+0.01*100/25, tbl.Rows[2].Flex.Merge, 1e-9, "the 25 shards merge in parallel")
	assert.True(t, tbl.Rows[2].Consumption.Capped)
	assert.Equal(t, 100, tbl.Rows[2].Consumption.Instances)

	// More data, more instances: the account's egress bounds it. 10 TB in
	// 100,000 units on 1,000 instances: W = 100,000 instance-seconds, about
	// 100 s on 1,000 instances plus the ramp; egress 10e12 ÷ 6.25e9 = 1,600 s.
	big, err := Model([]ModelInputs{modelInputs()}, DefaultModelLimits(), testPrices(), []int64{10e12}, []int{1000})
	require.NoError(t, err)
	assert.Equal(t, BoundEgress, big.Rows[0].Flex.Bound)
	assert.InDelta(t, 1600, big.Rows[0].Flex.Aggregate, 1e-6)
	// The merge tail shrinks with the 64 shards merging in parallel.
	assert.InDelta(t, 0.2+0.01*1e5/64, big.Rows[0].Flex.Merge, 1e-9)

	// A cold start delays every new instance.
	l := DefaultModelLimits()
	l.ColdStartSeconds = 2
	cold, err := Model([]ModelInputs{modelInputs()}, l, testPrices(), []int64{10e9}, []int{10})
	require.NoError(t, err)
	assert.InDelta(t, 12.8, cold.Rows[0].Flex.Aggregate, 1e-9)
	assert.Contains(t, strings.Join(cold.Assumptions, "\n"), "starts work 2 s after")
}

func TestRampSeconds(t *testing.T) {
	assert.Zero(t, rampSeconds(0, 4, 4, 1, 0))
	assert.InDelta(t, 10, rampSeconds(10, 1, 4, 1, 0), 1e-12, "one instance does all the work")
	assert.InDelta(t, 0.5, rampSeconds(2, 4, 4, 1, 0), 1e-12, "four instances from the start")
	// 100 on up to 100 instances, 4 more per second: after k seconds
	// 4+8+…+4k = 2k(k+1) is done; k=6 gives 84, then 28 instances do the
	// remaining 16 in 16/28 s.
	assert.InDelta(t, 6+16.0/28, rampSeconds(100, 100, 4, 1, 0), 1e-12)
	assert.InDelta(t, 1.5+10, rampSeconds(10, 1, 4, 1, 1.5), 1e-12, "a cold start comes first")
}

func TestFitTerms(t *testing.T) {
	// An exact line through points with distinct x: found exactly.
	xs := [][]float64{{1, 10}, {1, 20}, {1, 40}}
	f, ok := fitTerms([]string{"1", "n"}, xs, []float64{1.2, 1.4, 1.8})
	require.True(t, ok)
	assert.InDelta(t, 1.0, f.Terms["1"], 1e-9)
	assert.InDelta(t, 0.02, f.Terms["n"], 1e-12)
	assert.Equal(t, 3, f.Points)

	// One x value: the terms cannot be told apart, so the smallest set
	// that fits is kept (the constant, the first term).
	f, ok = fitTerms([]string{"1", "n"}, [][]float64{{1, 100}, {1, 100}}, []float64{2, 2})
	require.True(t, ok)
	assert.Equal(t, map[string]float64{"1": 2}, f.Terms)

	// A falling line would need a negative slope: the slope is dropped.
	f, ok = fitTerms([]string{"1", "n"}, xs, []float64{3, 2, 1})
	require.True(t, ok)
	_, hasN := f.Terms["n"]
	assert.False(t, hasN)
	assert.Positive(t, f.Terms["1"])

	_, ok = fitTerms([]string{"n"}, [][]float64{{0}}, []float64{1})
	assert.False(t, ok, "no usable term")
}

func TestModelInputsFromRunsAndBacktest(t *testing.T) {
	// Queue runs of 4, 10 and 20 chunks (one unit per chunk), and an
	// emulated run that must be ignored.
	var runs []Run
	for _, chunks := range []int{4, 10, 20} {
		runs = append(runs, synthRuns(t, testConfig(TransportQueue, chunks), 3, defaultSynth(TransportQueue))...)
	}
	emu := testConfig(TransportQueue, 4)
	emu.Arch, emu.Emulated = "arm64", true
	slow := defaultSynth(TransportQueue)
	slow.aggMS = 5000
	runs = append(runs, synthRuns(t, emu, 1, slow)...)

	ins, err := ModelInputsFromRuns(runs, "results/x/results.json", nil)
	require.NoError(t, err)
	require.Len(t, ins, 1)
	in := ins[0]
	assert.Equal(t, "queue", in.Transport)
	assert.Contains(t, in.Source, "results/x/results.json: 9 run(s), 102 units")
	assert.Equal(t, 24, in.Concurrency, "recorded by the runs")
	assert.Contains(t, in.ConcurrencySource, "recorded by the runs")
	// The synthetic dispatch is 10 ms + 30 ms plan + 5 ms latency = 45 ms
	// whatever the unit count.
	assert.InDelta(t, 0.045, in.Dispatch.at(10, 0, 10), 1e-6)
	assert.InDelta(t, 2.0, in.ExecutionsPerUnit, 0.1)
	assert.Equal(t, 1.0, in.QueueMessagesPerUnit)
	assert.Positive(t, in.FlexGBSecondsPerUnit)

	rows := Backtest(runs, ins)
	require.Len(t, rows, 3, "the emulated configuration is not back-tested")
	for _, r := range rows {
		assert.Equal(t, 3, r.Runs)
		assert.True(t, r.Within(), "%s: %+.1f %%", r.Config, r.Error*100)
		assert.InDelta(t, r.Measured, r.Predicted, 0.05*r.Measured, "%s: the synthetic runs follow the model's form", r.Config)
	}

	// Runs that did not record their concurrency need it from host.json.
	for i := range runs {
		runs[i].Concurrency = nil
	}
	_, err = ModelInputsFromRuns(runs, "x", nil)
	require.ErrorIs(t, err, ErrBadModel)
	ins, err = ModelInputsFromRuns(runs, "x", &Concurrency{Queue: 7, Blob: 3})
	require.NoError(t, err)
	assert.Equal(t, 7, ins[0].Concurrency)
	assert.Contains(t, ins[0].ConcurrencySource, "host.json")

	none, err := ModelInputsFromRuns(nil, "x", nil)
	require.NoError(t, err)
	assert.Nil(t, none)
}

func TestBacktestMiss(t *testing.T) {
	runs := synthRuns(t, testConfig(TransportQueue, 10), 2, defaultSynth(TransportQueue))
	in := modelInputs() // not fitted on these runs: far too slow
	rows := Backtest(runs, []ModelInputs{in})
	require.Len(t, rows, 1)
	assert.False(t, rows[0].Within())
	var b strings.Builder
	require.NoError(t, WriteBacktest(&b, rows))
	assert.Contains(t, b.String(), "MISS")
}

func TestModelErrors(t *testing.T) {
	ok := []ModelInputs{modelInputs()}
	for name, run := range map[string]func() error{
		"no inputs": func() error { _, err := Model(nil, DefaultModelLimits(), testPrices(), nil, nil); return err },
		"no prices": func() error { _, err := Model(ok, DefaultModelLimits(), nil, nil, nil); return err },
		"bad size":  func() error { _, err := Model(ok, DefaultModelLimits(), testPrices(), []int64{0}, nil); return err },
		"bad n":     func() error { _, err := Model(ok, DefaultModelLimits(), testPrices(), nil, []int{0}); return err },
		"negative fit": func() error {
			in := modelInputs()
			in.Aggregate.Terms["n"] = -1
			_, err := Model([]ModelInputs{in}, DefaultModelLimits(), testPrices(), nil, nil)
			return err
		},
		"no concurrency": func() error {
			in := modelInputs()
			in.Concurrency = 0
			_, err := Model([]ModelInputs{in}, DefaultModelLimits(), testPrices(), nil, nil)
			return err
		},
		"bad limits": func() error {
			l := DefaultModelLimits()
			l.ScaleDecisionSeconds = math.Inf(1)
			_, err := Model(ok, l, testPrices(), nil, nil)
			return err
		},
	} {
		err := run()
		require.Error(t, err, name)
		if name != "no prices" {
			assert.ErrorIs(t, err, ErrBadModel, name)
		}
	}
}

// A run of one unit is not held to the busiest runs' unit time: the floor
// on the aggregate phase is the phase of the runs with the fewest units
// when those ran in one wave, else the median invocation.
func TestUnitSecondsFromTheLeastContendedRuns(t *testing.T) {
	busy := defaultSynth(TransportBlob)
	busy.aggMS = 300 // many units sharing the machine
	many := synthRuns(t, testConfig(TransportBlob, 30), 3, busy)
	one := synthRuns(t, testConfig(TransportBlob, 1), 3, defaultSynth(TransportBlob))

	ins, err := ModelInputsFromRuns(append(slices.Clone(many), one...), "x", nil)
	require.NoError(t, err)
	require.Len(t, ins, 1)
	// One unit of 24.3 MB: 40 ms + 2 ms per MB.
	assert.InDelta(t, 0.0886, ins[0].UnitSeconds, 0.001)
	for _, r := range Backtest(append(slices.Clone(many), one...), ins) {
		assert.True(t, r.Within(), "%s: %+.1f %%", r.Config, r.Error*100)
	}

	// 30 units are more than a blob instance runs at once (16): no run
	// of one wave, so the median invocation bounds the phase.
	ins, err = ModelInputsFromRuns(many, "x", nil)
	require.NoError(t, err)
	assert.InDelta(t, 0.3, ins[0].UnitSeconds, 0.01)
}

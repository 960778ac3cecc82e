package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modelInputs are round figures: 100 MB units taking 1 s each.
func modelInputs() ModelInputs {
	return ModelInputs{
		Transport: "queue", Source: "test", UnitSizeBytes: 1e8,
		AggregateSecondsPerMB: 0.01, MessageLatencySeconds: 0.5, MergeSecondsPerPartial: 0.01,
		PlanFixedSeconds: 1, PlanSecondsPerUnit: 0.001,
		FixedExecutions: 1, ExecutionsPerUnit: 2,
		RequestsPerUnit: 10, QueueMessagesPerUnit: 1,
		OpsPerUnit:            []OpRate{{ServiceQueue, ClassQueue1, 4}},
		AggregatePeakRSSBytes: 100 << 20, // billed as 128 MB on Consumption
	}
}

func TestModel(t *testing.T) {
	tests := []struct {
		name      string
		in        func(*ModelInputs)
		limits    func(*ModelLimits)
		data      int64
		instances int

		units           int64
		flexSeconds     float64
		flexBound       string
		consInstances   int
		consCapped      bool
		consSeconds     float64
		consBound       string
		flexCost        float64 // 0: not checked
		consCost        float64
		flexExecutions  float64
		flexGBSeconds   float64
		consumptionGBse float64
	}{
		{
			// 10 units on 10 instances: one wave of 1 s. plan = 1 + 10 × 0.001;
			// T = 1.01 + 2 × 0.5 + 1 + 0.01. Busy = 1.01 + 10 × 1.01 = 11.11 s.
			// Flex: 21 executions × 0.4e-6 + 22.22 GB-s × 0.000026 +
			// 40 class 1 × 0.004 / 10,000 = 0.00060212.
			// Consumption: 21 × 0.2e-6 + 1.38875 GB-s × 0.000016 + 0.000016.
			name: "compute bound", data: 1e9, instances: 10, units: 10,
			flexSeconds: 3.02, flexBound: BoundCompute, consInstances: 10, consSeconds: 3.02, consBound: BoundCompute,
			flexCost: 0.00060212, consCost: 0.00004242, flexExecutions: 21, flexGBSeconds: 22.22, consumptionGBse: 1.38875,
		},
		{
			// 100 units on 10 instances: 10 waves.
			name: "compute bound, waves", data: 1e10, instances: 10, units: 100,
			flexSeconds: 1.1 + 1 + 10 + 0.01, flexBound: BoundCompute, consInstances: 10, consSeconds: 12.11, consBound: BoundCompute,
		},
		{
			// 100 GB at 6.25 GB/s account egress = 16 s beats one wave (Flex)
			// and ten waves on the 100-instance Consumption cap.
			// Flex busy = 2 + 1000 × 1.01 = 1012 s → 2024 GB-s;
			// cost = 2001 × 0.4e-6 + 2024 × 0.000026 + 4000 × 0.004 / 10,000.
			name: "egress bound, Consumption capped", data: 1e11, instances: 1000, units: 1000,
			flexSeconds: 2 + 1 + 16 + 0.01, flexBound: BoundEgress, consInstances: 100, consCapped: true, consSeconds: 19.01, consBound: BoundEgress,
			flexCost: 0.0550244, flexExecutions: 2001, flexGBSeconds: 2024,
		},
		{
			// 100 partials × 0.05 s merged one at a time = 5 s.
			name: "merge bound", in: func(in *ModelInputs) { in.MergeSecondsPerPartial = 0.05 }, data: 1e10, instances: 100, units: 100,
			flexSeconds: 1.1 + 1 + 5 + 0.05, flexBound: BoundMerge, consInstances: 100, consSeconds: 7.15, consBound: BoundMerge,
		},
		{
			// 10 messages/s per queue: sending 100 units takes 10 s (the plan)
			// and so does receiving them.
			name: "queue bound", limits: func(l *ModelLimits) { l.QueueMessagesPerSecond = 10 }, data: 1e10, instances: 100, units: 100,
			flexSeconds: 10 + 1 + 10 + 0.01, flexBound: BoundQueue, consInstances: 100, consSeconds: 21.01, consBound: BoundQueue,
		},
		{
			// 100 units × 1,000 requests at 20,000/s = 5 s.
			name: "request bound", in: func(in *ModelInputs) { in.RequestsPerUnit = 1000 }, data: 1e10, instances: 100, units: 100,
			flexSeconds: 1.1 + 1 + 5 + 0.01, flexBound: BoundRequests, consInstances: 100, consSeconds: 7.11, consBound: BoundRequests,
		},
		{
			// A fixed 0.5 s per unit: units take 1.5 s.
			name: "fixed unit time", in: func(in *ModelInputs) { in.AggregateFixedSeconds = 0.5 }, data: 1e9, instances: 10, units: 10,
			flexSeconds: 1.01 + 1 + 1.5 + 0.01, flexBound: BoundCompute, consInstances: 10, consSeconds: 3.52, consBound: BoundCompute,
			// Busy = 1.01 + 10 × 1.51 = 16.11 s → 32.22 GB-s on Flex.
			flexGBSeconds: 32.22, flexExecutions: 21, flexCost: 21*0.4e-6 + 32.22*0.000026 + 40*0.004/1e4,
		},
		{
			// A transport without a queue sends at the account's request
			// limit; 1.5 units round up to 2.
			name: "blob, partial unit", in: func(in *ModelInputs) { in.Transport = "blob"; in.QueueMessagesPerUnit = 0 }, data: 1.5e8, instances: 10, units: 2,
			flexSeconds: 1.002 + 1 + 1 + 0.01, flexBound: BoundCompute, consInstances: 10, consSeconds: 3.012, consBound: BoundCompute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := modelInputs()
			if tt.in != nil {
				tt.in(&in)
			}
			l := DefaultModelLimits()
			if tt.limits != nil {
				tt.limits(&l)
			}
			tbl, err := Model([]ModelInputs{in}, l, testPrices(), []int64{tt.data}, []int{tt.instances})
			require.NoError(t, err)
			require.Len(t, tbl.Rows, 1)
			r := tbl.Rows[0]
			assert.Equal(t, tt.units, r.Units)
			assert.Equal(t, tt.instances, r.RequestedInstances)
			assert.InDelta(t, tt.flexSeconds, r.Flex.Seconds, 1e-9)
			assert.Equal(t, tt.flexBound, r.Flex.Bound)
			assert.Equal(t, min(tt.instances, 1000), r.Flex.Instances)
			assert.Equal(t, tt.consInstances, r.Consumption.Instances)
			assert.Equal(t, tt.consCapped, r.Consumption.Capped)
			assert.InDelta(t, tt.consSeconds, r.Consumption.Seconds, 1e-9)
			assert.Equal(t, tt.consBound, r.Consumption.Bound)
			if tt.flexCost != 0 {
				assert.InDelta(t, tt.flexCost, r.Flex.Cost, 1e-12)
				assert.InDelta(t, tt.flexExecutions, r.Flex.Executions, 1e-9)
				assert.InDelta(t, tt.flexGBSeconds, r.Flex.GBSeconds, 1e-9)
			}
			if tt.consCost != 0 {
				assert.InDelta(t, tt.consCost, r.Consumption.Cost, 1e-12)
				assert.InDelta(t, tt.consumptionGBse, r.Consumption.GBSeconds, 1e-9)
			}
			// Money follows the work: the instance count does not change it.
			again, err := Model([]ModelInputs{in}, l, testPrices(), []int64{tt.data}, []int{1})
			require.NoError(t, err)
			assert.InDelta(t, r.Flex.Cost, again.Rows[0].Flex.Cost, 1e-12)
		})
	}
}

func TestModelTableShape(t *testing.T) {
	tbl, err := Model(DefaultModelInputs(), DefaultModelLimits(), testPrices(), DefaultModelSizes(), DefaultModelInstances())
	require.NoError(t, err)
	assert.Len(t, tbl.Rows, 2*3*3)
	assert.Equal(t, "2026-01-02", tbl.PriceDate)
	assert.NotEmpty(t, tbl.Assumptions)
	assert.NotEmpty(t, tbl.Sources)
	for _, r := range tbl.Rows {
		assert.Positive(t, r.Flex.Seconds)
		assert.Positive(t, r.Flex.Cost)
		assert.LessOrEqual(t, r.Consumption.Instances, 100)
		// More instances never make a run slower.
		if r.RequestedInstances > 10 {
			for _, o := range tbl.Rows {
				if o.Transport == r.Transport && o.DataBytes == r.DataBytes && o.RequestedInstances < r.RequestedInstances {
					assert.LessOrEqual(t, r.Flex.Seconds, o.Flex.Seconds+1e-9)
				}
			}
		}
	}

	var text strings.Builder
	require.NoError(t, tbl.WriteText(&text))
	out := text.String()
	assert.Contains(t, out, "Scale model")
	assert.Contains(t, out, "100 GB")
	assert.Contains(t, out, "100 (cap)")
	assert.Contains(t, out, "defaults (local Azurite figures")
	assert.Contains(t, out, "2,000 messages/s per queue")
	assert.Contains(t, out, "Assumptions:")

	var md strings.Builder
	require.NoError(t, tbl.WriteMarkdown(&md))
	assert.Contains(t, md.String(), "| transport | data | instances |")
	assert.Equal(t, 18, strings.Count(md.String(), "\n| queue |")+strings.Count(md.String(), "\n| blob |"))
}

func TestModelErrors(t *testing.T) {
	good := []ModelInputs{modelInputs()}
	l := DefaultModelLimits()
	sizes, inst := []int64{1e9}, []int{10}
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"no inputs", func() error { _, err := Model(nil, l, testPrices(), sizes, inst); return err }, ErrBadModel},
		{"no prices", func() error { _, err := Model(good, l, nil, sizes, inst); return err }, ErrBadPrices},
		{"zero size", func() error { _, err := Model(good, l, testPrices(), []int64{0}, inst); return err }, ErrBadModel},
		{"zero instances", func() error { _, err := Model(good, l, testPrices(), sizes, []int{0}); return err }, ErrBadModel},
		{"zero rate", func() error {
			bad := l
			bad.AccountRequestsPerSecond = 0
			_, err := Model(good, bad, testPrices(), sizes, inst)
			return err
		}, ErrBadModel},
		{"odd Flex size", func() error {
			bad := l
			bad.FlexInstanceMemoryMB = 1000
			_, err := Model(good, bad, testPrices(), sizes, inst)
			return err
		}, ErrBadMeasurement},
	}
	badInputs := map[string]func(*ModelInputs){
		"NaN latency":       func(in *ModelInputs) { in.MessageLatencySeconds = math.NaN() },
		"negative merge":    func(in *ModelInputs) { in.MergeSecondsPerPartial = -1 },
		"zero unit":         func(in *ModelInputs) { in.UnitSizeBytes = 0 },
		"zero speed":        func(in *ModelInputs) { in.AggregateSecondsPerMB = 0 },
		"no transport":      func(in *ModelInputs) { in.Transport = "" },
		"unknown op class":  func(in *ModelInputs) { in.OpsPerUnit = []OpRate{{ServiceQueue, ClassWrite, 1}} },
		"negative op count": func(in *ModelInputs) { in.OpsPerUnit = []OpRate{{ServiceQueue, ClassQueue1, -1}} },
	}
	for name, f := range badInputs {
		tests = append(tests, struct {
			name string
			run  func() error
			want error
		}{name, func() error {
			in := modelInputs()
			f(&in)
			_, err := Model([]ModelInputs{in}, l, testPrices(), sizes, inst)
			return err
		}, ErrBadModel})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), tt.want)
		})
	}
}

func TestModelInputsFromRuns(t *testing.T) {
	cq := testConfig(TransportQueue, 4)
	runs := synthRuns(t, cq, 2, defaultSynth(TransportQueue))
	// Emulated runs say nothing about speed and must be ignored.
	emu := testConfig(TransportQueue, 4)
	emu.Arch, emu.Emulated = "arm64", true
	slow := defaultSynth(TransportQueue)
	slow.aggMS = 5000
	runs = append(runs, synthRuns(t, emu, 1, slow)...)

	ins := ModelInputsFromRuns(runs)
	require.Len(t, ins, 1)
	in := ins[0]
	assert.Equal(t, "queue", in.Transport)
	assert.Contains(t, in.Source, "measured: 2 run(s), 8 units")
	// SF1 in 4 chunks: units of 6.075 MB, smaller than the 8 MiB unit size.
	assert.Equal(t, int64(6_075_000), in.UnitSizeBytes)
	// All units have one size, so no line can be fitted: units of 6.075 MB
	// take 52.15 ms (+0, 1, 2, 0 ms) — 211.6 ms per 24.3 MB, no fixed part.
	assert.Zero(t, in.AggregateFixedSeconds)
	assert.InDelta(t, 0.2116/24.3, in.AggregateSecondsPerMB, 1e-12)
	assert.InDelta(t, 0.005, in.MessageLatencySeconds, 1e-9)
	assert.InDelta(t, 0.003, in.MergeSecondsPerPartial, 1e-12)
	assert.InDelta(t, 0.0075, in.PlanSecondsPerUnit, 1e-12)
	assert.InDelta(t, 9.0/4, in.ExecutionsPerUnit, 1e-12)
	assert.InDelta(t, 47.0/4, in.RequestsPerUnit, 1e-12)
	assert.Equal(t, 1.0, in.QueueMessagesPerUnit)
	assert.Equal(t, int64(60<<20), in.AggregatePeakRSSBytes)
	assert.Equal(t, []OpRate{
		{ServiceBlob, ClassRead, 2}, {ServiceBlob, ClassWrite, 1.25},
		{ServiceQueue, ClassQueue1, 4}, {ServiceQueue, ClassQueue2, 4.5},
	}, in.OpsPerUnit)

	// With units of two sizes (6.075 and 12.15 MB) a line is fitted; by
	// hand (least squares over the 12 points): 41 ms + 1.9588 ms/MB. The
	// larger units are the representative size.
	withTwo := append(runs, synthRuns(t, testConfig(TransportQueue, 2), 2, defaultSynth(TransportQueue))...)
	in = ModelInputsFromRuns(withTwo)[0]
	assert.InDelta(t, 0.041, in.AggregateFixedSeconds, 1e-9)
	assert.InDelta(t, 0.0019588477366255, in.AggregateSecondsPerMB, 1e-12)
	assert.Equal(t, int64(12_150_000), in.UnitSizeBytes)

	// Both transports, queue first.
	both := append(runs, synthRuns(t, testConfig(TransportBlob, 4), 1, defaultSynth(TransportBlob))...)
	ins = ModelInputsFromRuns(both)
	require.Len(t, ins, 2)
	assert.Equal(t, []string{"queue", "blob"}, []string{ins[0].Transport, ins[1].Transport})
	assert.Zero(t, ins[1].QueueMessagesPerUnit)
	assert.InDelta(t, 0.150, ins[1].MessageLatencySeconds, 1e-9)

	assert.Nil(t, ModelInputsFromRuns(nil))
}

func TestFitLine(t *testing.T) {
	tests := []struct {
		name            string
		points          []point
		wantFixed, want float64
		ok              bool
	}{
		{"exact line", []point{{1, 3}, {2, 5}, {4, 9}}, 1, 2, true},
		{"one x: through the origin", []point{{2, 4}, {2, 6}}, 0, 2.5, true},
		{"negative intercept: through the origin", []point{{1, 0.5}, {2, 3}}, 0, 3.5 / 3, true},
		{"falling line: through the origin", []point{{1, 4}, {2, 2}}, 0, 2, true},
		{"no size", []point{{0, 1}}, 0, 0, false},
		{"nothing", nil, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fixed, per, ok := fitLine(tt.points)
			assert.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.wantFixed, fixed, 1e-12)
			assert.InDelta(t, tt.want, per, 1e-12)
		})
	}
}

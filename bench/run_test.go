package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRun(t *testing.T) {
	c := testConfig(TransportQueue, 4)
	c.InstancesPerApp = 2
	m := synthMeasurement(c, 1, false, synth{planMS: 30, aggMS: 40, mergeMS: 3, latencyMS: 5})
	opsBefore := append([]StorageOp(nil), m.StorageOps...)

	r, err := NewRun(m, testPrices(), DefaultBilling())
	require.NoError(t, err)

	// Timeline: plan 10–40 ms; units of 24.3 MB / 4 = 6.075 MB take
	// 40 + 12.15 ms (+0, 1, 2, 0 ms jitter), two waves on two instances,
	// starting 5 ms after the plan ends and 54.15 ms apart.
	assert.Equal(t, m.ResultAt.Sub(m.SubmittedAt).Seconds(), r.EndToEndSeconds)
	assert.Equal(t, 24.3/r.EndToEndSeconds, r.ThroughputMBps)
	assert.InDelta(t, r.EndToEndSeconds/0.012, r.RatioToBaseline, 1e-9)
	assert.InDelta(t, r.EndToEndSeconds/0.04, r.RatioToRawDownload, 1e-9)
	lastAgg := lastEnd(m.Invocations, "aggregate")
	assert.InDelta(t, m.ResultAt.Sub(lastAgg).Seconds(), r.LastAggregateToResultSeconds, 1e-12)
	assert.Positive(t, r.LastAggregateToResultSeconds)

	assert.Equal(t, int64(1+4+4), r.Executions)
	require.Len(t, r.Stages, 3)
	assert.Equal(t, "aggregate", r.Stages[1].Function)
	assert.Equal(t, 4, r.Stages[1].Invocations)
	assert.Equal(t, 2, r.Stages[1].Instances)

	// 8 + 18 + 8 + 8 + 5 operations.
	assert.Equal(t, int64(47), r.StorageOpsTotal)
	assert.Equal(t, int64(47000), r.StorageBytes)
	for _, op := range r.StorageOps {
		assert.NotEmpty(t, op.Class, op.Operation)
	}
	assert.Equal(t, opsBefore, m.StorageOps, "NewRun must not change the caller's counters")

	assert.InDelta(t, 0.02+2*0.06+0.004, r.CPUSeconds, 1e-12)
	assert.Equal(t, int64(60<<20), r.PeakRSSBytes)
	assert.Positive(t, r.GBSeconds.Consumption)
	assert.Greater(t, r.GBSeconds.Flex, r.GBSeconds.Consumption)
	assert.InDelta(t, r.Cost.Flex.Functions+r.Cost.StorageTotal, r.Cost.Flex.Total, 1e-15)
	assert.Equal(t, DefaultRoles(), r.Roles)
	assert.True(t, r.Valid())

	cons, flex := r.CostPerGB()
	assert.InDelta(t, r.Cost.Consumption.Total/0.0243, cons, 1e-12)
	assert.InDelta(t, r.Cost.Flex.Total/0.0243, flex, 1e-12)
}

func TestNewRunWrongAnswerIsRecordedNotRejected(t *testing.T) {
	s := defaultSynth(TransportBlob)
	s.wrong = true
	r, err := NewRun(synthMeasurement(testConfig(TransportBlob, 2), 1, false, s), testPrices(), DefaultBilling())
	require.NoError(t, err)
	assert.False(t, r.Valid())
	assert.Contains(t, r.Mismatch, "GERMANY")
}

func TestNewRunErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Measurement)
		want   string
	}{
		{"no transport", func(m *Measurement) { m.Config.Transport = "" }, "without a transport"},
		{"zero chunks", func(m *Measurement) { m.Config.Chunks = 0 }, "0 chunks"},
		{"zero scale factor", func(m *Measurement) { m.Config.ScaleFactor = 0 }, "scale factor 0"},
		{"zero instances", func(m *Measurement) { m.Config.InstancesPerApp = 0 }, "0 instances per app"},
		{"result before submit", func(m *Measurement) { m.ResultAt = m.SubmittedAt.Add(-time.Second) }, "is not after submit"},
		{"no result time", func(m *Measurement) { m.ResultAt = time.Time{} }, "result time missing"},
		{"no input", func(m *Measurement) { m.InputBytes = 0 }, "input of 0 bytes"},
		{"wrong without mismatch", func(m *Measurement) { m.Correct = false; m.Mismatch = "" }, "without a mismatch"},
		{"negative baseline", func(m *Measurement) { m.BaselineSeconds = -1 }, "baseline -1 s"},
		{"bad record", func(m *Measurement) { m.Invocations[2].Outcome = "" }, "record 2"},
		{"unknown storage op", func(m *Measurement) { m.StorageOps[0].Operation = "Enqueue" }, `"Enqueue"`},
		{"missing instance stats", func(m *Measurement) { m.Instances = m.Instances[:1] }, "no instance stats"},
		{"bad instance stats", func(m *Measurement) { m.Instances[0].PeakRSSBytes = -1 }, "peak RSS -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := synthMeasurement(testConfig(TransportQueue, 3), 1, false, defaultSynth(TransportQueue))
			tt.change(&m)
			_, err := NewRun(m, testPrices(), DefaultBilling())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConfigString(t *testing.T) {
	c := Config{Transport: "queue", Arch: "arm64", Emulated: true, ScaleFactor: 0.5, Chunks: 10, UnitSizeBytes: 8 << 20, InstancesPerApp: 2}
	assert.Equal(t, "queue arm64 (emulated) SF0.5 10 chunks 8 MiB units ×2", c.String())
}

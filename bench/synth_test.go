package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testPrices is a price table with round figures for hand-computed tests;
// it does not depend on bench/prices.json, whose figures may be updated.
func testPrices() *PriceTable {
	p := func(id PriceID, amount, per float64, unit string) Price {
		return Price{ID: id, Description: string(id), Amount: amount, Per: per, Unit: unit,
			Region: "eastus", Currency: "USD", Seen: "2025", Source: "test"}
	}
	return &PriceTable{
		Schema: PriceSchema, Date: "2026-01-02", Currency: "USD",
		Prices: []Price{
			p(PriceConsumptionExecutionTime, 0.000016, 1, "GB-s"),
			p(PriceConsumptionExecutions, 0.20, 1e6, "executions"),
			p(PriceFlexExecutionTime, 0.000026, 1, "GB-s"),
			p(PriceFlexExecutions, 0.40, 1e6, "executions"),
			p(PriceBlobWrite, 0.065, 1e4, "operations"),
			p(PriceBlobRead, 0.005, 1e4, "operations"),
			p(PriceBlobList, 0.065, 1e4, "operations"),
			p(PriceBlobOther, 0.005, 1e4, "operations"),
			p(PriceBlobStorage, 0.018, 1, "GB-month"),
			p(PriceQueueClass1, 0.004, 1e4, "operations"),
			p(PriceQueueClass2, 0.004, 1e4, "operations"),
		},
	}
}

// synth describes a synthetic run: how long each stage takes.
type synth struct {
	planMS, aggMS, mergeMS, latencyMS float64
	// wrong makes the answer wrong.
	wrong bool
}

// defaultSynth makes blob slower per hop than queue, as polling triggers are.
func defaultSynth(transport string) synth {
	s := synth{planMS: 30, aggMS: 40, mergeMS: 3, latencyMS: 5}
	if transport == TransportBlob {
		s.latencyMS = 150
		s.mergeMS = 6
	}
	return s
}

var synthBase = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// synthMeasurement builds a deterministic measurement: one plan invocation,
// one aggregate and one merge invocation per chunk, storage operations and
// instance stats in proportion.
func synthMeasurement(c Config, rep int, warm bool, s synth) Measurement {
	t0 := synthBase.Add(time.Duration(rep) * time.Hour)
	units := c.Chunks
	input := int64(c.ScaleFactor * 24.3e6)
	m := Measurement{
		Config: c, Repetition: rep, WarmUp: warm,
		SubmittedAt: t0, InputBytes: input, InputRows: int64(c.ScaleFactor * 150000),
		Correct: !s.wrong, BaselineSeconds: 0.012 * c.ScaleFactor, RawDownloadSeconds: 0.04 * c.ScaleFactor,
		Concurrency: &Concurrency{Queue: 24, Blob: 16, Processors: 2},
	}
	if s.wrong {
		m.Mismatch = "nation 7 (GERMANY): count 5999 want 6000"
	}
	planStart := t0.Add(10 * time.Millisecond)
	m.Invocations = append(m.Invocations, InvocationRecord{Function: "partition", Instance: "partition-0",
		Start: planStart, DurationMS: s.planMS, Outcome: OutcomeSuccess, BytesOut: int64(units) * 200})
	planEnd := planStart.Add(ms(s.planMS))
	var mergeFree time.Time
	var last time.Time
	perUnit := input / int64(units)
	aggMS := s.aggMS + float64(perUnit)/1e6*2 // 2 ms per MB
	for k := range units {
		inst := k % c.InstancesPerApp
		wave := k / c.InstancesPerApp
		start := planEnd.Add(ms(s.latencyMS)).Add(time.Duration(wave) * ms(aggMS+2))
		d := aggMS + float64(k%3)
		m.Invocations = append(m.Invocations, InvocationRecord{Function: "aggregate", Instance: fmt.Sprintf("aggregate-%d", inst),
			Start: start, DurationMS: d, Outcome: OutcomeSuccess, DequeueCount: 1, BytesIn: perUnit, BytesOut: 900})
		arrive := start.Add(ms(d + s.latencyMS))
		if arrive.Before(mergeFree) {
			arrive = mergeFree
		}
		m.Invocations = append(m.Invocations, InvocationRecord{Function: "merge", Instance: "merge-0",
			Start: arrive, DurationMS: s.mergeMS, Outcome: OutcomeSuccess, DequeueCount: 1, BytesIn: 900, BytesOut: 2000})
		mergeFree = arrive.Add(ms(s.mergeMS))
		last = mergeFree
	}
	m.ResultAt = last.Add(5 * time.Millisecond)

	op := func(svc Service, name string, n int) {
		m.StorageOps = append(m.StorageOps, StorageOp{Service: svc, Operation: name, Count: int64(n), Bytes: int64(n) * 1000})
	}
	if c.Transport == TransportQueue {
		op(ServiceQueue, "PutMessage", 2*units)
		op(ServiceQueue, "GetMessages", 2*units+10)
		op(ServiceQueue, "DeleteMessage", 2*units)
		op(ServiceBlob, "GetBlob", 2*units)
		op(ServiceBlob, "PutBlob", units+1)
	} else {
		op(ServiceBlob, "PutBlob", 3*units+1)
		op(ServiceBlob, "GetBlob", 3*units)
		op(ServiceBlob, "ListBlobs", units/5+1)
		op(ServiceBlob, "DeleteBlob", 2*units)
	}
	m.Instances = append(m.Instances, InstanceStats{App: "partition", Instance: "partition-0", CPUSeconds: 0.02, PeakRSSBytes: 30 << 20})
	for i := range c.InstancesPerApp {
		m.Instances = append(m.Instances, InstanceStats{App: "aggregate", Instance: fmt.Sprintf("aggregate-%d", i),
			CPUSeconds: 0.03 * float64(units) / float64(c.InstancesPerApp), PeakRSSBytes: 60 << 20})
	}
	m.Instances = append(m.Instances, InstanceStats{App: "merge", Instance: "merge-0", CPUSeconds: 0.001 * float64(units), PeakRSSBytes: 25 << 20})
	return m
}

// synthRuns builds a warm-up and reps measured runs of a configuration.
func synthRuns(t testing.TB, c Config, reps int, s synth) []Run {
	t.Helper()
	var out []Run
	for rep := 0; rep <= reps; rep++ {
		r, err := NewRun(synthMeasurement(c, rep, rep == 0, s), testPrices(), DefaultBilling())
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func testConfig(transport string, chunks int) Config {
	return Config{Transport: transport, Arch: "amd64", ScaleFactor: 1, Chunks: chunks, UnitSizeBytes: 8 << 20, InstancesPerApp: 1}
}

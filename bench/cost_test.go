package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rec(inst string, startMS, durMS float64) InvocationRecord {
	return InvocationRecord{Function: "aggregate", Instance: inst, Start: synthBase.Add(ms(startMS)), DurationMS: durMS, Outcome: OutcomeSuccess}
}

// stream is n invocations of durMS on inst, gapMS apart.
func stream(inst string, n int, durMS, gapMS float64) []InvocationRecord {
	var out []InvocationRecord
	for i := range n {
		out = append(out, rec(inst, float64(i)*(durMS+gapMS), durMS))
	}
	return out
}

func TestComputeGBSeconds(t *testing.T) {
	const mib = 1 << 20
	stats := []InstanceStats{
		{App: "aggregate", Instance: "a", PeakRSSBytes: 200 * mib}, // billed 256 MB = 0.25 GB
		{App: "aggregate", Instance: "b", PeakRSSBytes: 64 * mib},  // billed 128 MB = 0.125 GB
	}
	tests := []struct {
		name            string
		records         []InvocationRecord
		flexMB          int
		wantConsumption float64
		wantFlex        float64
		wantPeriods     int
	}{
		{
			// 50 ms is billed as 100 ms on Consumption, 1 s on Flex.
			name: "one short invocation", records: []InvocationRecord{rec("a", 0, 50)}, flexMB: 2048,
			wantConsumption: 0.25 * 0.1, wantFlex: 2 * 1, wantPeriods: 1,
		},
		{
			// [0, 1500] and [1000, 2050] form one 2,050 ms Flex period
			// (2 GB × 2.1 s). Consumption bills each execution: each shares
			// the 200 MB for half a second (167 and 152 MB on average),
			// rounded up to 256 MB: 0.25 GB × (1.5 + 1.05) s.
			name: "overlapping invocations share a period", records: []InvocationRecord{rec("a", 0, 1500), rec("a", 1000, 1050)}, flexMB: 2048,
			wantConsumption: 0.25 * 2.55, wantFlex: 2 * 2.1, wantPeriods: 1,
		},
		{
			// [0, 100] and [100, 200] touch: one 200 ms period.
			name: "touching invocations share a period", records: []InvocationRecord{rec("a", 100, 100), rec("a", 0, 100)}, flexMB: 512,
			wantConsumption: 0.25 * 0.2, wantFlex: 0.5 * 1, wantPeriods: 1,
		},
		{
			// b: 300 ms and, later, 2,000.5 ms (rounded up to 2,001 ms on
			// Consumption, 2,100 ms on Flex) at 0.125 GB / 0.5 GB;
			// a: 1,234 ms at 0.25 GB / 0.5 GB.
			name: "two instances, separate periods",
			records: []InvocationRecord{
				rec("b", 0, 300), rec("b", 5000, 2000.5), rec("a", 0, 1234),
			},
			flexMB:          512,
			wantConsumption: 0.125*0.3 + 0.125*2.001 + 0.25*1.234,
			wantFlex:        0.5*1 + 0.5*2.1 + 0.5*1.3,
			wantPeriods:     3,
		},
		{
			// A queue's stream: 50 invocations of 20 ms, 5 ms apart. The
			// gaps fall inside the first period's 1 s minimum, so Flex
			// bills one period of 1,245 ms (1.3 s), not 50 of 1 s.
			name: "a stream with short gaps is one period", records: stream("a", 50, 20, 5), flexMB: 2048,
			wantConsumption: 50 * 0.25 * 0.1, wantFlex: 2 * 1.3, wantPeriods: 1,
		},
		{name: "no records", flexMB: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ComputeGBSeconds(tt.records, stats, Billing{FlexInstanceMemoryMB: tt.flexMB})
			require.NoError(t, err)
			assert.InDelta(t, tt.wantConsumption, g.Consumption, 1e-9)
			assert.InDelta(t, tt.wantFlex, g.Flex, 1e-9)
			assert.Equal(t, tt.wantPeriods, g.ActivityPeriods)
			assert.Equal(t, tt.flexMB, g.FlexInstanceMemoryMB)
		})
	}
}

func TestComputeGBSecondsErrors(t *testing.T) {
	stats := []InstanceStats{{Instance: "a", PeakRSSBytes: 1}}
	_, err := ComputeGBSeconds([]InvocationRecord{rec("c", 0, 10)}, stats, DefaultBilling())
	require.ErrorIs(t, err, ErrBadMeasurement)
	assert.Contains(t, err.Error(), `instance "c"`)

	_, err = ComputeGBSeconds(nil, stats, Billing{FlexInstanceMemoryMB: 1024})
	require.ErrorIs(t, err, ErrBadMeasurement)

	_, err = ComputeGBSeconds(nil, []InstanceStats{{Instance: "a", CPUSeconds: -1}}, DefaultBilling())
	require.ErrorIs(t, err, ErrBadMeasurement)

	bad := rec("a", 0, 10)
	bad.Outcome = "ok"
	_, err = ComputeGBSeconds([]InvocationRecord{bad}, stats, DefaultBilling())
	require.ErrorIs(t, err, ErrBadMeasurement)
}

func TestComputeCost(t *testing.T) {
	ops := []StorageOp{
		{Service: ServiceBlob, Operation: "PutBlob", Count: 10000},
		{Service: ServiceBlob, Operation: "GetBlob", Count: 15000},
		{Service: ServiceBlob, Operation: "getblob", Count: 5000}, // case is ignored
		{Service: ServiceBlob, Operation: "ListBlobs", Count: 10000},
		{Service: ServiceBlob, Operation: "GetBlobProperties", Count: 10000},
		{Service: ServiceBlob, Operation: "DeleteBlob", Count: 5000},
		{Service: ServiceQueue, Operation: "PutMessage", Count: 10000, Class: ClassQueue1},
		{Service: ServiceQueue, Operation: "DeleteMessage", Count: 10000},
		{Service: ServiceQueue, Operation: "GetMessages", Count: 30000},
	}
	g := GBSeconds{Consumption: 100000, Flex: 50000}
	c, err := ComputeCost(1_000_000, g, ops, nil, 10e9, testPrices())
	require.NoError(t, err)

	// Hand-computed with testPrices:
	// Consumption: 1e6 executions × 0.20/1e6 = 0.20; 100,000 GB-s × 0.000016 = 1.60.
	assert.InDelta(t, 0.20, c.Consumption.ExecutionsCost, 1e-12)
	assert.InDelta(t, 1.60, c.Consumption.ComputeCost, 1e-12)
	assert.InDelta(t, 1.80, c.Consumption.Functions, 1e-12)
	// Flex: 1e6 × 0.40/1e6 = 0.40; 50,000 GB-s × 0.000026 = 1.30.
	assert.InDelta(t, 0.40, c.Flex.ExecutionsCost, 1e-12)
	assert.InDelta(t, 1.30, c.Flex.ComputeCost, 1e-12)
	assert.InDelta(t, 1.70, c.Flex.Functions, 1e-12)
	// Storage per 10,000: write 1 × 0.065, read 2 × 0.005, list 1 × 0.065,
	// other 1 × 0.005, free 0, queue class 1 2 × 0.004, class 2 3 × 0.004.
	want := []ClassCost{
		{Service: ServiceBlob, Class: ClassFree, Count: 5000},
		{Service: ServiceBlob, Class: ClassList, Count: 10000, Price: PriceBlobList, Cost: 0.065},
		{Service: ServiceBlob, Class: ClassOther, Count: 10000, Price: PriceBlobOther, Cost: 0.005},
		{Service: ServiceBlob, Class: ClassRead, Count: 20000, Price: PriceBlobRead, Cost: 0.010},
		{Service: ServiceBlob, Class: ClassWrite, Count: 10000, Price: PriceBlobWrite, Cost: 0.065},
		{Service: ServiceQueue, Class: ClassQueue1, Count: 20000, Price: PriceQueueClass1, Cost: 0.008},
		{Service: ServiceQueue, Class: ClassQueue2, Count: 30000, Price: PriceQueueClass2, Cost: 0.012},
	}
	require.Len(t, c.Storage, len(want))
	for i := range want {
		assert.Equal(t, want[i].Service, c.Storage[i].Service)
		assert.Equal(t, want[i].Class, c.Storage[i].Class)
		assert.Equal(t, want[i].Count, c.Storage[i].Count)
		assert.Equal(t, want[i].Price, c.Storage[i].Price)
		assert.InDelta(t, want[i].Cost, c.Storage[i].Cost, 1e-12, "%s %s", want[i].Service, want[i].Class)
	}
	assert.InDelta(t, 0.165, c.StorageTotal, 1e-12)
	assert.InDelta(t, 1.965, c.Consumption.Total, 1e-12)
	assert.InDelta(t, 1.865, c.Flex.Total, 1e-12)
	// 10 GB at rest × 0.018 per GB-month.
	assert.InDelta(t, 0.18, c.InputStoragePerMonth, 1e-12)
	assert.False(t, c.FreeGrantsApplied)
	assert.Equal(t, "USD", c.Currency)
}

func TestComputeCostErrors(t *testing.T) {
	tests := []struct {
		name string
		ops  []StorageOp
		want error
	}{
		{"unknown operation", []StorageOp{{Service: ServiceBlob, Operation: "PutMessage", Count: 1}}, ErrUnknownOperation},
		{"unknown service", []StorageOp{{Service: "table", Operation: "QueryEntities", Count: 1}}, ErrUnknownOperation},
		{"wrong class", []StorageOp{{Service: ServiceBlob, Operation: "GetBlob", Class: ClassWrite, Count: 1}}, ErrBadMeasurement},
		{"negative count", []StorageOp{{Service: ServiceBlob, Operation: "GetBlob", Count: -1}}, ErrBadMeasurement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ComputeCost(1, GBSeconds{}, tt.ops, nil, 0, testPrices())
			require.ErrorIs(t, err, tt.want)
		})
	}
	_, err := ComputeCost(1, GBSeconds{}, nil, nil, 0, nil)
	require.ErrorIs(t, err, ErrBadPrices)

	partial := testPrices()
	partial.Prices = partial.Prices[:3]
	_, err = ComputeCost(1, GBSeconds{}, nil, nil, 0, partial)
	require.ErrorIs(t, err, ErrBadPrices)

	_, err = ComputeCost(-1, GBSeconds{}, nil, nil, 0, testPrices())
	require.ErrorIs(t, err, ErrBadMeasurement)
}

func BenchmarkComputeGBSeconds(b *testing.B) {
	var records []InvocationRecord
	var stats []InstanceStats
	for i := range 16 {
		inst := string(rune('a' + i))
		stats = append(stats, InstanceStats{Instance: inst, PeakRSSBytes: 100 << 20})
		for k := range 6000 {
			records = append(records, InvocationRecord{Function: "aggregate", Instance: inst,
				Start: synthBase.Add(time.Duration(k) * 30 * time.Millisecond), DurationMS: 25 + float64(k%10), Outcome: OutcomeSuccess})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ComputeGBSeconds(records, stats, DefaultBilling()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEventGridCost(t *testing.T) {
	prices := testPrices()
	prices.Prices = append(prices.Prices, Price{ID: PriceEventGridOperations, Amount: 0.06, Per: 1e5, Unit: "operations", Currency: "USD"})
	c, err := ComputeCost(0, GBSeconds{}, nil, nil, 0, prices)
	require.NoError(t, err)
	require.NoError(t, c.addEventGrid(nil, prices), "not counted: nothing to add")
	assert.Nil(t, c.EventGrid)
	assert.Zero(t, c.EventGridTotal())

	require.NoError(t, c.addEventGrid(&EventGridOps{Ingress: 100_000, Deliveries: 50_000}, prices))
	require.NotNil(t, c.EventGrid)
	assert.Equal(t, int64(150_000), c.EventGrid.Operations())
	assert.InDelta(t, 0.09, c.EventGrid.Cost, 1e-12, "150,000 operations at 0.06 per 100,000")
	assert.InDelta(t, 0.09, c.Flex.Total, 1e-12, "in both plans' totals")
	assert.InDelta(t, 0.09, c.Consumption.Total, 1e-12)
	assert.InDelta(t, 0.09, c.EventGridTotal(), 1e-12)

	var d Cost
	err = d.addEventGrid(&EventGridOps{Ingress: 1}, testPrices())
	require.ErrorIs(t, err, ErrBadPrices, "counted operations need a price")
	assert.Contains(t, err.Error(), string(PriceEventGridOperations))
	require.ErrorIs(t, d.addEventGrid(&EventGridOps{Deliveries: -1}, prices), ErrBadMeasurement)
}

// Runs that counted Event Grid operations get them in their cost, their
// aggregate and the report's operations table; runs that did not (older
// results) report none.
func TestEventGridInReport(t *testing.T) {
	prices := testPrices()
	prices.Prices = append(prices.Prices, Price{ID: PriceEventGridOperations, Amount: 0.06, Per: 1e5, Unit: "operations", Currency: "USD"})
	var runs []Run
	for _, r := range synthRuns(t, testConfig(TransportBlob, 10), 3, defaultSynth(TransportBlob)) {
		m := r.Measurement
		m.EventGrid = &EventGridOps{Ingress: 40, Deliveries: 30}
		nr, err := NewRun(m, prices, DefaultBilling())
		require.NoError(t, err)
		assert.InDelta(t, r.Cost.Flex.Total+70*0.06/1e5, nr.Cost.Flex.Total, 1e-12)
		runs = append(runs, nr)
	}
	old := synthRuns(t, testConfig(TransportQueue, 10), 3, defaultSynth(TransportQueue))
	rep, err := NewReport(ReportOptions{Label: "comparison", Created: time.Now(), Machine: testMachine, Prices: prices, Runs: append(runs, old...)})
	require.NoError(t, err)
	for _, a := range rep.Aggregates {
		if a.Config.Transport == TransportBlob {
			require.NotNil(t, a.EventGrid)
			assert.Equal(t, 40.0, a.EventGrid.Ingress.Median)
			assert.Equal(t, 30.0, a.EventGrid.Deliveries.Median)
		} else {
			assert.Nil(t, a.EventGrid, "runs that did not count them")
		}
	}
	md := reportMarkdown(t, rep)
	assert.Contains(t, md, "| Event Grid ingress | Event Grid deliveries | Event Grid cost |")
	assert.Contains(t, md, "| 40 | 30 | 0.000042 |")
	assert.Contains(t, md, " — | — | — |")
	assert.Contains(t, md, "Event Grid bills each at 0.06 USD per 100,000 operations")
}

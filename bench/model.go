package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/funnelpipe/funnel/bench/billing"
)

// ErrBadModel marks scale-model inputs or limits that cannot be used.
var ErrBadModel = errors.New("bench: bad model input")

// The scale model extrapolates measured runs to inputs and instance counts
// one machine cannot reach. For a data size D, a unit size U, n = ⌈D/U⌉
// units and N instances (capped at the plan's instance limit):
//
//	unit time      t  = aggregate fixed seconds + U in MB × aggregate seconds per MB
//	plan           P  = max(plan fixed + n × plan seconds per unit, n ÷ send limit)
//	compute        A  = ⌈n ÷ (N × units per instance)⌉ × t
//	egress         E  = D ÷ account egress bandwidth
//	requests       R  = n × storage requests per unit ÷ account request limit
//	queue          Q  = n × messages per unit per queue ÷ per-queue message limit
//	merge          M  = n × merge seconds per partial       (merges are serial)
//	end to end     T  = P + 2 × message latency + max(A, E, R, Q, M) + merge seconds per partial
//
// The largest of A, E, R, Q and M names the run's bound. Money follows the
// work, not the instance count: executions = fixed + n × executions per
// unit; busy seconds = plan + n × (t + merge seconds per partial); GB-s =
// busy seconds × the plan's billed memory; storage = n × operations per unit
// by class × price. ModelAssumptions lists what this leaves out.

// ModelLimits are the service limits the model is bounded by.
type ModelLimits struct {
	// QueueMessagesPerSecond is one queue's target throughput (1 KiB
	// messages): 2,000.
	QueueMessagesPerSecond float64 `json:"queue_messages_per_second"`
	// AccountRequestsPerSecond is a storage account's request rate target:
	// 20,000 (40,000 by default in the larger regions, East US included).
	AccountRequestsPerSecond float64 `json:"account_requests_per_second"`
	// AccountEgressBytesPerSecond is a storage account's egress target:
	// 50 Gbps (200 Gbps by default in the larger regions, East US included).
	AccountEgressBytesPerSecond float64 `json:"account_egress_bytes_per_second"`
	// FlexMaxInstances is Flex Consumption's per-app instance limit (1,000;
	// the default maximumInstanceCount is 100 and must be raised).
	FlexMaxInstances int `json:"flex_max_instances"`
	// ConsumptionMaxInstances is the Consumption plan's instance limit on
	// Linux (100; 200 on Windows).
	ConsumptionMaxInstances int `json:"consumption_max_instances"`
	// UnitsPerInstance is how many units one instance aggregates at once.
	UnitsPerInstance int `json:"units_per_instance"`
	// FlexInstanceMemoryMB is the Flex instance size priced.
	FlexInstanceMemoryMB int `json:"flex_instance_memory_mb"`
}

// DefaultModelLimits returns the documented limits (see ModelLimits), with
// the conservative figures for regions outside the larger set.
func DefaultModelLimits() ModelLimits {
	return ModelLimits{
		QueueMessagesPerSecond:      2000,
		AccountRequestsPerSecond:    20000,
		AccountEgressBytesPerSecond: 50e9 / 8,
		FlexMaxInstances:            1000,
		ConsumptionMaxInstances:     100,
		UnitsPerInstance:            1,
		FlexInstanceMemoryMB:        DefaultFlexInstanceMemoryMB,
	}
}

// ModelLimitSources cites where each limit comes from.
func ModelLimitSources() []string {
	return []string{
		"Queue: 2,000 messages/s per queue and 20,000 messages/s per account (1 KiB messages) — learn.microsoft.com/azure/storage/queues/scalability-targets.",
		"Account: 20,000 requests/s, 25 Gbps ingress and 50 Gbps egress by default; 40,000 requests/s, 60 Gbps and 200 Gbps in the larger regions (East US, East US 2, West Europe, ...) — learn.microsoft.com/azure/storage/common/scalability-targets-standard-account.",
		"Flex Consumption: up to 1,000 instances per app (default maximum 100); Consumption: 100 instances on Linux, 200 on Windows — AZURE_NOTES.md, learn.microsoft.com/azure/azure-functions/functions-scale.",
	}
}

// ModelAssumptions lists what the model assumes and leaves out.
func ModelAssumptions() []string {
	return []string{
		"Each unit is one aggregate invocation taking a fixed time plus a time per MB (range read plus parse), both measured; instances do not slow each other down below the account's egress limit.",
		"Planning finishes before aggregation starts (no overlap), which errs long.",
		"Merges apply one partial at a time (one job state updated with ETag concurrency), so merging takes at least units × merge time per partial; it overlaps aggregation.",
		"Each hop (unit message, partial message) adds the measured message latency once; cold starts and scale-out ramp-up are not modelled.",
		"Cost follows the work, not the instance count; the Flex 1 s minimum per activity period is ignored (busy instances run back to back); monthly free grants are not subtracted.",
		"Consumption memory is the aggregate instances' measured peak RSS rounded up to 128 MB, for every stage.",
	}
}

// OpRate is storage operations of one billing class per unit.
type OpRate struct {
	Service Service      `json:"service"`
	Class   BillingClass `json:"class"`
	PerUnit float64      `json:"per_unit"`
}

// ModelInputs are the per-transport figures the model extrapolates from.
type ModelInputs struct {
	Transport string `json:"transport"`
	// Source says where the figures come from (measured runs or defaults).
	Source        string `json:"source"`
	UnitSizeBytes int64  `json:"unit_size_bytes"`
	// An aggregate invocation takes AggregateFixedSeconds plus
	// AggregateSecondsPerMB per megabyte of its unit (range read from
	// storage plus parse).
	AggregateFixedSeconds float64 `json:"aggregate_fixed_seconds"`
	AggregateSecondsPerMB float64 `json:"aggregate_seconds_per_mb"`
	// MessageLatencySeconds is from a message being sent to the invocation
	// it triggers starting.
	MessageLatencySeconds  float64 `json:"message_latency_seconds"`
	MergeSecondsPerPartial float64 `json:"merge_seconds_per_partial"`
	PlanFixedSeconds       float64 `json:"plan_fixed_seconds"`
	PlanSecondsPerUnit     float64 `json:"plan_seconds_per_unit"`
	FixedExecutions        float64 `json:"fixed_executions"`
	ExecutionsPerUnit      float64 `json:"executions_per_unit"`
	// RequestsPerUnit is storage requests per unit, all classes.
	RequestsPerUnit float64 `json:"requests_per_unit"`
	// QueueMessagesPerUnit is messages per unit through the busiest queue
	// (0 when the transport uses no queue).
	QueueMessagesPerUnit  float64  `json:"queue_messages_per_unit"`
	OpsPerUnit            []OpRate `json:"ops_per_unit"`
	AggregatePeakRSSBytes int64    `json:"aggregate_peak_rss_bytes"`
}

// Validate reports inputs the model cannot use.
func (in ModelInputs) Validate() error {
	nums := []float64{in.AggregateFixedSeconds, in.AggregateSecondsPerMB, in.MessageLatencySeconds, in.MergeSecondsPerPartial,
		in.PlanFixedSeconds, in.PlanSecondsPerUnit, in.FixedExecutions, in.ExecutionsPerUnit,
		in.RequestsPerUnit, in.QueueMessagesPerUnit}
	for _, r := range in.OpsPerUnit {
		nums = append(nums, r.PerUnit)
	}
	for _, v := range nums {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w: %s: figure %v, want a finite number >= 0", ErrBadModel, in.Transport, v)
		}
	}
	switch {
	case in.Transport == "":
		return fmt.Errorf("%w: inputs without a transport", ErrBadModel)
	case in.UnitSizeBytes < 1:
		return fmt.Errorf("%w: %s: unit size %d bytes", ErrBadModel, in.Transport, in.UnitSizeBytes)
	case in.AggregateSecondsPerMB == 0:
		return fmt.Errorf("%w: %s: aggregate seconds per MB is 0", ErrBadModel, in.Transport)
	case in.AggregatePeakRSSBytes < 0:
		return fmt.Errorf("%w: %s: peak RSS %d", ErrBadModel, in.Transport, in.AggregatePeakRSSBytes)
	}
	for _, r := range in.OpsPerUnit {
		if _, err := classPrice(r.Service, r.Class); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadModel, in.Transport, err)
		}
	}
	return nil
}

// Validate reports limits the model cannot use.
func (l ModelLimits) Validate() error {
	if !(l.QueueMessagesPerSecond > 0 && l.AccountRequestsPerSecond > 0 && l.AccountEgressBytesPerSecond > 0) ||
		math.IsInf(l.QueueMessagesPerSecond+l.AccountRequestsPerSecond+l.AccountEgressBytesPerSecond, 0) {
		return fmt.Errorf("%w: rate limits must be finite and > 0", ErrBadModel)
	}
	if l.FlexMaxInstances < 1 || l.ConsumptionMaxInstances < 1 || l.UnitsPerInstance < 1 {
		return fmt.Errorf("%w: instance limits and units per instance must be >= 1", ErrBadModel)
	}
	return Billing{FlexInstanceMemoryMB: l.FlexInstanceMemoryMB}.Validate()
}

// DefaultModelInputs are used when no measured run is given. They are this
// repository's local figures (DESIGN.md, AZURE_NOTES.md: Azurite on a
// 2-core machine), not Azure measurements:
//
//   - aggregate: no fixed part and 0.002 s/MB — download at Azurite's
//     ~650 MiB/s (0.00147 s/MB) plus the scan at ~2 GB/s (0.0005 s/MB);
//   - units of 64 MiB;
//   - message latency: queue 0.1 s (the queue trigger's shortest polling
//     interval); blob 10 s (the polling blob trigger's scan interval; the
//     Event Grid source Flex Consumption requires is faster);
//   - merge: 0.003 s per partial (read the partial, read and conditionally
//     write the job state: three ~1 ms small-blob requests);
//   - plan: 0.05 s plus one send per unit (1/800 s for a queue message, 1/900
//     s for a small blob);
//   - executions: 1 plan + 1 aggregate and 1 merge per unit;
//   - storage operations per unit: queue — 2 blob reads (range, state), 1 blob
//     write (state), 4 class 1 (2 puts, 2 deletes), 2 class 2 (2 gets); blob —
//     4 reads, 4 writes (unit, partial, state, trigger receipt), 0.2 lists,
//     2 free deletes;
//   - aggregate peak RSS: 64 MiB (billed as 128 MB on Consumption).
func DefaultModelInputs() []ModelInputs {
	const src = "defaults (local Azurite figures from DESIGN.md and AZURE_NOTES.md, not Azure measurements)"
	return []ModelInputs{
		{
			Transport: "queue", Source: src, UnitSizeBytes: 64 << 20,
			AggregateSecondsPerMB: 0.002, MessageLatencySeconds: 0.1, MergeSecondsPerPartial: 0.003,
			PlanFixedSeconds: 0.05, PlanSecondsPerUnit: 1.0 / 800,
			FixedExecutions: 1, ExecutionsPerUnit: 2,
			RequestsPerUnit: 9, QueueMessagesPerUnit: 1,
			OpsPerUnit: []OpRate{
				{ServiceBlob, ClassRead, 2}, {ServiceBlob, ClassWrite, 1},
				{ServiceQueue, ClassQueue1, 4}, {ServiceQueue, ClassQueue2, 2},
			},
			AggregatePeakRSSBytes: 64 << 20,
		},
		{
			Transport: "blob", Source: src, UnitSizeBytes: 64 << 20,
			AggregateSecondsPerMB: 0.002, MessageLatencySeconds: 10, MergeSecondsPerPartial: 0.003,
			PlanFixedSeconds: 0.05, PlanSecondsPerUnit: 1.0 / 900,
			FixedExecutions: 1, ExecutionsPerUnit: 2,
			RequestsPerUnit: 10.2,
			OpsPerUnit: []OpRate{
				{ServiceBlob, ClassRead, 4}, {ServiceBlob, ClassWrite, 4},
				{ServiceBlob, ClassList, 0.2}, {ServiceBlob, ClassFree, 2},
			},
			AggregatePeakRSSBytes: 64 << 20,
		},
	}
}

// DefaultModelSizes are the data sizes the model table shows: 1, 10 and 100
// GB (10^9 bytes).
func DefaultModelSizes() []int64 { return []int64{1e9, 10e9, 100e9} }

// DefaultModelInstances are the instance counts the model table shows.
func DefaultModelInstances() []int { return []int{10, 100, 1000} }

// Plan names.
const (
	PlanFlex        = "flex"
	PlanConsumption = "consumption"
)

// Bounds name what limits a modelled run.
const (
	BoundCompute  = "compute"
	BoundEgress   = "account egress"
	BoundRequests = "account requests"
	BoundQueue    = "queue rate"
	BoundMerge    = "merge (serial)"
)

// ModelEstimate is the model's figure for one plan.
type ModelEstimate struct {
	Plan string `json:"plan"`
	// Instances is the instance count after the plan's cap; Capped is true
	// when the cap lowered it.
	Instances int     `json:"instances"`
	Capped    bool    `json:"capped"`
	Seconds   float64 `json:"seconds"`
	// Bound is what limits the aggregate phase (see the Bound constants).
	Bound      string  `json:"bound"`
	Executions float64 `json:"executions"`
	GBSeconds  float64 `json:"gb_seconds"`
	Cost       float64 `json:"cost"`
}

// ModelRow is one data size, instance count and transport.
type ModelRow struct {
	Transport          string        `json:"transport"`
	DataBytes          int64         `json:"data_bytes"`
	RequestedInstances int           `json:"requested_instances"`
	Units              int64         `json:"units"`
	Flex               ModelEstimate `json:"flex"`
	Consumption        ModelEstimate `json:"consumption"`
}

// ModelTable is the model's output with everything it was computed from.
type ModelTable struct {
	Limits      ModelLimits   `json:"limits"`
	Inputs      []ModelInputs `json:"inputs"`
	Currency    string        `json:"currency"`
	PriceDate   string        `json:"price_date"`
	Assumptions []string      `json:"assumptions"`
	Sources     []string      `json:"sources"`
	Rows        []ModelRow    `json:"rows"`
}

// Model computes the scale model for every transport in inputs, data size
// and instance count. Bad inputs or limits are errors wrapping ErrBadModel;
// a price table without a needed price is an error wrapping ErrBadPrices.
func Model(inputs []ModelInputs, limits ModelLimits, prices *PriceTable, sizes []int64, instances []int) (ModelTable, error) {
	if err := limits.Validate(); err != nil {
		return ModelTable{}, err
	}
	if prices == nil {
		return ModelTable{}, fmt.Errorf("%w: no price table", ErrBadPrices)
	}
	if len(inputs) == 0 {
		return ModelTable{}, fmt.Errorf("%w: no inputs", ErrBadModel)
	}
	for _, s := range sizes {
		if s < 1 {
			return ModelTable{}, fmt.Errorf("%w: data size %d bytes", ErrBadModel, s)
		}
	}
	for _, n := range instances {
		if n < 1 {
			return ModelTable{}, fmt.Errorf("%w: %d instances", ErrBadModel, n)
		}
	}
	t := ModelTable{
		Limits: limits, Inputs: inputs, Currency: prices.Currency, PriceDate: prices.Date,
		Assumptions: ModelAssumptions(), Sources: ModelLimitSources(),
	}
	for _, in := range inputs {
		if err := in.Validate(); err != nil {
			return ModelTable{}, err
		}
		for _, d := range sizes {
			for _, n := range instances {
				row, err := modelRow(in, limits, prices, d, n)
				if err != nil {
					return ModelTable{}, err
				}
				t.Rows = append(t.Rows, row)
			}
		}
	}
	return t, nil
}

func modelRow(in ModelInputs, l ModelLimits, prices *PriceTable, d int64, n int) (ModelRow, error) {
	units := (d + in.UnitSizeBytes - 1) / in.UnitSizeBytes
	row := ModelRow{Transport: in.Transport, DataBytes: d, RequestedInstances: n, Units: units}
	var err error
	if row.Flex, err = estimate(in, l, prices, d, units, n, PlanFlex); err != nil {
		return ModelRow{}, err
	}
	if row.Consumption, err = estimate(in, l, prices, d, units, n, PlanConsumption); err != nil {
		return ModelRow{}, err
	}
	return row, nil
}

func estimate(in ModelInputs, l ModelLimits, prices *PriceTable, d, units int64, n int, plan string) (ModelEstimate, error) {
	limit, memMB := l.FlexMaxInstances, l.FlexInstanceMemoryMB
	execID, timeID := PriceFlexExecutions, PriceFlexExecutionTime
	if plan == PlanConsumption {
		limit, memMB = l.ConsumptionMaxInstances, billing.ConsumptionMemoryMB(float64(in.AggregatePeakRSSBytes))
		execID, timeID = PriceConsumptionExecutions, PriceConsumptionExecutionTime
	}
	e := ModelEstimate{Plan: plan, Instances: min(n, limit), Capped: n > limit}
	nu := float64(units)
	unitSeconds := in.AggregateFixedSeconds + float64(in.UnitSizeBytes)/1e6*in.AggregateSecondsPerMB

	sendLimit := l.AccountRequestsPerSecond
	if in.QueueMessagesPerUnit > 0 {
		sendLimit = l.QueueMessagesPerSecond
	}
	planCompute := in.PlanFixedSeconds + nu*in.PlanSecondsPerUnit
	planSeconds := max(planCompute, nu/sendLimit)

	waves := math.Ceil(nu / float64(e.Instances*l.UnitsPerInstance))
	phases := []struct {
		bound   string
		seconds float64
	}{
		{BoundCompute, waves * unitSeconds},
		{BoundEgress, float64(d) / l.AccountEgressBytesPerSecond},
		{BoundRequests, nu * in.RequestsPerUnit / l.AccountRequestsPerSecond},
		{BoundQueue, nu * in.QueueMessagesPerUnit / l.QueueMessagesPerSecond},
		{BoundMerge, nu * in.MergeSecondsPerPartial},
	}
	longest := phases[0]
	for _, p := range phases[1:] {
		if p.seconds > longest.seconds {
			longest = p
		}
	}
	e.Bound = longest.bound
	e.Seconds = planSeconds + 2*in.MessageLatencySeconds + longest.seconds + in.MergeSecondsPerPartial

	busy := planCompute + nu*(unitSeconds+in.MergeSecondsPerPartial)
	e.Executions = in.FixedExecutions + nu*in.ExecutionsPerUnit
	e.GBSeconds = busy * float64(memMB) / 1024
	execP, err := prices.price(execID)
	if err != nil {
		return ModelEstimate{}, err
	}
	timeP, err := prices.price(timeID)
	if err != nil {
		return ModelEstimate{}, err
	}
	e.Cost = execP.Cost(e.Executions) + timeP.Cost(e.GBSeconds)
	for _, r := range in.OpsPerUnit {
		id, err := classPrice(r.Service, r.Class)
		if err != nil {
			return ModelEstimate{}, fmt.Errorf("%w: %v", ErrBadModel, err)
		}
		if id == "" {
			continue
		}
		p, err := prices.price(id)
		if err != nil {
			return ModelEstimate{}, err
		}
		e.Cost += p.Cost(r.PerUnit * nu)
	}
	return e, nil
}

// ModelInputsFromRuns measures model inputs per transport from the valid,
// non-emulated runs (emulated timings say nothing about speed):
//
//   - units: successful aggregate invocations; the unit size is the mean
//     bytes per unit of the run with the largest input (the largest units
//     among equal inputs) — a unit never spans chunks, so it can be smaller
//     than the configured unit size;
//   - aggregate time: a least-squares line through the successful aggregate
//     invocations' (MB read, seconds) points — fixed seconds plus seconds per
//     MB — when their sizes differ and the line is not negative; otherwise
//     total time over total MB with no fixed part. MB read is an
//     invocation's bytes in, or its run's input over its units when bytes
//     in were not recorded;
//   - message latency: the median over runs of the time from the end of the
//     first aggregate invocation (when the first partial is sent) to the
//     start of the first merge invocation;
//   - merge seconds per partial, plan seconds per unit, executions, storage
//     requests and operations by class per unit: totals over units;
//   - messages per unit per queue: 1 for the queue transport (each unit
//     crosses the units queue and the partials queue once), else 0;
//   - peak RSS: the largest among the aggregate app's instances.
//
// A transport without such runs is left out; no runs at all give nil.
func ModelInputsFromRuns(runs []Run) []ModelInputs {
	byTransport := map[string][]Run{}
	for _, r := range runs {
		if r.Valid() && !r.Config.Emulated {
			byTransport[r.Config.Transport] = append(byTransport[r.Config.Transport], r)
		}
	}
	names := make([]string, 0, len(byTransport))
	for t := range byTransport {
		names = append(names, t)
	}
	slices.SortFunc(names, compareTransports)
	var out []ModelInputs
	for _, t := range names {
		if in, ok := measureInputs(t, byTransport[t]); ok {
			out = append(out, in)
		}
	}
	return out
}

// compareTransports orders queue before blob, as the defaults do, and any
// other transport after them by name.
func compareTransports(a, b string) int {
	rank := func(s string) int {
		switch s {
		case "queue":
			return 0
		case "blob":
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
}

func measureInputs(transport string, runs []Run) (ModelInputs, bool) {
	var units, mergeSeconds, planSeconds, executions, requests float64
	var points []point // (MB, seconds) per successful aggregate invocation
	var latencies []float64
	ops := map[[2]string]float64{}
	var peak int64
	var largest Run
	var largestUnitBytes float64
	for _, r := range runs {
		roles := r.Roles.withDefaults()
		var runUnits float64
		var firstAggEnd, firstMergeStart time.Time
		for _, inv := range r.Invocations {
			if inv.Function == roles.Aggregate && inv.Outcome == OutcomeSuccess {
				runUnits++
			}
		}
		if runUnits == 0 {
			continue
		}
		fallbackMB := float64(r.InputBytes) / 1e6 / runUnits
		var runBytes float64
		for _, inv := range r.Invocations {
			switch inv.Function {
			case roles.Aggregate:
				if inv.Outcome != OutcomeSuccess {
					continue
				}
				mb := float64(inv.BytesIn) / 1e6
				if inv.BytesIn == 0 {
					mb = fallbackMB
				}
				runBytes += mb * 1e6
				points = append(points, point{mb, inv.DurationMS / 1000})
				if firstAggEnd.IsZero() || inv.End().Before(firstAggEnd) {
					firstAggEnd = inv.End()
				}
			case roles.Merge:
				mergeSeconds += inv.DurationMS / 1000
				if firstMergeStart.IsZero() || inv.Start.Before(firstMergeStart) {
					firstMergeStart = inv.Start
				}
			case roles.Plan:
				planSeconds += inv.DurationMS / 1000
			}
		}
		units += runUnits
		if !firstMergeStart.IsZero() {
			latencies = append(latencies, max(firstMergeStart.Sub(firstAggEnd).Seconds(), 0))
		}
		executions += float64(r.Executions)
		requests += float64(r.StorageOpsTotal)
		for _, op := range r.StorageOps {
			ops[[2]string{string(op.Service), string(op.Class)}] += float64(op.Count)
		}
		for _, s := range r.Instances {
			if s.App == roles.Aggregate {
				peak = max(peak, s.PeakRSSBytes)
			}
		}
		if unitBytes := runBytes / runUnits; r.InputBytes > largest.InputBytes ||
			(r.InputBytes == largest.InputBytes && unitBytes > largestUnitBytes) {
			largest, largestUnitBytes = r, unitBytes
		}
	}
	if units == 0 {
		return ModelInputs{}, false
	}
	fixed, perMB, ok := fitLine(points)
	if !ok {
		return ModelInputs{}, false
	}
	if peak == 0 {
		for _, r := range runs {
			peak = max(peak, r.PeakRSSBytes)
		}
	}
	in := ModelInputs{
		Transport:              transport,
		Source:                 fmt.Sprintf("measured: %d run(s), %s units", len(runs), Sig(units, 6)),
		UnitSizeBytes:          max(int64(math.Round(largestUnitBytes)), 1),
		AggregateFixedSeconds:  fixed,
		AggregateSecondsPerMB:  perMB,
		MergeSecondsPerPartial: mergeSeconds / units,
		PlanSecondsPerUnit:     planSeconds / units,
		ExecutionsPerUnit:      executions / units,
		RequestsPerUnit:        requests / units,
		AggregatePeakRSSBytes:  peak,
	}
	if transport == TransportQueue {
		in.QueueMessagesPerUnit = 1
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		in.MessageLatencySeconds = Percentile(latencies, 50)
	}
	keys := make([][2]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		in.OpsPerUnit = append(in.OpsPerUnit, OpRate{Service: Service(k[0]), Class: BillingClass(k[1]), PerUnit: ops[k] / units})
	}
	return in, true
}

type point struct{ x, y float64 }

// fitLine fits y = fixed + perX·x by least squares. When the x values do
// not vary, or the line would have a negative part, it falls back to a line
// through the origin with slope Σy/Σx. It fails only without any x > 0.
func fitLine(ps []point) (fixed, perX float64, ok bool) {
	var n, sx, sy, sxx, sxy float64
	for _, p := range ps {
		n++
		sx += p.x
		sy += p.y
		sxx += p.x * p.x
		sxy += p.x * p.y
	}
	if sx <= 0 {
		return 0, 0, false
	}
	proportional := sy / sx
	den := n*sxx - sx*sx
	if n < 2 || den <= 1e-12*n*sxx {
		return 0, proportional, proportional > 0
	}
	perX = (n*sxy - sx*sy) / den
	fixed = (sy - perX*sx) / n
	if perX <= 0 || fixed < 0 {
		return 0, proportional, proportional > 0
	}
	return fixed, perX, true
}

// WriteText prints the model as an aligned text table with its inputs,
// limits and assumptions.
func (t ModelTable) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale model: end-to-end time and cost per run (%s, prices of %s, no free grants)\n\n", t.Currency, t.PriceDate)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tdata\tinstances\tunits\tFlex time\tFlex bound\tFlex cost\tConsumption instances\tConsumption time\tConsumption bound\tConsumption cost\t")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Transport, formatDecimalBytes(float64(r.DataBytes)), r.RequestedInstances, r.Units,
			seconds(r.Flex.Seconds), r.Flex.Bound, Sig(r.Flex.Cost, 3),
			instancesCell(r.Consumption), seconds(r.Consumption.Seconds), r.Consumption.Bound, Sig(r.Consumption.Cost, 3))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nInputs:\n")
	for _, in := range t.Inputs {
		fmt.Fprintf(&b, "  %s — %s\n", in.Transport, in.Source)
		fmt.Fprintf(&b, "    unit %s; aggregate %s + %s s/MB; message latency %s; merge %s per partial; plan %s + %s per unit\n",
			FormatBytes(in.UnitSizeBytes), seconds(in.AggregateFixedSeconds), Sig(in.AggregateSecondsPerMB, 3), seconds(in.MessageLatencySeconds),
			seconds(in.MergeSecondsPerPartial), seconds(in.PlanFixedSeconds), seconds(in.PlanSecondsPerUnit))
		fmt.Fprintf(&b, "    per unit: %s executions, %s storage requests (%s); aggregate peak RSS %s\n",
			Sig(in.ExecutionsPerUnit, 3), Sig(in.RequestsPerUnit, 3), opRates(in.OpsPerUnit), FormatBytes(in.AggregatePeakRSSBytes))
	}
	fmt.Fprintf(&b, "\nLimits: %s msg/s per queue; %s requests/s and %s/s egress per account; Flex ≤ %d instances (%d MB each); Consumption ≤ %d instances; %d unit(s) per instance at a time.\n",
		Sig(t.Limits.QueueMessagesPerSecond, 4), Sig(t.Limits.AccountRequestsPerSecond, 5), formatDecimalBytes(t.Limits.AccountEgressBytesPerSecond),
		t.Limits.FlexMaxInstances, t.Limits.FlexInstanceMemoryMB, t.Limits.ConsumptionMaxInstances, t.Limits.UnitsPerInstance)
	for _, s := range t.Sources {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	b.WriteString("\nAssumptions:\n")
	for _, a := range t.Assumptions {
		fmt.Fprintf(&b, "  - %s\n", a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func instancesCell(e ModelEstimate) string {
	if e.Capped {
		return fmt.Sprintf("%d (cap)", e.Instances)
	}
	return fmt.Sprint(e.Instances)
}

func opRates(rs []OpRate) string {
	if len(rs) == 0 {
		return "none recorded"
	}
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s %s", Sig(r.PerUnit, 3), r.Service, r.Class))
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown prints the model as a markdown section body.
func (t ModelTable) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "End-to-end time and cost per run extrapolated from the inputs below (%s, prices of %s, no free grants). "+
		"“Bound” is what limits the aggregate phase.\n\n", t.Currency, t.PriceDate)
	b.WriteString("| transport | data | instances | units | Flex time | Flex bound | Flex cost | Consumption instances | Consumption time | Consumption bound | Consumption cost |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Transport, formatDecimalBytes(float64(r.DataBytes)), r.RequestedInstances, r.Units,
			seconds(r.Flex.Seconds), r.Flex.Bound, Sig(r.Flex.Cost, 3),
			instancesCell(r.Consumption), seconds(r.Consumption.Seconds), r.Consumption.Bound, Sig(r.Consumption.Cost, 3))
	}
	b.WriteString("\nInputs:\n\n")
	for _, in := range t.Inputs {
		fmt.Fprintf(&b, "- **%s** (%s): unit %s; aggregate %s + %s s/MB; message latency %s; merge %s per partial; plan %s + %s per unit; "+
			"%s executions and %s storage requests per unit (%s); aggregate peak RSS %s.\n",
			in.Transport, mdEscape(in.Source), FormatBytes(in.UnitSizeBytes), seconds(in.AggregateFixedSeconds), Sig(in.AggregateSecondsPerMB, 3), seconds(in.MessageLatencySeconds),
			seconds(in.MergeSecondsPerPartial), seconds(in.PlanFixedSeconds), seconds(in.PlanSecondsPerUnit),
			Sig(in.ExecutionsPerUnit, 3), Sig(in.RequestsPerUnit, 3), opRates(in.OpsPerUnit), FormatBytes(in.AggregatePeakRSSBytes))
	}
	fmt.Fprintf(&b, "\nLimits: %s messages/s per queue; %s requests/s and %s/s egress per account; Flex Consumption up to %d instances of %d MB; Consumption up to %d instances; %d unit(s) per instance at a time.\n\n",
		Sig(t.Limits.QueueMessagesPerSecond, 4), Sig(t.Limits.AccountRequestsPerSecond, 5), formatDecimalBytes(t.Limits.AccountEgressBytesPerSecond),
		t.Limits.FlexMaxInstances, t.Limits.FlexInstanceMemoryMB, t.Limits.ConsumptionMaxInstances, t.Limits.UnitsPerInstance)
	for _, s := range t.Sources {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	b.WriteString("\nAssumptions:\n\n")
	for _, a := range t.Assumptions {
		fmt.Fprintf(&b, "- %s\n", a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

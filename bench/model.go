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
)

// ErrBadModel marks scale-model inputs or limits that cannot be used.
var ErrBadModel = errors.New("bench: bad model input")

// ErrBacktest is returned when the model misses a measured configuration
// by more than the back-test's tolerance.
var ErrBacktest = errors.New("bench: the model misses a measured run")

// The scale model. Every input is fitted on wall-clock phases of the
// measured runs of one results file (ModelInputsFromRuns), or is one of the
// stated assumptions (ModelAssumptions); nothing is a default. A run has
// three phases, read from its invocation records:
//
//	dispatch  D  submit → first aggregate invocation starts (plan, first message)
//	aggregate A  first aggregate start → last aggregate end
//	merge     F  last aggregate end → result seen (the last partials merged)
//
// Each is fitted by least squares weighted by 1/y (between absolute and
// relative error, so that neither the longest nor the shortest runs alone
// decide) on the
// run's unit count n and input megabytes MB, the terms that cannot be told
// apart or come out negative being dropped:
//
//	D = d0 + d1·n        F = f0 + f1·n        A = a1·n + a2·MB + a3·n²
//
// On the measuring machine every instance shares its cores and its one
// Azurite process, so A is one machine's aggregate phase whatever the
// instance count (the back-test predicts D + A + F); a3 is that
// contention (Azurite serving every request on one core; the blob
// trigger's stand-in listing the whole container on each poll).
//
// Extrapolated to Azure with N instances, each instance brings its own
// cores, and one instance runs up to c units at once (c from host.json:
// batchSize + newBatchThreshold for a queue trigger, the blob extension's
// maxDegreeOfParallelism for a blob trigger), so at most ⌈n/c⌉ instances
// have work. The aggregate work W = a1·n + a2·MB (the contention term a3
// is the local emulator's, not Azure's) is shared by the instances as the
// scale controller adds them (ScaleOutPerDecision instances every
// ScaleDecisionSeconds, each after ColdStartSeconds), and takes at least one
// unit's measured duration. Merging is sharded (min(64, ⌈n/4⌉) shards,
// merge's own rule), each shard's partials applied one at a time, shards in
// parallel across instances: F = f0 + f1·n ÷ min(N, shards). The run is
// also bounded by the account's egress and request rates and the queue's
// message rate; the largest bound names the run's limit.
//
// Money follows the measured work: executions, storage operations by class,
// Event Grid operations (where counted) and GB-seconds of both plans per
// unit, times n.

// ModelLimits are the service limits and the scaling assumptions the model
// is bounded by, each with its source in ModelLimitSources.
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
	// ScaleOutPerDecision is how many instances one scale decision adds
	// (target-based scaling: up to 4).
	ScaleOutPerDecision int `json:"scale_out_per_decision"`
	// ScaleDecisionSeconds is the time between scale decisions: an
	// assumption (see ModelAssumptions).
	ScaleDecisionSeconds float64 `json:"scale_decision_seconds"`
	// ColdStartSeconds is how long a new instance takes before it runs
	// work: an assumption (see ModelAssumptions).
	ColdStartSeconds float64 `json:"cold_start_seconds"`
	// FlexInstanceMemoryMB is the Flex instance size priced.
	FlexInstanceMemoryMB int `json:"flex_instance_memory_mb"`
}

// DefaultModelLimits returns the documented limits (see ModelLimitSources),
// with the conservative figures for regions outside the larger set, and
// the stated scaling assumptions.
func DefaultModelLimits() ModelLimits {
	return ModelLimits{
		QueueMessagesPerSecond:      2000,
		AccountRequestsPerSecond:    20000,
		AccountEgressBytesPerSecond: 50e9 / 8,
		FlexMaxInstances:            1000,
		ConsumptionMaxInstances:     100,
		ScaleOutPerDecision:         4,
		ScaleDecisionSeconds:        1,
		ColdStartSeconds:            0,
		FlexInstanceMemoryMB:        DefaultFlexInstanceMemoryMB,
	}
}

// ModelLimitSources cites where each limit comes from.
func ModelLimitSources() []string {
	return []string{
		"Queue: 2,000 messages/s per queue and 20,000 messages/s per account (1 KiB messages) — learn.microsoft.com/azure/storage/queues/scalability-targets.",
		"Account: 20,000 requests/s, 25 Gbps ingress and 50 Gbps egress by default; 40,000 requests/s, 60 Gbps and 200 Gbps in the larger regions (East US, East US 2, West Europe, ...) — learn.microsoft.com/azure/storage/common/scalability-targets-standard-account.",
		"Flex Consumption: up to 1,000 instances per app (default maximum 100); Consumption: 100 instances on Linux, 200 on Windows — AZURE_NOTES.md, learn.microsoft.com/azure/azure-functions/functions-scale.",
		"Scale-out: target-based scaling (the default for queue triggers on Consumption and Flex Consumption) adds up to four instances per scale decision, aiming at queue length ÷ target executions per instance — learn.microsoft.com/azure/azure-functions/functions-target-based-scaling; AZURE_NOTES.md.",
		"Per-instance concurrency: host.json extensions.queues batchSize + newBatchThreshold messages per queue function, extensions.blobs maxDegreeOfParallelism blob invocations — AZURE_NOTES.md (QueuesOptions, QueueListener).",
	}
}

// ModelAssumptions lists what the model assumes, states the values that
// are not measured, and what it leaves out.
func ModelAssumptions(l ModelLimits) []string {
	return []string{
		"Fitted on one machine: every phase input comes from the wall-clock phases of the named results file's runs, where all instances share one machine and one Azurite; in Azure each instance is assumed to bring its own cores, so the aggregate work measured on one machine is shared by the instances that have units.",
		fmt.Sprintf("Scale-out ramp (assumption): one scale decision every %s s, each adding up to %d instances (the four are documented; the decision interval is not, and 1 s is the documented HTTP instance rate of event-driven scaling, taken here for want of a figure).",
			Sig(l.ScaleDecisionSeconds, 3), l.ScaleOutPerDecision),
		fmt.Sprintf("Cold start (assumption): each new instance starts work %s s after the decision that adds it; no Microsoft source gives a figure for a custom handler on Flex Consumption, and the measured runs start warm, so 0 leaves it out — set it to include one.",
			Sig(l.ColdStartSeconds, 3)),
		"The local contention term (a3·n²: one Azurite core, the blob trigger stand-in's full listings) is not carried to Azure; Event Grid delivers blob events there instead of listings.",
		"Input blobs: where the runs' file counts differ, dispatch and the aggregate phase get a per-file term (one more listing entry to plan, one more ranged read); an extrapolated input is taken to come in one blob per unit.",
		"Dispatch (plan and the first message) and the merge tail's fixed part do not shrink with instances; the merge tail's per-unit part shrinks with the shards merging in parallel.",
		"Cost follows the measured work per unit (executions, storage operations, Event Grid operations where the runs counted them, GB-seconds of both plans as the runs billed them); monthly free grants are not subtracted.",
	}
}

// OpRate is storage operations of one billing class per unit.
type OpRate struct {
	Service Service      `json:"service"`
	Class   BillingClass `json:"class"`
	PerUnit float64      `json:"per_unit"`
}

// Fit is one phase's fitted line and how well it fits.
type Fit struct {
	// Terms holds the fitted coefficients by term name ("1", "n", "MB",
	// "n²", "files": the input's blobs, each one more listing entry to
	// plan and one more ranged read); a term left out (not identifiable
	// from the runs, or negative) is absent.
	Terms map[string]float64 `json:"terms"`
	// Points is how many points it was fitted on: runs for the aggregate
	// phase, configurations for dispatch and the merge tail.
	Points int `json:"points"`
}

// at evaluates the fit for n units, mb megabytes and files input blobs.
func (f Fit) at(n, mb, files float64) float64 {
	return f.Terms["1"] + f.Terms["n"]*n + f.Terms["MB"]*mb + f.Terms["n²"]*n*n + f.Terms["files"]*files
}

// ModelInputs are the per-transport figures the model extrapolates from,
// all measured from the runs of Source.
type ModelInputs struct {
	Transport string `json:"transport"`
	// Source names the results file and the runs the figures come from.
	Source string `json:"source"`
	// UnitSizeBytes is the mean bytes per unit of the run with the largest
	// input.
	UnitSizeBytes int64 `json:"unit_size_bytes"`
	// Concurrency is how many units one instance runs at once (from
	// host.json); ConcurrencySource says where it was read.
	Concurrency       int    `json:"concurrency"`
	ConcurrencySource string `json:"concurrency_source"`
	// Dispatch, Aggregate and Merge are the phases' fits (see the model's
	// description).
	Dispatch  Fit `json:"dispatch"`
	Aggregate Fit `json:"aggregate"`
	Merge     Fit `json:"merge"`
	// UnitSeconds is the shortest aggregate phase the model allows: the
	// median aggregate phase of the configuration with the fewest units
	// when those ran in one wave (no more units than Concurrency), else
	// the median aggregate invocation. (The median invocation alone is the
	// busiest runs' unit time, many units sharing the machine, and
	// overstated a run of one or a few units, such as a small input over
	// blobs, whose automatic unit is larger.)
	UnitSeconds float64 `json:"unit_seconds"`
	// Per unit, from the runs' totals.
	ExecutionsPerUnit float64 `json:"executions_per_unit"`
	RequestsPerUnit   float64 `json:"requests_per_unit"`
	// QueueMessagesPerUnit is messages per unit through the busiest queue
	// (0 when the transport uses no queue).
	QueueMessagesPerUnit float64  `json:"queue_messages_per_unit"`
	OpsPerUnit           []OpRate `json:"ops_per_unit"`
	// EventGridOpsPerUnit is Event Grid operations (ingress and delivery
	// attempts) per unit, when every run counted them.
	EventGridOpsPerUnit float64 `json:"event_grid_ops_per_unit,omitempty"`
	// GB-seconds per unit as the runs billed them (package billing), with
	// Flex at FlexMemoryMB.
	FlexGBSecondsPerUnit        float64 `json:"flex_gb_seconds_per_unit"`
	FlexMemoryMB                int     `json:"flex_memory_mb"`
	ConsumptionGBSecondsPerUnit float64 `json:"consumption_gb_seconds_per_unit"`
}

// Validate reports inputs the model cannot use.
func (in ModelInputs) Validate() error {
	nums := []float64{in.UnitSeconds, in.ExecutionsPerUnit, in.RequestsPerUnit, in.QueueMessagesPerUnit,
		in.FlexGBSecondsPerUnit, in.ConsumptionGBSecondsPerUnit, in.EventGridOpsPerUnit}
	for _, r := range in.OpsPerUnit {
		nums = append(nums, r.PerUnit)
	}
	for _, f := range []Fit{in.Dispatch, in.Aggregate, in.Merge} {
		for _, v := range f.Terms {
			nums = append(nums, v)
		}
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
	case in.Concurrency < 1:
		return fmt.Errorf("%w: %s: per-instance concurrency %d", ErrBadModel, in.Transport, in.Concurrency)
	case len(in.Aggregate.Terms) == 0:
		return fmt.Errorf("%w: %s: no aggregate phase fitted", ErrBadModel, in.Transport)
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
	if !(l.QueueMessagesPerSecond > 0 && l.AccountRequestsPerSecond > 0 && l.AccountEgressBytesPerSecond > 0 && l.ScaleDecisionSeconds > 0) ||
		math.IsInf(l.QueueMessagesPerSecond+l.AccountRequestsPerSecond+l.AccountEgressBytesPerSecond+l.ScaleDecisionSeconds+l.ColdStartSeconds, 0) ||
		!(l.ColdStartSeconds >= 0) {
		return fmt.Errorf("%w: rate limits and the scale decision interval must be finite and > 0, the cold start >= 0", ErrBadModel)
	}
	if l.FlexMaxInstances < 1 || l.ConsumptionMaxInstances < 1 || l.ScaleOutPerDecision < 1 {
		return fmt.Errorf("%w: instance limits and instances per scale decision must be >= 1", ErrBadModel)
	}
	return Billing{FlexInstanceMemoryMB: l.FlexInstanceMemoryMB}.Validate()
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
)

// ModelEstimate is the model's figure for one plan.
type ModelEstimate struct {
	Plan string `json:"plan"`
	// Instances is the instance count after the plan's cap; Capped is true
	// when the cap lowered it. Busy is how many of them have units.
	Instances int     `json:"instances"`
	Capped    bool    `json:"capped"`
	Busy      int     `json:"busy"`
	Seconds   float64 `json:"seconds"`
	// Dispatch, Aggregate and Merge split Seconds into the phases.
	Dispatch  float64 `json:"dispatch_seconds"`
	Aggregate float64 `json:"aggregate_seconds"`
	Merge     float64 `json:"merge_seconds"`
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
	// Backtest is the model against the runs it was fitted on.
	Backtest []BacktestRow `json:"backtest,omitempty"`
	// Note says why there are no rows, when there are none.
	Note string `json:"note,omitempty"`
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
		Assumptions: ModelAssumptions(limits), Sources: ModelLimitSources(),
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

// mergeShards is how many shards merge keeps for n units: one per four
// units, at most 64 (merge's rule).
func mergeShards(n float64) float64 { return min(64, math.Max(1, math.Ceil(n/4))) }

// rampSeconds is how long work instance-seconds take when the scale
// controller adds perDecision instances every interval seconds, the first
// ones at 0, up to busy instances, each starting coldStart seconds after the
// decision that adds it.
func rampSeconds(work float64, busy, perDecision int, interval, coldStart float64) float64 {
	if work <= 0 || busy < 1 {
		return 0
	}
	t, done := coldStart, 0.0
	for j := 0; ; j++ {
		k := min(busy, perDecision*(j+1))
		if k == busy || done+float64(k)*interval >= work {
			return t + (work-done)/float64(k)
		}
		done += float64(k) * interval
		t += interval
	}
}

func estimate(in ModelInputs, l ModelLimits, prices *PriceTable, d, units int64, n int, plan string) (ModelEstimate, error) {
	limit := l.FlexMaxInstances
	execID, timeID := PriceFlexExecutions, PriceFlexExecutionTime
	if plan == PlanConsumption {
		limit = l.ConsumptionMaxInstances
		execID, timeID = PriceConsumptionExecutions, PriceConsumptionExecutionTime
	}
	e := ModelEstimate{Plan: plan, Instances: min(n, limit), Capped: n > limit}
	nu := float64(units)
	mb := float64(d) / 1e6
	e.Busy = int(min(float64(e.Instances), math.Ceil(nu/float64(in.Concurrency))))

	// Extrapolated inputs are taken to come in one blob per unit.
	work := in.Aggregate.Terms["n"]*nu + in.Aggregate.Terms["MB"]*mb + in.Aggregate.Terms["files"]*nu
	compute := max(rampSeconds(work, e.Busy, l.ScaleOutPerDecision, l.ScaleDecisionSeconds, l.ColdStartSeconds), in.UnitSeconds)
	phases := []struct {
		bound   string
		seconds float64
	}{
		{BoundCompute, compute},
		{BoundEgress, float64(d) / l.AccountEgressBytesPerSecond},
		{BoundRequests, nu * in.RequestsPerUnit / l.AccountRequestsPerSecond},
		{BoundQueue, nu * in.QueueMessagesPerUnit / l.QueueMessagesPerSecond},
	}
	longest := phases[0]
	for _, p := range phases[1:] {
		if p.seconds > longest.seconds {
			longest = p
		}
	}
	e.Bound = longest.bound
	e.Dispatch = in.Dispatch.at(nu, mb, nu)
	e.Aggregate = longest.seconds
	e.Merge = in.Merge.Terms["1"] + in.Merge.Terms["n"]*nu/min(float64(e.Instances), mergeShards(nu))
	e.Seconds = e.Dispatch + e.Aggregate + e.Merge

	e.Executions = nu * in.ExecutionsPerUnit
	gbPerUnit := in.ConsumptionGBSecondsPerUnit
	if plan == PlanFlex {
		gbPerUnit = in.FlexGBSecondsPerUnit * float64(l.FlexInstanceMemoryMB) / float64(max(in.FlexMemoryMB, 1))
	}
	e.GBSeconds = nu * gbPerUnit
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
	if in.EventGridOpsPerUnit > 0 {
		p, err := prices.price(PriceEventGridOperations)
		if err != nil {
			return ModelEstimate{}, err
		}
		e.Cost += p.Cost(in.EventGridOpsPerUnit * nu)
	}
	return e, nil
}

// BacktestTolerance is how far (relative) the model may miss a measured
// configuration's median end-to-end time in a back-test. The runs of one
// configuration on the 2-core benchmark machine spread by about as much
// around their median (SF 1 over queues in the fifth-session size sweep:
// 0.74–1.20 s around 1.13 s, one poll phase apart), so a median is not
// known closer than that.
const BacktestTolerance = 0.35

// BacktestRow is the model against one measured configuration.
type BacktestRow struct {
	Config Config `json:"config"`
	Runs   int    `json:"runs"`
	// Measured is the median end-to-end time of the configuration's
	// counted runs, Min and Max their range; Predicted the model's.
	Measured  float64 `json:"measured_seconds"`
	Min       float64 `json:"min_seconds"`
	Max       float64 `json:"max_seconds"`
	Predicted float64 `json:"predicted_seconds"`
	// Error is Predicted/Measured − 1.
	Error float64 `json:"error"`
}

// Within reports whether the prediction is within BacktestTolerance.
func (b BacktestRow) Within() bool { return math.Abs(b.Error) <= BacktestTolerance }

// phases is one run's wall-clock phases.
type phases struct {
	units, mb, files              float64
	dispatch, aggregate, mergeEnd float64
	unitSeconds                   []float64
}

// runPhases reads a run's phases from its invocation records; ok is false
// without successful aggregate invocations.
func runPhases(r Run) (phases, bool) {
	roles := r.Roles.withDefaults()
	var first, last time.Time
	p := phases{mb: float64(r.InputBytes) / 1e6, files: float64(r.Config.Chunks)}
	for _, inv := range r.Invocations {
		if inv.Function != roles.Aggregate || inv.Outcome != OutcomeSuccess {
			continue
		}
		p.units++
		p.unitSeconds = append(p.unitSeconds, inv.DurationMS/1000)
		if first.IsZero() || inv.Start.Before(first) {
			first = inv.Start
		}
		if inv.End().After(last) {
			last = inv.End()
		}
	}
	if p.units == 0 {
		return phases{}, false
	}
	p.dispatch = max(first.Sub(r.SubmittedAt).Seconds(), 0)
	p.aggregate = max(last.Sub(first).Seconds(), 0)
	p.mergeEnd = max(r.ResultAt.Sub(last).Seconds(), 0)
	return p, true
}

// fitTerms fits y ≈ Σ coef·term by least squares weighted by 1/y, over
// every subset of terms, keeping the subsets whose coefficients are all
// >= 0 and whose normal equations are not singular, and returns the one
// with the smallest weighted error (fewer terms, then the earlier terms,
// on a tie). xs[i][k] is term k of point i.
func fitTerms(names []string, xs [][]float64, ys []float64) (Fit, bool) {
	best, bestErr, found := Fit{}, math.Inf(1), false
	nt := len(names)
	for mask := 1; mask < 1<<nt; mask++ {
		var cols []int
		for k := range nt {
			if mask&(1<<k) != 0 {
				cols = append(cols, k)
			}
		}
		m := len(cols)
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, m+1)
		}
		for i, row := range xs {
			w := 1 / math.Max(ys[i], 1e-3)
			for r, cr := range cols {
				for c, cc := range cols {
					a[r][c] += w * row[cr] * row[cc]
				}
				a[r][m] += w * row[cr] * ys[i]
			}
		}
		coef, ok := solve(a)
		if !ok {
			continue
		}
		neg := false
		for _, c := range coef {
			neg = neg || c < 0
		}
		if neg {
			continue
		}
		var sse float64
		for i, row := range xs {
			var pred float64
			for r, cr := range cols {
				pred += coef[r] * row[cr]
			}
			d := (pred - ys[i]) / math.Max(ys[i], 1e-3)
			sse += d * d
		}
		better := sse < bestErr*(1-1e-9)
		if !better && found && math.Abs(sse-bestErr) <= 1e-9*math.Max(bestErr, 1e-12) && len(cols) < len(best.Terms) {
			better = true
		}
		if !found || better {
			f := Fit{Terms: map[string]float64{}, Points: len(ys)}
			for r, cr := range cols {
				f.Terms[names[cr]] = coef[r]
			}
			best, bestErr, found = f, sse, true
		}
	}
	return best, found
}

// solve solves the augmented system a (m rows, m+1 columns) by Gaussian
// elimination with partial pivoting; ok is false when it is singular.
func solve(a [][]float64) ([]float64, bool) {
	m := len(a)
	scale := 0.0
	for i := range a {
		for j := range m {
			scale = math.Max(scale, math.Abs(a[i][j]))
		}
	}
	if scale == 0 {
		return nil, false
	}
	for c := range m {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) <= 1e-10*scale {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		for r := range m {
			if r == c {
				continue
			}
			f := a[r][c] / a[c][c]
			for k := c; k <= m; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	out := make([]float64, m)
	for i := range m {
		out[i] = a[i][m] / a[i][i]
	}
	return out, true
}

// ModelInputsFromRuns fits the model's inputs per transport on the counted,
// non-emulated runs (emulated timings say nothing about speed); source
// names where the runs come from (a results file). The per-instance
// concurrency is the one the runs recorded, else fallback (read from
// host.json by the caller); a transport without either is an error
// wrapping ErrBadModel. No usable runs give nil.
func ModelInputsFromRuns(runs []Run, source string, fallback *Concurrency) ([]ModelInputs, error) {
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
		in, ok, err := measureInputs(t, byTransport[t], source, fallback)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, in)
		}
	}
	return out, nil
}

// compareTransports orders queue before blob, and any other transport
// after them by name.
func compareTransports(a, b string) int {
	rank := func(s string) int {
		switch s {
		case TransportQueue:
			return 0
		case TransportBlob:
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
}

func measureInputs(transport string, runs []Run, source string, fallback *Concurrency) (ModelInputs, bool, error) {
	in := ModelInputs{Transport: transport}
	var conc *Concurrency
	for _, r := range runs {
		if r.Concurrency != nil {
			conc = r.Concurrency
			in.ConcurrencySource = "recorded by the runs: host.json as the host applied it"
			break
		}
	}
	if conc == nil && fallback != nil {
		conc = fallback
		in.ConcurrencySource = "from host.json: the runs predate its recording"
	}
	if conc == nil {
		return ModelInputs{}, false, fmt.Errorf("%w: %s runs: no per-instance concurrency recorded and none given from host.json", ErrBadModel, transport)
	}
	in.Concurrency = conc.PerInstance(transport)

	var dx, fx, ax [][]float64
	var dy, fy, ay, unitSecs, wave []float64
	byConfig := map[Config][]phases{}
	var configs []Config
	var units, executions, requests, grid, flexGB, consGB, fewest float64
	gridMissing := false
	ops := map[[2]string]float64{}
	var largest Run
	var largestUnitBytes, firstFiles float64
	used, filesVary := 0, false
	for _, r := range runs {
		p, ok := runPhases(r)
		if !ok {
			continue
		}
		used++
		filesVary = filesVary || (used > 1 && p.files != firstFiles)
		if used == 1 {
			firstFiles = p.files
		}
		if _, seen := byConfig[r.Config]; !seen {
			configs = append(configs, r.Config)
		}
		byConfig[r.Config] = append(byConfig[r.Config], p)
		unitSecs = append(unitSecs, p.unitSeconds...)
		units += p.units
		executions += float64(r.Executions)
		requests += float64(r.StorageOpsTotal)
		if r.EventGrid != nil {
			grid += float64(r.EventGrid.Operations())
		} else {
			gridMissing = true
		}
		flexGB += r.GBSeconds.Flex
		consGB += r.GBSeconds.Consumption
		in.FlexMemoryMB = r.GBSeconds.FlexInstanceMemoryMB
		for _, op := range r.StorageOps {
			ops[[2]string{string(op.Service), string(op.Class)}] += float64(op.Count)
		}
		if ub := float64(r.InputBytes) / p.units; r.InputBytes > largest.InputBytes || (r.InputBytes == largest.InputBytes && ub > largestUnitBytes) {
			largest, largestUnitBytes = r, ub
		}
	}
	if used == 0 {
		return ModelInputs{}, false, nil
	}
	// Dispatch and the merge tail are fitted on each configuration's mean,
	// one point per configuration: they are mostly a poll wait and a few
	// requests, which vary from run to run by up to the polling interval
	// (the mean is the expected wait), and under a relative error one
	// run's short wait decided the fit. The aggregate phase, work that
	// grows with the input, takes every run.
	for _, c := range configs {
		ps := byConfig[c]
		// field is one phase figure of the configuration's runs, sorted.
		field := func(f func(phases) float64) []float64 {
			v := make([]float64, len(ps))
			for i, p := range ps {
				v[i] = f(p)
			}
			slices.Sort(v)
			return v
		}
		n, files := median(field(func(p phases) float64 { return p.units })), median(field(func(p phases) float64 { return p.files }))
		dx, dy = append(dx, []float64{1, n, files}), append(dy, mean(field(func(p phases) float64 { return p.dispatch })))
		fx, fy = append(fx, []float64{1, n}), append(fy, mean(field(func(p phases) float64 { return p.mergeEnd })))
		for _, p := range ps {
			ax, ay = append(ax, []float64{p.units, p.mb, p.units * p.units, p.files}), append(ay, p.aggregate)
		}
		if n <= float64(in.Concurrency) && (len(wave) == 0 || n < fewest) {
			fewest, wave = n, field(func(p phases) float64 { return p.aggregate })
		}
	}
	var ok1, ok2, ok3 bool
	// The files term only where the runs' file counts differ: with one
	// count it is a constant, and the aggregate phase has no constant
	// term on purpose.
	if !filesVary {
		dx, ax = dropLast(dx), dropLast(ax)
	}
	in.Dispatch, ok1 = fitTerms([]string{"1", "n", "files"}[:len(dx[0])], dx, dy)
	in.Merge, ok2 = fitTerms([]string{"1", "n"}, fx, fy)
	in.Aggregate, ok3 = fitTerms([]string{"n", "MB", "n²", "files"}[:len(ax[0])], ax, ay)
	if !ok1 || !ok2 || !ok3 {
		return ModelInputs{}, false, nil
	}
	slices.Sort(unitSecs)
	in.UnitSeconds = unitSecs[len(unitSecs)/2]
	if len(wave) > 0 {
		in.UnitSeconds = median(wave)
	}
	in.Source = fmt.Sprintf("%s: %d run(s), %s units", source, used, Sig(units, 6))
	in.UnitSizeBytes = max(int64(math.Round(largestUnitBytes)), 1)
	in.ExecutionsPerUnit = executions / units
	in.RequestsPerUnit = requests / units
	if !gridMissing {
		in.EventGridOpsPerUnit = grid / units
	}
	in.FlexGBSecondsPerUnit = flexGB / units
	in.ConsumptionGBSecondsPerUnit = consGB / units
	if transport == TransportQueue {
		in.QueueMessagesPerUnit = 1
	}
	keys := make([][2]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		in.OpsPerUnit = append(in.OpsPerUnit, OpRate{Service: Service(k[0]), Class: BillingClass(k[1]), PerUnit: ops[k] / units})
	}
	return in, true, nil
}

// mean is the arithmetic mean of v (not empty).
func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// dropLast returns rows without their last column.
func dropLast(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = r[:len(r)-1]
	}
	return out
}

// PredictLocal is the model's end-to-end time for a run of n units, mb
// megabytes and files input blobs on the measuring machine: D + A + F with every fitted term,
// the local contention included, whatever the instance count (the
// instances share the machine).
func (in ModelInputs) PredictLocal(n, mb, files float64) float64 {
	return in.Dispatch.at(n, mb, files) + max(in.Aggregate.at(n, mb, files), in.UnitSeconds) + in.Merge.at(n, mb, files)
}

// Backtest predicts every measured configuration of runs (counted,
// non-emulated) with the inputs of its transport and compares the
// prediction with the median measured end-to-end time.
func Backtest(runs []Run, inputs []ModelInputs) []BacktestRow {
	type group struct {
		secs, units []float64
		mb, files   float64
	}
	groups := map[Config]*group{}
	var order []Config
	for _, r := range runs {
		if !r.Valid() || r.Config.Emulated {
			continue
		}
		p, ok := runPhases(r)
		if !ok {
			continue
		}
		g := groups[r.Config]
		if g == nil {
			g = &group{mb: p.mb, files: p.files}
			groups[r.Config] = g
			order = append(order, r.Config)
		}
		g.secs = append(g.secs, r.EndToEndSeconds)
		g.units = append(g.units, p.units)
	}
	slices.SortFunc(order, compareConfigs)
	var out []BacktestRow
	for _, c := range order {
		idx := slices.IndexFunc(inputs, func(in ModelInputs) bool { return in.Transport == c.Transport })
		if idx < 0 {
			continue
		}
		g := groups[c]
		slices.Sort(g.secs)
		slices.Sort(g.units)
		row := BacktestRow{Config: c, Runs: len(g.secs), Measured: median(g.secs), Min: g.secs[0], Max: g.secs[len(g.secs)-1]}
		row.Predicted = inputs[idx].PredictLocal(median(g.units), g.mb, g.files)
		row.Error = row.Predicted/row.Measured - 1
		out = append(out, row)
	}
	return out
}

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// WriteBacktest prints a back-test as a text table.
func WriteBacktest(w io.Writer, rows []BacktestRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "configuration\truns\tmeasured median s\tmin–max s\tpredicted s\terror\t\t")
	for _, r := range rows {
		verdict := "ok"
		if !r.Within() {
			verdict = fmt.Sprintf("MISS (beyond ±%s %%)", Sig(BacktestTolerance*100, 2))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s–%s\t%s\t%+.1f %%\t%s\t\n", r.Config, r.Runs, Sig(r.Measured, 3), Sig(r.Min, 3), Sig(r.Max, 3), Sig(r.Predicted, 3), r.Error*100, verdict)
	}
	return tw.Flush()
}

// fitString prints a fit: "0.12 + 0.0034·n (12 runs)".
func fitString(f Fit, unit string) string {
	var parts []string
	for _, k := range []string{"1", "n", "MB", "n²", "files"} {
		v, ok := f.Terms[k]
		if !ok {
			continue
		}
		if k == "1" {
			parts = append(parts, Sig(v, 3))
		} else {
			parts = append(parts, Sig(v, 3)+"·"+k)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " + ") + " " + unit
}

// WriteText prints the model as an aligned text table with its inputs,
// limits and assumptions.
func (t ModelTable) WriteText(w io.Writer) error {
	var b strings.Builder
	if t.Note != "" {
		fmt.Fprintf(&b, "Scale model: %s\n", t.Note)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "Scale model: end-to-end time and cost per run (%s, prices of %s, no free grants)\n\n", t.Currency, t.PriceDate)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tdata\tinstances\tunits\tbusy\tFlex time\tFlex bound\tFlex cost\tConsumption instances\tConsumption time\tConsumption bound\tConsumption cost\t")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Transport, formatDecimalBytes(float64(r.DataBytes)), r.RequestedInstances, r.Units, r.Flex.Busy,
			seconds(r.Flex.Seconds), r.Flex.Bound, Sig(r.Flex.Cost, 3),
			instancesCell(r.Consumption), seconds(r.Consumption.Seconds), r.Consumption.Bound, Sig(r.Consumption.Cost, 3))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nInputs (fitted on wall-clock phases):\n")
	for _, in := range t.Inputs {
		fmt.Fprintf(&b, "  %s — %s\n", in.Transport, in.Source)
		for _, l := range inputLines(in) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	if len(t.Backtest) > 0 {
		b.WriteString("\nBack-test against the runs it was fitted on:\n")
		if err := WriteBacktest(&b, t.Backtest); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "\nLimits: %s msg/s per queue; %s requests/s and %s/s egress per account; Flex ≤ %d instances (%d MB each); Consumption ≤ %d instances.\n",
		Sig(t.Limits.QueueMessagesPerSecond, 4), Sig(t.Limits.AccountRequestsPerSecond, 5), formatDecimalBytes(t.Limits.AccountEgressBytesPerSecond),
		t.Limits.FlexMaxInstances, t.Limits.FlexInstanceMemoryMB, t.Limits.ConsumptionMaxInstances)
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

// inputLines describes one transport's inputs.
func inputLines(in ModelInputs) []string {
	return []string{
		fmt.Sprintf("dispatch D = %s; aggregate phase A = %s on one machine, no shorter than one unit (median %s); merge tail F = %s",
			fitString(in.Dispatch, "s"), fitString(in.Aggregate, "s"), seconds(in.UnitSeconds), fitString(in.Merge, "s")),
		fmt.Sprintf("unit %s; %d units per instance at once (%s)", FormatBytes(in.UnitSizeBytes), in.Concurrency, in.ConcurrencySource),
		fmt.Sprintf("per unit: %s executions, %s storage requests (%s); %s Flex GB-s (at %d MB), %s Consumption GB-s",
			Sig(in.ExecutionsPerUnit, 3), Sig(in.RequestsPerUnit, 3), opRates(in.OpsPerUnit),
			Sig(in.FlexGBSecondsPerUnit, 3), in.FlexMemoryMB, Sig(in.ConsumptionGBSecondsPerUnit, 3)),
	}
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
	if t.Note != "" {
		fmt.Fprintf(&b, "%s\n", t.Note)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "End-to-end time and cost per run extrapolated from the inputs below (%s, prices of %s, no free grants). "+
		"“Busy” is how many instances have units (at most ⌈units ÷ per-instance concurrency⌉); “bound” is what limits the aggregate phase.\n\n", t.Currency, t.PriceDate)
	b.WriteString("| transport | data | instances | units | busy | Flex time | Flex bound | Flex cost | Consumption instances | Consumption time | Consumption bound | Consumption cost |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Transport, formatDecimalBytes(float64(r.DataBytes)), r.RequestedInstances, r.Units, r.Flex.Busy,
			seconds(r.Flex.Seconds), r.Flex.Bound, Sig(r.Flex.Cost, 3),
			instancesCell(r.Consumption), seconds(r.Consumption.Seconds), r.Consumption.Bound, Sig(r.Consumption.Cost, 3))
	}
	b.WriteString("\nInputs, fitted on the runs' wall-clock phases (see `funnel bench --model -h`):\n\n")
	for _, in := range t.Inputs {
		fmt.Fprintf(&b, "- **%s** (%s): %s.\n", in.Transport, mdEscape(in.Source), mdEscape(strings.Join(inputLines(in), "; ")))
	}
	if len(t.Backtest) > 0 {
		fmt.Fprintf(&b, "\nBack-test: the model against the runs it was fitted on (median of each configuration's counted runs; a miss is beyond ±%s %%).\n\n", Sig(BacktestTolerance*100, 2))
		b.WriteString("| configuration | runs | measured median s | min–max s | predicted s | error |\n|---|---:|---:|---:|---:|---:|\n")
		for _, r := range t.Backtest {
			miss := ""
			if !r.Within() {
				miss = " (miss)"
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s–%s | %s | %+.1f %%%s |\n", mdEscape(r.Config.String()), r.Runs, Sig(r.Measured, 3), Sig(r.Min, 3), Sig(r.Max, 3), Sig(r.Predicted, 3), r.Error*100, miss)
		}
	}
	fmt.Fprintf(&b, "\nLimits: %s messages/s per queue; %s requests/s and %s/s egress per account; Flex Consumption up to %d instances of %d MB; Consumption up to %d instances.\n\n",
		Sig(t.Limits.QueueMessagesPerSecond, 4), Sig(t.Limits.AccountRequestsPerSecond, 5), formatDecimalBytes(t.Limits.AccountEgressBytesPerSecond),
		t.Limits.FlexMaxInstances, t.Limits.FlexInstanceMemoryMB, t.Limits.ConsumptionMaxInstances)
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

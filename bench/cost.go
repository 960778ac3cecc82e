package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/funnelpipe/funnel/bench/billing"
)

// DefaultFlexInstanceMemoryMB is the Flex Consumption default instance
// size; 512 and 4,096 MB are the other sizes.
const DefaultFlexInstanceMemoryMB = billing.DefaultFlexMemoryMB

// Billing holds the choices that turn resource use into billed units.
type Billing struct {
	// FlexInstanceMemoryMB is the Flex Consumption instance size the run is
	// priced at: 512, 2048 or 4096.
	FlexInstanceMemoryMB int `json:"flex_instance_memory_mb"`
}

// DefaultBilling prices Flex Consumption at its default 2,048 MB instances.
func DefaultBilling() Billing {
	return Billing{FlexInstanceMemoryMB: DefaultFlexInstanceMemoryMB}
}

// Validate reports a Flex instance size Azure does not offer.
func (b Billing) Validate() error {
	if billing.ValidFlexMemoryMB(b.FlexInstanceMemoryMB) {
		return nil
	}
	return fmt.Errorf("%w: Flex Consumption instance memory %d MB, want 512, 2048 or 4096", ErrBadMeasurement, b.FlexInstanceMemoryMB)
}

// InstanceStats is the resource use of one handler process during a run.
type InstanceStats struct {
	// App is the function app ("partition", "aggregate", "merge").
	App string `json:"app"`
	// Instance matches InvocationRecord.Instance.
	Instance     string  `json:"instance"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// PeakRSSLifetime is true when the peak could not be reset before the
	// run: PeakRSSBytes is then the process's lifetime peak, an upper bound
	// of the run's.
	PeakRSSLifetime bool `json:"peak_rss_lifetime,omitempty"`
}

// Validate reports stats that cannot be used.
func (s InstanceStats) Validate() error {
	if s.Instance == "" {
		return fmt.Errorf("%w: instance stats without an instance", ErrBadMeasurement)
	}
	if math.IsNaN(s.CPUSeconds) || math.IsInf(s.CPUSeconds, 0) || s.CPUSeconds < 0 || s.PeakRSSBytes < 0 {
		return fmt.Errorf("%w: instance %s has CPU %v s, peak RSS %d bytes", ErrBadMeasurement, s.Instance, s.CPUSeconds, s.PeakRSSBytes)
	}
	return nil
}

// GBSeconds is a run's compute as each plan would bill it.
type GBSeconds struct {
	Consumption float64 `json:"consumption"`
	Flex        float64 `json:"flex"`
	// FlexInstanceMemoryMB is the instance size Flex was priced at.
	FlexInstanceMemoryMB int `json:"flex_instance_memory_mb"`
	// ActivityPeriods is how many Flex activity periods the instances had;
	// FlexInstanceSeconds their billed length summed over instances.
	ActivityPeriods     int     `json:"activity_periods"`
	FlexInstanceSeconds float64 `json:"flex_instance_seconds"`
}

// ComputeGBSeconds bills invocation records as the Consumption and Flex
// Consumption plans would, by the rules of package billing (Consumption per
// execution, Flex per instance activity period). Every instance that ran an
// invocation needs InstanceStats for its peak RSS; a missing one is an error
// wrapping ErrBadMeasurement.
func ComputeGBSeconds(records []InvocationRecord, instances []InstanceStats, b Billing) (GBSeconds, error) {
	if err := b.Validate(); err != nil {
		return GBSeconds{}, err
	}
	rss := make(map[string]int64, len(instances))
	for _, s := range instances {
		if err := s.Validate(); err != nil {
			return GBSeconds{}, err
		}
		rss[s.Instance] = s.PeakRSSBytes
	}
	invs := make([]billing.Invocation, len(records))
	for i, r := range records {
		if err := r.Validate(); err != nil {
			return GBSeconds{}, fmt.Errorf("record %d: %w", i, err)
		}
		if _, ok := rss[r.Instance]; !ok {
			return GBSeconds{}, fmt.Errorf("%w: no instance stats (peak RSS) for instance %q", ErrBadMeasurement, r.Instance)
		}
		invs[i] = billing.Invocation{Instance: r.Instance, Start: r.Start, Duration: r.Duration()}
	}
	g, err := billing.Compute(invs, rss, b.FlexInstanceMemoryMB)
	if err != nil {
		return GBSeconds{}, fmt.Errorf("%w: %w", ErrBadMeasurement, err)
	}
	return GBSeconds{Consumption: g.Consumption, Flex: g.Flex, FlexInstanceMemoryMB: g.FlexMemoryMB,
		ActivityPeriods: g.ActivityPeriods, FlexInstanceSeconds: g.FlexInstanceSeconds}, nil
}

// PlanCost is what one hosting plan would charge for a run's functions.
type PlanCost struct {
	Executions     int64   `json:"executions"`
	ExecutionsCost float64 `json:"executions_cost"`
	GBSeconds      float64 `json:"gb_seconds"`
	ComputeCost    float64 `json:"compute_cost"`
	// Functions is ExecutionsCost + ComputeCost.
	Functions float64 `json:"functions"`
	// Total is Functions plus the run's storage operations and Event Grid
	// operations (when counted).
	Total float64 `json:"total"`
}

// ClassCost is the money for one class of storage operations.
type ClassCost struct {
	Service Service      `json:"service"`
	Class   BillingClass `json:"class"`
	Count   int64        `json:"count"`
	Price   PriceID      `json:"price,omitempty"`
	Cost    float64      `json:"cost"`
}

// Cost is the money a run would cost on Azure, list prices, no free grants.
type Cost struct {
	Currency    string   `json:"currency"`
	Consumption PlanCost `json:"consumption"`
	Flex        PlanCost `json:"flex"`
	// Storage is the run's storage operations by service and class.
	Storage      []ClassCost `json:"storage"`
	StorageTotal float64     `json:"storage_total"`
	// EventGrid is the run's Event Grid operations; nil when the run did
	// not count them (results written before they were).
	EventGrid *EventGridCost `json:"event_grid,omitempty"`
	// InputStoragePerMonth is what keeping the input in hot blob storage
	// costs per month; it is not part of a run's cost.
	InputStoragePerMonth float64 `json:"input_storage_per_month"`
	// FreeGrantsApplied is always false: costs are computed without the
	// monthly free grants.
	FreeGrantsApplied bool `json:"free_grants_applied"`
}

// EventGridOps counts a run's Event Grid operations on the storage
// account's system topic: Ingress, one per blob write the account commits
// (Event Grid bills it whether or not a subscription takes the event), and
// Deliveries, one per webhook delivery attempt.
type EventGridOps struct {
	Ingress    int64 `json:"ingress"`
	Deliveries int64 `json:"deliveries"`
}

// Operations is what Event Grid bills: ingress plus delivery attempts.
func (o EventGridOps) Operations() int64 { return o.Ingress + o.Deliveries }

// EventGridCost is the money for a run's Event Grid operations.
type EventGridCost struct {
	EventGridOps
	Price PriceID `json:"price"`
	Cost  float64 `json:"cost"`
}

// addEventGrid prices ops (nil: not counted, nothing to add) and adds them
// to both plans' totals. Counted operations need the table's
// PriceEventGridOperations; a table without it is an error wrapping
// ErrBadPrices.
func (c *Cost) addEventGrid(ops *EventGridOps, prices *PriceTable) error {
	if ops == nil {
		return nil
	}
	if ops.Ingress < 0 || ops.Deliveries < 0 {
		return fmt.Errorf("%w: negative Event Grid operations %+v", ErrBadMeasurement, *ops)
	}
	p, ok := prices.Lookup(PriceEventGridOperations)
	if !ok {
		return fmt.Errorf("%w: the run counted %d Event Grid operations but the price table has no %q", ErrBadPrices, ops.Operations(), PriceEventGridOperations)
	}
	c.EventGrid = &EventGridCost{EventGridOps: *ops, Price: PriceEventGridOperations, Cost: p.Cost(float64(ops.Operations()))}
	c.Consumption.Total += c.EventGrid.Cost
	c.Flex.Total += c.EventGrid.Cost
	return nil
}

// EventGridTotal is the run's Event Grid cost (0 when not counted).
func (c Cost) EventGridTotal() float64 {
	if c.EventGrid == nil {
		return 0
	}
	return c.EventGrid.Cost
}

// classPrice maps a billing class to its price (free operations have none).
func classPrice(service Service, class BillingClass) (PriceID, error) {
	switch {
	case service == ServiceBlob && class == ClassWrite:
		return PriceBlobWrite, nil
	case service == ServiceBlob && class == ClassRead:
		return PriceBlobRead, nil
	case service == ServiceBlob && class == ClassList:
		return PriceBlobList, nil
	case service == ServiceBlob && class == ClassOther:
		return PriceBlobOther, nil
	case service == ServiceBlob && class == ClassFree:
		return "", nil
	case service == ServiceQueue && class == ClassQueue1:
		return PriceQueueClass1, nil
	case service == ServiceQueue && class == ClassQueue2:
		return PriceQueueClass2, nil
	}
	return "", fmt.Errorf("%w: no billing class %q for service %q", ErrUnknownOperation, class, service)
}

// ComputeCost prices a run: executions and GB-seconds under each plan, plus
// the storage operations and the Event Grid operations (grid, nil when not
// counted), which both plans pay alike. inputBytes prices the
// informational monthly cost of keeping the input.
func ComputeCost(executions int64, g GBSeconds, ops []StorageOp, grid *EventGridOps, inputBytes int64, prices *PriceTable) (Cost, error) {
	if prices == nil {
		return Cost{}, fmt.Errorf("%w: no price table", ErrBadPrices)
	}
	if executions < 0 || g.Consumption < 0 || g.Flex < 0 || inputBytes < 0 {
		return Cost{}, fmt.Errorf("%w: negative usage", ErrBadMeasurement)
	}
	ps := make(map[PriceID]Price, len(PriceIDs()))
	for _, id := range PriceIDs() {
		p, err := prices.price(id)
		if err != nil {
			return Cost{}, err
		}
		ps[id] = p
	}
	c := Cost{Currency: prices.Currency}
	plan := func(execID, timeID PriceID, gbs float64) PlanCost {
		pc := PlanCost{Executions: executions, GBSeconds: gbs}
		pc.ExecutionsCost = ps[execID].Cost(float64(executions))
		pc.ComputeCost = ps[timeID].Cost(gbs)
		pc.Functions = pc.ExecutionsCost + pc.ComputeCost
		return pc
	}
	c.Consumption = plan(PriceConsumptionExecutions, PriceConsumptionExecutionTime, g.Consumption)
	c.Flex = plan(PriceFlexExecutions, PriceFlexExecutionTime, g.Flex)

	type key struct {
		s Service
		c BillingClass
	}
	counts := map[key]int64{}
	for _, op := range ops {
		class, err := resolveClass(op)
		if err != nil {
			return Cost{}, err
		}
		if op.Count < 0 {
			return Cost{}, fmt.Errorf("%w: %s %s has a negative count", ErrBadMeasurement, op.Service, op.Operation)
		}
		counts[key{op.Service, class}] += op.Count
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.s, b.s), cmp.Compare(a.c, b.c))
	})
	for _, k := range keys {
		id, err := classPrice(k.s, k.c)
		if err != nil {
			return Cost{}, err
		}
		cc := ClassCost{Service: k.s, Class: k.c, Count: counts[k], Price: id}
		if id != "" {
			cc.Cost = ps[id].Cost(float64(cc.Count))
		}
		c.Storage = append(c.Storage, cc)
		c.StorageTotal += cc.Cost
	}
	c.Consumption.Total = c.Consumption.Functions + c.StorageTotal
	c.Flex.Total = c.Flex.Functions + c.StorageTotal
	c.InputStoragePerMonth = ps[PriceBlobStorage].Cost(float64(inputBytes) / 1e9)
	if err := c.addEventGrid(grid, prices); err != nil {
		return Cost{}, err
	}
	return c, nil
}

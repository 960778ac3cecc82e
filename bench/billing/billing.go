// Package billing holds the one statement of how the two Azure Functions
// consumption plans turn invocations into billed GB-seconds. The local
// Functions host's run summary (infra/funchost) and the benchmark report
// (package bench) both bill through it, so they agree on the same run.
//
// # Consumption plan: per execution
//
// Source: the Azure Functions pricing page (azure.microsoft.com/pricing/
// details/functions, "Consumption plan"): "Observed resource consumption is
// calculated by multiplying average memory size in gigabytes by the time in
// milliseconds it takes to execute the function. Memory used by a function
// is measured by rounding up to the nearest 128 MB, up to the maximum memory
// size of 1,536 MB, with execution time calculated by rounding up to the
// nearest 1 ms. The minimum execution time and memory for a single function
// execution is 100 ms and 128 MB respectively."
//
// Each execution is billed on its own: its duration rounded up to 1 ms, at
// least 100 ms, times its memory rounded up to 128 MB, at least 128 MB and
// at most 1,536 MB. Memory is observed per instance (a handler process's
// peak RSS, an upper bound of its memory over the run), not per execution;
// executions that run at the same time on one instance share that memory,
// so an execution's memory is the instance's peak RSS times its share of the
// instance: the mean over its duration of 1/n, n the executions in flight
// on the instance. Without concurrency that is the whole instance.
//
// # Flex Consumption plan (on demand): per instance activity period
//
// Source: "Flex Consumption plan hosting", section Billing
// (learn.microsoft.com/azure/azure-functions/flex-consumption-plan#billing):
// on demand, an instance is billed its instance memory size (512, 2,048 or
// 4,096 MB) for the time it is actively executing functions; "the minimum
// billable execution period for both modes is 1,000 ms", and past that the
// period is rounded up to the nearest 100 ms. Concurrent executions on an
// instance share one period.
//
// An instance's invocations form activity periods: a period starts with an
// invocation, and an invocation joins it when it starts while the period is
// billed (before the period's start plus its billed length, the 1 s minimum
// included: that time is paid for already) or less than one 100 ms billing
// step after the period's last invocation ended. The second rule is this
// package's assumption, not a documented one: billing is measured in 100 ms
// steps, so a stream of invocations separated by a few milliseconds (a
// queue trigger's) is read as one stretch of activity, not as many periods
// of 1 s each. Each period is billed
// max(busy, 1 s) rounded up to 100 ms. Billed periods of one instance never
// overlap, so an instance is never billed more than the time from its first
// invocation to the end of its last billed period: Flex GB-seconds never
// exceed instance memory × instances × that window ([Window]), which ends at
// most 1.1 s after the last invocation.
package billing

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrBadInput marks invocations or settings that cannot be billed.
var ErrBadInput = errors.New("billing: bad input")

// The plans' rules (see the package documentation for the sources).
const (
	ConsumptionMemoryStepMB = 128  // memory rounded up to 128 MB steps
	ConsumptionMinMemoryMB  = 128  // at least 128 MB per execution
	ConsumptionMaxMemoryMB  = 1536 // at most 1,536 MB (the instance size)
	ConsumptionMinDuration  = 100 * time.Millisecond
	ConsumptionTimeStep     = time.Millisecond

	FlexMinPeriod = time.Second
	FlexTimeStep  = 100 * time.Millisecond

	// DefaultFlexMemoryMB is the Flex Consumption default instance size.
	DefaultFlexMemoryMB = 2048
)

// ValidFlexMemoryMB reports whether Flex Consumption offers instances of mb.
func ValidFlexMemoryMB(mb int) bool { return mb == 512 || mb == 2048 || mb == 4096 }

// Invocation is one function execution on one instance.
type Invocation struct {
	// Instance names the instance (any string unique within the run).
	Instance string
	Start    time.Time
	Duration time.Duration
}

func (v Invocation) end() time.Time { return v.Start.Add(v.Duration) }

// Period is one billed Flex Consumption activity period of an instance.
type Period struct {
	Instance    string
	Start, End  time.Time     // first invocation's start, last invocation's end
	Billed      time.Duration // max(End-Start, 1 s) rounded up to 100 ms
	Invocations int
}

// GBSeconds is what both plans bill for a set of invocations.
type GBSeconds struct {
	Executions  int     `json:"executions"`
	Consumption float64 `json:"consumption"`
	Flex        float64 `json:"flex"`
	// FlexMemoryMB is the instance size Flex was billed at.
	FlexMemoryMB int `json:"flex_memory_mb"`
	// ActivityPeriods counts the Flex periods; FlexInstanceSeconds is their
	// billed length summed over instances.
	ActivityPeriods     int     `json:"activity_periods"`
	FlexInstanceSeconds float64 `json:"flex_instance_seconds"`
}

// roundUp rounds d up to a multiple of step, and to at least least.
func roundUp(d, step, least time.Duration) time.Duration {
	if r := d % step; r != 0 {
		d += step - r
	}
	return max(d, least)
}

// ConsumptionMemoryMB is the memory the Consumption plan bills for an
// execution that used bytes of memory: rounded up to 128 MB, at least
// 128 MB, at most 1,536 MB.
func ConsumptionMemoryMB(bytes float64) int {
	const mb = 1 << 20
	m := int(math.Ceil(bytes / mb))
	m = (m + ConsumptionMemoryStepMB - 1) / ConsumptionMemoryStepMB * ConsumptionMemoryStepMB
	return min(max(m, ConsumptionMinMemoryMB), ConsumptionMaxMemoryMB)
}

// ConsumptionDuration is the billed length of one Consumption execution.
func ConsumptionDuration(d time.Duration) time.Duration {
	return roundUp(d, ConsumptionTimeStep, ConsumptionMinDuration)
}

// FlexBilled is the billed length of a Flex activity period busy for d.
func FlexBilled(d time.Duration) time.Duration { return roundUp(d, FlexTimeStep, FlexMinPeriod) }

func validate(invs []Invocation) error {
	for i, v := range invs {
		if v.Instance == "" || v.Start.IsZero() || v.Duration < 0 {
			return fmt.Errorf("%w: invocation %d: instance %q, start %v, duration %v", ErrBadInput, i, v.Instance, v.Start, v.Duration)
		}
	}
	return nil
}

// byInstance groups invocations per instance, each group in start order,
// and returns the instance names sorted (a fixed order keeps float sums
// reproducible).
func byInstance(invs []Invocation) (map[string][]Invocation, []string) {
	m := map[string][]Invocation{}
	for _, v := range invs {
		m[v.Instance] = append(m[v.Instance], v)
	}
	names := make([]string, 0, len(m))
	for k, vs := range m {
		slices.SortStableFunc(vs, func(a, b Invocation) int { return a.Start.Compare(b.Start) })
		names = append(names, k)
	}
	slices.SortFunc(names, cmp.Compare)
	return m, names
}

// FlexPeriods returns every instance's Flex activity periods, by instance
// name and then start.
func FlexPeriods(invs []Invocation) ([]Period, error) {
	if err := validate(invs); err != nil {
		return nil, err
	}
	groups, names := byInstance(invs)
	var out []Period
	for _, name := range names {
		var cur *Period
		for _, v := range groups[name] {
			if cur != nil && (v.Start.Before(cur.Start.Add(FlexBilled(cur.End.Sub(cur.Start)))) || v.Start.Sub(cur.End) < FlexTimeStep) {
				if e := v.end(); e.After(cur.End) {
					cur.End = e
				}
				cur.Invocations++
				continue
			}
			if cur != nil {
				cur.Billed = FlexBilled(cur.End.Sub(cur.Start))
				out = append(out, *cur)
			}
			cur = &Period{Instance: name, Start: v.Start, End: v.end(), Invocations: 1}
		}
		if cur != nil {
			cur.Billed = FlexBilled(cur.End.Sub(cur.Start))
			out = append(out, *cur)
		}
	}
	return out, nil
}

// Window is the time Flex billing can cover: from the first invocation's
// start to the end of the last billed period of any instance (zero times
// without invocations). Flex bills at most instances × its length.
func Window(periods []Period) (from, to time.Time) {
	for i, p := range periods {
		end := p.Start.Add(p.Billed)
		if i == 0 || p.Start.Before(from) {
			from = p.Start
		}
		if i == 0 || end.After(to) {
			to = end
		}
	}
	return from, to
}

// consumptionShares returns, for each invocation of one instance (in the
// order given), the mean over its duration of 1/n, n the invocations of the
// instance in flight: its share of the instance's memory. A zero-length
// invocation shares with those in flight at its start (itself included).
func consumptionShares(vs []Invocation) []float64 {
	type event struct {
		at    time.Time
		delta int
	}
	evs := make([]event, 0, 2*len(vs))
	for _, v := range vs {
		evs = append(evs, event{v.Start, +1}, event{v.end(), -1})
	}
	// Ends before starts at the same moment: touching is not overlapping.
	slices.SortFunc(evs, func(a, b event) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.delta, b.delta)) })
	// n(t) is piecewise constant between event times; for each invocation
	// integrate 1/n over its span.
	type step struct {
		from, to time.Time
		n        int
	}
	var steps []step
	n := 0
	for i, e := range evs {
		n += e.delta
		if i+1 < len(evs) && evs[i+1].at.After(e.at) && n > 0 {
			steps = append(steps, step{e.at, evs[i+1].at, n})
		}
	}
	out := make([]float64, len(vs))
	for i, v := range vs {
		end := v.end()
		if v.Duration == 0 {
			c := 0
			for _, w := range vs {
				if !w.Start.After(v.Start) && (w.end().After(v.Start) || w.Start.Equal(v.Start)) {
					c++
				}
			}
			out[i] = 1 / float64(max(c, 1))
			continue
		}
		// steps are in time order: find the first that ends after v starts.
		j, _ := slices.BinarySearchFunc(steps, v.Start, func(s step, t time.Time) int {
			if s.to.After(t) {
				return 1
			}
			return -1
		})
		var acc float64
		for ; j < len(steps) && steps[j].from.Before(end); j++ {
			lo, hi := steps[j].from, steps[j].to
			if lo.Before(v.Start) {
				lo = v.Start
			}
			if hi.After(end) {
				hi = end
			}
			if hi.After(lo) {
				acc += hi.Sub(lo).Seconds() / float64(steps[j].n)
			}
		}
		out[i] = min(acc/v.Duration.Seconds(), 1)
	}
	return out
}

// Compute bills invocations under both plans. peakRSS gives each
// instance's observed memory in bytes; an instance without an entry is an
// error wrapping ErrBadInput, as is a Flex size Azure does not offer.
func Compute(invs []Invocation, peakRSS map[string]int64, flexMemoryMB int) (GBSeconds, error) {
	if !ValidFlexMemoryMB(flexMemoryMB) {
		return GBSeconds{}, fmt.Errorf("%w: Flex Consumption instance memory %d MB, want 512, 2048 or 4096", ErrBadInput, flexMemoryMB)
	}
	periods, err := FlexPeriods(invs)
	if err != nil {
		return GBSeconds{}, err
	}
	g := GBSeconds{Executions: len(invs), FlexMemoryMB: flexMemoryMB, ActivityPeriods: len(periods)}
	groups, names := byInstance(invs)
	for _, name := range names {
		rss, ok := peakRSS[name]
		if !ok || rss < 0 {
			return GBSeconds{}, fmt.Errorf("%w: no peak RSS for instance %q", ErrBadInput, name)
		}
		vs := groups[name]
		for i, share := range consumptionShares(vs) {
			mem := float64(ConsumptionMemoryMB(float64(rss)*share)) / 1024
			g.Consumption += mem * ConsumptionDuration(vs[i].Duration).Seconds()
		}
	}
	for _, p := range periods {
		g.FlexInstanceSeconds += p.Billed.Seconds()
	}
	g.Flex = g.FlexInstanceSeconds * float64(flexMemoryMB) / 1024
	return g, nil
}

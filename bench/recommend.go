package bench

import (
	"fmt"
	"math"
	"slices"
)

// materialDifference is the relative difference below which two figures are
// reported as a tie: run-to-run noise on a shared 2-core machine is of this
// order.
const materialDifference = 0.05

// Pair is a queue and a blob configuration that differ only in transport,
// both with at least one counted repetition and not emulated.
type Pair struct {
	Queue, Blob Aggregate
}

// Pairs matches queue and blob aggregates that differ only in transport
// (and, when partition chose the unit size, in the size each transport
// got), in configuration order.
func Pairs(aggs []Aggregate) []Pair {
	blobs := map[Config]Aggregate{}
	for _, a := range aggs {
		if a.Config.Transport == TransportBlob && a.Repetitions > 0 && !a.Config.Emulated {
			blobs[pairKey(a.Config)] = a
		}
	}
	var out []Pair
	for _, a := range aggs {
		if a.Config.Transport != TransportQueue || a.Repetitions == 0 || a.Config.Emulated {
			continue
		}
		if b, ok := blobs[pairKey(a.Config)]; ok {
			out = append(out, Pair{Queue: a, Blob: b})
		}
	}
	return out
}

// pairKey is what a queue and a blob configuration share to be compared:
// everything but the transport, and but the unit size when partition
// chose it.
func pairKey(c Config) Config {
	c.Transport = ""
	if c.AutoUnit {
		c.UnitSizeBytes = 0
	}
	return c
}

// Recommendation is the transport the figures favour for one use case.
type Recommendation struct {
	UseCase string `json:"use_case"`
	// Choice is "queue", "blob", or "either" when the difference is under
	// 5 %, or "" when the runs cannot tell (no matching pair).
	Choice string `json:"choice"`
	// Because states the figures the choice rests on.
	Because string `json:"because"`
}

// Recommend derives a transport recommendation per use case from the
// paired figures; every reason quotes the figures it rests on. Lower is
// better for time and cost, higher for throughput.
func Recommend(aggs []Aggregate, currency string) []Recommendation {
	pairs := Pairs(aggs)
	if len(pairs) == 0 {
		return []Recommendation{{
			UseCase: "any",
			Because: "no configuration was run with both transports (non-emulated, with a correct answer), so the figures cannot compare them",
		}}
	}
	input := func(p Pair) float64 { return float64(p.Queue.InputBytes) }
	e2e := func(a Aggregate) float64 { return a.EndToEndSeconds.Median }

	var recs []Recommendation

	small := extreme(pairs, func(p Pair) (float64, float64) { return input(p), float64(p.Queue.Config.Chunks) }, false)
	recs = append(recs, choose("Small jobs, lowest latency (smallest input, fewest chunks run)", small,
		e2e, false, func(v float64) string { return seconds(v) }, "end-to-end"))

	large := extreme(pairs, func(p Pair) (float64, float64) { return input(p), float64(p.Queue.Config.Chunks) }, true)
	recs = append(recs, choose("Large inputs, highest throughput (largest input run)", large,
		func(a Aggregate) float64 { return a.ThroughputMBps.Median }, true,
		func(v float64) string { return Sig(v, 3) + " MB/s" }, "throughput"))

	fine := extreme(pairs, func(p Pair) (float64, float64) { return float64(p.Queue.Config.Chunks), input(p) }, true)
	recs = append(recs, choose("Many small work units (most chunks run)", fine,
		e2e, false, func(v float64) string { return seconds(v) }, "end-to-end"))

	wide := extreme(pairs, func(p Pair) (float64, float64) { return float64(p.Queue.Config.InstancesPerApp), input(p) }, true)
	if wide.Queue.Config.InstancesPerApp > 1 {
		recs = append(recs, choose("Scale-out (most instances per app run)", wide,
			e2e, false, func(v float64) string { return seconds(v) }, "end-to-end"))
	}

	recs = append(recs, chooseCost(pairs, currency))
	return recs
}

// extreme picks the pair with the smallest (or largest) primary key, ties
// broken by the secondary key in the same direction.
func extreme(pairs []Pair, key func(Pair) (float64, float64), largest bool) Pair {
	return slices.MaxFunc(pairs, func(a, b Pair) int {
		a1, a2 := key(a)
		b1, b2 := key(b)
		c := 0
		switch {
		case a1 != b1:
			c = cmpFloat(a1, b1)
		default:
			c = cmpFloat(a2, b2)
		}
		if !largest {
			c = -c
		}
		return c
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func choose(useCase string, p Pair, figure func(Aggregate) float64, higherBetter bool, format func(float64) string, what string) Recommendation {
	q, b := figure(p.Queue), figure(p.Blob)
	r := Recommendation{UseCase: useCase}
	winner, loser, wv, lv := TransportQueue, TransportBlob, q, b
	if (higherBetter && b > q) || (!higherBetter && b < q) {
		winner, loser, wv, lv = TransportBlob, TransportQueue, b, q
	}
	ratio := ratioOf(wv, lv, higherBetter)
	if q == b || ratio-1 < materialDifference {
		r.Choice = "either"
		r.Because = fmt.Sprintf("%s: queue %s, blob %s — within %d %% (%s)",
			what, format(q), format(b), int(materialDifference*100), pairWhere(p))
		return r
	}
	r.Choice = winner
	r.Because = fmt.Sprintf("%s: %s %s vs %s %s, %s× better (%s)",
		what, winner, format(wv), loser, format(lv), Sig(ratio, 3), pairWhere(p))
	return r
}

// ratioOf is how many times better the winner is (>= 1).
func ratioOf(winner, loser float64, higherBetter bool) float64 {
	if higherBetter {
		if loser == 0 {
			return math.Inf(1)
		}
		return winner / loser
	}
	if winner == 0 {
		return math.Inf(1)
	}
	return loser / winner
}

func chooseCost(pairs []Pair, currency string) Recommendation {
	// The geometric mean of blob/queue cost ratios weighs every pair alike,
	// whatever its size.
	logSum, n := 0.0, 0
	var cheapestQ, cheapestB float64
	for _, p := range pairs {
		q, b := p.Queue.CostFlex.Median, p.Blob.CostFlex.Median
		if q <= 0 || b <= 0 {
			continue
		}
		logSum += math.Log(b / q)
		n++
		cheapestQ += q
		cheapestB += b
	}
	r := Recommendation{UseCase: "Lowest cost per run (Flex Consumption, all paired configurations)"}
	if n == 0 {
		r.Because = "no paired run has a cost"
		return r
	}
	g := math.Exp(logSum / float64(n))
	detail := fmt.Sprintf("over %d paired configuration(s) blob costs %s× queue (geometric mean); summed, queue %s vs blob %s",
		n, Sig(g, 3), money(cheapestQ, currency), money(cheapestB, currency))
	switch {
	case math.Abs(g-1) < materialDifference:
		r.Choice = "either"
		r.Because = detail + fmt.Sprintf(" — within %d %%", int(materialDifference*100))
	case g < 1:
		r.Choice = TransportBlob
		r.Because = detail
	default:
		r.Choice = TransportQueue
		r.Because = detail
	}
	return r
}

// pairWhere names the configuration a pair ran.
func pairWhere(p Pair) string {
	c := p.Queue.Config
	return fmt.Sprintf("SF %s, %d chunks, %s units, %d instance(s) per app, %s", FormatFloat(c.ScaleFactor), c.Chunks, p.Units(), c.InstancesPerApp, c.Arch)
}

// Units is the pair's unit size, "8 MiB", or both when partition chose a
// different size for each transport: "queue 8 MiB / blob 32 MiB".
func (p Pair) Units() string {
	q, b := p.Queue.Config.UnitSizeBytes, p.Blob.Config.UnitSizeBytes
	if q == b {
		return FormatBytes(q)
	}
	return "queue " + FormatBytes(q) + " / blob " + FormatBytes(b)
}

package billing

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func inv(inst string, startMS, durMS float64) Invocation {
	return Invocation{Instance: inst, Start: t0.Add(ms(startMS)), Duration: ms(durMS)}
}

func TestConsumptionMemoryMB(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		bytes float64
		want  int
	}{
		{0, 128}, {1, 128}, {128 * mib, 128}, {128*mib + 1, 256}, {200 * mib, 256}, {1536 * mib, 1536}, {4 << 30, 1536},
	} {
		assert.Equal(t, tt.want, ConsumptionMemoryMB(tt.bytes), "bytes %v", tt.bytes)
	}
}

func TestConsumptionPerExecution(t *testing.T) {
	// One execution alone: 40 ms → 100 ms, 300 MB → 384 MB.
	g, err := Compute([]Invocation{inv("a", 0, 40)}, map[string]int64{"a": 300 << 20}, 2048)
	require.NoError(t, err)
	assert.InDelta(t, 0.375*0.1, g.Consumption, 1e-12)
	assert.Equal(t, 1, g.Executions)

	// 16 executions of 1 s at once on one 1 GiB instance: each holds a
	// sixteenth (64 MB), billed at the 128 MB minimum: 16 × 0.125 GB × 1 s,
	// not 16 × 1 GB × 1 s.
	var invs []Invocation
	for range 16 {
		invs = append(invs, inv("a", 0, 1000))
	}
	g, err = Compute(invs, map[string]int64{"a": 1 << 30}, 2048)
	require.NoError(t, err)
	assert.InDelta(t, 16*0.125*1.0, g.Consumption, 1e-9)
	assert.InDelta(t, 2.0*1.0, g.Flex, 1e-9, "one instance busy 1 s at 2 GB")
}

func TestFlexPeriods(t *testing.T) {
	// Invocations starting inside a period's billed 1 s join it; one that
	// starts after it opens a new period.
	ps, err := FlexPeriods([]Invocation{inv("a", 0, 10), inv("a", 990, 10), inv("a", 2100, 10), inv("b", 0, 1234)})
	require.NoError(t, err)
	require.Len(t, ps, 3)
	assert.Equal(t, Period{Instance: "a", Start: t0, End: t0.Add(ms(1000)), Billed: time.Second, Invocations: 2}, ps[0])
	assert.Equal(t, time.Second, ps[1].Billed)
	assert.Equal(t, 1300*time.Millisecond, ps[2].Billed)
	// A stream: gaps shorter than the 100 ms billing step keep one period
	// going past the first second.
	var stream []Invocation
	for i := range 100 {
		stream = append(stream, inv("q", float64(i)*25, 20))
	}
	sp, err := FlexPeriods(stream)
	require.NoError(t, err)
	require.Len(t, sp, 1)
	assert.Equal(t, 2500*time.Millisecond, sp[0].Billed)

	from, to := Window(ps)
	assert.Equal(t, t0, from)
	assert.Equal(t, t0.Add(ms(3100)), to)

	_, err = FlexPeriods([]Invocation{{Instance: "", Start: t0}})
	require.ErrorIs(t, err, ErrBadInput)
	_, err = Compute(nil, nil, 1024)
	require.ErrorIs(t, err, ErrBadInput)
	_, err = Compute([]Invocation{inv("x", 0, 1)}, map[string]int64{}, 2048)
	require.ErrorIs(t, err, ErrBadInput)
}

// TestBillingProperties checks, over random runs, what the rules promise:
// Flex never bills more instance time than instances × the billing window
// (which ends at most 1.1 s after the last invocation), never less than the
// time instances are busy, and billed periods never overlap; Consumption
// never bills less than the executions' minimums nor more than every
// execution at the instance's full memory.
func TestBillingProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 34))
	for trial := range 500 {
		nInst := 1 + rng.IntN(4)
		var invs []Invocation
		rss := map[string]int64{}
		var lastEnd time.Time
		for i := range nInst {
			name := string(rune('a' + i))
			rss[name] = rng.Int64N(2 << 30)
			at := rng.Float64() * 500
			for range rng.IntN(60) {
				d := rng.ExpFloat64() * 80
				v := inv(name, at, d)
				invs = append(invs, v)
				if e := v.end(); e.After(lastEnd) {
					lastEnd = e
				}
				at += rng.ExpFloat64() * []float64{5, 50, 700}[rng.IntN(3)] // streams, bursts and pauses
				if rng.IntN(3) == 0 {
					at -= d / 2 // some overlap
				}
			}
		}
		g, err := Compute(invs, rss, 2048)
		require.NoError(t, err)
		ps, err := FlexPeriods(invs)
		require.NoError(t, err)
		if len(invs) == 0 {
			assert.Zero(t, g.Flex)
			continue
		}
		// A stream: gaps shorter than the 100 ms billing step keep one period
		// going past the first second.
		var stream []Invocation
		for i := range 100 {
			stream = append(stream, inv("q", float64(i)*25, 20))
		}
		sp, err := FlexPeriods(stream)
		require.NoError(t, err)
		require.Len(t, sp, 1)
		assert.Equal(t, 2500*time.Millisecond, sp[0].Billed)

		from, to := Window(ps)
		window := to.Sub(from).Seconds()
		used := map[string]bool{}
		for _, v := range invs {
			used[v.Instance] = true
		}
		assert.LessOrEqual(t, g.FlexInstanceSeconds, float64(len(used))*window+1e-9, "trial %d", trial)
		assert.LessOrEqual(t, to.Sub(lastEnd), 1100*time.Millisecond, "trial %d: window ends past the minimum", trial)

		// Billed periods of an instance never overlap and each covers its busy span.
		byInst := map[string][]Period{}
		for _, p := range ps {
			byInst[p.Instance] = append(byInst[p.Instance], p)
			assert.GreaterOrEqual(t, p.Billed, p.End.Sub(p.Start))
		}
		for _, pp := range byInst {
			for i := 1; i < len(pp); i++ {
				assert.False(t, pp[i].Start.Before(pp[i-1].Start.Add(pp[i-1].Billed)), "trial %d: periods overlap", trial)
			}
		}
		// Busy time (union of invocations per instance) is a lower bound.
		var busy float64
		for name := range used {
			var spans []Invocation
			for _, v := range invs {
				if v.Instance == name {
					spans = append(spans, v)
				}
			}
			slices.SortFunc(spans, func(a, b Invocation) int { return a.Start.Compare(b.Start) })
			var cs, ce time.Time
			for i, v := range spans {
				if i == 0 || v.Start.After(ce) {
					busy += ce.Sub(cs).Seconds()
					cs, ce = v.Start, v.end()
				} else if v.end().After(ce) {
					ce = v.end()
				}
			}
			busy += ce.Sub(cs).Seconds()
		}
		assert.GreaterOrEqual(t, g.FlexInstanceSeconds+1e-9, busy, "trial %d", trial)

		var lo, hi float64
		for _, v := range invs {
			d := ConsumptionDuration(v.Duration).Seconds()
			lo += d * ConsumptionMinMemoryMB / 1024
			hi += d * float64(ConsumptionMemoryMB(float64(rss[v.Instance]))) / 1024
		}
		assert.GreaterOrEqual(t, g.Consumption+1e-9, lo, "trial %d", trial)
		assert.LessOrEqual(t, g.Consumption, hi+1e-9, "trial %d", trial)
	}
}

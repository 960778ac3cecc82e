package funchost

import (
	"math"
	"math/rand/v2"
	"time"
)

// backoff is the queue listener's polling delay: the storage extension's
// RandomizedExponentialBackoffStrategy with minimum = delta = 100 ms.
//
// After a poll that found messages the next empty poll waits the minimum;
// each further empty poll waits minimum + r × 2^(k-1) × delta with r drawn
// from [0.8, 1.2), so about 100, 200, 300, 500, 900, 1700 ms ..., until the
// maximum, which then holds.
type backoff struct {
	min, max, delta time.Duration
	current         time.Duration
	exponent        uint
	rand            func() float64 // [0, 1)
}

const randomizationFactor = 0.2

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, delta: min, rand: rand.Float64}
}

// next returns the delay before the next poll. succeeded says whether a
// message was found since the previous delay.
func (b *backoff) next(succeeded bool) time.Duration {
	if succeeded {
		b.current = b.min
		b.exponent = 1
		return b.current
	}
	if b.current == b.max {
		return b.current
	}
	interval := b.min
	if b.exponent > 0 {
		r := 1 - randomizationFactor + 2*randomizationFactor*b.rand()
		inc := r * math.Pow(2, float64(b.exponent-1)) * float64(b.delta)
		interval += time.Duration(inc)
	}
	if interval < b.max {
		b.current = interval
		b.exponent++
	} else {
		b.current = b.max
	}
	return b.current
}

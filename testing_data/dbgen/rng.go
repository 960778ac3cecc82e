package dbgen

// The TPC-H generator draws every column from its own Lehmer ("minimal
// standard", Park–Miller) random stream: x' = 16807·x mod (2³¹−1). Each
// stream starts from a fixed seed and, after every row, is moved forward to
// a fixed per-row boundary no matter how many numbers the row actually used.
// That makes the state at the start of row n a pure function of n, so any
// row range can be generated independently by skipping ahead.

const (
	lehmerA = 16807
	lehmerM = 2147483647 // 2³¹−1, prime
	// lehmerMFloat is the divisor dbgen uses to map a state to [0, 1).
	lehmerMFloat = 2147483647.0
)

// stream is one Park–Miller random stream. Its zero value is not useful;
// start from a seed in (0, lehmerM).
type stream struct {
	x int64
}

// next advances the stream by one step and returns the new state.
func (s *stream) next() int64 {
	// 2³¹ ≡ 1 (mod 2³¹−1), so fold the high bits of the product onto the
	// low ones instead of dividing; the sum stays below 2·lehmerM.
	p := s.x * lehmerA
	x := p&lehmerM + p>>31
	if x >= lehmerM {
		x -= lehmerM
	}
	s.x = x
	return x
}

// uniform draws one number and scales it to [lo, hi] the way dbgen does:
// through a double, truncating toward zero. Callers must keep hi−lo+1 within
// int32 range; see alnum for the one case dbgen handles differently.
func (s *stream) uniform(lo, hi int64) int64 {
	v := s.next()
	return lo + int64(float64(v)/lehmerMFloat*float64(hi-lo+1))
}

// alnum draws the 64-bit word that dbgen slices into six-bit characters for
// random alphanumeric strings. dbgen asks for the range [0, 2³¹−1], whose
// width overflows a 32-bit int to −2³¹, so the word it uses is the state
// scaled by −2³¹: zero or negative. Its low bits, taken in two's complement
// with arithmetic shifts, pick the characters.
func (s *stream) alnum() int64 {
	v := s.next()
	return int64(float64(v) / lehmerMFloat * -2147483648.0)
}

// skip moves the stream forward by n steps in O(log n) time.
func (s *stream) skip(n int64) {
	s.x = s.x * lehmerPow(n) % lehmerM
}

// lehmerPow returns 16807ⁿ mod (2³¹−1) by square-and-multiply. Operands stay
// below 2³¹, so every product fits in an int64.
func lehmerPow(n int64) int64 {
	result, base := int64(1), int64(lehmerA)
	for n > 0 {
		if n&1 == 1 {
			result = result * base % lehmerM
		}
		base = base * base % lehmerM
		n >>= 1
	}
	return result
}

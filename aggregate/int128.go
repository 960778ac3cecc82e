package aggregate

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
)

// Int128 is a signed 128-bit integer in two's complement. Per-nation sums of
// int64 cents are kept in it: adding 2^63 values of magnitude below 2^63
// stays below 2^126, so no sum of real input can overflow. The zero value is
// 0. Its JSON form is a plain decimal number.
type Int128 struct {
	hi int64
	lo uint64
}

// Int128From64 returns v as an Int128.
func Int128From64(v int64) Int128 {
	return Int128{hi: v >> 63, lo: uint64(v)}
}

// Add64 returns a + v.
func (a Int128) Add64(v int64) Int128 {
	lo, carry := bits.Add64(a.lo, uint64(v), 0)
	return Int128{hi: a.hi + v>>63 + int64(carry), lo: lo}
}

// Add returns a + b, wrapping on 128-bit overflow (which sums of int64 cents
// cannot reach).
func (a Int128) Add(b Int128) Int128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(uint64(a.hi), uint64(b.hi), carry)
	return Int128{hi: int64(hi), lo: lo}
}

// Sign returns -1, 0 or +1.
func (a Int128) Sign() int {
	switch {
	case a.hi < 0:
		return -1
	case a.hi == 0 && a.lo == 0:
		return 0
	}
	return 1
}

// Int64 returns a as an int64 and whether it fits.
func (a Int128) Int64() (int64, bool) {
	v := int64(a.lo)
	return v, a.hi == v>>63
}

// Big returns a as a new big.Int.
func (a Int128) Big() *big.Int {
	if v, ok := a.Int64(); ok {
		return big.NewInt(v)
	}
	neg := a.hi < 0
	u := a
	if neg { // two's complement negation: ^u + 1
		u = Int128{hi: ^u.hi, lo: ^u.lo}.Add64(1)
	}
	b := new(big.Int).SetUint64(uint64(u.hi))
	b.Lsh(b, 64)
	b.Or(b, new(big.Int).SetUint64(u.lo))
	if neg {
		b.Neg(b)
	}
	return b
}

var (
	minInt128 = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 127))
	maxInt128 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1))
	mask64    = new(big.Int).SetUint64(^uint64(0))
)

var errInt128Range = errors.New("integer out of 128-bit range")

// Int128FromBig converts b, failing when it does not fit in 128 bits.
func Int128FromBig(b *big.Int) (Int128, error) {
	if b.Cmp(minInt128) < 0 || b.Cmp(maxInt128) > 0 {
		return Int128{}, errInt128Range
	}
	if b.IsInt64() {
		return Int128From64(b.Int64()), nil
	}
	u := new(big.Int).Abs(b)
	lo := new(big.Int).And(u, mask64).Uint64()
	hi := new(big.Int).Rsh(u, 64).Uint64()
	r := Int128{hi: int64(hi), lo: lo}
	if b.Sign() < 0 {
		r = Int128{hi: ^r.hi, lo: ^r.lo}.Add64(1)
	}
	return r, nil
}

// String returns a in decimal.
func (a Int128) String() string {
	if v, ok := a.Int64(); ok {
		return fmt.Sprint(v)
	}
	return a.Big().String()
}

// MarshalJSON writes a as a JSON number.
func (a Int128) MarshalJSON() ([]byte, error) {
	return []byte(a.String()), nil
}

// UnmarshalJSON reads a JSON integer (of any length up to 128 bits).
func (a *Int128) UnmarshalJSON(b []byte) error {
	v, ok := new(big.Int).SetString(string(b), 10)
	if !ok {
		return fmt.Errorf("aggregate: %q is not an integer", b)
	}
	r, err := Int128FromBig(v)
	if err != nil {
		return fmt.Errorf("aggregate: %s: %w", b, err)
	}
	*a = r
	return nil
}

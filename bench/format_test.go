package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormatting(t *testing.T) {
	sigs := []struct {
		v    float64
		n    int
		want string
	}{
		{0.000123456, 3, "0.000123"},
		{1234.5, 3, "1230"},
		{2, 3, "2"},
		{0.1 + 0.2, 3, "0.3"},
		{-45.678, 2, "-46"},
		{999.96, 4, "1000"},
		{0, 3, "0"},
	}
	for _, s := range sigs {
		assert.Equal(t, s.want, Sig(s.v, s.n), "Sig(%v, %d)", s.v, s.n)
	}
	assert.Equal(t, "512 B", FormatBytes(512))
	assert.Equal(t, "8 MiB", FormatBytes(8<<20))
	assert.Equal(t, "1.5 GiB", FormatBytes(3<<29))
	assert.Equal(t, "24.3 MB", formatDecimalBytes(24.3e6))
	assert.Equal(t, "100 GB", formatDecimalBytes(100e9))
	assert.Equal(t, "0.00123 USD", money(0.0012345, "USD"))
	assert.Equal(t, `a \| b c`, mdEscape("a | b\nc"))
	assert.Equal(t, "1,000,000", grouped(1e6))
	assert.Equal(t, "10,000", grouped(10000))
	assert.Equal(t, "400", grouped(400))
	assert.Equal(t, "-1,234.5", grouped(-1234.5))
	assert.Equal(t, "0.5", grouped(0.5))
}

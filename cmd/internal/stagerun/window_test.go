package stagerun

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWindow(t *testing.T) {
	const def = 300 * time.Millisecond
	for v, want := range map[string]time.Duration{"": def, "0": 0, "250ms": 250 * time.Millisecond, "1m": time.Minute} {
		got, err := Window("FUNNEL_X", v, def)
		assert.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	for _, v := range []string{"soon", "-1s", "2m", "500"} {
		_, err := Window("FUNNEL_X", v, def)
		assert.ErrorContains(t, err, "FUNNEL_X", v)
	}
}

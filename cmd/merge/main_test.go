package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/funnelpipe/funnel/merge"
)

func TestFoldWindow(t *testing.T) {
	for v, want := range map[string]time.Duration{"": merge.DefaultFoldWindow, "0": 0, "250ms": 250 * time.Millisecond, "1m": time.Minute} {
		got, err := foldWindow(v)
		assert.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	for _, v := range []string{"soon", "-1s", "2m", "500"} {
		_, err := foldWindow(v)
		assert.Error(t, err, v)
	}
}

package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWritesDoNotInterleave(t *testing.T) {
	var under bytes.Buffer // not safe alone: Writer must serialise
	w := NewWriter(&under)
	var b Buffer
	var wg sync.WaitGroup
	line := strings.Repeat("x", 100) + "\n"
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = w.Write([]byte(line))
				_, _ = b.Write([]byte(line))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat(line, 800), under.String())
	assert.Equal(t, strings.Repeat(line, 800), b.String())
	assert.Equal(t, b.String(), string(b.Bytes()))

	require.NoError(t, w.Close())
	n, err := w.Write([]byte("late"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.NotContains(t, under.String(), "late", "dropped after Close")
}

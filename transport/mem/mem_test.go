package mem_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/mem"
	"github.com/funnelpipe/funnel/transport/transporttest"
)

type harness struct{ tr *mem.Transport }

func newHarness(context.Context, testing.TB) (transporttest.Harness, error) {
	return &harness{tr: mem.New()}, nil
}

func (h *harness) MakeTransport(context.Context) (transport.Transport, error) { return h.tr, nil }
func (h *harness) MakeUnreachable(context.Context) (transport.Transport, error) {
	return nil, nil
}
func (h *harness) Receive(_ context.Context, topic string) ([]transport.Delivery, error) {
	return h.tr.Take(topic), nil
}
func (h *harness) Refetch(d transport.Delivery) transport.Delivery { return d }
func (h *harness) Close()                                          {}

func TestConformance(t *testing.T) { transporttest.RunConformanceTests(t, newHarness) }

func BenchmarkMem(b *testing.B) { transporttest.RunBenchmarks(b, newHarness) }

func TestInspectAndInject(t *testing.T) {
	ctx := context.Background()
	tr := mem.New()
	m := transport.Message{ID: "job/u/000001", Body: []byte("unit")}
	require.NoError(t, tr.Send(ctx, "units", m))
	require.Len(t, tr.Deliveries("units"), 1, "Deliveries does not consume")
	ds := tr.Take("units")
	require.Len(t, ds, 1)
	assert.Empty(t, tr.Deliveries("units"))
	assert.Equal(t, 1, tr.Stored("units"))

	// A duplicate from the host, with a higher dequeue count.
	dup := ds[0]
	dup.DequeueCount = 2
	tr.Inject("units", dup)
	again := tr.Take("units")
	require.Len(t, again, 1)
	got, err := tr.Open(ctx, "units", again[0])
	require.NoError(t, err)
	assert.Equal(t, m, got)

	require.NoError(t, tr.Done(ctx, "units", got))
	assert.Zero(t, tr.Stored("units"))
	got, err = tr.Open(ctx, "units", ds[0])
	require.ErrorIs(t, err, transport.ErrNotFound)
	assert.Equal(t, m.ID, got.ID)
}

func TestFault(t *testing.T) {
	ctx := context.Background()
	tr := mem.New()
	boom := errors.New("boom")
	tr.SetFault(func(op, topic string) error {
		if op == "send" && topic == "units" {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, tr.Send(ctx, "units", transport.Message{ID: "a", Body: nil}), boom)
	assert.Empty(t, tr.Deliveries("units"), "a faulted send stores nothing")
	require.NoError(t, tr.Send(ctx, "partials", transport.Message{ID: "a"}))
	tr.SetFault(nil)
	require.NoError(t, tr.Send(ctx, "units", transport.Message{ID: "a"}))
}

// Package transporttest is the conformance suite and benchmark set that
// every transport.Transport implementation passes.
//
// An implementation's test provides a HarnessMaker and calls
//
//	transporttest.RunConformanceTests(t, newHarness)
//	transporttest.RunBenchmarks(b, newHarness)
//
// A Harness builds the transport under test and receives what was sent the
// way the Azure Functions host would hand it to a function (a queue
// trigger: the decoded message text and dequeue count; a blob trigger: the
// blob's name and content), so the suite checks the whole path from Send
// to Open and Done.
package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/transport"
)

// Harness connects the suite to one implementation.
type Harness interface {
	// MakeTransport returns the transport under test, on the harness's
	// storage.
	MakeTransport(ctx context.Context) (transport.Transport, error)
	// MakeUnreachable returns a transport of the same kind whose storage
	// cannot be reached (an account on a closed 127.0.0.1 port), or nil if
	// the implementation has no storage to lose.
	MakeUnreachable(ctx context.Context) (transport.Transport, error)
	// Receive returns, as the Functions host would deliver them, the
	// messages on topic that no earlier Receive returned; it does not wait
	// for more (everything Send returned for is already stored).
	Receive(ctx context.Context, topic string) ([]transport.Delivery, error)
	// Refetch returns d as a trigger would hand it over if the payload had
	// to be read from storage again (a blob trigger delivery without its
	// content); d itself when a delivery never carries the payload.
	Refetch(d transport.Delivery) transport.Delivery
	// Close releases what the harness holds.
	Close()
}

// RequestCounter is implemented by a Harness that can tell how many storage
// requests its transports and its receiving have made so far; benchmarks
// then report requests per message ("reqs/msg"), which, unlike time, does
// not depend on the machine.
type RequestCounter interface {
	StorageRequests() float64
}

// HarnessMaker makes a Harness for one test or benchmark.
type HarnessMaker func(ctx context.Context, tb testing.TB) (Harness, error)

// backstop bounds every test; reaching it is a failure (a hang), not a
// timing assertion.
const backstop = 2 * time.Minute

// RunConformanceTests runs the suite against the implementation newHarness
// makes.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	cases := []struct {
		name string
		run  func(context.Context, *testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"Bodies", testBodies},
		{"Redelivery", testRedelivery},
		{"ConcurrentSenders", testConcurrentSenders},
		{"Cancellation", testCancellation},
		{"BadTopics", testBadTopics},
		{"BadIDs", testBadIDs},
		{"TooLarge", testTooLarge},
		{"OpenAfterDone", testOpenAfterDone},
		{"Malformed", testMalformed},
		{"Unreachable", testUnreachable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), backstop)
			defer cancel()
			h, err := newHarness(ctx, t)
			require.NoError(t, err)
			defer h.Close()
			c.run(ctx, t, h)
			require.NoError(t, ctx.Err(), "the test ran into its %v backstop", backstop)
		})
	}
}

// Topic returns a topic name no other test uses.
func Topic() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "t" + hex.EncodeToString(b[:])
}

func makeTransport(ctx context.Context, t *testing.T, h Harness) transport.Transport {
	t.Helper()
	tr, err := h.MakeTransport(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, tr.Name())
	return tr
}

// body returns n pseudo-random bytes (incompressible, not text) seeded by
// seed, so a body can be recomputed for comparison.
func body(seed uint64, n int) []byte {
	r := mathrand.New(mathrand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// receiveAll receives deliveries on topic until want have arrived or a
// Receive returns nothing.
func receiveAll(ctx context.Context, t *testing.T, h Harness, topic string, want int) []transport.Delivery {
	t.Helper()
	var all []transport.Delivery
	for len(all) < want {
		ds, err := h.Receive(ctx, topic)
		require.NoError(t, err)
		if len(ds) == 0 {
			break
		}
		all = append(all, ds...)
	}
	return all
}

// openAll opens every delivery and returns the messages by ID.
func openAll(ctx context.Context, t *testing.T, tr transport.Transport, topic string, ds []transport.Delivery) map[string][]transport.Message {
	t.Helper()
	got := map[string][]transport.Message{}
	for _, d := range ds {
		m, err := tr.Open(ctx, topic, d)
		require.NoError(t, err)
		got[m.ID] = append(got[m.ID], m)
	}
	return got
}

func testRoundTrip(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	sent := []transport.Message{
		{ID: "job1/u/000001", Body: []byte(`{"job":"job1","unit":1,"range":[0,1048576]}`)},
		{ID: "job1/u/000002", Body: body(2, 300)},
		{ID: "job1/p/000001", Body: []byte("plain text\nwith lines\n")},
		{ID: "x", Body: []byte(" {\"padded\": true} ")},
		{ID: "A.b_c-d", Body: []byte("<&>\u2028\"'\\")},
	}
	require.NoError(t, tr.Send(ctx, topic, sent...))
	require.NoError(t, tr.Send(ctx, topic), "an empty Send is a no-op")

	ds := receiveAll(ctx, t, h, topic, len(sent))
	require.Len(t, ds, len(sent))
	got := openAll(ctx, t, tr, topic, ds)
	for _, m := range sent {
		require.Len(t, got[m.ID], 1, "message %s", m.ID)
		assert.Equal(t, m.Body, got[m.ID][0].Body, "message %s", m.ID)
	}
	for _, d := range ds {
		if d.Text != "" {
			assert.Equal(t, 1, d.DequeueCount, "a queue delivery is first delivered once")
		}
	}
	for _, m := range sent {
		require.NoError(t, tr.Done(ctx, topic, m))
		require.NoError(t, tr.Done(ctx, topic, m), "Done is idempotent")
	}
	require.NoError(t, tr.Done(ctx, topic, transport.Message{ID: "never/sent"}), "Done of an unknown message is a no-op")
	rest, err := h.Receive(ctx, topic)
	require.NoError(t, err)
	assert.Empty(t, rest, "each message is received once")
}

func testBodies(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	sizes := []int{0, 1, 48 << 10, 1 << 20, 16 << 20}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("%dB", n), func(t *testing.T) {
			topic := Topic()
			m := transport.Message{ID: fmt.Sprintf("size/%d", n), Body: body(uint64(n), n)}
			require.NoError(t, tr.Send(ctx, topic, m))
			ds := receiveAll(ctx, t, h, topic, 1)
			require.Len(t, ds, 1)
			got, err := tr.Open(ctx, topic, ds[0])
			require.NoError(t, err)
			assert.Equal(t, m.ID, got.ID)
			assert.Len(t, got.Body, n)
			assert.True(t, bytes.Equal(m.Body, got.Body), "body of %d bytes differs", n)
			require.NoError(t, tr.Done(ctx, topic, got))
		})
	}
	// Sizes around the queue's inline limit (48 KiB of raw bytes in a
	// base64 message of 64 KiB, less the envelope), in one batch.
	topic := Topic()
	var msgs []transport.Message
	for n := 36 << 10; n <= 50<<10; n += 2 << 10 {
		for _, d := range []int{-1, 0, 1} {
			msgs = append(msgs, transport.Message{ID: fmt.Sprintf("edge/%d", n+d), Body: body(uint64(d+2), n+d)})
		}
	}
	require.NoError(t, tr.Send(ctx, topic, msgs...))
	ds := receiveAll(ctx, t, h, topic, len(msgs))
	require.Len(t, ds, len(msgs))
	got := openAll(ctx, t, tr, topic, ds)
	for _, m := range msgs {
		require.Len(t, got[m.ID], 1, m.ID)
		assert.True(t, bytes.Equal(m.Body, got[m.ID][0].Body), "body of %s differs", m.ID)
		require.NoError(t, tr.Done(ctx, topic, m))
	}
}

func testRedelivery(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	small := transport.Message{ID: "job7/u/000003", Body: []byte(`{"n":3}`)}
	large := transport.Message{ID: "job7/u/000004", Body: body(4, 100<<10)}
	for range 2 { // a sender that retries
		require.NoError(t, tr.Send(ctx, topic, small, large))
	}
	ds := receiveAll(ctx, t, h, topic, 4)
	// Two queue messages each, or one blob overwritten in place each.
	require.GreaterOrEqual(t, len(ds), 2)
	require.LessOrEqual(t, len(ds), 4)
	got := openAll(ctx, t, tr, topic, ds)
	for _, m := range []transport.Message{small, large} {
		require.NotEmpty(t, got[m.ID], m.ID)
		for _, g := range got[m.ID] {
			assert.Equal(t, m.Body, g.Body, m.ID)
		}
	}
	// The host redelivering the same delivery opens to the same message.
	for _, d := range ds {
		a, err := tr.Open(ctx, topic, d)
		require.NoError(t, err)
		b, err := tr.Open(ctx, topic, h.Refetch(d))
		require.NoError(t, err)
		assert.Equal(t, a, b)
	}
}

func testConcurrentSenders(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	const senders, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			var msgs []transport.Message
			for i := range each {
				msgs = append(msgs, transport.Message{ID: fmt.Sprintf("s%02d/m%02d", s, i), Body: body(uint64(s*each+i), 512+s*100+i)})
			}
			// Half send one by one, half in one batch.
			if s%2 == 0 {
				errs <- tr.Send(ctx, topic, msgs...)
				return
			}
			for _, m := range msgs {
				if err := tr.Send(ctx, topic, m); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ds := receiveAll(ctx, t, h, topic, senders*each)
	require.Len(t, ds, senders*each)
	got := openAll(ctx, t, tr, topic, ds)
	for s := range senders {
		for i := range each {
			id := fmt.Sprintf("s%02d/m%02d", s, i)
			require.Len(t, got[id], 1, id)
			assert.Equal(t, body(uint64(s*each+i), 512+s*100+i), got[id][0].Body, id)
		}
	}
}

func testCancellation(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	msgs := []transport.Message{{ID: "c/1", Body: []byte("one")}, {ID: "c/2", Body: body(2, 200<<10)}}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err := tr.Send(cancelled, topic, msgs...)
	require.ErrorIs(t, err, context.Canceled)

	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	err = tr.Send(expired, topic, msgs...)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Cancelled while sending many: the error is the context's, and Send
	// returns instead of finishing the batch.
	var many []transport.Message
	for i := range 400 {
		many = append(many, transport.Message{ID: fmt.Sprintf("many/%03d", i), Body: body(uint64(i), 2048)})
	}
	mid, cancel3 := context.WithCancel(ctx)
	go func() {
		time.Sleep(5 * time.Millisecond)
		cancel3()
	}()
	err = tr.Send(mid, topic, many...)
	if err != nil { // a fast implementation may finish first
		require.ErrorIs(t, err, context.Canceled)
	}

	// Open and Done with a cancelled context either need no I/O and
	// succeed, or stop with the context's error.
	require.NoError(t, tr.Send(ctx, topic, msgs...))
	ds := receiveAll(ctx, t, h, topic, len(many)+len(msgs))
	require.NotEmpty(t, ds)
	for _, d := range ds {
		m, err := tr.Open(cancelled, topic, h.Refetch(d))
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			continue
		}
		if err := tr.Done(cancelled, topic, m); err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	}
}

func testBadTopics(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	m := transport.Message{ID: "ok", Body: []byte("x")}
	for _, topic := range []string{"", "Units", "a_b", "-x", "x-", "a--b", "a.b", "a/b", strings.Repeat("x", 64), "ünits"} {
		assert.ErrorIs(t, tr.Send(ctx, topic, m), transport.ErrBadName, "Send to %q", topic)
		assert.ErrorIs(t, tr.Send(ctx, topic), transport.ErrBadName, "empty Send to %q", topic)
		_, err := tr.Open(ctx, topic, transport.Delivery{Text: "x", Name: "x", Content: []byte("x")})
		assert.ErrorIs(t, err, transport.ErrBadName, "Open on %q", topic)
		assert.ErrorIs(t, tr.Done(ctx, topic, m), transport.ErrBadName, "Done on %q", topic)
	}
}

func testBadIDs(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	for _, id := range []string{"", "/a", "a/", "a//b", "a/../b", "./a", "a b", "a?b", "a#b", "a%41", "é", strings.Repeat("a", 513)} {
		// One bad ID spoils the batch before anything is written.
		err := tr.Send(ctx, topic, transport.Message{ID: "good/1", Body: []byte("x")}, transport.Message{ID: id, Body: []byte("y")})
		assert.ErrorIs(t, err, transport.ErrBadName, "ID %q", id)
	}
	ds, err := h.Receive(ctx, topic)
	require.NoError(t, err)
	assert.Empty(t, ds, "a batch with a bad ID wrote nothing")
}

func testTooLarge(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	huge := make([]byte, transport.MaxBody+1)
	err := tr.Send(ctx, topic, transport.Message{ID: "ok/1", Body: []byte("fine")}, transport.Message{ID: "huge", Body: huge})
	require.ErrorIs(t, err, transport.ErrTooLarge)
	ds, err := h.Receive(ctx, topic)
	require.NoError(t, err)
	assert.Empty(t, ds, "nothing was written")
}

func testOpenAfterDone(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	for _, m := range []transport.Message{
		{ID: "done/large", Body: body(9, 100<<10)}, // out of band on every medium
		{ID: "done/small", Body: []byte(`{"small":true}`)},
	} {
		require.NoError(t, tr.Send(ctx, topic, m))
		ds := receiveAll(ctx, t, h, topic, 1)
		require.Len(t, ds, 1)
		got, err := tr.Open(ctx, topic, ds[0])
		require.NoError(t, err)
		require.Equal(t, m, got)
		require.NoError(t, tr.Done(ctx, topic, got))

		// The host delivers it again (a crash after Done): either the
		// whole message, when the delivery carried it, or its ID with
		// ErrNotFound.
		again, err := tr.Open(ctx, topic, ds[0])
		if err != nil {
			require.ErrorIs(t, err, transport.ErrNotFound)
			assert.Equal(t, m.ID, again.ID)
			assert.Nil(t, again.Body)
		} else {
			assert.Equal(t, m, again)
		}
		if len(m.Body) > 64<<10 {
			again, err = tr.Open(ctx, topic, h.Refetch(ds[0]))
			require.ErrorIs(t, err, transport.ErrNotFound, "a payload read after Done is gone")
			assert.Equal(t, m.ID, again.ID)
			assert.Nil(t, again.Body)
		}
	}
}

func testMalformed(ctx context.Context, t *testing.T, h Harness) {
	tr := makeTransport(ctx, t, h)
	topic := Topic()
	garbage := []transport.Delivery{
		{},
		{Text: "hello"},
		{Text: "{}"},
		{Text: `{"id":5}`},
		{Text: "\xff\xfe\x00"},
		{Text: "eyJ9"}, // base64 of `{"}`
		{Text: `{"id":"a//b","body":"eA=="}`},
		{Name: "a//b", Content: []byte("x")},
		{Name: "/x", Content: []byte("x")},
		{Name: "a b", Content: []byte("x")},
		{Name: strings.Repeat("n", 600), Content: []byte("x")},
	}
	for _, d := range garbage {
		_, err := tr.Open(ctx, topic, d)
		assert.ErrorIs(t, err, transport.ErrMalformed, "Open(%+.60v)", d)
	}
}

func testUnreachable(ctx context.Context, t *testing.T, h Harness) {
	tr, err := h.MakeUnreachable(ctx)
	require.NoError(t, err)
	if tr == nil {
		t.Skip("this implementation has no storage to lose")
	}
	topic := Topic()
	for _, m := range []transport.Message{
		{ID: "u/small", Body: []byte("x")},
		{ID: "u/large", Body: body(1, 100<<10)},
	} {
		err := tr.Send(ctx, topic, m)
		require.NoError(t, ctx.Err(), "Send hung until the backstop")
		require.ErrorIs(t, err, transport.ErrUnavailable, "Send of %s", m.ID)
	}
}

// RunBenchmarks measures send+receive throughput and latency for 1 KiB and
// 64 KiB messages. Each operation is one message sent, received as the host
// would, opened and done. Besides ns/op it reports msgs/s and, for the
// latency benchmarks, the median and 99th-percentile round trip.
func RunBenchmarks(b *testing.B, newHarness HarnessMaker) {
	for _, size := range []int{1 << 10, 64 << 10} {
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run("Throughput/"+name, func(b *testing.B) { benchThroughput(b, newHarness, size) })
		b.Run("Latency/"+name, func(b *testing.B) { benchLatency(b, newHarness, size) })
	}
}

func benchHarness(b *testing.B, newHarness HarnessMaker) (context.Context, Harness, transport.Transport) {
	ctx := b.Context()
	h, err := newHarness(ctx, b)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	tr, err := h.MakeTransport(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return ctx, h, tr
}

// benchThroughput sends b.N messages in batches of 64 and drains them.
func benchThroughput(b *testing.B, newHarness HarnessMaker, size int) {
	ctx, h, tr := benchHarness(b, newHarness)
	topic := Topic()
	payload := body(1, size)
	const batch = 64
	b.SetBytes(int64(size))
	before := requestsSoFar(h)
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(batch, b.N-sent)
		msgs := make([]transport.Message, n)
		for i := range msgs {
			msgs[i] = transport.Message{ID: fmt.Sprintf("b/%08d", sent+i), Body: payload}
		}
		if err := tr.Send(ctx, topic, msgs...); err != nil {
			b.Fatal(err)
		}
		received := 0
		for received < n {
			ds, err := h.Receive(ctx, topic)
			if err != nil {
				b.Fatal(err)
			}
			if len(ds) == 0 {
				b.Fatalf("received %d of %d", received, n)
			}
			received += len(ds)
			if err := openAndDone(ctx, tr, topic, ds); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	reportRequests(b, h, before)
}

func requestsSoFar(h Harness) float64 {
	if c, ok := h.(RequestCounter); ok {
		return c.StorageRequests()
	}
	return 0
}

func reportRequests(b *testing.B, h Harness, before float64) {
	if _, ok := h.(RequestCounter); ok && b.N > 0 {
		b.ReportMetric((requestsSoFar(h)-before)/float64(b.N), "reqs/msg")
	}
}

// openAndDone opens and completes deliveries with up to 16 in flight, as a
// host running several invocations would.
func openAndDone(ctx context.Context, tr transport.Transport, topic string, ds []transport.Delivery) error {
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(ds))
	for _, d := range ds {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			m, err := tr.Open(ctx, topic, d)
			if err == nil {
				err = tr.Done(ctx, topic, m)
			}
			errs <- err
		}()
	}
	for range ds {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// benchLatency sends one message at a time and waits for it.
func benchLatency(b *testing.B, newHarness HarnessMaker, size int) {
	ctx, h, tr := benchHarness(b, newHarness)
	topic := Topic()
	payload := body(2, size)
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(size))
	before := requestsSoFar(h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		m := transport.Message{ID: fmt.Sprintf("l/%08d", i), Body: payload}
		if err := tr.Send(ctx, topic, m); err != nil {
			b.Fatal(err)
		}
		ds, err := h.Receive(ctx, topic)
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) != 1 {
			b.Fatalf("received %d deliveries, want 1", len(ds))
		}
		got, err := tr.Open(ctx, topic, ds[0])
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Done(ctx, topic, got); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	var total time.Duration
	for _, l := range lat {
		total += l
	}
	if total > 0 {
		b.ReportMetric(float64(len(lat))/total.Seconds(), "msgs/s")
	}
	reportRequests(b, h, before)
}

package queue_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
	"github.com/funnelpipe/funnel/transport/queue"
	"github.com/funnelpipe/funnel/transport/transporttest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// harness receives as the Functions queue trigger does: dequeue, decode
// the base64 text, delete.
type harness struct {
	tb   testing.TB
	acct *account.Account
	reg  *prometheus.Registry
	tr   *queue.Transport
}

func newHarness(_ context.Context, tb testing.TB) (transporttest.Harness, error) {
	acct, reg := azuritetest.OpenAccount(tb)
	tr, err := queue.New(acct, queue.Options{})
	if err != nil {
		return nil, err
	}
	return &harness{tb: tb, acct: acct, reg: reg, tr: tr}, nil
}

func (h *harness) MakeTransport(context.Context) (transport.Transport, error) { return h.tr, nil }

func (h *harness) MakeUnreachable(context.Context) (transport.Transport, error) {
	acct, err := account.Open(account.Config{ConnectionString: azuritetest.Unreachable(h.tb)}, account.Options{})
	if err != nil {
		return nil, err
	}
	return queue.New(acct, queue.Options{})
}

func (h *harness) Receive(ctx context.Context, topic string) ([]transport.Delivery, error) {
	name, err := h.tr.QueueName(topic)
	if err != nil {
		return nil, err
	}
	q := h.acct.Queue().NewQueueClient(name)
	var out []transport.Delivery
	for {
		resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: ptr(int32(32)), VisibilityTimeout: ptr(int32(300))})
		if queueerror.HasCode(err, queueerror.QueueNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(resp.Messages) == 0 {
			return out, nil
		}
		// The host runs a batch's invocations in parallel and deletes
		// each message when its invocation succeeds.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for _, m := range resp.Messages {
			text, err := base64.StdEncoding.DecodeString(*m.MessageText)
			if err != nil {
				return nil, fmt.Errorf("message %s is not base64 as the trigger expects: %w", *m.MessageID, err)
			}
			out = append(out, transport.Delivery{Text: string(text), DequeueCount: int(*m.DequeueCount)})
			g.Go(func() error {
				_, err := q.DeleteMessage(gctx, *m.MessageID, *m.PopReceipt, nil)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
}

func (h *harness) Refetch(d transport.Delivery) transport.Delivery { return d }

// StorageRequests counts every request of the harness's account.
func (h *harness) StorageRequests() float64 { return azuritetest.Requests(h.tb, h.reg) }

func (h *harness) Close() { h.acct.Close() }

func ptr[T any](v T) *T { return &v }

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Azurite")
	}
	transporttest.RunConformanceTests(t, newHarness)
}

func BenchmarkQueue(b *testing.B) { transporttest.RunBenchmarks(b, newHarness) }

func TestEnvelope(t *testing.T) {
	ctx := context.Background()
	acct, err := account.Open(account.Config{ConnectionString: azuritetest.Unreachable(t)}, account.Options{})
	require.NoError(t, err)
	tr, err := queue.New(acct, queue.Options{})
	require.NoError(t, err)
	tests := []struct {
		name string
		text string
		want transport.Message
	}{
		{"json", `{"funnel":1,"id":"a/b","json":{"k":[1,2]}}`, transport.Message{ID: "a/b", Body: []byte(`{"k":[1,2]}`)}},
		{"json keeps inner spacing", `{"funnel":1,"id":"a","json":{"k": 1}}`, transport.Message{ID: "a", Body: []byte(`{"k": 1}`)}},
		{"b64", `{"funnel":1,"id":"a","b64":"AAEC"}`, transport.Message{ID: "a", Body: []byte{0, 1, 2}}},
		{"empty", `{"funnel":1,"id":"a","b64":""}`, transport.Message{ID: "a", Body: []byte{}}},
		{"still base64", base64.StdEncoding.EncodeToString([]byte(`{"funnel":1,"id":"a","json":"s"}`)), transport.Message{ID: "a", Body: []byte(`"s"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tr.Open(ctx, "units", transport.Delivery{Text: tt.text})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{
		`{"funnel":2,"id":"a","b64":""}`,
		`{"funnel":1,"id":"a"}`,
		`{"funnel":1,"id":"a","b64":"","json":{}}`,
		`{"funnel":1,"id":"a","b64":"!!"}`,
		`{"funnel":1,"id":"a","blob":"12"}`,
		`{"funnel":1,"id":"a","blob":-1}`,
		`{"funnel":1,"id":"a","b64":"","extra":1}`,
		`{"funnel":1,"id":"a","b64":""} {}`,
		`{"funnel":1,"id":"a//b","b64":""}`,
	} {
		_, err := tr.Open(ctx, "units", transport.Delivery{Text: bad})
		assert.ErrorIs(t, err, transport.ErrMalformed, bad)
	}
}

func FuzzOpen(f *testing.F) {
	for _, s := range []string{`{"funnel":1,"id":"a","json":{}}`, `{"funnel":1,"id":"a","b64":"AA=="}`, "eyJ9", `{"funnel":1,"id":"a","blob":1}`} {
		f.Add(s)
	}
	acct, err := account.Open(account.Config{ConnectionString: azuritetest.Unreachable(f)}, account.Options{MaxRetries: -1})
	require.NoError(f, err)
	tr, err := queue.New(acct, queue.Options{})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, text string) {
		if strings.Contains(text, `"blob"`) {
			return // would read storage
		}
		m, err := tr.Open(context.Background(), "units", transport.Delivery{Text: text})
		if err != nil {
			return
		}
		if transport.ValidateID(m.ID) != nil {
			t.Fatalf("opened an invalid ID %q", m.ID)
		}
	})
}

func TestRoundTripThroughSend(t *testing.T) {
	// What Send writes opens to what was sent, for bodies of every kind,
	// without storage: encode via a real Send is covered by the conformance
	// suite; here the inline format is checked for JSON embedding.
	conn := azuritetest.ForTest(t)
	reg := prometheus.NewRegistry()
	acct, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg})
	require.NoError(t, err)
	tr, err := queue.New(acct, queue.Options{})
	require.NoError(t, err)
	h := &harness{acct: acct, reg: reg, tr: tr}
	ctx := context.Background()
	topic := transporttest.Topic()
	body := []byte(`{"job":"j","unit":3}`)
	require.NoError(t, tr.Send(ctx, topic, transport.Message{ID: "j/u/3", Body: body}))
	ds, err := h.Receive(ctx, topic)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, `{"funnel":1,"id":"j/u/3","json":{"job":"j","unit":3}}`, ds[0].Text, "a JSON body is embedded verbatim")

	// An overflow message writes one blob and one message, and Done
	// deletes the blob.
	big := transport.Message{ID: "j/u/4", Body: make([]byte, 200<<10)}
	require.NoError(t, tr.Send(ctx, topic, big))
	assert.Equal(t, 1.0, testutil.ToFloat64(acct.Metrics().Requests().WithLabelValues("queue", "blob", "PutBlob", account.ClassWrite, "2xx")))
	ds, err = h.Receive(ctx, topic)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Contains(t, ds[0].Text, `"blob":204800`)
	m, err := tr.Open(ctx, topic, ds[0])
	require.NoError(t, err)
	require.NoError(t, tr.Done(ctx, topic, m))
	assert.Equal(t, 1.0, testutil.ToFloat64(acct.Metrics().Requests().WithLabelValues("queue", "blob", "DeleteBlob", account.ClassFree, "2xx")))
	container, name := tr.OverflowBlob(topic, m.ID)
	_, err = acct.GetBlob(ctx, container, name, transport.MaxBody)
	assert.ErrorIs(t, err, transport.ErrNotFound)
}

func TestNewRejectsBadPrefix(t *testing.T) {
	acct, err := account.Open(account.Config{ConnectionString: azuritetest.Unreachable(t)}, account.Options{})
	require.NoError(t, err)
	_, err = queue.New(acct, queue.Options{Prefix: "Bad_"})
	assert.ErrorIs(t, err, transport.ErrBadName)
}

func TestInlineLimitIsExact(t *testing.T) {
	conn := azuritetest.ForTest(t)
	acct, err := account.Open(account.Config{ConnectionString: conn}, account.Options{})
	require.NoError(t, err)
	tr, err := queue.New(acct, queue.Options{})
	require.NoError(t, err)
	h := &harness{acct: acct, tr: tr}
	ctx := context.Background()
	topic := transporttest.Topic()
	const id = "edge/json"
	overhead := len(`{"funnel":1,"id":"` + id + `","json":}`)
	jsonOf := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	fits := jsonOf(queue.InlineMax - overhead)
	require.NoError(t, tr.Send(ctx, topic, transport.Message{ID: id, Body: fits}))
	ds, err := h.Receive(ctx, topic)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Len(t, ds[0].Text, queue.InlineMax, "the largest inline envelope is accepted by the queue")
	assert.Contains(t, ds[0].Text, `"json":`)

	over := jsonOf(queue.InlineMax - overhead + 1)
	require.NoError(t, tr.Send(ctx, topic, transport.Message{ID: id, Body: over}))
	ds, err = h.Receive(ctx, topic)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Contains(t, ds[0].Text, `"blob":`)
	m, err := tr.Open(ctx, topic, ds[0])
	require.NoError(t, err)
	assert.Equal(t, over, m.Body)
	require.NoError(t, tr.Done(ctx, topic, m))
}

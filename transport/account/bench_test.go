package account_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
	"github.com/funnelpipe/funnel/transport/transporttest"
)

// BenchmarkBaseline measures single storage operations through an Account,
// sequentially, 1 KiB each: the emulator's raw speed on this machine, to
// read the transport benchmarks against.
func BenchmarkBaseline(b *testing.B) {
	conn := azuritetest.ForTest(b)
	a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1<<10)
	name := transporttest.Topic()

	b.Run("PutBlob", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		i := 0
		for b.Loop() {
			if err := a.PutBlob(ctx, name, fmt.Sprint(i%100), body, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("GetBlob", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		i := 0
		for b.Loop() {
			if _, err := a.GetBlob(ctx, name, fmt.Sprint(i%100), transport.MaxBody); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	text := string(body)
	b.Run("Enqueue", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := a.Enqueue(ctx, name, text, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DequeueDelete", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		q := a.Queue().NewQueueClient(name)
		one := int32(1)
		for b.Loop() {
			resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &one})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Messages) == 0 {
				b.StopTimer()
				if err := a.Enqueue(ctx, name, text, 0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				continue
			}
			m := resp.Messages[0]
			if _, err := q.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

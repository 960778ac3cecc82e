package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/handlers"
)

// BenchmarkInvokeQueue measures the runtime's own cost per invocation:
// routing, envelope decoding, the message decoder, metrics, and encoding a
// response with one queue output — everything but the network.
func BenchmarkInvokeQueue(b *testing.B) {
	app := handlers.NewApp(handlers.Options{Name: "bench", Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	app.Handle("Work", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		msg, err := inv.QueueMessage("msg")
		if err != nil {
			return nil, err
		}
		if _, err := inv.MetaInt("DequeueCount"); err != nil {
			return nil, err
		}
		r := handlers.NewResponse()
		r.AddQueue("out", msg)
		return r, nil
	})
	body := golden(b, "queue_trigger.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/Work", bytes.NewReader(body))
		req.Header.Set("X-Azure-Functions-InvocationId", "9f0e4a0c-2a1b-4c55-b1de-0d3b1f1f2a01")
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkBlob measures decoding a 1 MiB binary blob trigger value.
func BenchmarkBlob(b *testing.B) {
	content := bytes.Repeat([]byte("1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|x|\n"), 1<<20/80)
	r := handlers.NewResponse()
	r.SetBlob("b", content)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	raw := []byte(`"` + r.Outputs["b"].(string) + `"`)
	inv := &handlers.Invocation{Data: map[string]json.RawMessage{"blob": raw}}
	for b.Loop() {
		if _, err := inv.Blob("blob"); err != nil {
			b.Fatal(err)
		}
	}
}

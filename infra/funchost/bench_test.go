package funchost

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers/handlertest"
)

// BenchmarkHTTPTrigger measures one HTTP trigger round trip through the
// host (route match, invocation request, handler, HTTP output) with the
// handlers test app's Echo, one request at a time.
func BenchmarkHTTPTrigger(b *testing.B) {
	env := newTestEnv(b)
	dir := basicApp(b)
	r := startHost(b, Config{AppDir: dir, Settings: env.settings(), Logger: quietLogger()})
	url := r.h.HTTPURL() + "/api/echo/bench"
	client := &http.Client{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkQueueTrigger measures how fast the host drains a queue of
// messages that succeed at once (poll, invoke, queue and blob outputs,
// delete) with the basic app's settings (batchSize 4, newBatchThreshold 2)
// on 1 and 2 instances. One op is one message.
func BenchmarkQueueTrigger(b *testing.B) {
	for _, instances := range []int{1, 2} {
		b.Run(map[int]string{1: "instances=1", 2: "instances=2"}[instances], func(b *testing.B) {
			env := newTestEnv(b)
			dir := basicApp(b)
			setQueues(b, dir, map[string]any{"batchSize": 16, "newBatchThreshold": 8})
			rec := filepath.Join(b.TempDir(), "app.jsonl")
			s := env.settings()
			s[handlertest.EnvRecord] = rec
			for i := 0; i < b.N; i++ {
				env.send(env.work, "ok")
			}
			b.ResetTimer()
			start := time.Now()
			r := startHost(b, Config{AppDir: dir, Settings: s, Instances: instances, Logger: quietLogger()})
			eventually(b, 10*time.Minute, func() bool {
				n := 0
				for _, rc := range r.h.Records() {
					if rc.Outcome == OutcomeSuccess {
						n++
					}
				}
				return n >= b.N
			}, "%d messages processed", b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			require.Equal(b, 0, r.h.Summary().Functions["Work"].Failures)
		})
	}
}

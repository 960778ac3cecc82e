package stage

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// patternSource serves a blob of size bytes that repeats pattern, without
// holding it in memory, and counts the bytes it hands out.
type patternSource struct {
	pattern []byte
	size    int64
	served  atomic.Int64
}

func (p *patternSource) ReadRange(_ context.Context, _, _, _ string, off, n int64) (io.ReadCloser, error) {
	n = min(n, p.size-off)
	return io.NopCloser(&patternReader{src: p, off: off, left: n}), nil
}

type patternReader struct {
	src       *patternSource
	off, left int64
}

func (r *patternReader) Read(b []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), r.left))
	pl := int64(len(r.src.pattern))
	for i := 0; i < n; i++ {
		b[i] = r.src.pattern[(r.off+int64(i))%pl]
	}
	r.off += int64(n)
	r.left -= int64(n)
	r.src.served.Add(int64(n))
	return n, nil
}

// BenchmarkNoNewline256MiB runs every 1 MiB unit of a 256 MiB blob that has
// no newline, 16 at a time as one handler instance would, and reports the
// peak heap and the bytes read per byte of input (issue 10: ≤ 64 MiB and
// ≤ 2). The answer is one rejected line.
func BenchmarkNoNewline256MiB(b *testing.B) {
	const size = 256 << 20
	for b.Loop() {
		src := &patternSource{pattern: []byte("a|b|c|1|"), size: size}
		out := &sink{}
		s := &Stage{Source: src, Store: &job.MemStore{}, Transports: map[string]transport.Transport{"queue": out}, Log: slog.New(slog.DiscardHandler)}
		spec := job.Spec{ID: "j", Transport: "queue", Input: job.Input{Container: "input"}, UnitMB: 1}
		require.NoError(b, spec.Normalize())
		plan, err := job.MakePlan([]job.File{{Name: "f", Size: size, ETag: "v"}}, 1<<20)
		require.NoError(b, err)
		units := plan.WorkUnits(&spec, aggregate.DefaultLayout())

		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		})
		work := make(chan *job.WorkUnit)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for u := range work {
					if err := s.run(context.Background(), u); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for i := range units {
			work <- &units[i]
		}
		close(work)
		wg.Wait()
		close(stop)
		sampler.Wait()

		require.Len(b, out.sent, len(units))
		var all aggregate.Partial
		for _, m := range out.sent {
			var pm job.PartialMsg
			require.NoError(b, json.Unmarshal(m.Body, &pm))
			all.Merge(pm.Partial)
		}
		require.EqualValues(b, 0, all.Rows)
		require.EqualValues(b, 1, all.Rejected, "the blob is one overlong line")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(src.served.Load())/size, "read/input")
	}
}

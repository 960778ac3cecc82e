package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/transport/account"
)

// How the runner finds each handler process and its metrics.
//
// The handlers are separate processes, so their storage counters live in
// them. The runner starts every handler with FUNNEL_METRICS_ADDR=127.0.0.1:0:
// each serves GET /metrics on a port of its own and says which in the line
// handlers.Serve logs when it starts ("custom handler listening" with
// metrics_addr). The local host copies a handler's output into its log
// with the handler's app, instance and pid, so a slog.Handler in front of
// the stack's log (handlerWatch) learns every handler's pid and metrics
// address, restarts included.

// listeningMessage is what handlers.Serve logs once it listens.
const listeningMessage = "custom handler listening"

// handlerProc is one handler process as the watch last saw it.
type handlerProc struct {
	App         string
	Instance    int
	PID         int
	MetricsAddr string
}

// Key names the instance: "<app>/<index>", unique within a stack.
func (p handlerProc) Key() string { return instanceKey(p.App, p.Instance) }

func instanceKey(app string, idx int) string { return app + "/" + strconv.Itoa(idx) }

// handlerWatch is a slog.Handler that passes records to inner and notes
// the handler processes announced in them.
type handlerWatch struct {
	inner slog.Handler
	attrs []slog.Attr // top-level attributes added with WithAttrs
	group bool        // attributes now go into a group: stop collecting
	state *watchState
}

type watchState struct {
	mu      sync.Mutex
	procs   map[string]handlerProc
	changed chan struct{} // closed and replaced on every change
}

func newHandlerWatch(inner slog.Handler) *handlerWatch {
	return &handlerWatch{inner: inner, state: &watchState{procs: map[string]handlerProc{}, changed: make(chan struct{})}}
}

// Enabled is true at every level: a handler's standard error arrives at
// Error and its standard output at Info, and both must be seen.
func (h *handlerWatch) Enabled(context.Context, slog.Level) bool { return true }

func (h *handlerWatch) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, listeningMessage) {
		h.note(r)
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *handlerWatch) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.inner = h.inner.WithAttrs(as)
	if !h.group {
		n.attrs = append(slices.Clip(h.attrs), as...)
	}
	return &n
}

func (h *handlerWatch) WithGroup(name string) slog.Handler {
	n := *h
	n.inner = h.inner.WithGroup(name)
	n.group = n.group || name != ""
	return &n
}

// note records the process a listening line announces.
func (h *handlerWatch) note(r slog.Record) {
	var line struct {
		Msg         string `json:"msg"`
		MetricsAddr string `json:"metrics_addr"`
	}
	if json.Unmarshal([]byte(r.Message), &line) != nil || line.Msg != listeningMessage || line.MetricsAddr == "" {
		return
	}
	p := handlerProc{Instance: -1, MetricsAddr: line.MetricsAddr}
	take := func(a slog.Attr) bool {
		v := a.Value.Resolve()
		switch a.Key {
		case "app":
			p.App = v.String()
		case "instance":
			if v.Kind() == slog.KindInt64 {
				p.Instance = int(v.Int64())
			}
		case "pid":
			if v.Kind() == slog.KindInt64 {
				p.PID = int(v.Int64())
			}
		}
		return true
	}
	for _, a := range h.attrs {
		take(a)
	}
	if !h.group {
		r.Attrs(take)
	}
	if p.App == "" || p.Instance < 0 || p.PID <= 0 {
		return
	}
	s := h.state
	s.mu.Lock()
	s.procs[p.Key()] = p
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// procs returns the processes seen so far, by instance key.
func (h *handlerWatch) procs() map[string]handlerProc {
	s := h.state
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]handlerProc, len(s.procs))
	for k, v := range s.procs {
		out[k] = v
	}
	return out
}

// wait returns once every instance in keys has been seen, or fails when
// ctx ends first, naming the ones missing.
func (h *handlerWatch) wait(ctx context.Context, keys []string) (map[string]handlerProc, error) {
	for {
		s := h.state
		s.mu.Lock()
		var missing []string
		for _, k := range keys {
			if _, ok := s.procs[k]; !ok {
				missing = append(missing, k)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(missing) == 0 {
			return h.procs(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: no %q line with metrics_addr from handler(s) %s (do the handlers read FUNNEL_METRICS_ADDR?): %w",
				listeningMessage, strings.Join(missing, ", "), ctx.Err())
		}
	}
}

// scrapeUsage reads a handler's storage counters from its /metrics.
func scrapeUsage(ctx context.Context, client *http.Client, addr string) ([]account.Usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", addr, err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: scrape %s: HTTP %s", addr, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape %s: %w", addr, err)
	}
	list := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		list = append(list, f)
	}
	return account.ReadUsage(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return list, nil }))
}

// usageDelta is after minus before, per component, service, operation
// and class. A counter that went down belongs to a new process (the
// handler was restarted): its whole value is what it counted since.
func usageDelta(before, after []account.Usage) []account.Usage {
	type key struct{ c, s, o, k string }
	prev := make(map[key]account.Usage, len(before))
	for _, u := range before {
		prev[key{u.Component, u.Service, u.Operation, u.Class}] = u
	}
	var out []account.Usage
	for _, u := range after {
		p := prev[key{u.Component, u.Service, u.Operation, u.Class}]
		d := u
		if u.Requests >= p.Requests && u.RequestBytes >= p.RequestBytes && u.ResponseBytes >= p.ResponseBytes && u.Failed >= p.Failed {
			d.Requests -= p.Requests
			d.Failed -= p.Failed
			d.RequestBytes -= p.RequestBytes
			d.ResponseBytes -= p.ResponseBytes
		}
		if d.Requests != 0 || d.RequestBytes != 0 || d.ResponseBytes != 0 {
			out = append(out, d)
		}
	}
	return out
}

// procSample is a handler process's CPU time at one moment.
type procSample struct {
	PID int
	CPU float64
}

// resetPeakRSS sets a process's peak RSS (VmHWM) back to its current RSS
// by writing 5 to /proc/<pid>/clear_refs, so that the next reading is the
// peak of what happened since.
func resetPeakRSS(procDir string, pid int) error {
	return os.WriteFile(filepath.Join(procDir, strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
}

// snapshot is everything the runner reads before and after a job.
type snapshot struct {
	At time.Time
	// Usage holds each source's storage counters: "host" for the local
	// Functions host, an instance key for a handler.
	Usage map[string][]account.Usage
	Procs map[string]handlerProc
	CPU   map[string]procSample
	// AzuriteCPU is the emulator's CPU seconds (-1 when unknown).
	AzuriteCPU float64
	// PeakReset is false when a handler's peak RSS could not be reset, so
	// that a later peak is its lifetime peak.
	PeakReset bool
}

// prober reads the counters of one running stack.
type prober struct {
	procDir    string
	watch      *handlerWatch
	hostUsage  prometheus.Gatherer
	client     *http.Client
	azuritePID int
}

// snap reads every source. With reset it also resets the handlers' peak
// RSS, for the "before" snapshot.
func (p *prober) snap(ctx context.Context, reset bool) (snapshot, error) {
	s := snapshot{At: time.Now(), Usage: map[string][]account.Usage{}, Procs: p.watch.procs(), CPU: map[string]procSample{}, AzuriteCPU: -1, PeakReset: true}
	host, err := account.ReadUsage(p.hostUsage)
	if err != nil {
		return s, err
	}
	s.Usage["host"] = host
	var errs []error
	for k, proc := range s.Procs {
		u, err := scrapeUsage(ctx, p.client, proc.MetricsAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		s.Usage[k] = u
		cpu, _, err := bench.ReadProcStats(p.procDir, proc.PID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		s.CPU[k] = procSample{PID: proc.PID, CPU: cpu}
		if reset && resetPeakRSS(p.procDir, proc.PID) != nil {
			s.PeakReset = false
		}
	}
	if p.azuritePID > 0 {
		if cpu, _, err := bench.ReadProcStats(p.procDir, p.azuritePID); err == nil {
			s.AzuriteCPU = cpu
		}
	}
	return s, errors.Join(errs...)
}

// delta is what happened between two snapshots.
type delta struct {
	Usage     []account.Usage
	Instances []bench.InstanceStats
	// Restarted lists the instances whose handler process changed: what
	// the old process counted after the first snapshot is missing.
	Restarted  []string
	AzuriteCPU float64 // -1 when unknown
	// BySource is the storage requests by who made them: "host" or an
	// app; BlobReadBytes the blob response bytes they read.
	BySource      map[string]float64
	BlobReadBytes map[string]int64
}

// diff computes the storage counts and instance stats between before and
// after; peak RSS is read now, from the processes of after.
func (p *prober) diff(before, after snapshot) (delta, error) {
	d := delta{BySource: map[string]float64{}, BlobReadBytes: map[string]int64{}}
	for src, u := range after.Usage {
		prev := before.Usage[src]
		if a, b := after.CPU[src], before.CPU[src]; a.PID != b.PID {
			prev = nil // a new process: all it counted is new
		}
		du := usageDelta(prev, u)
		d.Usage = append(d.Usage, du...)
		app, _, _ := strings.Cut(src, "/")
		for _, x := range du {
			d.BySource[app] += x.Requests
			if x.Service == account.ServiceBlob {
				d.BlobReadBytes[app] += int64(x.ResponseBytes)
			}
		}
	}
	keys := make([]string, 0, len(after.Procs))
	for k := range after.Procs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		proc := after.Procs[k]
		a, ok := after.CPU[k]
		if !ok {
			return d, fmt.Errorf("bench: no CPU reading of %s", k)
		}
		cpu := a.CPU
		if b, ok := before.CPU[k]; ok && b.PID == a.PID {
			cpu -= b.CPU
		} else {
			d.Restarted = append(d.Restarted, k)
		}
		_, rss, err := bench.ReadProcStats(p.procDir, proc.PID)
		if err != nil {
			return d, fmt.Errorf("bench: %s: %w", k, err)
		}
		d.Instances = append(d.Instances, bench.InstanceStats{App: proc.App, Instance: k, CPUSeconds: max(cpu, 0), PeakRSSBytes: rss})
	}
	d.AzuriteCPU = -1
	if before.AzuriteCPU >= 0 && after.AzuriteCPU >= 0 {
		d.AzuriteCPU = after.AzuriteCPU - before.AzuriteCPU
	}
	slices.SortFunc(d.Usage, func(a, b account.Usage) int {
		return cmp.Or(cmp.Compare(a.Component, b.Component), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	return d, nil
}

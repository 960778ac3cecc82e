package funchost

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/bench/billing"
)

// Record is one invocation, as written to Config.RecordsPath (one JSON
// object per line) and returned by Host.Records.
type Record struct {
	Function     string    `json:"function"`
	Instance     int       `json:"instance"`
	InvocationID string    `json:"invocation_id"`
	Trigger      string    `json:"trigger"` // httpTrigger, queueTrigger or blobTrigger
	Start        time.Time `json:"start"`
	DurationMS   float64   `json:"duration_ms"`
	Outcome      string    `json:"outcome"` // success, failure or timeout
	DequeueCount int64     `json:"dequeue_count"`
	BytesIn      int64     `json:"bytes_in"`  // request body sent to the handler
	BytesOut     int64     `json:"bytes_out"` // response body received
	Error        string    `json:"error,omitempty"`
}

// recorder keeps the records and appends them to a file.
type recorder struct {
	mu      sync.Mutex
	records []Record
	file    *os.File
	poison  map[string]int // queue → messages moved to its poison queue
	errs    []error
}

func newRecorder(path string) (*recorder, error) {
	r := &recorder{poison: map[string]int{}}
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("funchost: records file: %w", err)
		}
		r.file = f
	}
	return r, nil
}

func (r *recorder) add(rec Record) {
	line, err := json.Marshal(rec)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	if r.file == nil {
		return
	}
	if err == nil {
		_, err = r.file.Write(append(line, '\n'))
	}
	if err != nil && len(r.errs) < 10 {
		r.errs = append(r.errs, err)
	}
}

func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	if len(r.errs) > 0 {
		return fmt.Errorf("funchost: writing records: %w (and %d more)", r.errs[0], len(r.errs)-1)
	}
	if err != nil {
		return fmt.Errorf("funchost: records file: %w", err)
	}
	return nil
}

// record notes one invocation in the records and the metrics.
func (h *Host) record(in *instance, inv *invocation, start, end time.Time, bytesIn, bytesOut int64, err error) {
	outcome := outcomeOf(err)
	rec := Record{
		Function:     inv.fn.Name,
		Instance:     in.idx,
		InvocationID: inv.id,
		Trigger:      triggerName(inv.fn.Trigger.Type),
		Start:        start.UTC(),
		DurationMS:   float64(end.Sub(start).Microseconds()) / 1000,
		Outcome:      outcome,
		DequeueCount: inv.dequeueCount,
		BytesIn:      bytesIn,
		BytesOut:     bytesOut,
	}
	if err != nil {
		rec.Error = err.Error()
		in.log.Warn("invocation failed", "function", inv.fn.Name, "invocation_id", inv.id, "outcome", outcome, "err", err)
	}
	h.recorder.add(rec)
	h.metrics.invocations.WithLabelValues(inv.fn.Name, outcome).Inc()
	h.metrics.duration.WithLabelValues(inv.fn.Name).Observe(end.Sub(start).Seconds())
}

func (h *Host) notePoison(queue string) {
	h.recorder.mu.Lock()
	h.recorder.poison[queue]++
	h.recorder.mu.Unlock()
	h.metrics.poison.WithLabelValues(queue).Inc()
}

func triggerName(t string) string {
	switch t {
	case typeHTTPTrigger:
		return "httpTrigger"
	case typeQueueTrigger:
		return "queueTrigger"
	case typeBlobTrigger:
		return "blobTrigger"
	case typeTimerTrigger:
		return "timerTrigger"
	}
	return t
}

// Records returns a copy of every invocation recorded so far, in order of
// completion.
func (h *Host) Records() []Record {
	h.recorder.mu.Lock()
	defer h.recorder.mu.Unlock()
	return append([]Record(nil), h.recorder.records...)
}

// Summary describes a run: invocations per function, instance resource
// use, and what the run would cost in GB-seconds on the two plans.
type Summary struct {
	App         string                     `json:"app"`
	Invocations int                        `json:"invocations"`
	Functions   map[string]FunctionSummary `json:"functions"`
	Poisoned    map[string]int             `json:"poisoned"` // queue → messages moved to its poison queue
	Instances   []InstanceSummary          `json:"instances"`
	Billing     Billing                    `json:"billing"`
	WallSeconds float64                    `json:"wall_seconds"`
}

// FunctionSummary counts one function's invocations.
type FunctionSummary struct {
	Invocations int     `json:"invocations"`
	Successes   int     `json:"successes"`
	Failures    int     `json:"failures"`
	Timeouts    int     `json:"timeouts"`
	MeanMS      float64 `json:"mean_ms"`
	P50MS       float64 `json:"p50_ms"`
	P95MS       float64 `json:"p95_ms"`
	MaxMS       float64 `json:"max_ms"`
}

// InstanceSummary is one instance's resource use over all its handler
// processes.
type InstanceSummary struct {
	Index        int     `json:"index"`
	Processes    int     `json:"processes"` // started, restarts included
	Restarts     int     `json:"restarts"`
	CPUSeconds   float64 `json:"cpu_seconds"`    // utime+stime
	PeakRSSBytes int64   `json:"peak_rss_bytes"` // VmHWM
	BusySeconds  float64 `json:"busy_seconds"`   // time with ≥1 invocation in flight
}

// Billing is what the run would bill on the two consumption plans, by the
// rules of package bench/billing (the one statement of them, with sources):
// Consumption per execution, at the executing instance's observed peak RSS
// shared among the executions in flight; Flex Consumption (on demand) per
// instance activity period of at least 1 s, at FlexMemoryMB.
type Billing struct {
	Executions           int     `json:"executions"`
	ConsumptionGBSeconds float64 `json:"consumption_gb_seconds"`
	FlexMemoryMB         int     `json:"flex_memory_mb"`
	FlexGBSeconds        float64 `json:"flex_gb_seconds"`
}

// Summary summarises the run so far.
func (h *Host) Summary() Summary {
	recs := h.Records()
	now := time.Now()
	h.mu.Lock()
	started, stopped := h.started, h.stopped
	h.mu.Unlock()
	s := Summary{App: h.name, Invocations: len(recs), Functions: map[string]FunctionSummary{}, Poisoned: map[string]int{}}
	if !started.IsZero() {
		end := stopped
		if end.IsZero() {
			end = now
		}
		s.WallSeconds = end.Sub(started).Seconds()
	}
	h.recorder.mu.Lock()
	for q, n := range h.recorder.poison {
		s.Poisoned[q] = n
	}
	h.recorder.mu.Unlock()

	byFn := map[string][]float64{}
	for _, r := range recs {
		fs := s.Functions[r.Function]
		fs.Invocations++
		switch r.Outcome {
		case OutcomeSuccess:
			fs.Successes++
		case OutcomeTimeout:
			fs.Timeouts++
		default:
			fs.Failures++
		}
		s.Functions[r.Function] = fs
		byFn[r.Function] = append(byFn[r.Function], r.DurationMS)
	}
	for name, ds := range byFn {
		fs := s.Functions[name]
		sort.Float64s(ds)
		var sum float64
		for _, d := range ds {
			sum += d
		}
		fs.MeanMS = sum / float64(len(ds))
		fs.P50MS = quantile(ds, 0.50)
		fs.P95MS = quantile(ds, 0.95)
		fs.MaxMS = ds[len(ds)-1]
		s.Functions[name] = fs
	}

	peak := map[string]int64{}
	for _, in := range h.instances {
		cpu, rss := in.stats()
		in.mu.Lock()
		is := InstanceSummary{Index: in.idx, Processes: in.processes, Restarts: in.restarts, CPUSeconds: cpu, PeakRSSBytes: rss}
		in.mu.Unlock()
		for _, iv := range in.busyIntervals(now) {
			is.BusySeconds += iv.end.Sub(iv.start).Seconds()
		}
		peak[strconv.Itoa(in.idx)] = rss
		s.Instances = append(s.Instances, is)
	}
	s.Billing = bill(recs, peak, h.cfg.FlexMemoryMB)
	return s
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// bill prices the records with package billing. A Flex size billing does
// not know, or an instance without a peak RSS reading (a Summary taken
// before the first /proc sample), leaves the GB-seconds at zero.
func bill(recs []Record, peakRSS map[string]int64, flexMB int) Billing {
	b := Billing{Executions: len(recs), FlexMemoryMB: flexMB}
	invs := make([]billing.Invocation, 0, len(recs))
	for _, r := range recs {
		invs = append(invs, billing.Invocation{Instance: strconv.Itoa(r.Instance), Start: r.Start,
			Duration: time.Duration(math.Round(r.DurationMS * float64(time.Millisecond)))})
	}
	if g, err := billing.Compute(invs, peakRSS, flexMB); err == nil {
		b.ConsumptionGBSeconds, b.FlexGBSeconds = g.Consumption, g.Flex
	}
	return b
}

package bench

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The transports a report compares (Config.Transport).
const (
	TransportQueue = "queue"
	TransportBlob  = "blob"
)

// Config is what a run varied: the benchmark's independent variables.
type Config struct {
	// Transport is the transport's Name(): "queue" or "blob".
	Transport string `json:"transport"`
	// Arch is the GOARCH the handlers ran as: "amd64" or "arm64".
	Arch string `json:"arch"`
	// Emulated is true when the handlers ran under an emulator (qemu on a
	// machine of another architecture): the timings then say nothing about
	// the architecture and only the answer counts.
	Emulated        bool    `json:"emulated"`
	ScaleFactor     float64 `json:"scale_factor"`
	Chunks          int     `json:"chunks"`
	UnitSizeBytes   int64   `json:"unit_size_bytes"`
	InstancesPerApp int     `json:"instances_per_app"`
	// AutoUnit says that partition chose UnitSizeBytes, as for a job that
	// names no unit size; the choice depends on the transport, so a queue
	// and a blob configuration of one input may differ in it.
	AutoUnit bool `json:"auto_unit,omitempty"`
}

// Emulated reports whether handlers built for arch run emulated on this
// machine.
func Emulated(arch string) bool { return arch != runtime.GOARCH }

// Validate reports a configuration that cannot be a run's.
func (c Config) Validate() error {
	switch {
	case c.Transport == "":
		return fmt.Errorf("%w: config without a transport", ErrBadMeasurement)
	case c.Arch == "":
		return fmt.Errorf("%w: config without an arch", ErrBadMeasurement)
	case !(c.ScaleFactor > 0) || math.IsInf(c.ScaleFactor, 0):
		return fmt.Errorf("%w: scale factor %v, want > 0", ErrBadMeasurement, c.ScaleFactor)
	case c.Chunks < 1:
		return fmt.Errorf("%w: %d chunks, want >= 1", ErrBadMeasurement, c.Chunks)
	case c.UnitSizeBytes < 1:
		return fmt.Errorf("%w: unit size %d bytes, want >= 1", ErrBadMeasurement, c.UnitSizeBytes)
	case c.InstancesPerApp < 1:
		return fmt.Errorf("%w: %d instances per app, want >= 1", ErrBadMeasurement, c.InstancesPerApp)
	}
	return nil
}

// String is a short human label: "queue amd64 SF10 100 chunks 8 MiB units ×1".
func (c Config) String() string {
	arch := c.Arch
	if c.Emulated {
		arch += " (emulated)"
	}
	return fmt.Sprintf("%s %s SF%s %d chunks %s units ×%d", c.Transport, arch, FormatFloat(c.ScaleFactor), c.Chunks, FormatBytes(c.UnitSizeBytes), c.InstancesPerApp)
}

// compareConfigs orders configurations for tables and plots.
func compareConfigs(a, b Config) int {
	return cmp.Or(
		cmp.Compare(a.Transport, b.Transport),
		cmp.Compare(a.Arch, b.Arch),
		compareBool(a.Emulated, b.Emulated),
		cmp.Compare(a.ScaleFactor, b.ScaleFactor),
		cmp.Compare(a.InstancesPerApp, b.InstancesPerApp),
		cmp.Compare(a.UnitSizeBytes, b.UnitSizeBytes),
		cmp.Compare(a.Chunks, b.Chunks),
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// Roles names the functions that play each pipeline role, so that figures
// such as "last aggregate to result" can be found among the records.
type Roles struct {
	Plan      string `json:"plan"`
	Aggregate string `json:"aggregate"`
	Merge     string `json:"merge"`
}

// DefaultRoles are the stage binaries' names.
func DefaultRoles() Roles {
	return Roles{Plan: "partition", Aggregate: "aggregate", Merge: "merge"}
}

func (r Roles) withDefaults() Roles {
	d := DefaultRoles()
	r.Plan = cmp.Or(r.Plan, d.Plan)
	r.Aggregate = cmp.Or(r.Aggregate, d.Aggregate)
	r.Merge = cmp.Or(r.Merge, d.Merge)
	return r
}

// Measurement is what a runner recorded for one run of one configuration.
type Measurement struct {
	Config Config `json:"config"`
	// Repetition numbers the measured runs of a configuration from 1; the
	// warm-up run has WarmUp set and is left out of every aggregate.
	Repetition int  `json:"repetition"`
	WarmUp     bool `json:"warm_up"`
	// SubmittedAt is when the job was submitted (data generation and upload
	// happen before), ResultAt when its result was published.
	SubmittedAt time.Time `json:"submitted_at"`
	ResultAt    time.Time `json:"result_at"`
	InputBytes  int64     `json:"input_bytes"`
	InputRows   int64     `json:"input_rows"`
	// Invocations holds one record per function invocation of the job.
	Invocations []InvocationRecord `json:"invocations"`
	// StorageOps counts the storage requests made during the job by the
	// handlers and the host (trigger polling included), by REST operation.
	StorageOps []StorageOp `json:"storage_ops"`
	// StorageOpsBySource splits StorageOps by who made the requests:
	// "host" (the local Functions host: triggers, bindings) or an app
	// ("partition", "aggregate", "merge"), so that a change's effect on
	// one component can be read off (absent in results written before it).
	StorageOpsBySource map[string][]StorageOp `json:"storage_ops_by_source,omitempty"`
	// EventGrid counts the job's Event Grid operations (the local Event
	// Grid's ingress and deliveries over the same window as StorageOps);
	// nil in results written before they were counted.
	EventGrid *EventGridOps `json:"event_grid,omitempty"`
	// Instances holds every handler process's CPU time and peak RSS.
	Instances []InstanceStats `json:"instances"`
	// Correct is true when the result equals the exact answer; otherwise
	// Mismatch says how it differs and the run is left out of aggregates.
	Correct  bool   `json:"correct"`
	Mismatch string `json:"mismatch,omitempty"`
	// BaselineSeconds is the kernel over the same chunks read from local
	// disk on one machine; RawDownloadSeconds is downloading the chunks from
	// storage without parsing them. 0 means not measured.
	BaselineSeconds    float64 `json:"baseline_seconds"`
	RawDownloadSeconds float64 `json:"raw_download_seconds"`
	// Roles names the functions of each stage; empty fields take
	// DefaultRoles.
	Roles Roles `json:"roles"`
	// Concurrency is how many invocations of one function one instance
	// could run at once, as the host applied host.json; nil in results
	// written before it was recorded.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
}

// Concurrency is what host.json lets one instance run at once, per trigger.
type Concurrency struct {
	// Queue is batchSize + newBatchThreshold: the queue listener's most
	// messages in flight per function.
	Queue int `json:"queue"`
	// Blob is extensions.blobs.maxDegreeOfParallelism.
	Blob int `json:"blob"`
	// Processors is the processor count host.json's defaults scaled with.
	Processors int `json:"processors"`
}

// PerInstance is the concurrency of a function triggered by transport.
func (c Concurrency) PerInstance(transport string) int {
	if transport == TransportBlob {
		return c.Blob
	}
	return c.Queue
}

// Run is a Measurement with everything derived from it.
type Run struct {
	Measurement
	EndToEndSeconds float64 `json:"end_to_end_seconds"`
	// LastAggregateToResultSeconds is from the end of the last successful
	// aggregate invocation to the published result (0 without aggregates).
	LastAggregateToResultSeconds float64 `json:"last_aggregate_to_result_seconds"`
	// ThroughputMBps is input megabytes (10^6 bytes) per end-to-end second.
	ThroughputMBps float64 `json:"throughput_mbps"`
	// RatioToBaseline and RatioToRawDownload are the end-to-end time divided
	// by the baseline and raw download times (0 when those are unknown).
	RatioToBaseline    float64      `json:"ratio_to_baseline"`
	RatioToRawDownload float64      `json:"ratio_to_raw_download"`
	Stages             []StageStats `json:"stages"`
	Executions         int64        `json:"executions"`
	StorageOpsTotal    int64        `json:"storage_ops_total"`
	StorageBytes       int64        `json:"storage_bytes"`
	CPUSeconds         float64      `json:"cpu_seconds"`
	PeakRSSBytes       int64        `json:"peak_rss_bytes"`
	GBSeconds          GBSeconds    `json:"gb_seconds"`
	Cost               Cost         `json:"cost"`
}

// Valid reports whether the run counts: measured (not the warm-up) and
// with the exact answer.
func (r Run) Valid() bool { return !r.WarmUp && r.Correct }

// CostPerGB is the run's cost under each plan per input gigabyte (10^9
// bytes).
func (r Run) CostPerGB() (consumption, flex float64) {
	gb := float64(r.InputBytes) / 1e9
	if gb == 0 {
		return 0, 0
	}
	return r.Cost.Consumption.Total / gb, r.Cost.Flex.Total / gb
}

// NewRun checks a measurement and derives a Run from it: stage statistics,
// times, throughput, ratios, GB-seconds and cost. A measurement with a
// missing or impossible value is an error wrapping ErrBadMeasurement; a
// wrong answer is not an error but must carry a Mismatch.
func NewRun(m Measurement, prices *PriceTable, b Billing) (Run, error) {
	if err := m.Config.Validate(); err != nil {
		return Run{}, err
	}
	m.Roles = m.Roles.withDefaults()
	m.StorageOps = slices.Clone(m.StorageOps) // classes are filled in below
	switch {
	case m.SubmittedAt.IsZero() || m.ResultAt.IsZero():
		return Run{}, fmt.Errorf("%w: %s: submit or result time missing", ErrBadMeasurement, m.Config)
	case !m.ResultAt.After(m.SubmittedAt):
		return Run{}, fmt.Errorf("%w: %s: result at %s is not after submit at %s", ErrBadMeasurement, m.Config, m.ResultAt.Format(time.RFC3339Nano), m.SubmittedAt.Format(time.RFC3339Nano))
	case m.InputBytes < 1 || m.InputRows < 0:
		return Run{}, fmt.Errorf("%w: %s: input of %d bytes, %d rows", ErrBadMeasurement, m.Config, m.InputBytes, m.InputRows)
	case !m.Correct && strings.TrimSpace(m.Mismatch) == "":
		return Run{}, fmt.Errorf("%w: %s: wrong answer without a mismatch description", ErrBadMeasurement, m.Config)
	case m.Repetition < 0:
		return Run{}, fmt.Errorf("%w: %s: repetition %d", ErrBadMeasurement, m.Config, m.Repetition)
	case badSeconds(m.BaselineSeconds) || badSeconds(m.RawDownloadSeconds):
		return Run{}, fmt.Errorf("%w: %s: baseline %v s, raw download %v s", ErrBadMeasurement, m.Config, m.BaselineSeconds, m.RawDownloadSeconds)
	}
	stages, err := Summarize(m.Invocations)
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w", m.Config, err)
	}
	r := Run{Measurement: m, Stages: stages, Executions: int64(len(m.Invocations))}
	r.EndToEndSeconds = m.ResultAt.Sub(m.SubmittedAt).Seconds()
	if last := lastEnd(m.Invocations, m.Roles.Aggregate); !last.IsZero() {
		r.LastAggregateToResultSeconds = max(m.ResultAt.Sub(last).Seconds(), 0)
	}
	r.ThroughputMBps = float64(m.InputBytes) / 1e6 / r.EndToEndSeconds
	if m.BaselineSeconds > 0 {
		r.RatioToBaseline = r.EndToEndSeconds / m.BaselineSeconds
	}
	if m.RawDownloadSeconds > 0 {
		r.RatioToRawDownload = r.EndToEndSeconds / m.RawDownloadSeconds
	}
	for i, op := range m.StorageOps {
		class, err := resolveClass(op)
		if err != nil {
			return Run{}, fmt.Errorf("%s: storage op %d: %w", m.Config, i, err)
		}
		if op.Count < 0 || op.Bytes < 0 {
			return Run{}, fmt.Errorf("%w: %s: storage op %d (%s %s) has a negative count", ErrBadMeasurement, m.Config, i, op.Service, op.Operation)
		}
		r.StorageOps[i].Class = class
		r.StorageOpsTotal += op.Count
		r.StorageBytes += op.Bytes
	}
	for _, s := range m.Instances {
		if err := s.Validate(); err != nil {
			return Run{}, fmt.Errorf("%s: %w", m.Config, err)
		}
		r.CPUSeconds += s.CPUSeconds
		r.PeakRSSBytes = max(r.PeakRSSBytes, s.PeakRSSBytes)
	}
	if r.GBSeconds, err = ComputeGBSeconds(m.Invocations, m.Instances, b); err != nil {
		return Run{}, fmt.Errorf("%s: %w", m.Config, err)
	}
	if r.Cost, err = ComputeCost(r.Executions, r.GBSeconds, r.StorageOps, m.EventGrid, m.InputBytes, prices); err != nil {
		return Run{}, fmt.Errorf("%s: %w", m.Config, err)
	}
	return r, nil
}

func badSeconds(s float64) bool { return math.IsNaN(s) || math.IsInf(s, 0) || s < 0 }

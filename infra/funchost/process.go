package funchost

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"
)

// Process is one running handler process of the host, for tools that
// measure it (the benchmark runner reads its CPU time and peak RSS from
// /proc and its storage counters from the metrics address its settings
// give).
type Process struct {
	// Instance is the scaled-out instance the process serves (0-based).
	Instance int
	PID      int
	// Port is where the host reaches the handler
	// (FUNCTIONS_CUSTOMHANDLER_PORT).
	Port    int
	Started time.Time
	// Settings are the instance's own settings (Config.InstanceSettings),
	// passed to the process's environment on top of the app settings.
	Settings map[string]string
}

// Processes returns the handler process each instance runs now, ready to
// serve, in instance order. An instance whose handler is being (re)started
// is left out; a restarted instance shows a new PID.
func (h *Host) Processes() []Process {
	var out []Process
	for _, in := range h.instances {
		in.mu.Lock()
		cur := in.cur
		in.mu.Unlock()
		if cur == nil {
			continue
		}
		out = append(out, Process{Instance: in.idx, PID: cur.pid, Port: cur.port, Started: cur.started, Settings: maps.Clone(in.settings)})
	}
	return out
}

// InstanceLimits is how many invocations one instance runs at once, per
// trigger, as host.json sets it (with the real host's defaults). A
// performance model of the app reads them here rather than assuming one
// invocation per instance.
type InstanceLimits struct {
	// QueueBatchSize and QueueNewBatchThreshold are extensions.queues'
	// batchSize and newBatchThreshold (resolved: batchSize/2 × processors
	// when unset); one queue function on one instance runs up to their
	// sum at once.
	QueueBatchSize         int `json:"queue_batch_size"`
	QueueNewBatchThreshold int `json:"queue_new_batch_threshold"`
	// BlobMaxDegreeOfParallelism is extensions.blobs'
	// maxDegreeOfParallelism (8 × processors when unset): the most blob
	// trigger invocations one instance runs at once.
	BlobMaxDegreeOfParallelism int `json:"blob_max_degree_of_parallelism"`
	// Processors is the processor count the defaults scaled with.
	Processors int `json:"processors"`
}

// QueueConcurrency is the most invocations of one queue-triggered function
// an instance runs at once.
func (l InstanceLimits) QueueConcurrency() int { return l.QueueBatchSize + l.QueueNewBatchThreshold }

// InstanceLimits returns the app's per-instance concurrency settings.
func (h *Host) InstanceLimits() InstanceLimits {
	return InstanceLimits{
		QueueBatchSize:             h.app.Host.Queues.BatchSize,
		QueueNewBatchThreshold:     h.app.Host.Queues.NewBatchThreshold,
		BlobMaxDegreeOfParallelism: h.app.Host.Blobs.MaxDegreeOfParallelism,
		Processors:                 h.cfg.Processors,
	}
}

// ReadInstanceLimits reads the per-instance concurrency settings of a
// host.json file as a host with processors processors (this machine's when
// 0) would apply them, without starting anything. A configuration problem
// is an error wrapping ErrConfig.
func ReadInstanceLimits(hostJSON string, processors int) (InstanceLimits, error) {
	if processors <= 0 {
		processors = defaultProcessors()
	}
	abs, err := filepath.Abs(hostJSON)
	if err != nil {
		return InstanceLimits{}, fmt.Errorf("funchost: %w", err)
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return InstanceLimits{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	hc, err := parseHostJSON(abs, raw, filepath.Dir(abs), processors)
	if err != nil {
		return InstanceLimits{}, err
	}
	return InstanceLimits{
		QueueBatchSize:             hc.Queues.BatchSize,
		QueueNewBatchThreshold:     hc.Queues.NewBatchThreshold,
		BlobMaxDegreeOfParallelism: hc.Blobs.MaxDegreeOfParallelism,
		Processors:                 processors,
	}, nil
}

package funchost

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// hostMetrics are the host's Prometheus collectors, labelled app=<name>
// so that several hosts can share one registry.
type hostMetrics struct {
	invocations *prometheus.CounterVec   // function, outcome
	duration    *prometheus.HistogramVec // function
	polls       *prometheus.CounterVec   // queue, result
	poison      *prometheus.CounterVec   // queue
	cpu         *prometheus.GaugeVec     // instance
	rss         *prometheus.GaugeVec     // instance
	restarts    *prometheus.CounterVec   // instance
	blobScans   *prometheus.CounterVec   // function
	blobEvents  *prometheus.CounterVec   // function
}

func newHostMetrics(reg prometheus.Registerer, app string) (*hostMetrics, error) {
	cl := prometheus.Labels{"app": app}
	m := &hostMetrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_invocations_total", Help: "Function invocations by outcome (success, failure, timeout).", ConstLabels: cl,
		}, []string{"function", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "funchost_invocation_duration_seconds", Help: "Invocation duration as the host sees it.", ConstLabels: cl,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}, []string{"function"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_queue_polls_total", Help: "Queue listener polls by result (messages, empty, error).", ConstLabels: cl,
		}, []string{"queue", "result"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_poison_messages_total", Help: "Messages moved to a poison queue, by source queue.", ConstLabels: cl,
		}, []string{"queue"}),
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "funchost_instance_cpu_seconds", Help: "CPU time (utime+stime) of an instance's handler processes.", ConstLabels: cl,
		}, []string{"instance"}),
		rss: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "funchost_instance_peak_rss_bytes", Help: "Peak resident set size (VmHWM) of an instance's handler.", ConstLabels: cl,
		}, []string{"instance"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_instance_restarts_total", Help: "Handler restarts (crash or timeout).", ConstLabels: cl,
		}, []string{"instance"}),
		blobScans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_blob_scans_total", Help: "Blob trigger container listings.", ConstLabels: cl,
		}, []string{"function"}),
		blobEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funchost_blob_events_total", Help: "Event Grid BlobCreated events taken by the blob webhook and queued.", ConstLabels: cl,
		}, []string{"function"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.invocations, m.duration, m.polls, m.poison, m.cpu, m.rss, m.restarts, m.blobScans, m.blobEvents} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("funchost: metrics for app %q are already registered (two hosts for one app folder name?): %w", app, err)
			}
			return nil, fmt.Errorf("funchost: metrics: %w", err)
		}
	}
	return m, nil
}

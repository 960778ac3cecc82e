package handlers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are an App's Prometheus collectors.
type metrics struct {
	invocations *prometheus.CounterVec   // function, outcome
	duration    *prometheus.HistogramVec // function
	inFlight    *prometheus.GaugeVec     // function
}

// Metric names, exported through the Registerer given to NewApp.
const (
	MetricInvocations = "funnel_handler_invocations_total"
	MetricDuration    = "funnel_handler_invocation_duration_seconds"
	MetricInFlight    = "funnel_handler_invocations_in_flight"
)

func newMetrics(app string, reg prometheus.Registerer) *metrics {
	var constLabels prometheus.Labels
	if app != "" {
		constLabels = prometheus.Labels{"app": app}
	}
	m := &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        MetricInvocations,
			Help:        "Invocations answered, by function and outcome (ok, http_error, error, panic, bad_request).",
			ConstLabels: constLabels,
		}, []string{"function", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        MetricDuration,
			Help:        "Time from receiving an invocation request to answering it, by function.",
			ConstLabels: constLabels,
			Buckets:     []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"function"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        MetricInFlight,
			Help:        "Invocations being run, by function.",
			ConstLabels: constLabels,
		}, []string{"function"}),
	}
	if reg == nil {
		return m
	}
	m.invocations = register(reg, m.invocations)
	m.duration = register(reg, m.duration)
	m.inFlight = register(reg, m.inFlight)
	return m
}

// register registers c, or returns the equal collector registered before
// (two Apps of one name sharing a registry share their metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		panic("handlers: cannot register metrics: " + err.Error())
	}
	return c
}

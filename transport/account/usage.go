package account

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Usage is the storage traffic of one component, service, operation and
// class, summed over statuses: what a cost estimate multiplies by prices.
type Usage struct {
	Component, Service, Operation, Class string
	// Requests counts every attempt; Failed those without a 2xx or 3xx
	// answer (billed too, once authenticated).
	Requests, Failed float64
	// RequestBytes and ResponseBytes are body bytes sent and read.
	RequestBytes, ResponseBytes float64
}

type usageKey struct{ component, service, operation, class string }

// ReadUsage gathers the storage metrics from g (a *prometheus.Registry
// that an Account registered on) and sums them per component, service,
// operation and class, sorted by those fields.
func ReadUsage(g prometheus.Gatherer) ([]Usage, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("account: gather metrics: %w", err)
	}
	byKey := map[usageKey]*Usage{}
	at := func(m *dto.Metric) *Usage {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		k := usageKey{l["component"], l["service"], l["operation"], l["class"]}
		u := byKey[k]
		if u == nil {
			u = &Usage{Component: k.component, Service: k.service, Operation: k.operation, Class: k.class}
			byKey[k] = u
		}
		return u
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue()
			switch f.GetName() {
			case MetricRequests:
				u := at(m)
				u.Requests += v
				for _, p := range m.GetLabel() {
					if p.GetName() == "status" && p.GetValue() != "2xx" && p.GetValue() != "3xx" {
						u.Failed += v
					}
				}
			case MetricRequestBytes:
				at(m).RequestBytes += v
			case MetricResponseBytes:
				at(m).ResponseBytes += v
			}
		}
	}
	out := make([]Usage, 0, len(byKey))
	for _, u := range byKey {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		return a.Operation < b.Operation
	})
	return out, nil
}

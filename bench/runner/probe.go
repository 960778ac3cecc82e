package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/procstat"
	"github.com/funnelpipe/funnel/transport/account"
)

// How the runner finds each handler process and its metrics.
//
// The handlers are separate processes, so their storage counters live in
// them. The runner reserves a loopback address per handler instance and
// gives it to that instance alone as FUNNEL_METRICS_ADDR (funchost's
// per-instance settings), so each handler serves GET /metrics there; the
// hosts' process API (funchost.Host.Processes) reports every handler's PID
// and settings, restarts included.

// handlerProc is one handler process as its host reports it.
type handlerProc struct {
	App         string
	Instance    int
	PID         int
	MetricsAddr string
}

// Key names the instance: "<app>/<index>", unique within a stack.
func (p handlerProc) Key() string { return instanceKey(p.App, p.Instance) }

func instanceKey(app string, idx int) string { return app + "/" + strconv.Itoa(idx) }

// stackProcs lists the handler processes the hosts run now, by instance
// key, with the metrics address each was given.
func stackProcs(hosts map[string]*funchost.Host) map[string]handlerProc {
	out := map[string]handlerProc{}
	for app, h := range hosts {
		for _, p := range h.Processes() {
			hp := handlerProc{App: app, Instance: p.Instance, PID: p.PID, MetricsAddr: p.Settings[handlers.EnvMetricsAddr]}
			out[hp.Key()] = hp
		}
	}
	return out
}

// reserveAddrs returns n distinct free loopback addresses ("127.0.0.1:port"),
// for handlers to serve their metrics on. Each port is free when returned;
// nothing else on this machine is expected to take it in the moment before
// the handler binds it.
func reserveAddrs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: reserve a metrics port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
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
	// NotReset lists the instances whose peak RSS could not be reset (with
	// why): their later peak is the process's lifetime peak.
	NotReset map[string]string
	// GridDeliveries is the local Event Grid's webhook POSTs so far,
	// GridIngress the blob write events it took in; GridCounted says that
	// the stack has a local Event Grid to count them.
	GridDeliveries, GridIngress float64
	GridCounted                 bool
}

// prober reads the counters of one running stack.
type prober struct {
	proc       procstat.Reader
	procs      func() map[string]handlerProc
	hostUsage  prometheus.Gatherer
	client     *http.Client
	azuritePID int
}

// snap reads every source. With reset it also resets the handlers' peak
// RSS, for the "before" snapshot.
func (p *prober) snap(ctx context.Context, reset bool) (snapshot, error) {
	s := snapshot{At: time.Now(), Usage: map[string][]account.Usage{}, Procs: p.procs(), CPU: map[string]procSample{}, AzuriteCPU: -1, NotReset: map[string]string{}}
	host, err := account.ReadUsage(p.hostUsage)
	if err != nil {
		return s, err
	}
	s.Usage["host"] = host
	if s.GridDeliveries, _, err = counterSum(p.hostUsage, "eventgrid_deliveries_total"); err != nil {
		return s, err
	}
	if s.GridIngress, s.GridCounted, err = counterSum(p.hostUsage, "eventgrid_ingress_total"); err != nil {
		return s, err
	}
	var errs []error
	for k, proc := range s.Procs {
		u, err := scrapeUsage(ctx, p.client, proc.MetricsAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		s.Usage[k] = u
		st, err := p.proc.Stat(proc.PID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		s.CPU[k] = procSample{PID: proc.PID, CPU: st.CPUSeconds}
		if reset {
			if err := p.proc.ResetPeakRSS(proc.PID); err != nil {
				s.NotReset[k] = err.Error()
			}
		}
	}
	if p.azuritePID > 0 {
		if st, err := p.proc.Stat(p.azuritePID); err == nil {
			s.AzuriteCPU = st.CPUSeconds
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
	Restarted []string
	// NotReset lists the instances whose peak RSS is the process's lifetime
	// peak, because it could not be reset before the run (with why).
	NotReset   []string
	AzuriteCPU float64 // -1 when unknown
	// BySource is the storage requests by who made them: "host" or an
	// app; UsageBySource their counters; BlobReadBytes the blob response
	// bytes they read.
	BySource      map[string]float64
	UsageBySource map[string][]account.Usage
	BlobReadBytes map[string]int64
	// GridDeliveries is the Event Grid deliveries to the hosts' blob
	// webhooks, GridIngress the blob write events the account's system
	// topic took in: Event Grid operations in Azure, not storage requests.
	// GridCounted is false when the stack has no local Event Grid.
	GridDeliveries, GridIngress float64
	GridCounted                 bool
}

// diff computes the storage counts and instance stats between before and
// after; peak RSS is read now, from the processes of after.
func (p *prober) diff(before, after snapshot) (delta, error) {
	d := delta{BySource: map[string]float64{}, UsageBySource: map[string][]account.Usage{}, BlobReadBytes: map[string]int64{}}
	for src, u := range after.Usage {
		prev := before.Usage[src]
		if a, b := after.CPU[src], before.CPU[src]; a.PID != b.PID {
			prev = nil // a new process: all it counted is new
		}
		du := usageDelta(prev, u)
		d.Usage = append(d.Usage, du...)
		app, _, _ := strings.Cut(src, "/")
		d.UsageBySource[app] = append(d.UsageBySource[app], du...)
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
		rss, err := p.proc.PeakRSS(proc.PID)
		if err != nil {
			return d, fmt.Errorf("bench: %s: %w", k, err)
		}
		why, notReset := before.NotReset[k]
		if b, ok := before.CPU[k]; !ok || b.PID != a.PID {
			notReset = false // a new process: its lifetime is the run's
		}
		if notReset {
			d.NotReset = append(d.NotReset, k+" ("+why+")")
		}
		d.Instances = append(d.Instances, bench.InstanceStats{App: proc.App, Instance: k, CPUSeconds: max(cpu, 0), PeakRSSBytes: rss, PeakRSSLifetime: notReset})
	}
	d.GridDeliveries = after.GridDeliveries - before.GridDeliveries
	d.GridIngress = after.GridIngress - before.GridIngress
	d.GridCounted = before.GridCounted && after.GridCounted
	d.AzuriteCPU = -1
	if before.AzuriteCPU >= 0 && after.AzuriteCPU >= 0 {
		d.AzuriteCPU = after.AzuriteCPU - before.AzuriteCPU
	}
	slices.SortFunc(d.Usage, func(a, b account.Usage) int {
		return cmp.Or(cmp.Compare(a.Component, b.Component), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	return d, nil
}

// counterSum adds up every series of the counter named name in g (0 when
// there is none).
func counterSum(g prometheus.Gatherer, name string) (sum float64, found bool, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, fmt.Errorf("bench: gather metrics: %w", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, found, nil
}

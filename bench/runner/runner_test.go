package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agg "github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/procstat"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/testing_data/reference"
	"github.com/funnelpipe/funnel/transport/account"
)

// runnerOpts is a valid Options for tests to change.
func runnerOpts() Options {
	return Options{
		Transports: []string{bench.TransportQueue}, ScaleFactors: []float64{10}, Chunks: []int{100}, Instances: []int{1},
		Reps: 3, WarmUps: 1, Arch: runtime.GOARCH, AppsDir: "dist/apps/x", CacheDir: "cache", OutDir: "out",
	}
}

func TestRunnerOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(o *Options)
		wantErr string
	}{
		{name: "defaults", change: func(*Options) {}},
		{name: "both transports", change: func(o *Options) { o.Transports = []string{"blob", "queue"} }},
		{name: "no transport", change: func(o *Options) { o.Transports = nil }, wantErr: "no transport"},
		{name: "unknown transport", change: func(o *Options) { o.Transports = []string{"kafka"} }, wantErr: `transport "kafka"`},
		{name: "transport twice", change: func(o *Options) { o.Transports = []string{"queue", "queue"} }, wantErr: "given twice"},
		{name: "fractional SF above 1", change: func(o *Options) { o.ScaleFactors = []float64{1.5} }, wantErr: "scale factor"},
		{name: "no SF", change: func(o *Options) { o.ScaleFactors = nil }, wantErr: "at least one value"},
		{name: "more chunks than rows", change: func(o *Options) { o.ScaleFactors = []float64{0.001}; o.Chunks = []int{151} }, wantErr: "at most the row count (150"},
		{name: "zero chunks", change: func(o *Options) { o.Chunks = []int{0} }, wantErr: "0 chunks"},
		{name: "zero instances", change: func(o *Options) { o.Instances = []int{1, 0} }, wantErr: "0 instances"},
		{name: "zero reps", change: func(o *Options) { o.Reps = 0 }, wantErr: "0 repetitions"},
		{name: "negative warm-up", change: func(o *Options) { o.WarmUps = -1 }, wantErr: "warm-up"},
		{name: "unit too large", change: func(o *Options) { o.UnitMB = 4096 }, wantErr: "unit size"},
		{name: "arch", change: func(o *Options) { o.Arch = "riscv64" }, wantErr: `arch "riscv64"`},
		{name: "no apps", change: func(o *Options) { o.AppsDir = "" }, wantErr: "apps folder"},
		{name: "no cache", change: func(o *Options) { o.CacheDir = "" }, wantErr: "cache folder"},
		{name: "label", change: func(o *Options) { o.Label = "Queue Run" }, wantErr: "label"},
		{name: "flex memory", change: func(o *Options) { o.Billing = bench.Billing{FlexInstanceMemoryMB: 1000} }, wantErr: "1000 MB"},
		{name: "parallel", change: func(o *Options) { o.Parallel = 1000 }, wantErr: "parallelism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := runnerOpts()
			tt.change(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrOptions)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestConfigsExpansion(t *testing.T) {
	o := runnerOpts()
	o.Transports = []string{"blob", "queue"}
	o.ScaleFactors = []float64{10, 1, 10}
	o.Chunks = []int{100, 5}
	o.Instances = []int{2, 1}
	o.UnitMB = 4
	cs := o.Configs()
	require.Len(t, cs, 2*2*2*2, "duplicates are dropped")
	// Scale factor, then chunks, then instances vary slowest, transports
	// fastest and in the order given, so one data set is used by
	// consecutive configurations.
	want := []string{
		"blob SF1 5 ×1", "queue SF1 5 ×1", "blob SF1 5 ×2", "queue SF1 5 ×2",
		"blob SF1 100 ×1", "queue SF1 100 ×1", "blob SF1 100 ×2", "queue SF1 100 ×2",
		"blob SF10 5 ×1", "queue SF10 5 ×1", "blob SF10 5 ×2", "queue SF10 5 ×2",
		"blob SF10 100 ×1", "queue SF10 100 ×1", "blob SF10 100 ×2", "queue SF10 100 ×2",
	}
	for i, c := range cs {
		assert.Equal(t, want[i], fmt.Sprintf("%s SF%s %d ×%d", c.Transport, bench.FormatFloat(c.ScaleFactor), c.Chunks, c.InstancesPerApp))
		assert.Equal(t, int64(4<<20), c.UnitSizeBytes)
		assert.Equal(t, runtime.GOARCH, c.Arch)
		assert.False(t, c.Emulated)
		require.NoError(t, c.Validate())
	}
}

// With AutoUnit the configurations get the unit size partition picks for
// their input, and no unit size is asked for.
func TestAutoUnit(t *testing.T) {
	o := runnerOpts()
	o.UnitMB = 0
	o.AutoUnit = true
	o.Transports = []string{bench.TransportQueue, bench.TransportBlob}
	require.NoError(t, o.Validate())
	cs := o.Configs()
	require.Len(t, cs, 2)
	for _, c := range cs {
		assert.Zero(t, c.UnitSizeBytes)
	}
	autoUnit(cs, 982_730_907) // SF 40
	for _, c := range cs {
		want := int64(15 << 20)
		if c.Transport == bench.TransportBlob {
			want = job.MinAutoUnitBlob // the blob transport's floor
		}
		assert.Equal(t, want, c.UnitSizeBytes, c.Transport)
		assert.True(t, c.AutoUnit)
		require.NoError(t, c.Validate())
	}
	autoUnit(cs, 245_000_000) // SF 10: the smallest automatic size
	assert.Equal(t, int64(job.MinAutoUnit), cs[0].UnitSizeBytes)
	assert.Len(t, stackGroups(o.Configs()), 1, "the transports still share one stack")
}

func TestSweeps(t *testing.T) {
	tests := []struct {
		sweep   string
		configs int // with both transports
		label   string
		check   func(t *testing.T, o Options)
	}{
		{sweep: SweepBatch, configs: 16, label: "batch-sweep", check: func(t *testing.T, o Options) {
			assert.Equal(t, []int{1, 5, 10, 20, 50, 100, 250, 500}, o.Chunks)
		}},
		{sweep: SweepScale, configs: 6, label: "scale-sweep", check: func(t *testing.T, o Options) {
			assert.Equal(t, []int{1, 2, 4}, o.Instances)
		}},
		{sweep: SweepSize, configs: 6, label: "size-sweep", check: func(t *testing.T, o Options) {
			assert.Equal(t, []float64{1, 10, 40}, o.ScaleFactors)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.sweep, func(t *testing.T) {
			o := runnerOpts()
			o.Transports = []string{bench.TransportQueue, bench.TransportBlob}
			require.NoError(t, o.ApplySweep(tt.sweep))
			require.NoError(t, o.Validate())
			tt.check(t, o)
			assert.Len(t, o.Configs(), tt.configs)
			assert.Equal(t, tt.label, o.DefaultLabel(tt.sweep))
			o.Transports = []string{bench.TransportBlob}
			assert.Equal(t, tt.label+"-blob", o.DefaultLabel(tt.sweep))
		})
	}
	o := runnerOpts()
	require.ErrorIs(t, o.ApplySweep("latency"), ErrOptions)
}

// otherArch is the supported architecture this machine is not.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func TestDefaultLabel(t *testing.T) {
	o := runnerOpts()
	assert.Equal(t, "queue", o.DefaultLabel(""))
	o.Transports = []string{bench.TransportQueue, bench.TransportBlob}
	assert.Equal(t, "comparison", o.DefaultLabel(""))
	o.Arch = otherArch()
	assert.Equal(t, "comparison-"+otherArch(), o.DefaultLabel(""))
	cs := o.Configs()
	require.NotEmpty(t, cs)
	assert.True(t, cs[0].Emulated, "handlers of another arch run emulated")
}

func TestEmulatorPrefix(t *testing.T) {
	missing := func(string) (string, error) { return "", errors.New("not found") }
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }

	p, err := EmulatorPrefix(runtime.GOARCH, missing)
	require.NoError(t, err)
	assert.Nil(t, p, "this machine's own arch needs no emulator")

	_, err = EmulatorPrefix(otherArch(), missing)
	require.ErrorIs(t, err, ErrNoEmulator)
	assert.Contains(t, err.Error(), "install qemu-user-static (apt-get install qemu-user-static)")

	p, err = EmulatorPrefix(otherArch(), found)
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/bin/" + emulators[otherArch()]}, p)
	if runtime.GOARCH == "amd64" {
		assert.Equal(t, []string{"/usr/bin/qemu-aarch64-static"}, p)
	}
}

func TestLoadAverage(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "loadavg"), []byte("5.70 10.38 11.42 3/412 9876\n"), 0o644))
	r, err := procstat.New(dir)
	require.NoError(t, err)
	got, err := loadAverage(r)
	require.NoError(t, err)
	assert.Equal(t, "5.70 10.38 11.42", got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "loadavg"), []byte("busy\n"), 0o644))
	_, err = loadAverage(r)
	require.Error(t, err)
}

func TestStageOf(t *testing.T) {
	for fn, want := range map[string]string{
		"Jobs": "partition", "UnitsQueue": "aggregate", "UnitsBlob": "aggregate",
		"PartialsQueue": "merge", "PartialsBlob": "merge",
		"JobResult": "JobResult", "UnitsPoison": "UnitsPoison",
	} {
		assert.Equal(t, want, stageOf(fn), fn)
	}
}

func TestWindowRecords(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	apps := []appRecords{
		{App: "partition", Records: []funchost.Record{
			{Function: "Jobs", Instance: 0, Start: at(-5), DurationMS: 3, Outcome: "success"}, // before the window
			{Function: "Jobs", Instance: 0, Start: at(0), DurationMS: 40, Outcome: "success"}, // at its start
			{Function: "JobResult", Instance: 0, Start: at(1001), Outcome: "success"},         // after it
		}},
		{App: "aggregate", Records: []funchost.Record{
			{Function: "UnitsQueue", Instance: 1, Start: at(300), DurationMS: 90, Outcome: "timeout", DequeueCount: 2, BytesIn: 900},
			{Function: "UnitsQueue", Instance: 0, Start: at(100), DurationMS: 80, Outcome: "success", DequeueCount: 1, BytesIn: 800, BytesOut: 12},
		}},
		{App: "merge", Records: []funchost.Record{
			{Function: "PartialsQueue", Instance: 0, Start: at(1000), DurationMS: 20, Outcome: "failure", DequeueCount: 1}, // at its end
		}},
	}
	got := windowRecords(apps, at(0), at(1000))
	require.Len(t, got, 4)
	want := []bench.InvocationRecord{
		{Function: "partition", Instance: "partition/0", Start: at(0), DurationMS: 40, Outcome: bench.OutcomeSuccess},
		{Function: "aggregate", Instance: "aggregate/0", Start: at(100), DurationMS: 80, Outcome: bench.OutcomeSuccess, DequeueCount: 1, BytesIn: 800, BytesOut: 12},
		{Function: "aggregate", Instance: "aggregate/1", Start: at(300), DurationMS: 90, Outcome: bench.OutcomeFailure, DequeueCount: 2, BytesIn: 900},
		{Function: "merge", Instance: "merge/0", Start: at(1000), DurationMS: 20, Outcome: bench.OutcomeFailure, DequeueCount: 1},
	}
	assert.Equal(t, want, got)
	for _, r := range got {
		require.NoError(t, r.Validate())
	}
	assert.Empty(t, windowRecords(apps, at(2000), at(3000)))
}

func TestApportionReads(t *testing.T) {
	recs := []bench.InvocationRecord{
		{Function: "aggregate", Outcome: bench.OutcomeSuccess, BytesIn: 100},
		{Function: "merge", Outcome: bench.OutcomeSuccess, BytesIn: 5},
		{Function: "aggregate", Outcome: bench.OutcomeFailure, BytesIn: 100},
		{Function: "aggregate", Outcome: bench.OutcomeSuccess, BytesIn: 100},
		{Function: "aggregate", Outcome: bench.OutcomeSuccess, BytesIn: 100},
	}
	apportionReads(recs, "aggregate", 1000)
	assert.Equal(t, []int64{434, 5, 100, 433, 433}, []int64{recs[0].BytesIn, recs[1].BytesIn, recs[2].BytesIn, recs[3].BytesIn, recs[4].BytesIn},
		"1000 bytes in three successful invocations: 334+333+333, failures and other stages untouched")
	apportionReads(recs, "aggregate", 0)
	assert.Equal(t, int64(434), recs[0].BytesIn)
	apportionReads(recs, "plan", 10) // no such stage: nothing to do
}

func exactResult() agg.Result {
	return agg.Result{Rows: 3, Nations: []agg.NationResult{
		{Key: 0, Name: "ALGERIA", Count: 2, SumCents: agg.Int128From64(150), Min: "0.50", Max: "1.00", Mean: "0.75"},
		{Key: 7, Name: "GERMANY", Count: 1, SumCents: agg.Int128From64(-45), Min: "-0.45", Max: "-0.45", Mean: "-0.45"},
	}}
}

// exactReference is exactResult in the reference's format.
func exactReference(t *testing.T) reference.ResultJSON {
	b, err := json.Marshal(exactResult())
	require.NoError(t, err)
	r, err := reference.ParseResult(b)
	require.NoError(t, err)
	return r
}

func TestVerifyResult(t *testing.T) {
	want := exactReference(t)
	require.NoError(t, verifyResult(exactResult(), want))

	tests := []struct {
		name   string
		change func(r *agg.Result)
		says   string
	}{
		{name: "rows", change: func(r *agg.Result) { r.Rows = 2 }, says: "2 rows accepted and 0 rejected, want 3 and 0"},
		{name: "rejected", change: func(r *agg.Result) { r.Rejected = 1 }, says: "rejected, want 3 and 0"},
		{name: "mean", change: func(r *agg.Result) { r.Nations[1].Mean = "-0.44" }, says: "nation 7 GERMANY"},
		{name: "sum", change: func(r *agg.Result) { r.Nations[0].SumCents = agg.Int128From64(151) }, says: "sum 151"},
		{name: "missing", change: func(r *agg.Result) { r.Nations = r.Nations[:1] }, says: "nation 7 GERMANY is missing"},
		{name: "extra", change: func(r *agg.Result) {
			r.Nations = append(r.Nations, agg.NationResult{Key: 9, Name: "INDONESIA", Count: 1})
		}, says: "nation 9 INDONESIA should not be there"},
		{name: "twice", change: func(r *agg.Result) { r.Nations = append(r.Nations, r.Nations[0]) }, says: "nation 0 appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exactResult()
			tt.change(&got)
			err := verifyResult(got, want)
			require.ErrorIs(t, err, ErrWrongAnswer)
			assert.Contains(t, err.Error(), tt.says)
		})
	}
	// Samples name blobs on one side and files on the other: not compared.
	got := exactResult()
	got.RejectedSamples = []agg.Sample{{File: "input/customer/x.csv"}}
	require.NoError(t, verifyResult(got, want))
}

func TestUsageDelta(t *testing.T) {
	u := func(op string, req, in, out float64) account.Usage {
		return account.Usage{Component: "aggregate", Service: "blob", Operation: op, Class: "read", Requests: req, RequestBytes: in, ResponseBytes: out}
	}
	before := []account.Usage{u("GetBlob", 10, 0, 1000), u("PutBlob", 5, 50, 0), u("ListBlobs", 3, 0, 30)}
	after := []account.Usage{u("GetBlob", 14, 0, 1500), u("PutBlob", 5, 50, 0), u("ListBlobs", 1, 0, 10), u("DeleteBlob", 2, 0, 0)}
	got := usageDelta(before, after)
	assert.Equal(t, []account.Usage{
		u("GetBlob", 4, 0, 500),
		u("ListBlobs", 1, 0, 10), // went down: a new process counted it all
		u("DeleteBlob", 2, 0, 0),
	}, got, "unchanged counters are dropped")
	assert.Equal(t, after[:1], usageDelta(nil, after[:1]))
}

func TestScrapeUsage(t *testing.T) {
	const page = `# HELP funnel_storage_requests_total Storage requests.
# TYPE funnel_storage_requests_total counter
funnel_storage_requests_total{class="read",component="aggregate",operation="GetBlob",service="blob",status="2xx"} 7
funnel_storage_requests_total{class="read",component="aggregate",operation="GetBlob",service="blob",status="4xx"} 1
funnel_storage_requests_total{class="queue",component="queue",operation="DeleteMessage",service="queue",status="2xx"} 3
# TYPE funnel_storage_response_bytes_total counter
funnel_storage_response_bytes_total{class="read",component="aggregate",operation="GetBlob",service="blob",status="2xx"} 7000
# TYPE go_goroutines gauge
go_goroutines 12
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	us, err := scrapeUsage(context.Background(), srv.Client(), addr)
	require.NoError(t, err)
	ops, err := bench.StorageOpsFromUsage(us)
	require.NoError(t, err)
	assert.Equal(t, []bench.StorageOp{
		{Service: bench.ServiceBlob, Operation: "GetBlob", Class: bench.ClassRead, Count: 8, Bytes: 7000},
		{Service: bench.ServiceQueue, Operation: "DeleteMessage", Class: bench.ClassQueue1, Count: 3},
	}, ops)

	srv.Close()
	_, err = scrapeUsage(context.Background(), srv.Client(), addr)
	require.Error(t, err, "a handler that does not answer is an error, not zero requests")
}

func TestReserveAddrs(t *testing.T) {
	addrs, err := reserveAddrs(5)
	require.NoError(t, err)
	require.Len(t, addrs, 5)
	seen := map[string]bool{}
	for _, a := range addrs {
		assert.True(t, strings.HasPrefix(a, "127.0.0.1:"), a)
		assert.False(t, seen[a], "addresses are distinct")
		seen[a] = true
		l, err := net.Listen("tcp", a)
		require.NoError(t, err, "a reserved address is free again")
		l.Close()
	}
}

func TestProberDiff(t *testing.T) {
	pid := os.Getpid()
	p := &prober{proc: procstat.Default()}
	u := func(component string, req float64) account.Usage {
		return account.Usage{Component: component, Service: "blob", Operation: "GetBlob", Class: "read", Requests: req, ResponseBytes: 10 * req}
	}
	before := snapshot{
		Usage: map[string][]account.Usage{"host": {u("funchost", 10)}, "aggregate/0": {u("aggregate", 5)}, "merge/0": {u("merge", 50)}},
		CPU:   map[string]procSample{"aggregate/0": {PID: pid, CPU: 1.0}, "merge/0": {PID: pid - 1, CPU: 9}},
		// Azurite's CPU was not known before.
		AzuriteCPU: -1,
		// aggregate/0's peak could not be reset; merge/0's process was
		// replaced, so its new process's lifetime is the run's.
		NotReset: map[string]string{"aggregate/0": "permission denied", "merge/0": "permission denied"},
	}
	after := snapshot{
		Usage: map[string][]account.Usage{"host": {u("funchost", 12)}, "aggregate/0": {u("aggregate", 25)}, "merge/0": {u("merge", 7)}},
		Procs: map[string]handlerProc{
			"aggregate/0": {App: "aggregate", Instance: 0, PID: pid},
			"merge/0":     {App: "merge", Instance: 0, PID: pid}, // restarted: a new pid
		},
		CPU:        map[string]procSample{"aggregate/0": {PID: pid, CPU: 1.5}, "merge/0": {PID: pid, CPU: 0.25}},
		AzuriteCPU: 3,
	}
	before.GridIngress, before.GridDeliveries, before.GridCounted = 4, 1, true
	after.GridIngress, after.GridDeliveries, after.GridCounted = 10, 3, true
	d, err := p.diff(before, after)
	require.NoError(t, err)
	assert.Equal(t, []string{"merge/0"}, d.Restarted)
	assert.Equal(t, map[string]float64{"host": 2, "aggregate": 20, "merge": 7}, d.BySource,
		"the restarted merge's counters count whole, not minus the old process's")
	assert.Equal(t, map[string]int64{"host": 20, "aggregate": 200, "merge": 70}, d.BlobReadBytes)
	assert.Equal(t, []account.Usage{u("merge", 7)}, d.UsageBySource["merge"], "the operations of each source")
	assert.Equal(t, 2.0, d.UsageBySource["host"][0].Requests)
	require.Len(t, d.Instances, 2)
	assert.Equal(t, "aggregate/0", d.Instances[0].Instance)
	assert.InDelta(t, 0.5, d.Instances[0].CPUSeconds, 1e-9)
	assert.InDelta(t, 0.25, d.Instances[1].CPUSeconds, 1e-9)
	assert.Positive(t, d.Instances[0].PeakRSSBytes, "read from /proc for the live process")
	assert.True(t, d.Instances[0].PeakRSSLifetime, "a peak that was not reset is reported as the lifetime peak")
	assert.False(t, d.Instances[1].PeakRSSLifetime)
	assert.Equal(t, []string{"aggregate/0 (permission denied)"}, d.NotReset)
	assert.Equal(t, -1.0, d.AzuriteCPU)
	assert.Equal(t, 6.0, d.GridIngress)
	assert.Equal(t, 2.0, d.GridDeliveries)
	assert.True(t, d.GridCounted)

	after.GridCounted = false // a stack without a local Event Grid
	d, err = p.diff(before, after)
	require.NoError(t, err)
	assert.False(t, d.GridCounted)

	delete(after.CPU, "merge/0")
	_, err = p.diff(before, after)
	require.Error(t, err)
}

func TestDataCache(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	progress := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	ctx := context.Background()

	c := newDataCache(dir, progress)
	d, err := c.get(ctx, 0.001, 3)
	require.NoError(t, err)
	require.Len(t, d.Paths, 3)
	assert.Equal(t, int64(150), d.Rows)
	assert.Equal(t, int64(150), d.Reference.Rows)
	var size int64
	for _, p := range d.Paths {
		st, err := os.Stat(p)
		require.NoError(t, err)
		size += st.Size()
	}
	assert.Equal(t, size, d.Bytes)
	table, err := os.Stat(filepath.Join(dir, "sf-0.001", "customer.tbl"))
	require.NoError(t, err)
	assert.Equal(t, table.Size(), d.Bytes, "the chunks hold every byte of the table")
	assert.Contains(t, strings.Join(lines, "\n"), "generated")

	// Another cache over the same folder reuses the table and the split;
	// another chunk count splits the same table again.
	lines = nil
	c2 := newDataCache(dir, progress)
	d2, err := c2.get(ctx, 0.001, 3)
	require.NoError(t, err)
	assert.Equal(t, d.Paths, d2.Paths)
	assert.NotContains(t, strings.Join(lines, "\n"), "generated")
	assert.NotContains(t, strings.Join(lines, "\n"), "split")
	d5, err := c2.get(ctx, 0.001, 5)
	require.NoError(t, err)
	assert.Len(t, d5.Paths, 5)
	assert.NotContains(t, strings.Join(lines, "\n"), "generated")
	require.NoError(t, reference.Compare(*d5.Reference, *d.Reference))

	// A split that did not finish is redone; a corrupted one is refused.
	require.NoError(t, os.Remove(filepath.Join(dir, "sf-0.001", "chunks-5", completeMarker)))
	d5b, err := newDataCache(dir, progress).get(ctx, 0.001, 5)
	require.NoError(t, err)
	assert.Len(t, d5b.Paths, 5)
	// The reference answer is computed once per scale factor and cached:
	// a chunk corrupted later is caught by every run's baseline check
	// against it, not by recomputing the reference from the bad chunks.
	assert.FileExists(t, filepath.Join(dir, "sf-0.001", referenceFile))
	require.NoError(t, os.WriteFile(d5b.Paths[0], []byte("1|x|y|3|p|oops|s|c|\n"), 0o644))
	bad, err := newDataCache(dir, progress).get(ctx, 0.001, 5)
	require.NoError(t, err)
	require.NoError(t, reference.Compare(*bad.Reference, *d.Reference))
	base, err := kernelResult(ctx, bad.Paths, 1<<20)
	require.NoError(t, err)
	require.ErrorIs(t, verifyResult(*base, *bad.Reference), ErrWrongAnswer)
}

func TestKernelResultUnits(t *testing.T) {
	dir := t.TempDir()
	d, err := newDataCache(dir, func(string, ...any) {}).get(context.Background(), 0.01, 2)
	require.NoError(t, err)
	// Units far smaller than a chunk cut lines at every boundary; the
	// answer must not change.
	small, err := kernelResult(context.Background(), d.Paths, 4096)
	require.NoError(t, err)
	require.NoError(t, verifyResult(*small, *d.Reference))
}

func TestTreeDirtyIgnoresTheResultsFolder(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	write := func(path, text string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(repo, path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, path), []byte(text), 0o644))
	}
	gitIn("init", "-q")
	write("main.go", "package main\n")
	write("bench/results/README.md", "# old\n")
	gitIn("add", ".")
	gitIn("commit", "-q", "-m", "init")
	ctx := context.Background()
	out := filepath.Join(repo, "bench", "results")

	dirty, err := treeDirty(ctx, repo, out)
	require.NoError(t, err)
	assert.False(t, dirty)

	write("bench/results/README.md", "# new\n")
	write("bench/results/2026-11-23-queue/report.md", "new, untracked\n")
	dirty, err = treeDirty(ctx, repo, out)
	require.NoError(t, err)
	assert.False(t, dirty, "reports are not code")
	// From a subfolder of the tree, too.
	dirty, err = treeDirty(ctx, filepath.Join(repo, "bench"), out)
	require.NoError(t, err)
	assert.False(t, dirty)

	write("main.go", "package main // changed\n")
	dirty, err = treeDirty(ctx, repo, out)
	require.NoError(t, err)
	assert.True(t, dirty)
	dirty, err = treeDirty(ctx, repo, t.TempDir()) // results outside the tree
	require.NoError(t, err)
	assert.True(t, dirty)

	_, err = treeDirty(ctx, t.TempDir(), out) // not a repository
	require.Error(t, err)
}

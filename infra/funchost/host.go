package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/infra/procstat"
)

// Config says which app to run and how.
type Config struct {
	// AppDir is the function app folder: host.json, <function>/function.json,
	// optionally local.settings.json.
	AppDir string
	// Instances is how many handler processes (scaled-out instances) to
	// run; 0 means 1.
	Instances int
	// ExecPrefix is prepended to the handler command line, e.g.
	// []string{"qemu-aarch64-static"} to run an arm64 handler on amd64.
	ExecPrefix []string
	// HTTPAddr is where HTTP triggers are served; "" means 127.0.0.1 on a
	// free port (see Host.HTTPURL).
	HTTPAddr string
	// Settings are the app settings, passed to the handlers' environment
	// and read by bindings ("connection"). Keys not given here are taken
	// from the "Values" of AppDir/local.settings.json.
	Settings map[string]string
	// Registerer receives the host's metrics (labelled app=<folder name>)
	// and the storage client metrics; nil means none.
	Registerer prometheus.Registerer
	// RecordsPath, when set, receives one JSON line per invocation (Record),
	// appended.
	RecordsPath string
	// Logger receives the host's and the handlers' logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// FlexMemoryMB is the Flex Consumption instance memory size used to
	// price runs in Summary: 512, 2048 (default) or 4096.
	FlexMemoryMB int
	// Processors is the processor count the queue extension's default
	// newBatchThreshold scales with; 0 means this machine's.
	Processors int
	// InstanceSettings, when set, gives settings for one instance's
	// handler processes only (index 0..Instances-1), on top of Settings:
	// e.g. a metrics address of its own. Host.Processes reports them.
	// The real host has no such thing; it is for local tooling.
	InstanceSettings func(instance int) map[string]string
	// EventGrid says that Event Grid delivers blob events to the host's
	// blob webhook (/runtime/webhooks/blobs, see BlobWebhooks), as in
	// Azure: blob triggers with "source": "EventGrid" then wait for those
	// deliveries. Without it they are stood in for by listing the
	// container (see Differences).
	EventGrid bool
}

// Host runs one function app. Create it with New, run it with Run.
type Host struct {
	cfg      Config
	app      *app
	settings map[string]string
	log      *slog.Logger
	hostID   string
	name     string // app label

	storage   map[string]*storageAccount // by connection setting name
	metrics   *hostMetrics
	recorder  *recorder
	instances []*instance
	proc      procstat.Reader // samples the handlers' CPU time and peak RSS

	httpLn  net.Listener
	httpURL string
	routes  []httpRoute

	blobQueue string // the app's internal blob trigger queue
	watchers  *queueWatchers

	rr        int // round-robin cursor for HTTP requests
	ready     chan struct{}
	readyOnce sync.Once
	runOnce   sync.Once
	started   time.Time
	stopped   time.Time
	mu        sync.Mutex
}

// New reads the app folder and settings, checks every binding, opens the
// storage clients and reserves the HTTP address. It starts nothing else;
// Run does. A configuration problem is an error wrapping ErrConfig that
// names the file and the field. The HTTP listener is released by Run; a
// Host that is never run should be given to Close.
func New(cfg Config) (*Host, error) {
	if cfg.AppDir == "" {
		return nil, fmt.Errorf("%w: Config.AppDir is empty", ErrConfig)
	}
	if cfg.Instances <= 0 {
		cfg.Instances = 1
	}
	switch cfg.FlexMemoryMB {
	case 0:
		cfg.FlexMemoryMB = 2048
	case 512, 2048, 4096:
	default:
		return nil, fmt.Errorf("%w: FlexMemoryMB must be 512, 2048 or 4096, got %d", ErrConfig, cfg.FlexMemoryMB)
	}
	if cfg.Processors <= 0 {
		cfg.Processors = defaultProcessors()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	a, err := loadApp(cfg.AppDir, cfg.Processors)
	if err != nil {
		return nil, err
	}
	settings, err := loadSettings(a.Dir, cfg.Settings)
	if err != nil {
		return nil, err
	}
	if err := resolveSettingRefs(a, settings); err != nil {
		return nil, err
	}
	name := filepath.Base(a.Dir)
	h := &Host{
		cfg:      cfg,
		app:      a,
		settings: settings,
		name:     name,
		hostID:   hostID(name, settings),
		storage:  map[string]*storageAccount{},
		watchers: newQueueWatchers(),
		ready:    make(chan struct{}),
		proc:     procstat.Default(),
	}
	h.log = log.With("app", name)
	for _, w := range a.Host.Warnings {
		h.log.Warn("host.json: " + w)
	}
	for _, f := range a.Functions {
		if f.Disabled || settingTrue(settings, "AzureWebJobs."+f.Name+".Disabled") {
			f.Disabled = true
			h.log.Info("function disabled", "function", f.Name)
		}
	}
	h.metrics, err = newHostMetrics(cfg.Registerer, name)
	if err != nil {
		return nil, err
	}
	if h.recorder, err = newRecorder(cfg.RecordsPath); err != nil {
		return nil, err
	}
	if err := h.openStorage(); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	h.blobQueue = blobTriggerQueueName(h.hostID)
	for _, f := range a.Functions {
		if !f.Disabled && f.Trigger.Type == typeHTTPTrigger {
			h.routes = append(h.routes, httpRoute{fn: f, tmpl: f.Trigger.Route, order: f.Trigger.Route.precedence()})
		}
	}
	sortRoutes(h.routes)
	addr := cfg.HTTPAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("funchost: listen on %s: %w", addr, err), h.Close())
	}
	h.httpLn = ln
	h.httpURL = "http://" + ln.Addr().String()
	for i := 0; i < cfg.Instances; i++ {
		h.instances = append(h.instances, newInstance(h, i))
	}
	return h, nil
}

// HTTPURL is the base URL of the host's HTTP server, e.g.
// "http://127.0.0.1:7071"; HTTP triggers live under HTTPURL()+"/api/...".
func (h *Host) HTTPURL() string { return h.httpURL }

// Ready is closed once Run has every handler answering and serves work.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// HostID is the host ID that keys the app's blob receipts.
func (h *Host) HostID() string { return h.hostID }

// Close releases what New reserved, for a Host that is not run.
func (h *Host) Close() error {
	var errs []error
	if h.httpLn != nil {
		if err := h.httpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, h.recorder.close())
	for _, sa := range h.storage {
		sa.acct.Close()
	}
	return errors.Join(errs...)
}

// Run starts the handlers, waits until each answers, then serves HTTP
// triggers and starts the queue and blob listeners. When ctx is cancelled
// it stops taking work (listeners stop polling, the HTTP server stops
// accepting), lets the invocations in flight finish (drain), stops the
// handlers (SIGTERM, then SIGKILL after a grace period) and returns nil.
// It returns an error when a handler cannot be started or storage cannot
// be prepared. Run may be called once.
func (h *Host) Run(ctx context.Context) error {
	err := errors.New("funchost: Run called twice")
	h.runOnce.Do(func() { err = h.run(ctx) })
	return err
}

func (h *Host) run(ctx context.Context) (err error) {
	// Ready is closed on every way out too, so that waiters never hang.
	defer h.readyOnce.Do(func() { close(h.ready) })
	defer func() {
		if cerr := h.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	h.mu.Lock()
	h.started = time.Now()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.stopped = time.Now()
		h.mu.Unlock()
	}()

	if err := h.prepareStorage(ctx); err != nil {
		return err
	}

	// Handlers live until the work is drained: procCtx outlives ctx.
	procCtx, stopProcs := context.WithCancel(context.Background())
	var procs sync.WaitGroup
	startErrs := make(chan error, len(h.instances))
	for _, in := range h.instances {
		procs.Add(1)
		go func() {
			defer procs.Done()
			in.supervise(procCtx, startErrs)
		}()
	}
	stopAll := func() {
		for _, in := range h.instances {
			in.mu.Lock()
			in.stopping = true
			in.mu.Unlock()
		}
		stopProcs()
		procs.Wait()
	}
	var startErr error
	for range h.instances {
		select {
		case e := <-startErrs:
			startErr = errors.Join(startErr, e)
		case <-ctx.Done():
			stopAll()
			return nil
		}
	}
	if startErr != nil {
		stopAll()
		return startErr
	}
	h.log.Info("host started", "instances", len(h.instances), "http", h.httpURL, "functions", len(h.app.Functions))

	// Work sources. Each stops taking new work when ctx is done and
	// returns once its own invocations have finished.
	var work sync.WaitGroup
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(h.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	for _, in := range h.instances {
		for _, l := range h.queueListeners(in) {
			work.Add(1)
			go func() {
				defer work.Done()
				l.run(ctx)
			}()
		}
	}
	for _, tl := range h.timerListeners() {
		work.Add(1)
		go func() {
			defer work.Done()
			tl.run(ctx)
		}()
	}
	for _, sc := range h.blobScanners() {
		if sc.source == "eventgrid" && h.cfg.EventGrid {
			continue // driven by the blob webhook
		}
		work.Add(1)
		go func() {
			defer work.Done()
			sc.run(ctx)
		}()
	}

	h.readyOnce.Do(func() { close(h.ready) })

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		h.log.Error("HTTP server failed", "err", runErr)
	}
	h.log.Info("host stopping: draining in-flight invocations")
	shutCtx, cancel := context.WithTimeout(context.Background(), h.drainLimit())
	if err := srv.Shutdown(shutCtx); err != nil {
		h.log.Warn("HTTP drain incomplete", "err", err)
	}
	cancel()
	work.Wait()
	stopAll()
	h.log.Info("host stopped")
	return runErr
}

// drainLimit bounds how long HTTP requests may take to finish at shutdown.
func (h *Host) drainLimit() time.Duration {
	if t := h.app.Host.FunctionTimeout; t > 0 {
		return t + timeoutGrace + 5*time.Second
	}
	return 10 * time.Minute
}

// function returns the enabled function of that name.
func (h *Host) function(name string) *function {
	for _, f := range h.app.Functions {
		if f.Name == name && !f.Disabled {
			return f
		}
	}
	return nil
}

// nextInstance picks the instance for an HTTP request, round-robin.
func (h *Host) nextInstance() *instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.rr % len(h.instances)
	h.rr++
	return h.instances[i]
}

// loadSettings merges explicit settings over local.settings.json "Values".
func loadSettings(dir string, explicit map[string]string) (map[string]string, error) {
	out := map[string]string{}
	file := filepath.Join(dir, "local.settings.json")
	raw, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	default:
		var ls struct {
			IsEncrypted bool            `json:"IsEncrypted"`
			Values      json.RawMessage `json:"Values"`
		}
		if err := json.Unmarshal(stripJSONComments(raw), &ls); err != nil {
			return nil, cfgErr(file, "", "not valid JSON: %v", err)
		}
		if ls.IsEncrypted {
			return nil, cfgErr(file, "IsEncrypted", "encrypted settings are not supported")
		}
		if len(ls.Values) > 0 && string(ls.Values) != "null" {
			var vals map[string]any
			if err := json.Unmarshal(ls.Values, &vals); err != nil {
				return nil, cfgErr(file, "Values", "must be an object of settings: %v", err)
			}
			for k, v := range vals {
				switch x := v.(type) {
				case string:
					out[k] = x
				case bool, float64:
					out[k] = fmt.Sprint(x)
				case nil:
				default:
					return nil, cfgErr(file, "Values."+k, "must be a string")
				}
			}
		}
	}
	for k, v := range explicit {
		out[k] = v
	}
	if rt, ok := out["FUNCTIONS_WORKER_RUNTIME"]; ok && !strings.EqualFold(rt, "custom") {
		return nil, cfgErr(file, "Values.FUNCTIONS_WORKER_RUNTIME", "is %q; funchost runs custom handlers (\"custom\")", rt)
	}
	return out, nil
}

func settingTrue(settings map[string]string, key string) bool {
	for k, v := range settings {
		if strings.EqualFold(k, key) {
			return strings.EqualFold(strings.TrimSpace(v), "true") || strings.TrimSpace(v) == "1"
		}
	}
	return false
}

var hostIDBad = regexp.MustCompile(`[^a-z0-9-]+`)

// hostID derives the host ID: AzureFunctionsWebHost__hostid when set,
// otherwise the app folder's name, lower-cased, at most 32 characters (the
// real host uses the site name the same way).
func hostID(name string, settings map[string]string) string {
	id := settings["AzureFunctionsWebHost__hostid"]
	if id == "" {
		id = name
	}
	id = strings.Trim(hostIDBad.ReplaceAllString(strings.ToLower(id), "-"), "-")
	if len(id) > 32 {
		id = strings.TrimRight(id[:32], "-")
	}
	if id == "" {
		id = "funchost"
	}
	return id
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

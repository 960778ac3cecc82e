// Package localstack runs the whole funnel pipeline on one machine: an
// Azurite storage emulator and one local Functions host (package funchost)
// per app — partition, aggregate, merge — all owned by the calling process.
// It is what `funnel up`, `funnel run` and the end-to-end tests start.
//
// The apps come from an apps folder laid out as `make package` (and
// AssembleApp) leaves it:
//
//	<AppsDir>/partition/{host.json, Jobs/function.json, ..., handler}
//	<AppsDir>/aggregate/...
//	<AppsDir>/merge/...
//
// Every app gets the app settings
//
//	AzureWebJobsStorage       the storage connection string (Azurite's)
//	FUNCTIONS_WORKER_RUNTIME  custom
//	FUNNEL_PREFIX             "funnel-" (the triggers' names derive from it)
//	FUNNEL_JOBS_CONTAINER     "funnel"
//
// (see AppSettings) plus Options.Settings. The job API is the partition host's HTTP
// server: APIURL, e.g. http://127.0.0.1:41234/api (POST /jobs, GET
// /jobs/{id}, GET /jobs/{id}/result).
//
// Stop is graceful: the hosts stop taking work and let invocations in
// flight finish, stop their handler processes, and only then is Azurite
// stopped; no process started by Start outlives Stop.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/eventgrid"
	"github.com/funnelpipe/funnel/infra/funchost"
)

// ErrOptions is wrapped by every error about the Options themselves: a
// missing apps folder, an unknown app name, a bad instance count.
var ErrOptions = errors.New("localstack: invalid options")

// ErrStopped is returned (wrapped) by Start when a host stops before it
// is ready, and reported by Err when a host stops on its own while the
// stack runs.
var ErrStopped = errors.New("localstack: host stopped")

// DefaultStartTimeout bounds Start when ctx has no earlier deadline.
const DefaultStartTimeout = 2 * time.Minute

// Options configures Start.
type Options struct {
	// AppsDir holds one folder per app (see the package doc), e.g.
	// dist/apps/linux-amd64. Required.
	AppsDir string
	// Instances is the number of handler processes per app, by app name;
	// a missing or zero entry means 1.
	Instances map[string]int
	// ExecPrefix is prepended to every handler's command line, e.g.
	// []string{"qemu-aarch64-static"} to run arm64 handlers on amd64.
	ExecPrefix []string
	// RecordsDir, when set, receives <app>.jsonl: one JSON line per
	// invocation (funchost.Record). It is created if missing.
	RecordsDir string
	// Registerer receives the hosts' and their storage clients' metrics;
	// nil means none.
	Registerer prometheus.Registerer
	// Logger receives the hosts' and the handlers' logs; nil discards
	// them.
	Logger *slog.Logger
	// ConnectionString, when set, names running storage to use (an
	// Azurite someone else runs, or a real account); no Azurite is started
	// and Stop leaves that storage alone.
	ConnectionString string
	// Azurite configures the emulator Start runs when ConnectionString is
	// empty; the zero value is a throwaway emulator on free ports.
	Azurite azurite.Options
	// Settings are extra app settings for every app (e.g. FUNNEL_PREFIX);
	// they override the defaults above except AzureWebJobsStorage.
	Settings map[string]string
	// FlexMemoryMB is the Flex Consumption instance size funchost prices
	// runs with (512, 2048 or 4096; 0 means 2048).
	FlexMemoryMB int
	// InstanceSettings, when set, gives settings for one instance of one
	// app only (funchost.Config.InstanceSettings), e.g. a metrics address
	// per handler process; Hosts()[app].Processes() reports them.
	InstanceSettings func(app string, instance int) map[string]string
	// EventGridLatency is the local Event Grid's delay between a blob
	// write and its event's delivery; 0 means eventgrid.DefaultLatency.
	EventGridLatency time.Duration
	// RestartAzurite: when the emulator Start started exits on its own,
	// start it again on the same ports and data directory (the apps keep
	// their connection string) instead of failing the stack. OnRestart, if
	// set, is told each time, with the exit's error and the new process.
	RestartAzurite bool
	OnRestart      func(exit error, pid int)
}

// Stack is a running local pipeline. Its methods are safe for concurrent
// use.
type Stack struct {
	conn          string
	blobEndpoint  string
	queueEndpoint string
	// server is the running emulator, nil when Options.ConnectionString
	// was used; first is the one Start started, which owns a temporary
	// data directory. Both are guarded by mu.
	server    *azurite.Server
	first     *azurite.Server
	watchDone chan struct{} // closed when the emulator's watcher returns
	grid      *eventgrid.Proxy
	hosts     []*runningHost
	cancel    context.CancelFunc
	log       *slog.Logger

	failed   chan struct{} // closed when a host stops on its own
	failOnce sync.Once
	mu       sync.Mutex
	failErr  error

	stopOnce sync.Once
	stopErr  error
}

type runningHost struct {
	app  string
	host *funchost.Host
	done chan struct{} // closed when Run has returned
	err  error         // Run's result, read after done
}

// Start starts storage (unless Options.ConnectionString names one) and the
// three hosts, and returns once every handler of every app answers and the
// job API serves. ctx bounds only the start (DefaultStartTimeout when it has
// no earlier deadline); the stack then runs until Stop. On any failure Start
// stops what it started and returns the error; a handler that cannot start
// shows up as funchost's error, which names the app and the process.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.AppsDir == "" {
		return nil, fmt.Errorf("%w: AppsDir is empty", ErrOptions)
	}
	for app, n := range opts.Instances {
		if !isApp(app) {
			return nil, fmt.Errorf("%w: Instances: unknown app %q (the apps are %s)", ErrOptions, app, strings.Join(Apps(), ", "))
		}
		if n < 0 {
			return nil, fmt.Errorf("%w: Instances[%s] = %d: must be at least 1", ErrOptions, app, n)
		}
	}
	for _, app := range Apps() {
		if st, err := os.Stat(filepath.Join(opts.AppsDir, app, "host.json")); err != nil || st.IsDir() {
			return nil, fmt.Errorf("%w: %s has no app folder %q with a host.json (run `make package`)", ErrOptions, opts.AppsDir, app)
		}
	}
	if opts.RecordsDir != "" {
		if err := os.MkdirAll(opts.RecordsDir, 0o755); err != nil {
			return nil, fmt.Errorf("localstack: records: %w", err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	s := &Stack{conn: opts.ConnectionString, log: log, failed: make(chan struct{})}
	if s.conn == "" {
		srv, err := azurite.Start(ctx, opts.Azurite)
		if err != nil {
			return nil, fmt.Errorf("localstack: %w", err)
		}
		s.server, s.first = srv, srv
		s.conn, s.blobEndpoint, s.queueEndpoint = srv.ConnectionString(), srv.BlobEndpoint(), srv.QueueEndpoint()
		log.Info("azurite started", "pid", srv.PID(), "blob", s.blobEndpoint, "queue", s.queueEndpoint)
	} else {
		s.blobEndpoint = connField(s.conn, "BlobEndpoint")
		s.queueEndpoint = connField(s.conn, "QueueEndpoint")
	}

	// Blob storage is reached through the local Event Grid, which pushes
	// BlobCreated events to the apps' blob webhooks as a storage account's
	// system topic does in Azure, for every write made through the stack's
	// connection string.
	if s.blobEndpoint != "" {
		grid, err := eventgrid.New(s.blobEndpoint, eventgrid.Options{Latency: opts.EventGridLatency, Registerer: opts.Registerer, Logger: log})
		if err != nil {
			s.stopStorage()
			return nil, fmt.Errorf("localstack: %w", err)
		}
		s.grid = grid
		s.blobEndpoint = grid.URL()
		s.conn = eventgrid.ReplaceBlobEndpoint(s.conn, grid.URL())
		log.Info("event grid started", "blob", grid.URL())
	}

	settings := appSettings(opts.Settings, s.conn)

	for _, app := range Apps() {
		cfg := funchost.Config{
			AppDir:       filepath.Join(opts.AppsDir, app),
			Instances:    max(1, opts.Instances[app]),
			ExecPrefix:   opts.ExecPrefix,
			Settings:     settings,
			Registerer:   opts.Registerer,
			Logger:       log,
			FlexMemoryMB: opts.FlexMemoryMB,
			EventGrid:    s.grid != nil,
		}
		if opts.InstanceSettings != nil {
			cfg.InstanceSettings = func(i int) map[string]string { return opts.InstanceSettings(app, i) }
		}
		if opts.RecordsDir != "" {
			cfg.RecordsPath = filepath.Join(opts.RecordsDir, app+".jsonl")
		}
		h, err := funchost.New(cfg)
		if err != nil {
			for _, rh := range s.hosts {
				rh.host.Close()
			}
			s.stopStorage()
			return nil, fmt.Errorf("localstack: %s: %w", app, err)
		}
		s.hosts = append(s.hosts, &runningHost{app: app, host: h, done: make(chan struct{})})
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, rh := range s.hosts {
		go func() {
			rh.err = rh.host.Run(runCtx)
			close(rh.done)
			if runCtx.Err() == nil {
				err := rh.err
				if err == nil {
					err = errors.New("Run returned")
				}
				s.fail(fmt.Errorf("%w: %s: %w", ErrStopped, rh.app, err))
			}
		}()
	}
	if s.server != nil {
		s.watchDone = make(chan struct{})
		go s.watchAzurite(runCtx, opts)
	}
	for _, rh := range s.hosts {
		select {
		case <-rh.host.Ready():
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("localstack: waiting for the %s host: %w", rh.app, ctx.Err()), s.Stop())
		}
		// Ready is closed on failure too, after the host has released its
		// HTTP listener; a host that serves answers on it.
		if !serving(ctx, rh.host.HTTPURL()) {
			select {
			case <-rh.done:
			case <-ctx.Done():
			}
			err := rh.err
			if err == nil {
				err = errors.New("it stopped before it was ready")
			}
			return nil, errors.Join(fmt.Errorf("localstack: %s host: %w", rh.app, err), s.Stop())
		}
		if s.grid == nil {
			continue
		}
		for _, wh := range rh.host.BlobWebhooks() {
			sub := eventgrid.Subscription{Name: rh.app + "/" + wh.Function, Endpoint: wh.URL, SubjectBeginsWith: wh.SubjectBeginsWith}
			if err := s.grid.Subscribe(ctx, sub); err != nil {
				return nil, errors.Join(fmt.Errorf("localstack: %w", err), s.Stop())
			}
		}
	}
	log.Info("stack ready", "api", s.APIURL())
	return s, nil
}

func isApp(name string) bool {
	for _, a := range Apps() {
		if a == name {
			return true
		}
	}
	return false
}

// connField returns the value of key in a connection string, "" if absent.
func connField(conn, key string) string {
	for _, part := range strings.Split(conn, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (s *Stack) fail(err error) {
	s.failOnce.Do(func() {
		s.mu.Lock()
		s.failErr = err
		s.mu.Unlock()
		s.log.Error("stack failing", "err", err)
		close(s.failed)
	})
}

// APIURL is the job API's base URL including the route prefix, e.g.
// http://127.0.0.1:41234/api: what partition.Client.BaseURL takes.
func (s *Stack) APIURL() string { return s.hosts[0].host.HTTPURL() + "/api" }

// ConnectionString is the storage connection string every app uses. Its
// blob endpoint is the local Event Grid's proxy in front of the storage:
// writes made through it raise BlobCreated events, as every write to an
// account does in Azure.
func (s *Stack) ConnectionString() string { return s.conn }

// BlobEndpoint and QueueEndpoint are the storage service URLs of
// ConnectionString ("" when a given connection string does not spell them
// out); BlobEndpoint is the local Event Grid's.
func (s *Stack) BlobEndpoint() string  { return s.blobEndpoint }
func (s *Stack) QueueEndpoint() string { return s.queueEndpoint }

// AzuritePID is the process ID of the Azurite the stack runs, 0 when it
// uses storage given in Options.
func (s *Stack) AzuritePID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server == nil {
		return 0
	}
	return s.server.PID()
}

// watchAzurite waits for the emulator to exit while the stack runs, and
// then fails the stack or, with Options.RestartAzurite, starts it again on
// the same ports and data directory.
func (s *Stack) watchAzurite(ctx context.Context, opts Options) {
	defer close(s.watchDone)
	for {
		s.mu.Lock()
		srv := s.server
		s.mu.Unlock()
		select {
		case <-srv.Exited():
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		exit := srv.Wait()
		if !opts.RestartAzurite {
			s.fail(fmt.Errorf("%w: azurite (pid %d) exited: %w", ErrStopped, srv.PID(), exit))
			return
		}
		o := opts.Azurite
		o.BlobPort, o.QueuePort, o.TablePort = srv.BlobPort(), srv.QueuePort(), srv.TablePort()
		o.Location = srv.Location()
		sctx, cancel := context.WithTimeout(ctx, azurite.DefaultStartTimeout)
		next, err := azurite.Start(sctx, o)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("%w: azurite (pid %d) exited (%v) and could not be restarted: %w", ErrStopped, srv.PID(), exit, err))
			}
			return
		}
		s.mu.Lock()
		s.server = next
		s.mu.Unlock()
		s.log.Warn("azurite exited; restarted on the same ports and data", "exit", exit, "old_pid", srv.PID(), "pid", next.PID(), "data", o.Location)
		if opts.OnRestart != nil {
			opts.OnRestart(exit, next.PID())
		}
	}
}

// Hosts returns the running hosts by app name.
func (s *Stack) Hosts() map[string]*funchost.Host {
	m := make(map[string]*funchost.Host, len(s.hosts))
	for _, rh := range s.hosts {
		m[rh.app] = rh.host
	}
	return m
}

// Summaries returns each host's funchost.Summary (invocations, resource
// use, billing), in pipeline order.
func (s *Stack) Summaries() []funchost.Summary {
	out := make([]funchost.Summary, 0, len(s.hosts))
	for _, rh := range s.hosts {
		out = append(out, rh.host.Summary())
	}
	return out
}

// Failed is closed when a host or the emulator stops on its own while the
// stack runs; Err then says which and why. A caller running the stack in
// the foreground selects on it next to its own shutdown signal.
func (s *Stack) Failed() <-chan struct{} { return s.failed }

// Err is the reason Failed was closed, nil before that.
func (s *Stack) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failErr
}

// Stop stops the hosts — they finish the invocations in flight and stop
// their handlers — and then Azurite (if Start started it), and waits until
// every process is gone. It returns the hosts' and the emulator's errors.
// Stop is idempotent: later calls return the first call's result.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.cancel != nil {
			s.cancel()
		}
		for _, rh := range s.hosts {
			if s.cancel == nil { // never run: release what New reserved
				errs = append(errs, rh.host.Close())
				continue
			}
			<-rh.done
			if rh.err != nil {
				errs = append(errs, fmt.Errorf("localstack: %s host: %w", rh.app, rh.err))
			}
		}
		errs = append(errs, s.stopStorage())
		s.stopErr = errors.Join(errs...)
		s.log.Info("stack stopped")
	})
	return s.stopErr
}

func (s *Stack) stopStorage() error {
	if s.grid != nil {
		if err := s.grid.Close(); err != nil {
			s.log.Warn("event grid stop", "err", err)
		}
	}
	if s.watchDone != nil {
		<-s.watchDone // no restart races the stop
	}
	s.mu.Lock()
	srv, first := s.server, s.first
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	var errs []error
	if err := srv.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("localstack: %w", err))
	}
	if first != srv {
		// The first emulator has exited; stopping it removes the temporary
		// data directory it created, which its successors used.
		if err := first.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("localstack: %w", err))
		}
	}
	return errors.Join(errs...)
}

// serving reports whether a host's HTTP server answers at base.
func serving(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/host/status", nil)
	if err != nil {
		return false
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/internal/syncio"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
	"github.com/funnelpipe/funnel/transport/blob"
	"github.com/funnelpipe/funnel/transport/queue"
)

// Names the apps use with their default settings (stagerun, the
// function.json files).
const (
	prefix        = transport.DefaultPrefix // "funnel-"
	jobsContainer = job.DefaultContainer    // "funnel"
	unitsTopic    = partition.Topic         // "units"
	partialsTopic = merge.InTopic           // "partials"
)

// Bounds of the waits. They are generous: a wait that runs out is a hang,
// not a slow run, and fails the test with the job's status.
const (
	startTimeout = 2 * time.Minute
	jobTimeout   = 2 * time.Minute
	pollEvery    = 50 * time.Millisecond
)

// stackConfig says how to start a stack.
type stackConfig struct {
	// proxy puts a storageProxy between the apps and the blob service;
	// proxyQueues puts a second one between them and the queue service
	// (s.queueProxy).
	proxy, proxyQueues bool
	// keepData runs Azurite on a data directory of the test's and
	// restarts it there, on the same ports, when it exits
	// (localstack.Options.RestartAzurite); s.restarts counts the restarts.
	// Not with proxy.
	keepData bool
	// instances is handler processes per app (default 1 each).
	instances map[string]int
	// arch is the handlers' GOARCH (default this machine's); execPrefix
	// runs them, e.g. under qemu-aarch64-static.
	arch       string
	execPrefix []string
	// retry, if set, replaces host.json's queue retry budget (for tests
	// that wait for messages to be poisoned); nil keeps the budget the
	// apps ship with.
	retry *retryBudget
	// settings are extra app settings for every app.
	settings map[string]string
}

// retryBudget is host.json's extensions.queues retry settings.
type retryBudget struct {
	visibilityTimeout string // "hh:mm:ss"
	maxDequeueCount   int
}

// testBudget is the budget of tests that wait for a message to be
// poisoned: the shipped one (10 tries 30 s apart) would make each such wait
// last minutes.
var testBudget = &retryBudget{visibilityTimeout: "00:00:02", maxDequeueCount: 4}

// setRetryBudget rewrites the queue retry settings of every app's
// host.json under apps.
func setRetryBudget(t *testing.T, apps string, b *retryBudget) {
	t.Helper()
	for _, app := range localstack.Apps() {
		path := filepath.Join(apps, app, "host.json")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var hj map[string]any
		if err := json.Unmarshal(data, &hj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ext, _ := hj["extensions"].(map[string]any)
		q, _ := ext["queues"].(map[string]any)
		if q == nil {
			t.Fatalf("%s has no extensions.queues", path)
		}
		q["visibilityTimeout"] = b.visibilityTimeout
		q["maxDequeueCount"] = b.maxDequeueCount
		out, err := json.MarshalIndent(hj, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// stack is one running pipeline, with what a test needs to drive it and
// look inside: the job API client, and storage clients that reach Azurite
// directly (never through the proxy).
type stack struct {
	*localstack.Stack
	apps   string
	acct   *account.Account
	store  job.Store
	client *partition.Client
	// tr holds the apps' two transports as the test opens them: what a
	// test sends through them is indistinguishable from a stage's sends.
	tr         map[string]transport.Transport
	proxy      *storageProxy
	queueProxy *storageProxy
	restarts   atomic.Int64
	// azuriteDir is Azurite's data directory with keepData.
	azuriteDir string
}

// startStack builds the apps (once per test binary), starts Azurite, the
// optional proxy and the three hosts, and stops them all when t ends.
// Host and handler logs go to a file whose tail is printed if t fails.
func startStack(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	arch := cfg.arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	apps := localstacktest.AppsFor(t, arch) // skips under -short
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	logPath := filepath.Join(t.TempDir(), "stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	logw := syncio.NewWriter(logFile)
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))

	if cfg.retry != nil {
		setRetryBudget(t, apps, cfg.retry)
	}
	s := &stack{apps: apps}
	// The tests read containers of their own; the reserved ones are
	// refused whatever this says (TestJobAPI checks it).
	opts := localstack.Options{AppsDir: apps, Instances: cfg.instances, ExecPrefix: cfg.execPrefix, Logger: logger,
		Settings: map[string]string{"FUNNEL_INPUT_CONTAINERS": "*"}}
	for k, v := range cfg.settings {
		opts.Settings[k] = v
	}
	var srv *azurite.Server
	if cfg.proxy {
		// Cleanups run last first: the stack stops, then the proxy, then
		// the emulator under both.
		srv, err = azurite.Start(ctx, azurite.Options{})
		if err != nil {
			t.Fatalf("azurite: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(); err != nil {
				t.Errorf("stop azurite: %v", err)
			}
		})
		s.proxy = startStorageProxy(t, srv.BlobEndpoint())
		t.Cleanup(func() {
			if err := s.proxy.Close(); err != nil {
				t.Errorf("stop the proxy: %v", err)
			}
		})
		queueEndpoint := srv.QueueEndpoint()
		if cfg.proxyQueues {
			s.queueProxy = startStorageProxy(t, queueEndpoint)
			t.Cleanup(func() {
				if err := s.queueProxy.Close(); err != nil {
					t.Errorf("stop the queue proxy: %v", err)
				}
			})
			queueEndpoint = s.queueProxy.endpoint
		}
		opts.ConnectionString = azurite.ConnectionString(s.proxy.endpoint, queueEndpoint, srv.TableEndpoint())
	}
	if cfg.keepData {
		s.azuriteDir = filepath.Join(t.TempDir(), "azurite")
		opts.Azurite = azurite.Options{Location: s.azuriteDir}
		opts.RestartAzurite = true
		opts.OnRestart = func(exit error, pid int) {
			s.restarts.Add(1)
			logger.Warn("e2e: azurite restarted", "exit", exit, "pid", pid)
		}
	}
	t.Cleanup(func() {
		_ = logw.Close() // later log lines are dropped, not written to a closed file
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("last lines of the stack's log %s:\n%s", logPath, tail(logPath, 80))
		}
	})
	start := time.Now()
	st, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	s.Stack = st
	t.Logf("stack ready in %v (proxy %v), job API %s", time.Since(start).Round(time.Millisecond), cfg.proxy, st.APIURL())
	t.Cleanup(func() {
		if s.proxy != nil {
			s.proxy.ReleaseAll() // held requests would keep the hosts from stopping
		}
		if err := st.Stop(); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
		// No handler process outlives its host.
		for _, app := range localstack.Apps() {
			if pids := s.handlerPIDs(t, app); len(pids) > 0 {
				t.Errorf("%s handler processes left after the stack stopped: %v", app, pids)
			}
		}
	})

	direct := st.ConnectionString()
	if srv != nil {
		direct = srv.ConnectionString()
	}
	s.acct, err = account.Open(account.Config{ConnectionString: direct}, account.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.acct.Close)
	s.store = job.NewBlobStore(s.acct.Blob(), jobsContainer)
	s.client = &partition.Client{BaseURL: st.APIURL()}
	// The test's own messages go through the stack's connection string,
	// whose blob writes raise Event Grid events as the apps' do.
	grid, err := account.Open(account.Config{ConnectionString: st.ConnectionString()}, account.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(grid.Close)
	q, err := queue.New(grid, queue.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.New(grid, blob.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s.tr = map[string]transport.Transport{q.Name(): q, b.Name(): b}
	return s
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// host returns the funchost.Host of an app.
func (s *stack) host(app string) *funchost.Host { return s.Hosts()[app] }

// functionSummary is one function's counts on an app's host.
func (s *stack) functionSummary(app, fn string) funchost.FunctionSummary {
	return s.host(app).Summary().Functions[fn]
}

// handlerPIDs returns the live handler processes of an app: the children
// of this test process running <apps>/<app>/handler.
func (s *stack) handlerPIDs(t *testing.T, app string) []int {
	t.Helper()
	want, err := filepath.EvalSymlinks(filepath.Join(s.apps, app, localstack.HandlerName))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to find handler processes in: %v", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != want {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command: state, then the parent's PID.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(self) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// statusJSON renders a job's current status for a failure message.
func (s *stack) statusJSON(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.client.Status(ctx, id)
	if err != nil {
		return fmt.Sprintf("(status of %s: %v)", id, err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return string(b)
}

// waitJob polls a job's status until it is done or failed, and fails the
// test unless it ended in state want. It returns the final status.
func (s *stack) waitJob(t *testing.T, id string, want job.State) *job.Status {
	t.Helper()
	deadline := time.Now().Add(jobTimeout)
	var last *job.Status
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := s.client.Status(ctx, id)
		cancel()
		last, lastErr = st, err
		if err == nil && st.State.Final() {
			if st.State != want {
				t.Fatalf("job %s ended %s, want %s; status:\n%s", id, st.State, want, s.statusJSON(id))
			}
			return st
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("job %s not %s within %v (last error %v); status:\n%s", id, want, jobTimeout, lastErr, s.statusJSON(id))
	return last
}

// waitSent waits until the plan function has sent every unit of job id
// (the job API answers before planning) and returns its record.
func (s *stack) waitSent(t *testing.T, id string) *job.Record {
	t.Helper()
	var rec *job.Record
	var err error
	eventually(t, jobTimeout, "job "+id+" planned and sent", func() bool {
		rec, err = job.Get(context.Background(), s.store, id)
		return err == nil && rec.Sent
	}, func() string { return fmt.Sprintf("(record: %v) status:\n%s", err, s.statusJSON(id)) })
	return rec
}

// eventually polls cond until it holds or within passes; then it fails the
// test with what describe says about the state.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; %s", what, within, describe())
		}
		time.Sleep(pollEvery)
	}
}

// queueLength is the approximate number of messages in a queue (0 for a
// missing one).
func (s *stack) queueLength(t *testing.T, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.acct.Queue().NewQueueClient(name).GetProperties(ctx, nil)
	if err != nil {
		if errorsIsNotFound(err) {
			return 0
		}
		t.Fatalf("queue %s: %v", name, err)
	}
	if p.ApproximateMessagesCount == nil {
		return 0
	}
	return int(*p.ApproximateMessagesCount)
}

// peekTexts returns the texts of up to 32 messages at the front of a queue
// without taking them.
func (s *stack) peekTexts(t *testing.T, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.acct.Queue().NewQueueClient(name).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: toPtr(int32(32))})
	if err != nil {
		if errorsIsNotFound(err) {
			return nil
		}
		t.Fatalf("peek %s: %v", name, err)
	}
	var out []string
	for _, m := range resp.Messages {
		if m != nil && m.MessageText != nil {
			out = append(out, *m.MessageText)
		}
	}
	return out
}

// blobNames lists a container's blobs (none for a missing container).
func (s *stack) blobNames(t *testing.T, container string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	pager := s.acct.Blob().NewListBlobsFlatPager(container, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if errorsIsNotFound(err) {
				return nil
			}
			t.Fatalf("list %s: %v", container, err)
		}
		for _, it := range page.Segment.BlobItems {
			names = append(names, *it.Name)
		}
	}
	return names
}

// drained reports whether the transport of a medium holds no message of
// either topic: every unit and partial sent has been consumed.
func (s *stack) drained(t *testing.T, medium string) (bool, string) {
	t.Helper()
	var counts []string
	empty := true
	for _, topic := range []string{unitsTopic, partialsTopic} {
		var n int
		if medium == queue.Name {
			n = s.queueLength(t, prefix+topic)
		} else {
			n = len(s.blobNames(t, prefix+topic))
		}
		counts = append(counts, fmt.Sprintf("%s%s: %d", prefix, topic, n))
		empty = empty && n == 0
	}
	return empty, strings.Join(counts, ", ")
}

// waitJobMessagesGone waits until no message of job id is left in its
// transport: for the blob medium, no blob named <id>/... in the units and
// partials containers; for the queue medium, whose messages cannot be told
// apart without taking them, empty units and partials queues.
func (s *stack) waitJobMessagesGone(t *testing.T, medium, id string) {
	t.Helper()
	if medium == queue.Name {
		s.waitDrained(t, medium)
		return
	}
	var left []string
	eventually(t, jobTimeout, "every message of job "+id+" consumed", func() bool {
		left = left[:0]
		for _, topic := range []string{unitsTopic, partialsTopic} {
			for _, name := range s.blobNames(t, prefix+topic) {
				if strings.HasPrefix(name, id+"/") {
					left = append(left, prefix+topic+"/"+name)
				}
			}
		}
		return len(left) == 0
	}, func() string { return fmt.Sprintf("left: %v", left) })
}

// waitDrained waits until drained holds.
func (s *stack) waitDrained(t *testing.T, medium string) {
	t.Helper()
	var desc string
	eventually(t, jobTimeout, medium+" transport drained", func() bool {
		var ok bool
		ok, desc = s.drained(t, medium)
		return ok
	}, func() string { return desc })
}

func toPtr[T any](v T) *T { return &v }

// errorsIsNotFound reports whether a storage error means "not found".
func errorsIsNotFound(err error) bool {
	return errors.Is(account.Sentinel(err), transport.ErrNotFound)
}

// leftoverQueues are the queues a case must leave empty once its jobs have
// ended (visible or not: a message left invisible counts): the transports'
// topics, partition's plan queue, their poison queues and the host's
// blob-trigger poison queue. A queue the pipeline adds goes here.
var leftoverQueues = []string{
	prefix + unitsTopic, prefix + unitsTopic + "-poison",
	prefix + partialsTopic, prefix + partialsTopic + "-poison",
	prefix + partition.PlanTopic, prefix + partition.PlanTopic + "-poison",
	"webjobs-blobtrigger-poison",
}

// leftoverContainers are the containers of message blobs (the blob
// transport's topics), which must be empty as well.
var leftoverContainers = []string{prefix + unitsTopic, prefix + partialsTopic}

// waitNothingLeft waits until no message is left in any leftoverQueues
// queue and no blob in any leftoverContainers container. (No handler
// process outliving the stack is checked when the stack stops.)
func (s *stack) waitNothingLeft(t *testing.T) {
	t.Helper()
	var left []string
	eventually(t, jobTimeout, "no message left behind", func() bool {
		left = left[:0]
		for _, q := range leftoverQueues {
			if n := s.queueLength(t, q); n > 0 {
				left = append(left, fmt.Sprintf("queue %s: %d, visible %q", q, n, s.peekTexts(t, q)))
			}
		}
		for _, c := range leftoverContainers {
			if names := s.blobNames(t, c); len(names) > 0 {
				left = append(left, fmt.Sprintf("container %s: %v", c, names))
			}
		}
		return len(left) == 0
	}, func() string { return strings.Join(left, "; ") })
}

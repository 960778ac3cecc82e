package funchost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervision timings.
const (
	// readyTimeout bounds the wait for a new handler to answer HTTP. The
	// real host waits 30 s per attempt (HttpWorkerOptions.InitializationTimeout)
	// and tries three times; 60 s leaves room for slow emulated (qemu) starts.
	readyTimeout = 60 * time.Second
	// readyPoll is the real host's ping interval
	// (WorkerConstants.WorkerReadyCheckPollingIntervalMilliseconds).
	readyPoll = 25 * time.Millisecond
	// stopGrace is how long a handler has to exit after SIGTERM.
	stopGrace = 5 * time.Second
	// restartDelayMin/Max bound the pause before restarting a handler that
	// exited; the pause doubles while handlers keep dying quickly.
	restartDelayMin = 200 * time.Millisecond
	restartDelayMax = 5 * time.Second
	// sampleEvery is the /proc sampling period.
	sampleEvery = time.Second
)

// errNotReady is returned by invocations that cannot reach a handler.
var errNotReady = errors.New("handler not ready")

// process is one run of the handler executable.
type process struct {
	cmd      *exec.Cmd
	pid      int
	port     int
	started  time.Time
	exited   chan struct{} // closed after Wait returns
	waitErr  error
	mu       sync.Mutex
	cpu      float64 // seconds, last sample
	peakRSS  int64   // bytes, max seen
	killedBy string  // why the host killed it ("" if it exited on its own)
}

// instance is one scaled-out instance of the app: one handler process at a
// time (restarted when it dies), its own queue listeners, its own stats.
type instance struct {
	h        *Host
	idx      int
	workerID string
	settings map[string]string // Config.InstanceSettings(idx)
	log      *slog.Logger
	client   *http.Client

	mu       sync.Mutex
	cur      *process      // ready process, nil while (re)starting
	ready    chan struct{} // closed when cur is set; replaced when cur dies
	stopping bool
	// Accounting across process generations.
	cpuDone   float64 // CPU seconds of processes that have exited
	peakRSS   int64
	restarts  int
	processes int
	// Busy intervals for Flex Consumption billing.
	inflight  int
	busySince time.Time
	busy      []interval
}

type interval struct{ start, end time.Time }

func newInstance(h *Host, idx int) *instance {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	var settings map[string]string
	if h.cfg.InstanceSettings != nil {
		settings = maps.Clone(h.cfg.InstanceSettings(idx))
	}
	return &instance{
		h:        h,
		idx:      idx,
		workerID: newUUID(),
		settings: settings,
		log:      h.log.With("instance", idx),
		client: &http.Client{
			Transport: tr,
			// The real host's client follows redirects unless requests are
			// forwarded raw (DefaultHttpWorkerService.CreateHttpClient).
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if h.app.Host.Handler.Forwarding {
					return http.ErrUseLastResponse
				}
				if len(via) >= 10 {
					return errors.New("stopped after 10 redirects")
				}
				return nil
			},
		},
		ready: make(chan struct{}),
	}
}

// supervise starts the handler and keeps one running until ctx is done,
// then stops it. started receives nil once the first process is ready, or
// the error that kept it from starting.
func (in *instance) supervise(ctx context.Context, started chan<- error) {
	delay := restartDelayMin
	first := true
	for {
		p, err := in.start(ctx)
		if err == nil {
			err = in.awaitReady(ctx, p)
			if err != nil {
				in.kill(p, "not ready")
				<-p.exited
				in.account(p)
			}
		}
		if err != nil {
			if first {
				started <- err
				return
			}
			if ctx.Err() != nil {
				return
			}
			in.log.Error("handler restart failed", "err", err)
			if !sleepCtx(ctx, delay) {
				return
			}
			delay = min(delay*2, restartDelayMax)
			continue
		}
		in.mu.Lock()
		in.cur = p
		close(in.ready)
		in.mu.Unlock()
		if first {
			first = false
			started <- nil
		}
		in.log.Info("handler ready", "pid", p.pid, "port", p.port)

		select {
		case <-p.exited:
		case <-ctx.Done():
		}
		in.mu.Lock()
		in.cur = nil
		in.ready = make(chan struct{})
		in.mu.Unlock()
		if ctx.Err() != nil {
			in.stopProcess(p)
			in.account(p)
			return
		}
		in.account(p)
		lived := time.Since(p.started)
		p.mu.Lock()
		reason := p.killedBy
		p.mu.Unlock()
		if reason == "" {
			reason = fmt.Sprintf("exited: %v", p.waitErr)
			in.log.Error("handler exited; restarting", "pid", p.pid, "err", p.waitErr, "lived", lived.Round(time.Millisecond))
		} else {
			in.log.Warn("handler killed by the host; restarting", "pid", p.pid, "reason", reason)
		}
		in.h.metrics.restarts.WithLabelValues(strconv.Itoa(in.idx)).Inc()
		in.mu.Lock()
		in.restarts++
		in.mu.Unlock()
		if lived > 10*time.Second {
			delay = restartDelayMin
		}
		if !sleepCtx(ctx, delay) {
			return
		}
		delay = min(delay*2, restartDelayMax)
	}
}

// start launches one handler process on a free port.
func (in *instance) start(ctx context.Context) (*process, error) {
	hc := in.h.app.Host.Handler
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append(append([]string{}, in.h.cfg.ExecPrefix...), hc.ExecutablePath)
	argv = append(argv, hc.Arguments...)
	path := argv[0]
	if !strings.ContainsRune(path, filepath.Separator) {
		if lp, err := exec.LookPath(path); err == nil {
			path = lp
		} else {
			return nil, fmt.Errorf("funchost: handler executable %q: %w", argv[0], err)
		}
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: hc.WorkingDirectory}
	env := os.Environ()
	for k, v := range in.h.settings {
		env = append(env, k+"="+v)
	}
	for k, v := range in.settings {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+in.workerID,
		"FUNCTIONS_HTTPWORKER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_HTTPWORKER_ID="+in.workerID,
		"FUNCTIONS_APP_ROOT_PATH="+in.h.app.Dir,
	)
	cmd.Env = env
	// Own process group: a terminal's Ctrl-C reaches the host, which then
	// stops the handlers in order.
	cmd.SysProcAttr = handlerProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("funchost: start handler %q: %w", path, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, port: port, started: time.Now(), exited: make(chan struct{})}
	in.mu.Lock()
	in.processes++
	in.mu.Unlock()
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); in.pipeLog(stdout, p.pid, slog.LevelInfo) }()
	go func() { defer pipes.Done(); in.pipeLog(stderr, p.pid, slog.LevelError) }()
	go func() {
		pipes.Wait()
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	go in.sample(p)
	return p, nil
}

// pipeLog copies a handler's output lines to the host log: stdout at
// Information and stderr at Error, as the real host does for custom
// handlers (UseStdErrorStreamForErrorsOnly).
func (in *instance) pipeLog(r io.Reader, pid int, level slog.Level) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		in.log.Log(context.Background(), level, sc.Text(), "source", "handler", "pid", pid)
	}
	if _, err := io.Copy(io.Discard, r); err != nil && !errors.Is(err, os.ErrClosed) {
		in.log.Debug("handler output", "err", err)
	}
}

// awaitReady pings the handler until any HTTP answer comes.
func (in *instance) awaitReady(ctx context.Context, p *process) error {
	deadline := time.Now().Add(readyTimeout)
	url := fmt.Sprintf("http://127.0.0.1:%d/", p.port)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("funchost: ping request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			drain(resp.Body)
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("funchost: handler (pid %d) exited before listening on port %d: %v", p.pid, p.port, p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("funchost: handler (pid %d) did not answer on port %d within %v (does it listen on FUNCTIONS_CUSTOMHANDLER_PORT?)", p.pid, p.port, readyTimeout)
		}
	}
}

// kill ends p with SIGKILL (its whole process group) and records why.
func (in *instance) kill(p *process, why string) {
	p.mu.Lock()
	if p.killedBy == "" {
		p.killedBy = why
	}
	p.mu.Unlock()
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		in.log.Warn("could not kill handler", "pid", p.pid, "err", err)
	}
}

// restart kills the current process if it is still p; supervise starts a
// new one. Invocations in flight on p fail.
func (in *instance) restart(p *process, why string) {
	in.mu.Lock()
	cur := in.cur
	in.mu.Unlock()
	if cur != p {
		return
	}
	in.log.Warn("restarting handler", "pid", p.pid, "reason", why)
	in.kill(p, why)
}

// stopProcess sends SIGTERM to p's group, then SIGKILL after stopGrace.
func (in *instance) stopProcess(p *process) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.mu.Lock()
	p.killedBy = "host stopping"
	p.mu.Unlock()
	if err := syscall.Kill(-p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		in.log.Warn("could not signal handler", "pid", p.pid, "err", err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		in.log.Warn("handler ignored SIGTERM; killing it", "pid", p.pid)
		in.kill(p, "host stopping")
		<-p.exited
	}
}

// account folds an exited process's final CPU time and peak RSS into the
// instance's totals, from the kernel's rusage of the reaped child.
func (in *instance) account(p *process) {
	<-p.exited
	cpu, rss := p.cpu, p.peakRSS
	if st := p.cmd.ProcessState; st != nil {
		cpu = (st.UserTime() + st.SystemTime()).Seconds()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > rss {
			rss = ru.Maxrss * 1024 // kB on Linux
		}
	}
	in.mu.Lock()
	in.cpuDone += cpu
	if rss > in.peakRSS {
		in.peakRSS = rss
	}
	in.mu.Unlock()
	in.publishStats()
}

// sample reads p's CPU time and peak RSS from /proc every sampleEvery
// until it exits.
func (in *instance) sample(p *process) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		if st, err := in.h.proc.Stat(p.pid); err == nil {
			p.mu.Lock()
			p.cpu = st.CPUSeconds
			p.mu.Unlock()
		}
		if rss, err := in.h.proc.PeakRSS(p.pid); err == nil {
			p.mu.Lock()
			if rss > p.peakRSS {
				p.peakRSS = rss
			}
			p.mu.Unlock()
			in.mu.Lock()
			if rss > in.peakRSS {
				in.peakRSS = rss
			}
			in.mu.Unlock()
		}
		in.publishStats()
		select {
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

// stats returns the instance's CPU seconds (all its processes) and peak RSS.
func (in *instance) stats() (cpu float64, peakRSS int64) {
	in.mu.Lock()
	cur := in.cur
	cpu, peakRSS = in.cpuDone, in.peakRSS
	in.mu.Unlock()
	if cur != nil {
		select {
		case <-cur.exited: // already folded in by account, or about to be
		default:
			cur.mu.Lock()
			cpu += cur.cpu
			cur.mu.Unlock()
		}
	}
	return cpu, peakRSS
}

func (in *instance) publishStats() {
	cpu, rss := in.stats()
	l := strconv.Itoa(in.idx)
	in.h.metrics.cpu.WithLabelValues(l).Set(cpu)
	in.h.metrics.rss.WithLabelValues(l).Set(float64(rss))
}

// current waits until a ready process exists and returns it.
func (in *instance) current(ctx context.Context) (*process, error) {
	for {
		in.mu.Lock()
		cur, ready, stopping := in.cur, in.ready, in.stopping
		in.mu.Unlock()
		if cur != nil {
			return cur, nil
		}
		if stopping {
			return nil, errNotReady
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", errNotReady, ctx.Err())
		}
	}
}

// begin and end track in-flight invocations for busy-time billing.
func (in *instance) begin(now time.Time) {
	in.mu.Lock()
	if in.inflight == 0 {
		in.busySince = now
	}
	in.inflight++
	in.mu.Unlock()
}

func (in *instance) end(now time.Time) {
	in.mu.Lock()
	in.inflight--
	if in.inflight == 0 {
		in.busy = append(in.busy, interval{in.busySince, now})
	}
	in.mu.Unlock()
}

// busyIntervals returns the instance's busy periods so far, the open one
// closed at now.
func (in *instance) busyIntervals(now time.Time) []interval {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := append([]interval(nil), in.busy...)
	if in.inflight > 0 {
		out = append(out, interval{in.busySince, now})
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("funchost: find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("funchost: %w", err)
	}
	return port, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drain reads what is left of a response body (up to 1 MiB, so that the
// connection can be reused) and closes it. Errors are of no use here: the
// body has been read or abandoned already.
func drain(r io.ReadCloser) {
	if _, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20)); err != nil {
		r.Close()
		return
	}
	r.Close()
}

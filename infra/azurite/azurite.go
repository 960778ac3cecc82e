// Package azurite starts and stops the Azure Storage emulator, Azurite, for
// local runs and tests.
//
// The emulator is the npm package pinned in infra/package.json (3.35.0, the
// newest release that runs on Node 20), installed into infra/node_modules by
// `make deps`. Start runs its node entry point directly (not through npx,
// which leaves an orphan node process) in its own process group, on
// 127.0.0.1, on ports the kernel picks unless Options names them, with a
// fresh temporary data directory unless Options names one, and with
// telemetry off and the API version check skipped (the Go SDK sends an API
// version newer than Azurite knows). Stop ends exactly that process group
// and removes the temporary directory.
//
// Where node_modules is found: Options.Dir, else the environment variable
// FUNNEL_AZURITE_DIR, else the infra directory of the Go module that
// contains the working directory (found by walking up to go.mod). The node
// binary is Options.Node, else "node" on PATH.
//
// Clients connect with ConnectionString, which uses Azurite's public
// development account (devstoreaccount1) and explicit endpoints, because the
// Go SDK does not understand UseDevelopmentStorage=true.
//
// Package azuritetest builds on this package to give each test binary one
// emulator.
package azurite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/infra/process"
	"github.com/funnelpipe/funnel/internal/syncio"
	"github.com/funnelpipe/funnel/transport/account"
)

// Version is the Azurite release pinned in infra/package.json.
const Version = "3.35.0"

// The public development account that every Azurite instance serves; the
// account layer owns it (account.DevAccountName, account.DevAccountKey).
const (
	AccountName = account.DevAccountName
	AccountKey  = account.DevAccountKey
)

// Azurite's usual ports, which "UseDevelopmentStorage=true" means. Pass
// them in Options to run the emulator where other tools expect it.
const (
	DefaultBlobPort  = 10000
	DefaultQueuePort = 10001
	DefaultTablePort = 10002
)

// EnvDir names the environment variable that points at the directory holding
// node_modules/azurite, when Options.Dir is empty.
const EnvDir = "FUNNEL_AZURITE_DIR"

// DefaultStartTimeout bounds how long Start waits for the services to listen
// when ctx has no earlier deadline.
const DefaultStartTimeout = 60 * time.Second

// ErrNotInstalled reports that the pinned Azurite is not installed where
// Start looked for it.
var ErrNotInstalled = errors.New("azurite: not installed (run `make deps`)")

// Options configures Start. The zero value is a throwaway emulator on free
// loopback ports with a temporary data directory.
type Options struct {
	// Host is the address the services listen on; default 127.0.0.1.
	Host string
	// BlobPort, QueuePort and TablePort are the listening ports; 0 lets the
	// kernel pick a free one (Start reads back the port Azurite got, so
	// there is no race with other processes).
	BlobPort, QueuePort, TablePort int
	// Location is Azurite's data directory. When empty, Start creates a
	// temporary directory and Stop removes it; a named Location is kept, so
	// data survives a restart.
	Location string
	// Dir is the directory containing node_modules/azurite (the repo's
	// infra directory). See the package doc for the default.
	Dir string
	// Node is the node executable; default "node" found on PATH.
	Node string
	// AccessLog turns on Azurite's access log (one line per request) on
	// Output. Off by default: it costs throughput.
	AccessLog bool
	// Output, when set, receives a copy of Azurite's stdout and stderr
	// (for running it in the foreground). Start always keeps the last lines
	// of stderr for its error messages.
	Output io.Writer
}

// Server is a running Azurite process. Its methods are safe for concurrent
// use.
type Server struct {
	cmd      *exec.Cmd
	pid      int
	host     string
	blob     int
	queue    int
	table    int
	location string
	tempDir  bool

	exited  chan struct{} // closed when the process has exited
	waitErr error         // the process's exit status; read after exited is closed
	stderr  *tailBuffer

	stopOnce sync.Once
	stopErr  error
}

// Start runs Azurite and returns once its blob and queue services accept
// connections. ctx bounds only the start (with DefaultStartTimeout when it
// has no deadline); the server runs until Stop. If Azurite exits or fails
// to listen in time, Start kills it, removes its temporary directory and
// returns an error quoting the end of its stderr.
func Start(ctx context.Context, opts Options) (*Server, error) {
	entry, err := entryPoint(opts.Dir)
	if err != nil {
		return nil, err
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}
	nodePath, err := exec.LookPath(node)
	if err != nil {
		return nil, fmt.Errorf("azurite: node runtime: %w", err)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	for _, p := range []int{opts.BlobPort, opts.QueuePort, opts.TablePort} {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("azurite: port %d out of range", p)
		}
	}

	s := &Server{
		host:     host,
		location: opts.Location,
		exited:   make(chan struct{}),
		stderr:   newTailBuffer(4096),
	}
	if s.location == "" {
		sweepStaleTempDirs()
		dir, err := os.MkdirTemp("", tempPattern)
		if err != nil {
			return nil, fmt.Errorf("azurite: data directory: %w", err)
		}
		s.location, s.tempDir = dir, true
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, errors.Join(fmt.Errorf("azurite: data directory: %w", err), s.removeTemp())
		}
	} else if err := os.MkdirAll(s.location, 0o755); err != nil {
		return nil, fmt.Errorf("azurite: data directory: %w", err)
	}

	args := []string{entry,
		"--blobHost", host, "--blobPort", strconv.Itoa(opts.BlobPort),
		"--queueHost", host, "--queuePort", strconv.Itoa(opts.QueuePort),
		"--tableHost", host, "--tablePort", strconv.Itoa(opts.TablePort),
		"--location", s.location,
		"--disableTelemetry", "--skipApiVersionCheck",
	}
	if !opts.AccessLog {
		args = append(args, "--silent")
	}
	cmd := exec.Command(nodePath, args...)
	cmd.Dir = s.location
	cmd.SysProcAttr = procAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("azurite: %w", err)
	}
	var out io.Writer // Output, shared by the stdout and stderr copiers
	var errOut io.Writer = s.stderr
	if opts.Output != nil {
		out = syncio.NewWriter(opts.Output) // its lines never interleave mid-write
		errOut = io.MultiWriter(s.stderr, out)
	}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("azurite: start %s: %w", nodePath, err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid

	// Azurite prints one "successfully listening at <url>" line per
	// service; with port 0 that line is the only place the real port shows.
	ports := make(chan listening, 3)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		s.scanStdout(stdout, out, ports)
	}()
	go func() {
		<-scanDone // Wait closes the pipe; read it to the end first
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	if err := s.awaitListening(ctx, ports); err != nil {
		_ = s.Stop() // the start error is the one worth reporting
		return nil, err
	}
	return s, nil
}

type listening struct {
	service string
	port    int
}

var listeningLine = regexp.MustCompile(`Azurite (Blob|Queue|Table) service is successfully listening at https?://[^\s]*:(\d+)`)

func (s *Server) scanStdout(r io.Reader, out io.Writer, ports chan<- listening) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if out != nil {
			fmt.Fprintln(out, line)
		}
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			port, err := strconv.Atoi(m[2])
			if err == nil {
				select {
				case ports <- listening{service: strings.ToLower(m[1]), port: port}:
				default:
				}
			}
		}
	}
	// A line longer than the buffer stops the scanner; keep draining so
	// Azurite never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (s *Server) awaitListening(ctx context.Context, ports <-chan listening) error {
	for s.blob == 0 || s.queue == 0 || s.table == 0 {
		select {
		case l := <-ports:
			switch l.service {
			case "blob":
				s.blob = l.port
			case "queue":
				s.queue = l.port
			case "table":
				s.table = l.port
			}
		case <-s.exited:
			return fmt.Errorf("azurite: exited during start (%v): %s", s.waitErr, s.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("azurite: not listening after start: %w; stderr: %s", ctx.Err(), s.stderr.String())
		}
	}
	// The line is printed after listen(); a connection confirms it.
	for _, port := range []int{s.blob, s.queue} {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(s.host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("azurite: port %d not answering: %w; stderr: %s", port, err, s.stderr.String())
		}
		_ = conn.Close() // a probe; nothing was sent
	}
	return nil
}

// PID is the process ID of the node process (also its process group ID on
// Unix).
func (s *Server) PID() int { return s.pid }

// Location is Azurite's data directory.
func (s *Server) Location() string { return s.location }

// BlobPort, QueuePort and TablePort are the ports the services listen on.
func (s *Server) BlobPort() int  { return s.blob }
func (s *Server) QueuePort() int { return s.queue }
func (s *Server) TablePort() int { return s.table }

// BlobEndpoint is the blob service URL of the development account, e.g.
// http://127.0.0.1:10000/devstoreaccount1.
func (s *Server) BlobEndpoint() string { return s.endpoint(s.blob) }

// QueueEndpoint is the queue service URL of the development account.
func (s *Server) QueueEndpoint() string { return s.endpoint(s.queue) }

// TableEndpoint is the table service URL of the development account.
func (s *Server) TableEndpoint() string { return s.endpoint(s.table) }

func (s *Server) endpoint(port int) string {
	return "http://" + net.JoinHostPort(s.host, strconv.Itoa(port)) + "/" + AccountName
}

// ConnectionString is a shared-key connection string for the development
// account with explicit blob, queue and table endpoints.
func (s *Server) ConnectionString() string {
	return ConnectionString(s.BlobEndpoint(), s.QueueEndpoint(), s.TableEndpoint())
}

// ConnectionString builds a development-account connection string for the
// given endpoints (an empty endpoint is left out): account.DevConnectionString.
func ConnectionString(blobEndpoint, queueEndpoint, tableEndpoint string) string {
	return account.DevConnectionString(blobEndpoint, queueEndpoint, tableEndpoint)
}

// Exited is closed when the Azurite process has exited, whether by Stop or
// on its own.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Wait blocks until the process exits and returns its exit error (nil for a
// clean exit). It does not stop the process.
func (s *Server) Wait() error {
	<-s.exited
	return s.waitErr
}

// stopGrace is how long Stop lets an Azurite with a named Location save its
// databases after SIGTERM before it kills the process group. (Azurite's
// close also waits for clients' idle keep-alive connections to end.)
const stopGrace = 10 * time.Second

// Stop ends Azurite's process group, waits for the node process to exit and
// removes the temporary data directory. A throwaway emulator (no Location in
// Options) is killed at once, since its data is deleted anyway; one with a
// named Location gets SIGTERM and up to 10 s to save its databases before it
// is killed, and its directory is kept. The signals go to the group while
// its leader is still there, so they cannot reach a recycled process ID.
// Stop is idempotent and returns the same result on every call; an exit
// caused by Stop's signal is not an error.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		select {
		case <-s.exited:
		default:
			graceful := !s.tempDir
			if graceful {
				if err := terminate(s.pid); err != nil {
					errs = append(errs, fmt.Errorf("azurite: signal %d: %w", s.pid, err))
					graceful = false
				}
			}
			if graceful {
				select {
				case <-s.exited:
				case <-time.After(stopGrace):
					graceful = false
				}
			}
			if !graceful {
				if err := kill(s.pid); err != nil {
					errs = append(errs, fmt.Errorf("azurite: kill %d: %w", s.pid, err))
				}
				<-s.exited
			}
		}
		if err := s.removeTemp(); err != nil {
			errs = append(errs, err)
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (s *Server) removeTemp() error {
	if !s.tempDir {
		return nil
	}
	if err := os.RemoveAll(s.location); err != nil {
		return fmt.Errorf("azurite: remove data directory: %w", err)
	}
	return nil
}

// Temporary data directories are named tempPattern and hold ownerFile, the
// process ID of the program that started the emulator, so a later Start
// can remove the directories of programs that died without Stop (a test
// binary killed by a timeout).
const (
	tempPattern = "funnel-azurite-*"
	ownerFile   = ".funnel-owner"
)

// sweepStaleTempDirs removes temporary data directories whose owner is no
// longer running. It is best effort: a directory it cannot read or remove
// is left for the next Start.
func sweepStaleTempDirs() {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), tempPattern))
	if err != nil {
		return // the pattern is constant and valid
	}
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || pid <= 0 || pid == os.Getpid() || process.Alive(pid, "") {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			continue // retried by the next Start
		}
	}
}

// entryPoint finds Azurite's node entry point (dist/src/azurite.js).
func entryPoint(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(EnvDir)
	}
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", fmt.Errorf("%w: %v; set %s to the directory holding node_modules", ErrNotInstalled, err, EnvDir)
		}
		dir = filepath.Join(root, "infra")
	}
	pkg := filepath.Join(dir, "node_modules", "azurite")
	entry := filepath.Join(pkg, "dist", "src", "azurite.js")
	if _, err := os.Stat(entry); err != nil {
		return "", fmt.Errorf("%w: %s missing", ErrNotInstalled, entry)
	}
	manifest, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	if v := packageVersion(manifest); v != Version {
		return "", fmt.Errorf("%w: %s has Azurite %q, want %s", ErrNotInstalled, pkg, v, Version)
	}
	return entry, nil
}

var versionField = regexp.MustCompile(`"version"\s*:\s*"([^"]*)"`)

// packageVersion reads the top-level "version" of a package.json; the first
// "version" key in an npm manifest is the package's own.
func packageVersion(manifest []byte) string {
	if m := versionField.FindSubmatch(manifest); m != nil {
		return string(m[1])
	}
	return ""
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.buf))
	if s == "" {
		return "(empty)"
	}
	return s
}

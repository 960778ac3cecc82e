package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Environment variables read by ConfigFromEnv.
const (
	// EnvPort is the port the host chose for the handler (set by the host).
	EnvPort = "FUNCTIONS_CUSTOMHANDLER_PORT"
	// EnvWorkerID identifies the handler process to the host (set by the host).
	EnvWorkerID = "FUNCTIONS_CUSTOMHANDLER_WORKER_ID"
	// EnvMetricsAddr, when set, is host:port of a separate listener serving
	// GET /metrics in the Prometheus text format.
	EnvMetricsAddr = "FUNNEL_METRICS_ADDR"
	// EnvShutdownTimeout, when set, is a Go duration ("30s") bounding the wait
	// for in-flight invocations at shutdown.
	EnvShutdownTimeout = "FUNNEL_SHUTDOWN_TIMEOUT"
)

// DefaultShutdownTimeout bounds the wait for in-flight invocations when
// ServeConfig.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 30 * time.Second

// ErrConfig is wrapped by every configuration error of ConfigFromEnv and Serve.
var ErrConfig = errors.New("handlers: bad configuration")

// ServeConfig configures Serve.
type ServeConfig struct {
	// Addr is the host:port to listen on. The real host calls
	// http://127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (WorkerConstants.HostName),
	// so ConfigFromEnv sets 127.0.0.1:<port>. Ignored when Listener is set.
	Addr string
	// Listener, when not nil, is used instead of listening on Addr (tests
	// pass a listener on 127.0.0.1:0). Serve closes it.
	Listener net.Listener
	// MetricsAddr, when not empty, is host:port of a second listener serving
	// GET /metrics from Gatherer. Ignored when MetricsListener is set.
	MetricsAddr string
	// MetricsListener, when not nil, is used instead of MetricsAddr.
	MetricsListener net.Listener
	// Gatherer is what /metrics exports; nil means the App's Registerer when
	// it is also a Gatherer (a *prometheus.Registry is). Serve fails with
	// ErrConfig when metrics are asked for and there is no Gatherer.
	Gatherer prometheus.Gatherer
	// ShutdownTimeout bounds how long in-flight invocations may run after ctx
	// is cancelled; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// WorkerID is the host's FUNCTIONS_CUSTOMHANDLER_WORKER_ID, logged at
	// start; informational.
	WorkerID string
}

// ConfigFromEnv builds a ServeConfig from the environment the host gives a
// custom handler: FUNCTIONS_CUSTOMHANDLER_PORT (required, 1–65535),
// FUNCTIONS_CUSTOMHANDLER_WORKER_ID, and funnel's optional
// FUNNEL_METRICS_ADDR and FUNNEL_SHUTDOWN_TIMEOUT. getenv is os.Getenv in a
// binary's main. Errors wrap ErrConfig and name the variable.
func ConfigFromEnv(getenv func(string) string) (ServeConfig, error) {
	cfg := ServeConfig{WorkerID: getenv(EnvWorkerID), ShutdownTimeout: DefaultShutdownTimeout}
	p := getenv(EnvPort)
	if p == "" {
		return ServeConfig{}, fmt.Errorf("%w: %s is not set (the Functions host sets it when it starts a custom handler)", ErrConfig, EnvPort)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return ServeConfig{}, fmt.Errorf("%w: %s=%q is not a port number (1-65535)", ErrConfig, EnvPort, p)
	}
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if m := getenv(EnvMetricsAddr); m != "" {
		if _, mp, err := net.SplitHostPort(m); err != nil || mp == "" {
			return ServeConfig{}, fmt.Errorf("%w: %s=%q is not host:port", ErrConfig, EnvMetricsAddr, m)
		}
		cfg.MetricsAddr = m
	}
	if s := getenv(EnvShutdownTimeout); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return ServeConfig{}, fmt.Errorf("%w: %s=%q is not a positive duration", ErrConfig, EnvShutdownTimeout, s)
		}
		cfg.ShutdownTimeout = d
	}
	return cfg, nil
}

// ErrShutdownTimeout is wrapped by Serve's error when in-flight invocations
// were still running at the end of ShutdownTimeout and were cut off.
var ErrShutdownTimeout = errors.New("handlers: in-flight invocations outlived the shutdown timeout")

// Serve runs app until ctx is cancelled, then shuts down gracefully: it stops
// accepting connections, lets in-flight invocations finish (their contexts
// are not cancelled) for up to ShutdownTimeout, and returns nil. If they
// outlive it, their connections are closed, their contexts cancelled, and
// Serve returns an error wrapping ErrShutdownTimeout. A listener that cannot
// be opened or fails returns its error at once (after shutting the other
// listener down).
func Serve(ctx context.Context, app *App, cfg ServeConfig) error {
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	wantMetrics := cfg.MetricsListener != nil || cfg.MetricsAddr != ""
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = app.gatherer
	}
	if wantMetrics && gatherer == nil {
		return fmt.Errorf("%w: metrics listener asked for, but no Gatherer (pass ServeConfig.Gatherer or a Registerer that is one)", ErrConfig)
	}

	ln, err := listen(cfg.Listener, cfg.Addr, "Addr")
	if err != nil {
		return err
	}
	servers := []*http.Server{newServer(app)}
	listeners := []net.Listener{ln}
	if wantMetrics {
		mln, err := listen(cfg.MetricsListener, cfg.MetricsAddr, "MetricsAddr")
		if err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
		servers = append(servers, newServer(mux))
		listeners = append(listeners, mln)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	attrs := []any{"addr", ln.Addr().String(), "worker_id", cfg.WorkerID}
	if wantMetrics {
		attrs = append(attrs, "metrics_addr", listeners[1].Addr().String())
	}
	app.log.Info("custom handler listening", attrs...)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc: // Serve returns only on failure before Shutdown
		serveErr = fmt.Errorf("handlers: serving: %w", serveErr)
	}
	app.log.Info("custom handler shutting down", "timeout", timeout)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var shutdownErr error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close() // cuts the remaining connections; cancels their request contexts
			if shutdownErr == nil {
				shutdownErr = fmt.Errorf("%w (%s): %v", ErrShutdownTimeout, timeout, err)
			}
		}
	}
	if serveErr != nil {
		return serveErr
	}
	if shutdownErr != nil {
		app.log.Error("custom handler stopped with invocations cut off", "err", shutdownErr)
		return shutdownErr
	}
	app.log.Info("custom handler stopped")
	return nil
}

func listen(ln net.Listener, addr, field string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: ServeConfig.%s is empty", ErrConfig, field)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("handlers: listen on %s: %w", addr, err)
	}
	return l, nil
}

func newServer(h http.Handler) *http.Server {
	// No read/write timeouts: an invocation runs as long as the function's
	// timeout allows, and the host is the only client.
	return &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
}

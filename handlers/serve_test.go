package handlers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    handlers.ServeConfig
		wantErr string // substring; "" means success
	}{
		{
			name: "host settings",
			env:  map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "41237", "FUNCTIONS_CUSTOMHANDLER_WORKER_ID": "w-1"},
			want: handlers.ServeConfig{Addr: "127.0.0.1:41237", WorkerID: "w-1", ShutdownTimeout: handlers.DefaultShutdownTimeout},
		},
		{
			name: "with metrics and shutdown timeout",
			env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "8080", "FUNNEL_METRICS_ADDR": "127.0.0.1:9100",
				"FUNNEL_SHUTDOWN_TIMEOUT": "2m"},
			want: handlers.ServeConfig{Addr: "127.0.0.1:8080", MetricsAddr: "127.0.0.1:9100", ShutdownTimeout: 2 * time.Minute},
		},
		{name: "port missing", env: map[string]string{}, wantErr: "FUNCTIONS_CUSTOMHANDLER_PORT is not set"},
		{name: "port not a number", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "http"}, wantErr: `FUNCTIONS_CUSTOMHANDLER_PORT="http" is not a port`},
		{name: "port zero", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "0"}, wantErr: "not a port"},
		{name: "port too big", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "65536"}, wantErr: "not a port"},
		{name: "bad metrics addr", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "1", "FUNNEL_METRICS_ADDR": "9100"}, wantErr: "FUNNEL_METRICS_ADDR"},
		{name: "bad timeout", env: map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "1", "FUNNEL_SHUTDOWN_TIMEOUT": "-1s"}, wantErr: "FUNNEL_SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_CUSTOMHANDLER_WORKER_ID", "FUNNEL_METRICS_ADDR", "FUNNEL_SHUTDOWN_TIMEOUT"} {
				t.Setenv(k, tt.env[k])
			}
			got, err := handlers.ConfigFromEnv(os.Getenv)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, handlers.ErrConfig)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// signalHandler is a slog.Handler that reports each message on a channel,
// so a test can wait for a step of Serve without sleeping.
type signalHandler struct{ msgs chan string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	h.msgs <- r.Message
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// waitFor reads messages until msg.
func waitFor(t *testing.T, msgs <-chan string, msg string) {
	t.Helper()
	for m := range msgs {
		if m == msg {
			return
		}
	}
	t.Fatalf("log closed before %q", msg)
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func TestServeDrainsInFlightInvocation(t *testing.T) {
	msgs := make(chan string, 100)
	reg := prometheus.NewRegistry()
	app := handlers.NewApp(handlers.Options{Name: "t", Logger: slog.New(signalHandler{msgs}), Registerer: reg})
	started, release := make(chan struct{}), make(chan struct{})
	app.Handle("Slow", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done(): // must not happen: shutdown lets it finish
			return nil, ctx.Err()
		}
		r := handlers.NewResponse()
		r.AddQueue("out", "finished:1")
		return r, nil
	})
	ln, mln := listenLocal(t), listenLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- handlers.Serve(ctx, app, handlers.ServeConfig{Listener: ln, MetricsListener: mln, ShutdownTimeout: time.Hour})
	}()
	waitFor(t, msgs, "custom handler listening")

	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/") // the host's readiness ping
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/Slow", "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-started

	// /metrics on its own listener shows the invocation in flight.
	mresp, err := http.Get("http://" + mln.Addr().String() + "/metrics")
	require.NoError(t, err)
	mbody, err := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(mbody), `funnel_handler_invocations_in_flight{app="t",function="Slow"} 1`)

	cancel()
	waitFor(t, msgs, "custom handler shutting down")
	select {
	case err := <-served:
		t.Fatalf("Serve returned while an invocation was in flight: %v", err)
	default:
	}
	close(release)

	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"Outputs":{"out":"finished:1"},"Logs":[],"ReturnValue":null}`, r.body)
	require.NoError(t, <-served)

	_, err = http.Get(base + "/")
	require.Error(t, err, "still accepting after Serve returned")
}

func TestServeCutsOffInvocationsAfterTimeout(t *testing.T) {
	msgs := make(chan string, 100)
	app := handlers.NewApp(handlers.Options{Logger: slog.New(signalHandler{msgs})})
	started := make(chan struct{})
	app.Handle("Stuck", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		close(started)
		<-ctx.Done() // cancelled when Serve gives up on it
		return nil, ctx.Err()
	})
	ln := listenLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- handlers.Serve(ctx, app, handlers.ServeConfig{Listener: ln, ShutdownTimeout: time.Millisecond})
	}()
	waitFor(t, msgs, "custom handler listening")
	posted := make(chan error, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/Stuck", "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
		}
		posted <- err
	}()
	<-started
	cancel()
	err := <-served
	require.ErrorIs(t, err, handlers.ErrShutdownTimeout)
	require.Error(t, <-posted, "the cut-off invocation got an answer")
}

func TestServeConfigErrors(t *testing.T) {
	app := handlers.NewApp(handlers.Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()

	err := handlers.Serve(ctx, app, handlers.ServeConfig{})
	require.ErrorIs(t, err, handlers.ErrConfig)

	// Metrics asked for, but the app has no registry to gather from.
	err = handlers.Serve(ctx, app, handlers.ServeConfig{Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	require.ErrorIs(t, err, handlers.ErrConfig)

	// A port in use is reported, not retried.
	ln := listenLocal(t)
	defer ln.Close()
	err = handlers.Serve(ctx, app, handlers.ServeConfig{Addr: ln.Addr().String()})
	require.Error(t, err)
	assert.False(t, errors.Is(err, handlers.ErrConfig))
	assert.Contains(t, err.Error(), "listen on "+ln.Addr().String())
}

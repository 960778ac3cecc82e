package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// HandlerFunc runs one invocation of a function.
//
// Returning a response and a nil error answers the host 200 with it (a nil
// response is an empty one). Returning an error answers 500, which fails the
// invocation so that the host retries it (a queue message is dequeued again
// and, after maxDequeueCount attempts, moved to the poison queue) — except an
// *HTTPError returned by an HTTP-triggered function, which becomes that
// function's HTTP answer (see HTTPError).
type HandlerFunc func(ctx context.Context, inv *Invocation) (*Response, error)

// HTTPError is an error for the HTTP caller of an HTTP-triggered function:
// the invocation succeeds (the host gets 200) and the function's HTTP output
// carries Status with the JSON body {"error": Message}. Returned by a
// function that is not HTTP-triggered it is an ordinary failure.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("http %d: %s", e.Status, e.Message)
}

// BadRequest returns an HTTPError with status 400.
func BadRequest(msg string) *HTTPError {
	return &HTTPError{Status: http.StatusBadRequest, Message: msg}
}

// DefaultHTTPOutput is the HTTP output binding name used when a function is
// registered without the HTTPOutput option.
const DefaultHTTPOutput = "res"

// FunctionOption configures one function registered with Handle.
type FunctionOption func(*function)

// HTTPOutput declares the function HTTP-triggered with its HTTP output
// binding named name (function.json {"type": "http", "direction": "out",
// "name": name}). Without it, a function is treated as HTTP-triggered when an
// invocation's Data holds an HTTP request, and its output is named
// DefaultHTTPOutput.
func HTTPOutput(name string) FunctionOption {
	return func(f *function) { f.httpOutput = name; f.httpTriggered = true }
}

// Options configures an App.
type Options struct {
	// Name names the app in logs and as the constant label "app" of its
	// metrics ("partition", "aggregate", "merge").
	Name string
	// Logger receives the app's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the app's metrics; nil means none are exported
	// (they are still counted).
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds an invocation request body; 0 means 256 MiB.
	MaxBodyBytes int64
}

// App routes the host's invocation requests to functions. It is an
// http.Handler; Serve runs it.
//
// Routes: POST /<function> for each function registered with Handle; GET or
// HEAD / and /healthz answer 200 (the host's readiness ping sends GET / and
// accepts any answer); the paths registered with HandleHTTP; anything else
// 404 (405 for a function path with another method than POST).
//
// Handle and HandleHTTP must be called before the App serves requests.
type App struct {
	name     string
	log      *slog.Logger
	metrics  *metrics
	router   *mux.Router
	funcs    map[string]*function
	maxBody  int64
	gatherer prometheus.Gatherer
}

type function struct {
	name          string
	run           HandlerFunc
	httpOutput    string
	httpTriggered bool
}

// NewApp returns an App with no functions. It panics if the Registerer
// refuses the app's metrics for a reason other than their being already
// registered (in which case the registered ones are reused).
func NewApp(opts Options) *App {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Name != "" {
		log = log.With("app", opts.Name)
	}
	a := &App{
		name:    opts.Name,
		log:     log,
		metrics: newMetrics(opts.Name, opts.Registerer),
		router:  mux.NewRouter(),
		funcs:   map[string]*function{},
		maxBody: opts.MaxBodyBytes,
	}
	if a.maxBody <= 0 {
		a.maxBody = 256 << 20
	}
	if g, ok := opts.Registerer.(prometheus.Gatherer); ok {
		a.gatherer = g
	}
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.WriteString(w, "ok\n")
		}
	}
	a.router.HandleFunc("/", ok).Methods(http.MethodGet, http.MethodHead)
	a.router.HandleFunc("/healthz", ok).Methods(http.MethodGet, http.MethodHead)
	return a
}

// Handle registers f as the function named function, invoked by
// POST /<function>. The name is the function's folder name (the host's
// FunctionName), matched case-sensitively. Handle panics on an empty or
// duplicate name, or one containing '/'.
func (a *App) Handle(function string, f HandlerFunc, opts ...FunctionOption) {
	if function == "" || strings.Contains(function, "/") {
		panic(fmt.Sprintf("handlers: bad function name %q", function))
	}
	if _, dup := a.funcs[function]; dup {
		panic(fmt.Sprintf("handlers: function %q registered twice", function))
	}
	fn := newFunction(function, f, opts)
	a.funcs[function] = fn
	a.router.Handle("/"+function, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.invoke(w, r, fn)
	})).Methods(http.MethodPost)
}

func newFunction(name string, f HandlerFunc, opts []FunctionOption) *function {
	fn := &function{name: name, run: f, httpOutput: DefaultHTTPOutput}
	for _, o := range opts {
		o(fn)
	}
	return fn
}

// HandleHTTP registers h for requests the host forwards as they are, for a
// function with "enableForwardingHttpRequest": true in host.json (its only
// bindings are HTTP in and HTTP out): the host sends the caller's request to
// its original path, such as /api/jobs/{id}, and returns h's answer to the
// caller unchanged. path is a gorilla/mux path template; function names the
// function in logs and metrics. The path's variables are available to h as
// r.PathValue(name), and handlers.Logger(r.Context()) logs with the
// invocation ID. h runs with panic recovery (500) and counts as an
// invocation; a 4xx answer counts as http_error, a 5xx one as error.
func (a *App) HandleHTTP(function, path string, h http.Handler) {
	a.router.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.forward(w, r, function, h)
	}))
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.router.ServeHTTP(w, r)
}

// Outcomes, the values of the metrics' label "outcome".
const (
	outcomeOK         = "ok"          // 2xx to the host, function succeeded
	outcomeHTTPError  = "http_error"  // HTTPError turned into an HTTP answer
	outcomeError      = "error"       // function returned an error: 500
	outcomePanic      = "panic"       // function panicked: 500
	outcomeBadRequest = "bad_request" // malformed envelope: 400
)

// invoke runs one invocation of fn and answers the host.
func (a *App) invoke(w http.ResponseWriter, r *http.Request, fn *function) {
	start := time.Now()
	inv := &Invocation{
		ID:       r.Header.Get("X-Azure-Functions-InvocationId"),
		Function: fn.name,
	}
	inv.Log = a.log.With("invocation_id", inv.ID, "function", fn.name)
	a.metrics.inFlight.WithLabelValues(fn.name).Inc()
	defer a.metrics.inFlight.WithLabelValues(fn.name).Dec()

	outcome := a.run(w, r, fn, inv)
	elapsed := time.Since(start)
	a.metrics.invocations.WithLabelValues(fn.name, outcome).Inc()
	a.metrics.duration.WithLabelValues(fn.name).Observe(elapsed.Seconds())
	inv.Log.Debug("invocation done", "outcome", outcome, "duration", elapsed)
}

// run decodes, calls fn, and writes the answer; it returns the outcome.
func (a *App) run(w http.ResponseWriter, r *http.Request, fn *function, inv *Invocation) (outcome string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		inv.Log.Warn("cannot read invocation request", "err", err)
		writeJSON(w, inv.Log, http.StatusBadRequest, failure(fmt.Sprintf("cannot read invocation request: %v", err)))
		return outcomeBadRequest
	}
	env, err := decodeEnvelope(body)
	if err != nil {
		inv.Log.Warn("malformed invocation request", "err", err)
		writeJSON(w, inv.Log, http.StatusBadRequest, failure(err.Error()))
		return outcomeBadRequest
	}
	inv.Data, inv.Metadata = env.Data, env.Metadata

	resp, err, panicked := call(withLogger(r.Context(), inv.Log), fn.run, inv)
	switch {
	case panicked:
		inv.Log.Error("function panicked", "err", err)
		writeJSON(w, inv.Log, http.StatusInternalServerError, failure(err.Error()))
		return outcomePanic
	case err != nil:
		var he *HTTPError
		if errors.As(err, &he) && (fn.httpTriggered || holdsHTTPRequest(inv.Data)) {
			inv.Log.Info("function answered an HTTP error", "status", he.Status, "err", he.Message)
			out := resp
			if out == nil {
				out = NewResponse()
			}
			if serr := out.SetHTTP(fn.httpOutput, HTTPResponse{
				StatusCode: he.Status,
				Body:       map[string]string{"error": he.Message},
			}); serr != nil { // cannot happen for a map[string]string
				inv.Log.Error("cannot encode HTTP error", "err", serr)
			}
			writeJSON(w, inv.Log, http.StatusOK, normalise(out))
			return outcomeHTTPError
		}
		inv.Log.Error("function failed", "err", err)
		writeJSON(w, inv.Log, http.StatusInternalServerError, failure(err.Error()))
		return outcomeError
	}
	writeJSON(w, inv.Log, http.StatusOK, normalise(resp))
	return outcomeOK
}

// call runs f, turning a panic into an error.
func call(ctx context.Context, f HandlerFunc, inv *Invocation) (resp *Response, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			resp, panicked = nil, true
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	resp, err = f(ctx, inv)
	return resp, err, false
}

// decodeEnvelope parses an invocation request body. Data and Metadata may be
// absent or null (an invocation of a timer trigger may carry little), but
// the body must be one JSON object with no other content.
func decodeEnvelope(body []byte) (*envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("invocation request is not a JSON object")
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("invocation request: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invocation request: trailing data after the JSON object")
	}
	if env.Data == nil {
		env.Data = map[string]json.RawMessage{}
	}
	if env.Metadata == nil {
		env.Metadata = map[string]json.RawMessage{}
	}
	return &env, nil
}

// holdsHTTPRequest tells whether one Data entry is the host's description of
// an HTTP request (an object with Method and Url).
func holdsHTTPRequest(data map[string]json.RawMessage) bool {
	for _, v := range data {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '{' {
			continue
		}
		var probe struct {
			Method *string `json:"Method"`
			URL    *string `json:"Url"`
		}
		if json.Unmarshal(v, &probe) == nil && probe.Method != nil && probe.URL != nil {
			return true
		}
	}
	return false
}

// failure is the body of a non-2xx answer: the host ignores it but logs it
// when tracing, and people reading a capture see why.
func failure(msg string) *Response {
	return &Response{Outputs: map[string]any{}, Logs: []string{msg}}
}

// normalise makes the wire form explicit: {} and [] rather than null.
func normalise(r *Response) *Response {
	if r == nil {
		return NewResponse()
	}
	out := *r
	if out.Outputs == nil {
		out.Outputs = map[string]any{}
	}
	if out.Logs == nil {
		out.Logs = []string{}
	}
	return &out
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// An output the function set cannot be encoded: the invocation fails.
		log.Error("cannot encode response", "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(failure("cannot encode response: " + err.Error())) // a Response of strings always encodes
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		log.Warn("cannot write response", "err", err)
	}
}

// forward runs a handler registered with HandleHTTP.
func (a *App) forward(w http.ResponseWriter, r *http.Request, function string, h http.Handler) {
	start := time.Now()
	id := r.Header.Get("X-Azure-Functions-InvocationId")
	log := a.log.With("invocation_id", id, "function", function)
	a.metrics.inFlight.WithLabelValues(function).Inc()
	defer a.metrics.inFlight.WithLabelValues(function).Dec()
	rec := &statusRecorder{ResponseWriter: w}
	outcome := func() (outcome string) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panicked", "err", fmt.Sprintf("%v\n%s", p, debug.Stack()))
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
				outcome = outcomePanic
			}
		}()
		fr := r.WithContext(withLogger(r.Context(), log))
		for k, v := range mux.Vars(r) {
			fr.SetPathValue(k, v)
		}
		h.ServeHTTP(rec, fr)
		switch s := rec.status(); {
		case s >= 500:
			return outcomeError
		case s >= 400:
			return outcomeHTTPError
		}
		return outcomeOK
	}()
	a.metrics.invocations.WithLabelValues(function, outcome).Inc()
	a.metrics.duration.WithLabelValues(function).Observe(time.Since(start).Seconds())
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the logger of the invocation ctx belongs to, with its
// invocation ID and function (the same as Invocation.Log), so that code called
// from a function, or a handler registered with HandleHTTP, logs with them;
// for any other context it returns slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// HostVersion is the Functions host version funchost reports in
// X-Azure-Functions-HostVersion and User-Agent: the release whose custom
// handler protocol it follows.
const HostVersion = "4.1037.0"

// timeoutGrace is how long the host lets a timed-out invocation finish
// before it restarts the handler (TimeoutAttribute.GracePeriod).
const timeoutGrace = 2 * time.Second

// Invocation outcomes in records and metrics.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeTimeout = "timeout"
)

var (
	// errTimeout marks an invocation that ran past functionTimeout.
	errTimeout = errors.New("function timeout")
	// errHandlerStatus marks a non-2xx answer from the handler.
	errHandlerStatus = errors.New("handler answered with an error status")
)

// dataEntry is one Data member: a binding name and its JSON value.
type dataEntry struct {
	name  string
	value json.RawMessage
}

// invocation is one call of a function on an instance.
type invocation struct {
	id   string
	fn   *function
	data []dataEntry
	meta *bindingData
	// dequeueCount is recorded for queue and blob triggers.
	dequeueCount int64
}

// invocationResult is the handler's answer.
type invocationResult struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []string                   `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
	bytesOut    int64
}

func newUUID() string { return uuid.NewString() }

// body renders the request body {"Data": {...}, "Metadata": {...}}.
func (inv *invocation) body() []byte {
	var b bytes.Buffer
	b.WriteString(`{"Data":{`)
	for i, d := range inv.data {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, d.name)
		b.WriteByte(':')
		b.Write(d.value)
	}
	b.WriteString(`},"Metadata":`)
	b.Write(inv.meta.metadataJSON())
	b.WriteByte('}')
	return b.Bytes()
}

// setHostHeaders adds the headers the real host sends with every request
// (DefaultHttpWorkerService.AddHeaders).
func setHostHeaders(h http.Header, invocationID string) {
	h.Set("X-Azure-Functions-HostVersion", HostVersion)
	h.Set("X-Azure-Functions-InvocationId", invocationID)
	ua := "Azure-Functions-Host/" + HostVersion
	if prev := h.Get("User-Agent"); prev != "" {
		ua = prev + " " + ua
	}
	h.Set("User-Agent", ua)
}

// call runs inv on the instance, applies its outputs with bind (when the
// handler succeeded; a bind error fails the invocation, as a failing output
// binding does in the real host) and records it. It returns the result and
// the error that failed the invocation (errTimeout, errHandlerStatus,
// errNotReady, a transport or a binding error).
func (in *instance) call(inv *invocation, bind func(*invocationResult) error) (*invocationResult, error) {
	h := in.h
	if inv.id == "" {
		inv.id = newUUID()
	}
	body := inv.body()
	start := time.Now()
	in.begin(start)
	res, err := in.exchange(inv, func(p *process) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/%s", p.port, inv.fn.Name), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		setHostHeaders(req.Header, inv.id)
		return req, nil
	}, func(resp *http.Response) (*invocationResult, error) {
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("read handler response: %w", err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return &invocationResult{bytesOut: int64(len(raw))}, fmt.Errorf("%w: %d %s: %s", errHandlerStatus, resp.StatusCode, http.StatusText(resp.StatusCode), snippet(raw))
		}
		return parseResult(raw)
	})
	if err == nil && bind != nil {
		if berr := bind(res); berr != nil {
			err = fmt.Errorf("output bindings: %w", berr)
		}
	}
	end := time.Now()
	in.end(end)
	var out int64
	if res != nil {
		out = res.bytesOut
		for _, l := range res.Logs {
			in.log.Info(l, "source", "function", "function", inv.fn.Name, "invocation_id", inv.id)
		}
	}
	h.record(in, inv, start, end, int64(len(body)), out, err)
	return res, err
}

// exchange sends one request built by mk to the current process and reads
// the answer with read, enforcing functionTimeout: past it the invocation
// fails at once, and if the handler has not answered within timeoutGrace
// more, the handler is restarted, as the real host does
// (WebScriptHostExceptionHandler.OnTimeoutExceptionAsync).
func (in *instance) exchange(inv *invocation, mk func(*process) (*http.Request, error), read func(*http.Response) (*invocationResult, error)) (*invocationResult, error) {
	timeout := in.h.app.Host.FunctionTimeout
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	waitCtx, cancelWait := context.WithCancel(context.Background())
	defer cancelWait()
	type answer struct {
		res *invocationResult
		err error
	}
	done := make(chan answer, 1)
	var running atomic.Pointer[process]
	go func() {
		p, err := in.current(waitCtx)
		if err != nil {
			done <- answer{nil, err}
			return
		}
		running.Store(p)
		req, err := mk(p)
		if err != nil {
			done <- answer{nil, err}
			return
		}
		resp, err := in.client.Do(req)
		if err != nil {
			done <- answer{nil, fmt.Errorf("handler (pid %d): %w", p.pid, err)}
			return
		}
		defer drain(resp.Body)
		res, err := read(resp)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-deadline:
		cancelWait()
		go func() {
			select {
			case <-done:
			case <-time.After(timeoutGrace):
				select {
				case <-done:
				default:
					if p := running.Load(); p != nil {
						in.restart(p, fmt.Sprintf("invocation %s of %s exceeded functionTimeout %v", inv.id, inv.fn.Name, timeout))
					}
				}
			}
		}()
		return nil, fmt.Errorf("%w: %s exceeded %v", errTimeout, inv.fn.Name, timeout)
	}
}

// parseResult decodes the handler's answer. Property names match
// case-insensitively, as Newtonsoft does; output names match exactly.
func parseResult(raw []byte) (*invocationResult, error) {
	r := &invocationResult{bytesOut: int64(len(raw))}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		// The real host never completes such an invocation and it hangs
		// until functionTimeout; funchost fails it at once instead.
		return r, errors.New("handler answered 2xx with an empty body; the real host would leave this invocation hanging until functionTimeout")
	}
	if err := json.Unmarshal(t, r); err != nil {
		return r, fmt.Errorf("invalid handler response (not {\"Outputs\",\"Logs\",\"ReturnValue\"}): %v: %s", err, snippet(raw))
	}
	return r, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// outcomeOf classifies an invocation error.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, errTimeout):
		return OutcomeTimeout
	default:
		return OutcomeFailure
	}
}

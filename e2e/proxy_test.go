package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// storageProxy stands between a stack's apps and Azurite's blob service
// (or, a second one, its queue service): a reverse proxy that forwards every request unchanged (Shared Key
// signatures do not cover the host, so they stay valid) except those a
// test has asked it to hold or to fail, always or at random. Holding a request is how a test
// knows, without timing, that a handler is in the middle of an invocation.
type storageProxy struct {
	srv      *http.Server
	endpoint string // the proxied blob endpoint, with the account path
	rp       *httputil.ReverseProxy

	mu      sync.Mutex
	rules   []*proxyRule
	closing chan struct{}
	closed  bool
	done    chan struct{} // closed when Serve returns
}

// A proxyRule applies to the requests match accepts: it holds the first one
// (hold != nil), fails every one with status and code, or (draw != nil)
// fails those draw picks, with the status and code it gives, before they
// reach storage or after storage has carried them out.
type proxyRule struct {
	match  func(r *http.Request) bool
	hold   *heldRequest
	status int
	code   string
	draw   func() (f injectedFailure, ok bool)
	hits   atomic.Int64
	// off, once set, makes the rule match nothing: the fault is lifted.
	off atomic.Bool
}

// heldRequest is one request a rule holds. The proxy closes Arrived when the
// request is held and then waits for one value on release: true forwards
// (or delivers) it, false drops the connection as if storage had vanished.
type heldRequest struct {
	// afterStorage holds the request once storage has answered it, before
	// the answer goes back: the write has happened, the writer does not
	// know yet.
	afterStorage bool
	Arrived      chan struct{}
	release      chan bool
	taken        atomic.Bool
}

// Release lets the held request go on (forward true) or drops it.
func (h *heldRequest) Release(forward bool) {
	select {
	case h.release <- forward:
	default: // already released, or the proxy closed
	}
}

// injectedFailure is an error answer the proxy makes up.
type injectedFailure struct {
	status int
	code   string
	// afterStorage forwards the request first: storage has done what it
	// asked, the client is told it failed.
	afterStorage bool
}

type ctxKey struct{}

type failKey struct{}

func startStorageProxy(t *testing.T, blobEndpoint string) *storageProxy {
	t.Helper()
	target, err := url.Parse(blobEndpoint)
	if err != nil {
		t.Fatalf("proxy target %q: %v", blobEndpoint, err)
	}
	base := &url.URL{Scheme: target.Scheme, Host: target.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &storageProxy{
		endpoint: "http://" + ln.Addr().String() + target.Path,
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(base) },
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ModifyResponse: func(resp *http.Response) error {
			if f, ok := resp.Request.Context().Value(failKey{}).(injectedFailure); ok {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				body := failureBody(f.code)
				resp.StatusCode, resp.Status = f.status, fmt.Sprintf("%d %s", f.status, http.StatusText(f.status))
				resp.Header = http.Header{}
				resp.Header.Set("x-ms-error-code", f.code)
				resp.Header.Set("Content-Type", "application/xml")
				resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
				resp.ContentLength = int64(len(body))
				resp.Body = io.NopCloser(strings.NewReader(body))
				return nil
			}
			h, _ := resp.Request.Context().Value(ctxKey{}).(*heldRequest)
			if h == nil || !h.afterStorage {
				return nil
			}
			if !p.wait(h) {
				return errDropped
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The handler that sent the request is gone, or the test chose
			// to drop it: cut the connection rather than answer.
			panic(http.ErrAbortHandler)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("storage proxy: %v", err)
		}
	}()
	return p
}

var errDropped = errors.New("dropped by the test")

// HoldFirst holds the first request match accepts, before it reaches
// storage or (afterStorage) after storage has answered it.
func (p *storageProxy) HoldFirst(match func(*http.Request) bool, afterStorage bool) *heldRequest {
	h := &heldRequest{afterStorage: afterStorage, Arrived: make(chan struct{}), release: make(chan bool, 1)}
	p.add(&proxyRule{match: match, hold: h})
	return h
}

// FailEvery answers every request match accepts with an error of the
// storage service, without forwarding it; the rule counts them.
func (p *storageProxy) FailEvery(match func(*http.Request) bool, status int, code string) *proxyRule {
	r := &proxyRule{match: match, status: status, code: code}
	p.add(r)
	return r
}

// FailRandomly fails each request match accepts with probability rate
// until the returned rule is turned off: half of the failures are 500
// InternalError, half 503 ServerBusy, and half of each are made up after
// storage has carried the request out (a write that happened, reported as
// failed) — except dequeues, always failed before storage (see serve). The draws come from rng, guarded here, so that a seed gives the
// same sequence of decisions (which request gets which decision depends on
// the order requests arrive in).
func (p *storageProxy) FailRandomly(match func(*http.Request) bool, rate float64, rng *rand.Rand, mu *sync.Mutex) *proxyRule {
	r := &proxyRule{match: match, draw: func() (injectedFailure, bool) {
		mu.Lock()
		x, after := rng.Float64(), rng.IntN(2) == 1
		mu.Unlock()
		switch {
		case x < rate/2:
			return injectedFailure{status: http.StatusInternalServerError, code: "InternalError", afterStorage: after}, true
		case x < rate:
			return injectedFailure{status: http.StatusServiceUnavailable, code: "ServerBusy", afterStorage: after}, true
		}
		return injectedFailure{}, false
	}}
	p.add(r)
	return r
}

func failureBody(code string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>injected by the e2e storage proxy</Message></Error>`, code)
}

func (p *storageProxy) add(r *proxyRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

func (p *storageProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var rule *proxyRule
	var fail injectedFailure
	for _, ru := range p.rules {
		if ru.off.Load() || !ru.match(r) || (ru.hold != nil && ru.hold.taken.Load()) {
			continue
		}
		if ru.draw != nil {
			f, ok := ru.draw()
			if !ok {
				continue
			}
			fail = f
		}
		rule = ru
		break
	}
	p.mu.Unlock()
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	rule.hits.Add(1)
	if rule.hold == nil {
		if rule.draw == nil {
			fail = injectedFailure{status: rule.status, code: rule.code}
		}
		if fail.afterStorage && isDequeue(r) {
			// A dequeue whose answer is lost leaves its messages leased
			// for the host's 10-minute lease, on Azure as here: the job
			// then ends 10 minutes late, longer than a test waits.
			fail.afterStorage = false
		}
		if fail.afterStorage {
			p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), failKey{}, fail)))
			return
		}
		w.Header().Set("x-ms-error-code", fail.code)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(fail.status)
		_, _ = io.WriteString(w, failureBody(fail.code))
		return
	}
	h := rule.hold
	if !h.taken.CompareAndSwap(false, true) {
		p.rp.ServeHTTP(w, r) // another request won the hold
		return
	}
	if h.afterStorage {
		p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, h)))
		return
	}
	if !p.wait(h) {
		panic(http.ErrAbortHandler)
	}
	p.rp.ServeHTTP(w, r)
}

// wait announces a held request and blocks until the test releases it or
// the proxy closes; it reports whether to go on.
func (p *storageProxy) wait(h *heldRequest) bool {
	close(h.Arrived)
	select {
	case fwd := <-h.release:
		return fwd
	case <-p.closing:
		return false
	}
}

// Close drops every held request and stops the proxy.
func (p *storageProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	err := p.srv.Close()
	<-p.done
	return err
}

// ReleaseAll drops whatever is still held, so that the hosts can stop.
func (p *storageProxy) ReleaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if r.hold != nil {
			r.hold.Release(false)
		}
	}
}

// isDequeue reports a queue service's Get Messages request (not a peek).
func isDequeue(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/messages") && q.Get("peekonly") != "true"
}

// Path matchers for the requests the pipeline makes. Blob paths are
// /<account>/<container>/<blob>.

// blobPath splits a request path into container and blob name ("" for a
// container-level request).
func blobPath(r *http.Request) (container, name string) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	switch len(parts) {
	case 3:
		return parts[1], parts[2]
	case 2:
		return parts[1], ""
	}
	return "", ""
}

// inputRead matches the aggregate stage's range reads of the input blob
// name in container (any blob of container when name is "").
func inputRead(container, name string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		c, n := blobPath(r)
		return r.Method == http.MethodGet && c == container && n != "" && (name == "" || n == name)
	}
}

// shardWrite matches merge's conditional writes of a job's shard records.
func shardWrite(jobsContainer, jobID string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		c, n := blobPath(r)
		return r.Method == http.MethodPut && c == jobsContainer && strings.HasPrefix(n, "jobs/"+jobID+"/shard-")
	}
}

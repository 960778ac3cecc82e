package eventgrid

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webhook is an Event Grid endpoint that answers validation and records
// notifications; it refuses the first failFirst of them.
type webhook struct {
	mu        sync.Mutex
	events    []Event
	headers   []string
	failFirst int
	got       chan struct{}
}

func (wh *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var evs []struct {
		Event
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 1 {
		http.Error(w, "bad batch", 400)
		return
	}
	switch r.Header.Get("aeg-event-type") {
	case "SubscriptionValidation":
		var d ValidationData
		_ = json.Unmarshal(evs[0].Data, &d)
		_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": d.ValidationCode})
		return
	case "Notification":
	}
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if wh.failFirst > 0 {
		wh.failFirst--
		http.Error(w, "busy", 503)
		return
	}
	ev := evs[0].Event
	var d BlobCreatedData
	_ = json.Unmarshal(evs[0].Data, &d)
	ev.Data = d
	wh.events = append(wh.events, ev)
	wh.headers = append(wh.headers, r.Header.Get("aeg-event-type"))
	w.WriteHeader(http.StatusAccepted)
	wh.got <- struct{}{}
}

// wait waits for n notifications to be recorded.
func (wh *webhook) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-wh.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d events delivered", i, n)
		}
	}
}

func TestWritesRaiseBlobCreatedEvents(t *testing.T) {
	// The storage side: 201 for every PUT, 200 otherwise.
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Header().Set("ETag", `"0x8D1"`)
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Write([]byte("data"))
	}))
	defer storage.Close()
	wh := &webhook{got: make(chan struct{}, 10)}
	hook := httptest.NewServer(wh)
	defer hook.Close()

	reg := prometheus.NewRegistry()
	p, err := New(storage.URL+"/devstoreaccount1", Options{Latency: time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	defer p.Close()
	ctx := context.Background()
	require.NoError(t, p.Subscribe(ctx, Subscription{Name: "s", Endpoint: hook.URL, SubjectBeginsWith: "/blobServices/default/containers/funnel-units/"}))

	do := func(method, path string, body string) int {
		req, err := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 201, do("PUT", "/funnel-units?restype=container", ""), "a container: no event")
	assert.Equal(t, 201, do("PUT", "/funnel-units/j1/u/000001?comp=block&blockid=AA", "x"), "a block: no event")
	assert.Equal(t, 201, do("PUT", "/input/a.csv", "abc"), "another container: filtered out")
	assert.Equal(t, 200, do("GET", "/funnel-units/j1/u/000001", ""), "a read passes through")
	assert.Equal(t, 201, do("PUT", "/funnel-units/j1/u/000001", "hello"))
	assert.Equal(t, 201, do("PUT", "/funnel-units/j1/u/000002?comp=blocklist", "<BlockList/>"))

	wh.wait(t, 2)
	wh.mu.Lock()
	defer wh.mu.Unlock()
	require.Len(t, wh.events, 2)
	subjects := map[string]BlobCreatedData{}
	for i, ev := range wh.events {
		assert.Equal(t, "Notification", wh.headers[i])
		assert.Equal(t, EventType, ev.EventType)
		assert.Contains(t, ev.Topic, "/storageAccounts/devstoreaccount1")
		subjects[ev.Subject] = ev.Data.(BlobCreatedData)
	}
	put := subjects["/blobServices/default/containers/funnel-units/blobs/j1/u/000001"]
	assert.Equal(t, "PutBlob", put.API)
	assert.Equal(t, `"0x8D1"`, put.ETag)
	assert.Equal(t, int64(5), put.ContentLength)
	assert.Equal(t, "PutBlockList", subjects["/blobServices/default/containers/funnel-units/blobs/j1/u/000002"].API)
	assert.Eventually(t, func() bool { return testutil.ToFloat64(p.deliveries.WithLabelValues("s", "accepted")) == 2 }, 10*time.Second, time.Millisecond)
	// The system topic takes in every committed write, the one no
	// subscription matched too (Event Grid bills its ingress).
	assert.Equal(t, 3.0, testutil.ToFloat64(p.ingress))
	assert.Equal(t, 2.0, testutil.ToFloat64(p.events.WithLabelValues("s")))
}

func TestSubscribeNeedsTheValidationCode(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"validationResponse":"wrong"}`))
	}))
	defer hook.Close()
	p, err := New("http://127.0.0.1:1/devstoreaccount1", Options{})
	require.NoError(t, err)
	defer p.Close()
	assert.ErrorContains(t, p.Subscribe(context.Background(), Subscription{Name: "s", Endpoint: hook.URL}), "validation code")
}

func TestReplaceBlobEndpoint(t *testing.T) {
	conn := "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;BlobEndpoint=http://127.0.0.1:1/a;QueueEndpoint=http://127.0.0.1:2/a;"
	got := ReplaceBlobEndpoint(conn, "http://127.0.0.1:9/a")
	assert.Contains(t, got, "BlobEndpoint=http://127.0.0.1:9/a;QueueEndpoint=http://127.0.0.1:2/a")
	assert.NotContains(t, got, "127.0.0.1:1/")
}

// A write the storage service commits raises its event even when the
// writer is gone before the answer (a handler killed mid-request): Azure
// publishes on commit, whoever hears the answer. Without the event, the
// blob would never trigger its function and would stay behind.
func TestACommittedWriteWhoseWriterLeftRaisesItsEvent(t *testing.T) {
	gotBody := make(chan struct{})
	clientGone := make(chan struct{})
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		close(gotBody)
		// The service commits the write once it has the whole body, but
		// answers only after the writer has given up.
		<-clientGone
		w.Header().Set("ETag", `"0x8D2"`)
		w.WriteHeader(http.StatusCreated)
	}))
	defer storage.Close()
	wh := &webhook{got: make(chan struct{}, 10)}
	hook := httptest.NewServer(wh)
	defer hook.Close()
	p, err := New(storage.URL+"/devstoreaccount1", Options{Latency: time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Subscribe(context.Background(), Subscription{Name: "s", Endpoint: hook.URL, SubjectBeginsWith: "/blobServices/default/containers/funnel-partials/"}))

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.URL()+"/funnel-partials/j1/p/000001.000002", strings.NewReader("batch"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-gotBody
	cancel()
	require.Error(t, <-done, "the writer left before the answer")
	// Give the proxy time to notice the closed connection (this only makes
	// the failure it guards against reproducible; the test cannot pass by
	// timing).
	time.Sleep(100 * time.Millisecond)
	close(clientGone)

	wh.wait(t, 1)
	wh.mu.Lock()
	defer wh.mu.Unlock()
	require.Len(t, wh.events, 1)
	assert.Equal(t, "/blobServices/default/containers/funnel-partials/blobs/j1/p/000001.000002", wh.events[0].Subject)
}

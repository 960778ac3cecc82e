package account

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Services, as in the "service" label.
const (
	ServiceBlob  = "blob"
	ServiceQueue = "queue"
)

// Billing classes, as in the "class" label. Blob operations are classed as
// Azure bills a standard general-purpose v2 account ("Map each REST
// operation to a price" in the Blob Storage docs): Write (Put Blob, Put
// Block, Put Block List, ...), Read (Get Blob), List (List Blobs, List
// Containers, and Create Container, billed together), Other (Get Blob
// Properties, metadata, leases, ...) and Free (Delete Blob, Delete
// Container). Queue operations are all in ClassQueue: Azure prices its
// queue operation classes alike, so the operation label is the detail.
const (
	ClassWrite = "write"
	ClassRead  = "read"
	ClassList  = "list"
	ClassOther = "other"
	ClassFree  = "free"
	ClassQueue = "queue"
)

// Metric names.
const (
	MetricRequests      = "funnel_storage_requests_total"
	MetricRequestBytes  = "funnel_storage_request_bytes_total"
	MetricResponseBytes = "funnel_storage_response_bytes_total"
	MetricDuration      = "funnel_storage_request_duration_seconds"
)

// Metrics counts storage requests. Every HTTP attempt is one request (a
// retry is billed like any request), labelled
//
//	component  who made it (WithComponent, else Options.Component)
//	service    blob | queue
//	operation  the REST operation, e.g. PutBlob, GetMessages
//	class      the billing class (ClassWrite, ...)
//	status     2xx | 3xx | 4xx | 5xx | error (no response)
//
// Request bytes are the request bodies sent; response bytes the response
// bodies read. The duration histogram measures the time to the response
// headers.
type Metrics struct {
	requests      *prometheus.CounterVec
	requestBytes  *prometheus.CounterVec
	responseBytes *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

// NewMetrics creates the storage metrics on reg, or reuses them when reg
// already has them (several Accounts, one registry). A nil reg gives
// metrics that are counted but not exported.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Storage requests (HTTP attempts, retries included) by component, service, operation, billing class and status.",
		}, []string{"component", "service", "operation", "class", "status"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequestBytes,
			Help: "Request body bytes sent to storage.",
		}, []string{"component", "service", "operation", "class"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricResponseBytes,
			Help: "Response body bytes read from storage.",
		}, []string{"component", "service", "operation", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDuration,
			Help:    "Time from sending a storage request to its response headers.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}, []string{"component", "service", "operation"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.requestBytes, err = register(reg, m.requestBytes); err != nil {
		return nil, err
	}
	if m.responseBytes, err = register(reg, m.responseBytes); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("account: register metrics: %w", err)
	}
	return c, nil
}

// Requests is the request counter, labelled component, service, operation,
// class, status; for reading (tests, reports).
func (m *Metrics) Requests() *prometheus.CounterVec { return m.requests }

// RequestBytes and ResponseBytes are the body byte counters, labelled
// component, service, operation, class; for reading.
func (m *Metrics) RequestBytes() *prometheus.CounterVec  { return m.requestBytes }
func (m *Metrics) ResponseBytes() *prometheus.CounterVec { return m.responseBytes }

// meterPolicy counts each HTTP attempt. It sits in the per-retry part of
// the pipeline, so retries are counted as the service bills them.
type meterPolicy struct {
	metrics   *Metrics
	service   string
	base      string // service URL path, stripped from request paths
	component string
}

func (p *meterPolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	op := classify(p.service, raw.Method, strings.TrimPrefix(raw.URL.Path, p.base), raw.URL.Query(), raw.Header)
	component := componentOf(raw.Context(), p.component)
	if raw.ContentLength > 0 {
		p.metrics.requestBytes.WithLabelValues(component, p.service, op.name, op.class).Add(float64(raw.ContentLength))
	}
	start := time.Now()
	resp, err := req.Next()
	status := "error"
	if resp != nil {
		status = fmt.Sprintf("%dxx", resp.StatusCode/100)
		p.metrics.duration.WithLabelValues(component, p.service, op.name).Observe(time.Since(start).Seconds())
		if resp.Body != nil && resp.Body != http.NoBody {
			resp.Body = &countingBody{ReadCloser: resp.Body, counter: p.metrics.responseBytes.WithLabelValues(component, p.service, op.name, op.class)}
		}
	}
	p.metrics.requests.WithLabelValues(component, p.service, op.name, op.class, status).Inc()
	return resp, err
}

// countingBody adds the bytes read to a counter, in batches so a large
// download does not touch the counter per Read.
type countingBody struct {
	io.ReadCloser
	counter prometheus.Counter
	pending atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && b.pending.Add(int64(n)) >= 1<<20 {
		b.flush()
	}
	if err != nil {
		b.flush()
	}
	return n, err
}

func (b *countingBody) Close() error {
	b.flush()
	return b.ReadCloser.Close()
}

func (b *countingBody) flush() {
	if n := b.pending.Swap(0); n > 0 {
		b.counter.Add(float64(n))
	}
}

type operation struct{ name, class string }

// classify names the REST operation of a request. path is relative to the
// service URL ("/container/blob", "/queue/messages/id").
func classify(service, method, path string, q map[string][]string, h http.Header) operation {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.ToLower(v[0])
		}
		return ""
	}
	comp, restype := get("comp"), get("restype")
	segs := splitPath(path)
	if service == ServiceQueue {
		return classifyQueue(method, comp, restype, segs, get("peekonly") == "true")
	}
	return classifyBlob(method, comp, restype, segs, h)
}

func splitPath(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.SplitN(path, "/", 2) // container, blob name (which may hold '/')
}

func classifyBlob(method, comp, restype string, segs []string, h http.Header) operation {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case restype == "service" || restype == "account" || len(segs) == 0:
		switch {
		case comp == "list":
			return operation{"ListContainers", ClassList}
		case restype == "account":
			return operation{"GetAccountInformation", ClassOther}
		case comp == "batch":
			return operation{"BlobBatch", ClassOther}
		case read:
			return operation{"GetBlobServiceProperties", ClassOther}
		default:
			return operation{"SetBlobServiceProperties", ClassOther}
		}
	case restype == "container":
		switch {
		case comp == "list":
			return operation{"ListBlobs", ClassList}
		case comp == "metadata" && read:
			return operation{"GetContainerMetadata", ClassOther}
		case comp == "metadata":
			return operation{"SetContainerMetadata", ClassOther}
		case comp == "acl" && read:
			return operation{"GetContainerACL", ClassOther}
		case comp == "acl":
			return operation{"SetContainerACL", ClassOther}
		case comp == "lease":
			return operation{"LeaseContainer", ClassOther}
		case comp == "batch":
			return operation{"BlobBatch", ClassOther}
		case comp != "":
			return operation{"Container" + comp, ClassOther}
		case method == http.MethodPut:
			return operation{"CreateContainer", ClassList}
		case method == http.MethodDelete:
			return operation{"DeleteContainer", ClassFree}
		default:
			return operation{"GetContainerProperties", ClassOther}
		}
	}
	switch comp {
	case "":
		switch method {
		case http.MethodGet:
			return operation{"GetBlob", ClassRead}
		case http.MethodHead:
			return operation{"GetBlobProperties", ClassOther}
		case http.MethodDelete:
			return operation{"DeleteBlob", ClassFree}
		case http.MethodPut:
			if h.Get("x-ms-copy-source") != "" {
				return operation{"CopyBlob", ClassWrite}
			}
			return operation{"PutBlob", ClassWrite}
		}
	case "block":
		return operation{"PutBlock", ClassWrite}
	case "blocklist":
		if read {
			return operation{"GetBlockList", ClassOther}
		}
		return operation{"PutBlockList", ClassWrite}
	case "appendblock":
		return operation{"AppendBlock", ClassWrite}
	case "page":
		return operation{"PutPage", ClassWrite}
	case "undelete":
		return operation{"UndeleteBlob", ClassWrite}
	case "metadata":
		if read {
			return operation{"GetBlobMetadata", ClassOther}
		}
		return operation{"SetBlobMetadata", ClassOther}
	case "properties":
		return operation{"SetBlobProperties", ClassOther}
	case "tags":
		if read {
			return operation{"GetBlobTags", ClassOther}
		}
		return operation{"SetBlobTags", ClassOther}
	case "lease":
		return operation{"LeaseBlob", ClassOther}
	case "snapshot":
		return operation{"SnapshotBlob", ClassOther}
	case "copy":
		return operation{"AbortCopyBlob", ClassOther}
	case "tier":
		return operation{"SetBlobTier", ClassWrite}
	}
	return operation{"Blob" + method + comp, ClassOther}
}

func classifyQueue(method, comp, restype string, segs []string, peek bool) operation {
	op := func(name string) operation { return operation{name, ClassQueue} }
	read := method == http.MethodGet || method == http.MethodHead
	if len(segs) == 0 || restype == "service" {
		switch {
		case comp == "list":
			return op("ListQueues")
		case comp == "stats":
			return op("GetQueueServiceStats")
		case read:
			return op("GetQueueServiceProperties")
		default:
			return op("SetQueueServiceProperties")
		}
	}
	if len(segs) == 1 { // the queue itself
		switch {
		case comp == "metadata" && read:
			return op("GetQueueMetadata")
		case comp == "metadata":
			return op("SetQueueMetadata")
		case comp == "acl" && read:
			return op("GetQueueACL")
		case comp == "acl":
			return op("SetQueueACL")
		case method == http.MethodPut:
			return op("CreateQueue")
		case method == http.MethodDelete:
			return op("DeleteQueue")
		}
		return op("Queue" + method)
	}
	rest := segs[1]
	if rest == "messages" {
		switch method {
		case http.MethodPost:
			return op("PutMessage")
		case http.MethodGet:
			if peek {
				return op("PeekMessages")
			}
			return op("GetMessages")
		case http.MethodDelete:
			return op("ClearMessages")
		}
	} else if strings.HasPrefix(rest, "messages/") {
		switch method {
		case http.MethodDelete:
			return op("DeleteMessage")
		case http.MethodPut:
			return op("UpdateMessage")
		}
	}
	return op("Queue" + method)
}

// Package eventgrid is a local stand-in for Azure Event Grid's blob storage
// events: a reverse proxy in front of a blob endpoint (Azurite's) that sees
// each blob write the storage service commits and pushes a
// Microsoft.Storage.BlobCreated event, in the Event Grid schema, to every
// webhook subscription whose subject filter matches — as a storage
// account's system topic does in Azure.
//
// Clients that should raise events talk to the proxy (URL) instead of the
// blob endpoint; every request and response passes through unchanged. A
// write is a committed Put Blob, Put Block List or Copy Blob (a 201
// answer); creating a container, staging a block, setting metadata or a
// lease raise nothing, as in Azure.
//
// Delivery follows Event Grid's webhook contract: Subscribe first sends a
// SubscriptionValidation event and expects {"validationResponse": code}
// back; each event is then POSTed as a JSON array of one event (the
// default max events per batch) with the header
// "aeg-event-type: Notification", Options.Latency after the write (Event
// Grid's publish-to-delivery time), and retried on failure with Event
// Grid's schedule (10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h) until it
// is accepted or the proxy closes. Delivery is at least once.
//
// Metrics (through Options.Registerer): eventgrid_ingress_total (blob
// writes the account's system topic takes in, whether or not a
// subscription matches), eventgrid_events_total (events published, by
// subscription) and eventgrid_deliveries_total (webhook POSTs, by
// subscription and outcome). In Azure each ingress and each delivery
// attempt is priced as an Event Grid operation, not as a storage request.
package eventgrid

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultLatency is the delay between a committed write and its event's
// delivery when Options.Latency is zero: Event Grid delivers storage
// events well under a second after the write.
const DefaultLatency = 200 * time.Millisecond

// retrySchedule is Event Grid's wait before each redelivery of an event
// its endpoint did not accept.
var retrySchedule = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// EventType is the event this package publishes.
const EventType = "Microsoft.Storage.BlobCreated"

// Subscription is one webhook subscription to the account's blob events.
type Subscription struct {
	// Name identifies the subscription in logs and metrics.
	Name string
	// Endpoint is the webhook URL events are POSTed to.
	Endpoint string
	// SubjectBeginsWith filters events by subject, e.g.
	// "/blobServices/default/containers/funnel-units/"; empty matches all.
	SubjectBeginsWith string
}

// Event is one event in the Event Grid schema.
type Event struct {
	ID              string    `json:"id"`
	Topic           string    `json:"topic"`
	Subject         string    `json:"subject"`
	EventType       string    `json:"eventType"`
	EventTime       time.Time `json:"eventTime"`
	Data            any       `json:"data"`
	DataVersion     string    `json:"dataVersion"`
	MetadataVersion string    `json:"metadataVersion"`
}

// BlobCreatedData is a BlobCreated event's data.
type BlobCreatedData struct {
	API           string `json:"api"`
	RequestID     string `json:"requestId,omitempty"`
	ETag          string `json:"eTag"`
	ContentType   string `json:"contentType,omitempty"`
	ContentLength int64  `json:"contentLength"`
	BlobType      string `json:"blobType"`
	URL           string `json:"url"`
	Sequencer     string `json:"sequencer"`
}

// ValidationData is a SubscriptionValidation event's data.
type ValidationData struct {
	ValidationCode string `json:"validationCode"`
}

// Options configures New.
type Options struct {
	// Latency is how long after a write its event is delivered; zero
	// means DefaultLatency.
	Latency time.Duration
	// Registerer receives the metrics; nil means none.
	Registerer prometheus.Registerer
	// Logger receives delivery failures; nil discards them.
	Logger *slog.Logger
	// Client posts the events; nil means a client with a 30 s timeout.
	Client *http.Client
}

// Proxy is a running blob endpoint proxy that publishes blob events.
type Proxy struct {
	target  *url.URL
	account string
	opts    Options
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	url     string

	ingress    prometheus.Counter
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec

	mu     sync.Mutex
	subs   []Subscription
	seq    uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a proxy for the blob endpoint target (e.g.
// http://127.0.0.1:10000/devstoreaccount1) on a free 127.0.0.1 port.
func New(target string, opts Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("eventgrid: bad blob endpoint %q", target)
	}
	if opts.Latency <= 0 {
		opts.Latency = DefaultLatency
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	p := &Proxy{target: u, account: strings.Trim(u.Path, "/"), opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ingress = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "eventgrid_ingress_total", Help: "BlobCreated events the storage account's system topic took in, matched by a subscription or not.",
	})
	p.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventgrid_events_total", Help: "BlobCreated events published, by subscription.",
	}, []string{"subscription"})
	p.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventgrid_deliveries_total", Help: "Webhook deliveries (POSTs) by subscription and outcome (accepted, failed).",
	}, []string{"subscription", "outcome"})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{p.ingress, p.events, p.deliveries} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("eventgrid: metrics: %w", err)
			}
		}
	}
	p.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("eventgrid: %w", err)
	}
	p.url = "http://" + p.ln.Addr().String() + u.Path
	p.ctx, p.cancel = context.WithCancel(context.Background())
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
			r.Out.Host = u.Host
			// A writer that goes away (a handler killed mid-request) must
			// not abort a write the service has received whole: Azure
			// commits it and publishes its event whoever hears the
			// answer. A body cut short still fails upstream, as there.
			r.Out = r.Out.WithContext(context.WithoutCancel(r.In.Context()))
		},
		ModifyResponse: p.observe,
		Transport:      &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
		ErrorLog:       nil,
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}
	go func() {
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("event grid proxy stopped", "err", err)
		}
	}()
	return p, nil
}

// URL is the proxied blob endpoint, to use in place of the target.
func (p *Proxy) URL() string { return p.url }

// Subscribe validates the webhook (Event Grid's SubscriptionValidation
// handshake) and adds the subscription.
func (p *Proxy) Subscribe(ctx context.Context, s Subscription) error {
	code := newID()
	ev := Event{
		ID: newID(), Topic: p.topic(), Subject: "", EventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
		EventTime: time.Now().UTC(), Data: ValidationData{ValidationCode: code}, DataVersion: "2", MetadataVersion: "1",
	}
	body, err := json.Marshal([]Event{ev})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("eventgrid: subscription %s: %w", s.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "SubscriptionValidation")
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("eventgrid: validate subscription %s: %w", s.Name, err)
	}
	defer resp.Body.Close()
	var ans struct {
		ValidationResponse string `json:"validationResponse"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("eventgrid: validate subscription %s: the endpoint answered %s", s.Name, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&ans); err != nil || ans.ValidationResponse != code {
		return fmt.Errorf("eventgrid: validate subscription %s: the endpoint did not echo the validation code", s.Name)
	}
	p.mu.Lock()
	p.subs = append(p.subs, s)
	p.mu.Unlock()
	return nil
}

// Close stops the proxy and abandons the deliveries still pending.
func (p *Proxy) Close() error {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	p.wg.Wait()
	return err
}

func (p *Proxy) topic() string {
	return "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/" + p.account
}

// observe publishes an event for a committed blob write.
func (p *Proxy) observe(resp *http.Response) error {
	req := resp.Request
	if req.Method != http.MethodPut || resp.StatusCode != http.StatusCreated {
		return nil
	}
	q := req.URL.Query()
	if q.Has("restype") {
		return nil // a container
	}
	api := ""
	switch q.Get("comp") {
	case "":
		api = "PutBlob"
		if req.Header.Get("x-ms-copy-source") != "" {
			api = "CopyBlob"
		}
	case "blocklist":
		api = "PutBlockList"
	default:
		return nil // a block, metadata, a lease, …
	}
	container, name, ok := p.blobPath(req.URL.Path)
	if !ok {
		return nil
	}
	data := BlobCreatedData{
		API: api, RequestID: resp.Header.Get("x-ms-request-id"), ETag: resp.Header.Get("ETag"),
		ContentType: req.Header.Get("x-ms-blob-content-type"), BlobType: "BlockBlob",
		URL: strings.TrimSuffix(p.target.String(), "/") + "/" + container + "/" + name,
	}
	if api == "PutBlob" {
		data.ContentLength = req.ContentLength
	}
	p.publish(container, name, data)
	return nil
}

// blobPath splits /<account>/<container>/<blob> (escaped) into its parts.
func (p *Proxy) blobPath(path string) (container, name string, ok bool) {
	rest, found := strings.CutPrefix(path, "/"+p.account+"/")
	if !found {
		return "", "", false
	}
	container, name, found = strings.Cut(rest, "/")
	if !found || container == "" || name == "" {
		return "", "", false
	}
	if un, err := url.PathUnescape(name); err == nil {
		name = un
	}
	return container, name, true
}

func (p *Proxy) publish(container, name string, data BlobCreatedData) {
	subject := "/blobServices/default/containers/" + container + "/blobs/" + name
	p.ingress.Inc()
	p.mu.Lock()
	p.seq++
	data.Sequencer = fmt.Sprintf("%032x", p.seq)
	subs := make([]Subscription, 0, len(p.subs))
	for _, s := range p.subs {
		if strings.HasPrefix(subject, s.SubjectBeginsWith) {
			subs = append(subs, s)
		}
	}
	p.mu.Unlock()
	now := time.Now().UTC()
	for _, s := range subs {
		ev := Event{ID: newID(), Topic: p.topic(), Subject: subject, EventType: EventType, EventTime: now,
			Data: data, DataVersion: "", MetadataVersion: "1"}
		p.events.WithLabelValues(s.Name).Inc()
		p.wg.Add(1)
		go p.deliver(s, ev)
	}
}

// deliver posts one event after the latency, retrying on Event Grid's
// schedule until it is accepted or the proxy closes.
func (p *Proxy) deliver(s Subscription, ev Event) {
	defer p.wg.Done()
	body, err := json.Marshal([]Event{ev})
	if err != nil {
		p.log.Error("event grid: encode event", "err", err)
		return
	}
	wait := p.opts.Latency
	for attempt := 0; ; attempt++ {
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(wait):
		}
		err := p.post(s, body)
		if err == nil {
			p.deliveries.WithLabelValues(s.Name, "accepted").Inc()
			return
		}
		p.deliveries.WithLabelValues(s.Name, "failed").Inc()
		if p.ctx.Err() != nil {
			return
		}
		wait = retrySchedule[min(attempt, len(retrySchedule)-1)]
		p.log.Warn("event grid: delivery failed; will retry", "subscription", s.Name, "subject", ev.Subject, "attempt", attempt+1, "retry_in", wait, "err", err)
	}
}

func (p *Proxy) post(s Subscription, body []byte) error {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, s.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "Notification")
	req.Header.Set("aeg-delivery-count", "0")
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ReplaceBlobEndpoint returns a storage connection string with its
// BlobEndpoint set to endpoint.
func ReplaceBlobEndpoint(conn, endpoint string) string {
	parts := strings.Split(conn, ";")
	found := false
	for i, part := range parts {
		k, _, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "BlobEndpoint") {
			parts[i] = "BlobEndpoint=" + endpoint
			found = true
		}
	}
	if !found {
		parts = append(parts, "BlobEndpoint="+endpoint)
	}
	return strings.Join(parts, ";")
}

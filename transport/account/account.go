// Package account opens the Azure Storage account that funnel's stages and
// transports use, and gives its Blob and Queue clients.
//
// An account is reached in one of two ways, as in the Azure Functions host:
//
//   - a connection string (local runs against Azurite, or an account key):
//     Config.ConnectionString. "UseDevelopmentStorage=true" means Azurite on
//     its default ports (127.0.0.1:10000 and :10001), as for the host;
//   - an identity (Azure): Config.BlobURL and Config.QueueURL (or
//     Config.AccountName, which implies https://<name>.blob.core.windows.net
//     and https://<name>.queue.core.windows.net) with a Microsoft Entra
//     token from azidentity: a managed identity when Config.Credential is
//     "managedidentity" (the user-assigned one named by Config.ClientID or
//     Config.ResourceID, if set), else a service principal or
//     DefaultAzureCredential, chosen as the host chooses (see credential).
//     A connection string always wins, so an identity is never tried
//     locally.
//
// FromEnv reads a Config from app settings named like the host's
// `connection` property (see FromEnv).
//
// Both clients share one http.Transport tuned for many parallel requests to
// one host, and a retry policy that bounds how long an unreachable account
// takes to fail (see Options). Every HTTP request, retries included, is
// counted by a pipeline policy as Prometheus metrics on the Registerer in
// Options (see Metrics), labelled with the component that made it (see
// WithComponent), the service, the operation and its billing class.
//
// Error maps SDK errors to package storage's sentinel errors (which package transport re-exports); it is
// the one place where Azure error codes are interpreted.
package account

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says which storage account to open and how to authenticate.
type Config struct {
	// ConnectionString, when set, is used as is (shared key or SAS) and the
	// other fields are ignored.
	ConnectionString string
	// AccountName implies the public-cloud service URLs when BlobURL or
	// QueueURL is empty.
	AccountName string
	// BlobURL and QueueURL are the service endpoints for identity-based
	// access, e.g. https://acct.blob.core.windows.net.
	BlobURL, QueueURL string
	// TableURL is the table service endpoint. funnel does not use tables;
	// it is kept because the host reads __tableServiceUri from the same
	// settings.
	TableURL string
	// Credential is "managedidentity" (the app's managed identity only) or
	// "workloadidentity"; empty means a service principal when TenantID,
	// ClientID and ClientSecret are set, else DefaultAzureCredential (see
	// credential.go for exactly which credential is built when).
	Credential string
	// ClientID, ResourceID and ObjectID select a user-assigned managed
	// identity (at most one of them); ClientID is also a service
	// principal's or a workload identity's application ID.
	ClientID, ResourceID, ObjectID string
	// TenantID and ClientSecret, with ClientID, make a service principal
	// (local development, as for the host).
	TenantID, ClientSecret string
	// ClientCertificate is the host's Windows certificate-store setting;
	// funnel refuses it (see credential).
	ClientCertificate string
}

// IdentityBased reports whether cfg authenticates with a Microsoft Entra
// identity rather than a connection string.
func (cfg Config) IdentityBased() bool { return cfg.ConnectionString == "" }

// String describes cfg without secrets, for logs.
func (cfg Config) String() string {
	if cfg.ConnectionString != "" {
		ep, err := parseConnectionString(cfg.ConnectionString)
		if err != nil {
			return "connection string (unparsable)"
		}
		return fmt.Sprintf("connection string for %s (blob %s, queue %s)", ep.accountName, ep.blobURL, ep.queueURL)
	}
	blob, queue := cfg.serviceURLs()
	return fmt.Sprintf("identity (%s) for blob %s, queue %s", cfg.credentialName(), blob, queue)
}

func (cfg Config) serviceURLs() (blob, queue string) {
	blob, queue = cfg.BlobURL, cfg.QueueURL
	if blob == "" && cfg.AccountName != "" {
		blob = "https://" + cfg.AccountName + ".blob.core.windows.net/"
	}
	if queue == "" && cfg.AccountName != "" {
		queue = "https://" + cfg.AccountName + ".queue.core.windows.net/"
	}
	return blob, queue
}

// Options tunes Open. The zero value is usable: no metrics, the defaults
// below.
type Options struct {
	// Registerer receives the storage metrics; nil means none. Several
	// Accounts may share one Registerer: they share its collectors.
	Registerer prometheus.Registerer
	// Component labels requests whose context carries no component (see
	// WithComponent); default "account".
	Component string
	// MaxRetries is how many times a failed request is retried (network
	// error, 408, 429, 5xx); default 3, negative for none.
	MaxRetries int
	// TryTimeout bounds one attempt of one request; default 60 s (a 64 MiB
	// body at 2 MiB/s).
	TryTimeout time.Duration
	// RetryDelay is the first delay between attempts, doubling up to
	// MaxRetryDelay; defaults 200 ms and 2 s.
	RetryDelay, MaxRetryDelay time.Duration
	// DialTimeout bounds opening one TCP connection; default 5 s.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost is how many idle connections are kept per host;
	// default 64 (the SDK's default is 10, which makes parallel requests
	// open and close connections).
	MaxIdleConnsPerHost int
	// HTTPClient replaces the tuned transport (tests). Metrics and retries
	// still apply.
	HTTPClient policy.Transporter
}

func (o Options) withDefaults() Options {
	if o.Component == "" {
		o.Component = "account"
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = 60 * time.Second
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 200 * time.Millisecond
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 2 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 64
	}
	return o
}

// ErrConfig reports a Config that names no usable account.
var ErrConfig = errors.New("account: invalid configuration")

// Account is an opened storage account. It is safe for concurrent use.
type Account struct {
	name    string
	blob    *azblob.Client
	queue   *azqueue.ServiceClient
	cfg     Config
	metrics *Metrics
	http    *http.Transport // nil when Options.HTTPClient was given
}

// Open builds the clients for cfg. It makes no request: an unreachable or
// misconfigured account shows up on first use.
func Open(cfg Config, opts Options) (*Account, error) {
	opts = opts.withDefaults()
	metrics, err := NewMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	a := &Account{cfg: cfg, metrics: metrics}
	client := opts.HTTPClient
	if client == nil {
		a.http = newHTTPTransport(opts)
		client = &http.Client{Transport: a.http}
	}

	var blobURL, queueURL string
	if cfg.ConnectionString != "" {
		ep, err := parseConnectionString(cfg.ConnectionString)
		if err != nil {
			return nil, err
		}
		a.name, blobURL, queueURL = ep.accountName, ep.blobURL, ep.queueURL
	} else {
		blobURL, queueURL = cfg.serviceURLs()
		if blobURL == "" || queueURL == "" {
			return nil, fmt.Errorf("%w: need a connection string, an account name, or both service URLs", ErrConfig)
		}
		a.name = cfg.AccountName
	}
	blobBase, err := basePath(blobURL)
	if err != nil {
		return nil, fmt.Errorf("%w: blob endpoint: %v", ErrConfig, err)
	}
	queueBase, err := basePath(queueURL)
	if err != nil {
		return nil, fmt.Errorf("%w: queue endpoint: %v", ErrConfig, err)
	}

	core := func(service string, base string) azcore.ClientOptions {
		return azcore.ClientOptions{
			Transport: client,
			Retry: policy.RetryOptions{
				MaxRetries:    int32(opts.MaxRetries),
				TryTimeout:    opts.TryTimeout,
				RetryDelay:    opts.RetryDelay,
				MaxRetryDelay: opts.MaxRetryDelay,
			},
			Telemetry:        policy.TelemetryOptions{ApplicationID: "funnel"},
			PerRetryPolicies: []policy.Policy{&meterPolicy{metrics: metrics, service: service, base: base, component: opts.Component}},
		}
	}
	blobOpts := &azblob.ClientOptions{ClientOptions: core(ServiceBlob, blobBase)}
	queueOpts := &azqueue.ClientOptions{ClientOptions: core(ServiceQueue, queueBase)}

	if cfg.ConnectionString != "" {
		conn := expandDevelopmentStorage(cfg.ConnectionString)
		if a.blob, err = azblob.NewClientFromConnectionString(conn, blobOpts); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		if a.queue, err = azqueue.NewServiceClientFromConnectionString(conn, queueOpts); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		return a, nil
	}

	cred, err := credential(cfg, client)
	if err != nil {
		return nil, err
	}
	if a.blob, err = azblob.NewClient(blobURL, cred, blobOpts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if a.queue, err = azqueue.NewServiceClient(queueURL, cred, queueOpts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return a, nil
}

func newHTTPTransport(opts Options) *http.Transport {
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * opts.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// basePath is the path of a service URL ("/devstoreaccount1" for Azurite's
// path-style endpoints, "" for Azure's), which request paths start with.
func basePath(service string) (string, error) {
	u, err := url.Parse(service)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", service)
	}
	return strings.TrimSuffix(u.Path, "/"), nil
}

// Name is the storage account's name, when the configuration names it.
func (a *Account) Name() string { return a.name }

// Config is the configuration the account was opened with.
func (a *Account) Config() Config { return a.cfg }

// Blob is the account's Blob service client.
func (a *Account) Blob() *azblob.Client { return a.blob }

// Queue is the account's Queue service client.
func (a *Account) Queue() *azqueue.ServiceClient { return a.queue }

// Metrics are the account's request counters (shared with other Accounts on
// the same Registerer).
func (a *Account) Metrics() *Metrics { return a.metrics }

// Close drops the account's idle connections. The clients stay usable (they
// reconnect); Close is for tests and shutdown.
func (a *Account) Close() {
	if a.http != nil {
		a.http.CloseIdleConnections()
	}
}

type componentKey struct{}

// WithComponent returns a context whose storage requests are counted under
// component (a transport's name, a stage's name) instead of
// Options.Component.
func WithComponent(ctx context.Context, component string) context.Context {
	return context.WithValue(ctx, componentKey{}, component)
}

func componentOf(ctx context.Context, fallback string) string {
	if c, ok := ctx.Value(componentKey{}).(string); ok && c != "" {
		return c
	}
	return fallback
}

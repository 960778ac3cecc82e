package funchost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrConfig is wrapped by every error about an app folder's configuration:
// host.json, a function.json, local.settings.json or a missing app setting.
var ErrConfig = errors.New("funchost: invalid configuration")

// ConfigError describes one bad field of one configuration file.
type ConfigError struct {
	File  string // path of the file
	Field string // JSON path of the field, e.g. "extensions.queues.batchSize"
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("funchost: %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("funchost: %s: %s: %s", e.File, e.Field, e.Msg)
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func cfgErr(file, field, format string, args ...any) error {
	return &ConfigError{File: file, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Defaults of the storage queue extension (azure-sdk-for-net,
// Microsoft.Azure.WebJobs.Extensions.Storage.Common, QueuesOptions.cs and
// QueuePollingIntervals.cs) and of the host (ScriptJobHostOptionsSetup.cs).
const (
	defaultBatchSize          = 16
	maxBatchSize              = 32
	defaultMaxDequeueCount    = 5
	defaultMaxPollingInterval = time.Minute
	minPollingInterval        = 100 * time.Millisecond
	defaultFunctionTimeout    = 30 * time.Minute // not Consumption: func start's default
	minFunctionTimeout        = time.Second
	defaultRoutePrefix        = "api"
	defaultPoisonBlobLimit    = 5
)

// queueOptions is host.json extensions.queues after defaults.
type queueOptions struct {
	BatchSize          int
	NewBatchThreshold  int // resolved: batchSize/2 × processors when unset
	MaxPollingInterval time.Duration
	VisibilityTimeout  time.Duration
	MaxDequeueCount    int
	Base64             bool // messageEncoding base64 (default) or none
}

// blobOptions is host.json extensions.blobs after defaults.
type blobOptions struct {
	MaxDegreeOfParallelism int
	PoisonBlobThreshold    int
}

// handlerConfig is host.json customHandler.
type handlerConfig struct {
	ExecutablePath   string
	Arguments        []string
	WorkingDirectory string // absolute
	Forwarding       bool   // enableForwardingHttpRequest
}

// hostConfig is a parsed host.json.
type hostConfig struct {
	File            string
	Handler         handlerConfig
	FunctionTimeout time.Duration // 0: unbounded ("-1")
	RoutePrefix     string
	Queues          queueOptions
	Blobs           blobOptions
	Functions       []string // host.json "functions": the only functions to load; nil = all
	Warnings        []string // settings accepted but not modelled
}

// Binding types this host implements (compared case-insensitively).
const (
	typeHTTPTrigger  = "httptrigger"
	typeHTTP         = "http"
	typeQueueTrigger = "queuetrigger"
	typeQueue        = "queue"
	typeBlobTrigger  = "blobtrigger"
	typeBlob         = "blob"
	// typeTimerTrigger is in timer.go.
)

// typeNames spells each binding type as the documentation does.
var typeNames = map[string]string{
	typeHTTPTrigger: "httpTrigger", typeHTTP: "http", typeQueueTrigger: "queueTrigger",
	typeQueue: "queue", typeBlobTrigger: "blobTrigger", typeBlob: "blob", typeTimerTrigger: "timerTrigger",
}

// binding is one entry of function.json "bindings".
type binding struct {
	Index      int
	Type       string // lower case
	Direction  string // "in", "out" or "inout"
	Name       string
	Binary     bool   // dataType "binary"
	DataType   string // as written, lower case
	Connection string // setting name; "" means AzureWebJobsStorage
	// Queue bindings.
	QueueName string
	// Blob bindings.
	Path     string
	Source   string // blobTrigger: "eventgrid" or "logsandcontainerscan"
	blobPath *blobPattern
	// Timer trigger: the NCRONTAB schedule as written and parsed (nil
	// until a %Setting% in it is resolved).
	Schedule     string
	schedule     cron.Schedule
	RunOnStartup bool
	// HTTP trigger.
	Methods   []string // upper case; nil = all
	AuthLevel string
	Route     *routeTemplate
	RouteText string
}

func (b *binding) isTrigger() bool { return strings.HasSuffix(b.Type, "trigger") }

// function is a parsed <name>/function.json.
type function struct {
	Name     string
	File     string
	Disabled bool
	Trigger  *binding
	Inputs   []*binding // non-trigger inputs
	Outputs  []*binding
	Bindings []*binding
}

// isHTTPInAndOut reports the one shape the real host forwards raw when
// enableForwardingHttpRequest is on: exactly an httpTrigger and an http
// output (FunctionMetadataExtensions.IsHttpInAndOutFunction).
func (f *function) isHTTPInAndOut() bool {
	return len(f.Bindings) == 2 && f.Trigger.Type == typeHTTPTrigger && len(f.Outputs) == 1 && f.Outputs[0].Type == typeHTTP
}

// app is an app folder: host.json plus its functions, sorted by name.
type app struct {
	Dir       string
	Host      *hostConfig
	Functions []*function
}

// loadApp reads dir/host.json and every dir/*/function.json. processors is
// the processor count the queue defaults scale with.
func loadApp(dir string, processors int) (*app, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("funchost: app folder %q: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: app folder: %w", ErrConfig, err)
	}
	if !st.IsDir() {
		return nil, cfgErr(abs, "", "not a folder")
	}
	hostFile := filepath.Join(abs, "host.json")
	raw, err := os.ReadFile(hostFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	hc, err := parseHostJSON(hostFile, raw, abs, processors)
	if err != nil {
		return nil, err
	}
	a := &app{Dir: abs, Host: hc}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		file := filepath.Join(abs, e.Name(), "function.json")
		raw, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if hc.Functions != nil && !containsFold(hc.Functions, e.Name()) {
			continue
		}
		f, err := parseFunctionJSON(e.Name(), file, raw)
		if err != nil {
			return nil, err
		}
		a.Functions = append(a.Functions, f)
	}
	for _, name := range hc.Functions {
		found := false
		for _, f := range a.Functions {
			found = found || strings.EqualFold(f.Name, name)
		}
		if !found {
			return nil, cfgErr(hostFile, "functions", "function %q has no %s/function.json", name, name)
		}
	}
	sort.Slice(a.Functions, func(i, j int) bool { return a.Functions[i].Name < a.Functions[j].Name })
	if err := checkRoutes(a); err != nil {
		return nil, err
	}
	return a, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// defaultProcessors is the processor count queue defaults scale with.
func defaultProcessors() int { return runtime.NumCPU() }

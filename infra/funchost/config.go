package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
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
)

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

// jsonObject is a JSON object whose keys are matched case-insensitively, as
// .NET configuration binding and the host's JObject lookups do.
type jsonObject struct {
	file   string
	path   string
	fields map[string]json.RawMessage // lower-cased key → value
	names  map[string]string          // lower-cased key → key as written
	used   map[string]bool
}

func parseObject(file, path string, raw json.RawMessage) (*jsonObject, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return nil, cfgErr(file, path, "not a JSON object: %v", err)
	}
	if m == nil {
		return nil, cfgErr(file, path, "must be a JSON object, not null")
	}
	o := &jsonObject{file: file, path: path, fields: map[string]json.RawMessage{}, names: map[string]string{}, used: map[string]bool{}}
	for k, v := range m {
		lk := strings.ToLower(k)
		if _, dup := o.fields[lk]; dup {
			return nil, cfgErr(file, o.field(k), "given twice (keys are case-insensitive)")
		}
		o.fields[lk] = v
		o.names[lk] = k
	}
	return o, nil
}

func (o *jsonObject) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func (o *jsonObject) has(key string) bool {
	v, ok := o.fields[strings.ToLower(key)]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

func (o *jsonObject) raw(key string) (json.RawMessage, bool) {
	lk := strings.ToLower(key)
	v, ok := o.fields[lk]
	o.used[lk] = true
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return nil, false
	}
	return v, true
}

func (o *jsonObject) str(key string) (string, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, cfgErr(o.file, o.field(key), "must be a string, got %s", short(v))
	}
	return s, true, nil
}

func (o *jsonObject) boolean(key string) (bool, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		// .NET configuration binding also accepts "true"/"false" strings.
		var s string
		if json.Unmarshal(v, &s) == nil {
			if pb, perr := strconv.ParseBool(s); perr == nil {
				return pb, true, nil
			}
		}
		return false, true, cfgErr(o.file, o.field(key), "must be true or false, got %s", short(v))
	}
	return b, true, nil
}

func (o *jsonObject) integer(key string) (int, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return 0, false, nil
	}
	var n int
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if pn, perr := strconv.Atoi(strings.TrimSpace(s)); perr == nil {
				return pn, true, nil
			}
		}
		return 0, true, cfgErr(o.file, o.field(key), "must be an integer, got %s", short(v))
	}
	return n, true, nil
}

func (o *jsonObject) object(key string) (*jsonObject, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return nil, false, nil
	}
	sub, err := parseObject(o.file, o.field(o.names[strings.ToLower(key)]), v)
	return sub, true, err
}

func (o *jsonObject) strList(key string) ([]string, bool, error) {
	v, ok := o.raw(key)
	if !ok {
		return nil, false, nil
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		return nil, true, cfgErr(o.file, o.field(key), "must be an array of strings, got %s", short(v))
	}
	return ss, true, nil
}

// unknown returns the keys not read, as written, sorted.
func (o *jsonObject) unknown() []string {
	var ks []string
	for lk := range o.fields {
		if !o.used[lk] {
			ks = append(ks, o.names[lk])
		}
	}
	sort.Strings(ks)
	return ks
}

func short(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// stripJSONComments removes // and /* */ comments outside strings: the
// host reads host.json with Newtonsoft, which allows them.
func stripJSONComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out = append(out, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
			out = append(out, c)
			continue
		}
		if c == '/' && i+1 < len(b) && b[i+1] == '/' {
			for i < len(b) && b[i] != '\n' {
				i++
			}
			if i < len(b) {
				out = append(out, '\n')
			}
			continue
		}
		if c == '/' && i+1 < len(b) && b[i+1] == '*' {
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return append(out, b[i:]...) // unterminated: let the decoder complain
			}
			out = append(out, ' ')
			i += 2 + end + 1
			continue
		}
		out = append(out, c)
	}
	return out
}

// host.json top-level keys that configure things this host does not model
// but that do not change what a handler sees; they are accepted with a
// warning. Anything else unknown is an error.
var hostIgnored = map[string]bool{
	"logging": false, "extensionbundle": false, "aggregator": true, "healthmonitor": true,
	"watchdirectories": false, "watchfiles": false, "telemetrymode": false,
	"configurationprofile": true, "singleton": true, "manageddependency": true,
	"languageworker": true, "sendcanceledinvocationstoworker": true,
}

// parseHostJSON parses host.json. dir is the app root.
func parseHostJSON(file string, raw []byte, dir string, processors int) (*hostConfig, error) {
	o, err := parseObject(file, "", stripJSONComments(raw))
	if err != nil {
		return nil, err
	}
	hc := &hostConfig{File: file, RoutePrefix: defaultRoutePrefix, FunctionTimeout: defaultFunctionTimeout}

	version, ok, err := o.str("version")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cfgErr(file, "version", "missing; the Functions 4.x host needs \"2.0\"")
	}
	if version != "2.0" {
		return nil, cfgErr(file, "version", "is %q; the Functions 4.x host needs \"2.0\"", version)
	}

	if v, ok := o.raw("functionTimeout"); ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, cfgErr(file, "functionTimeout", "must be a TimeSpan string like \"00:05:00\", got %s", short(v))
		}
		d, err := parseTimeSpan(s)
		if err != nil {
			return nil, cfgErr(file, "functionTimeout", "%v", err)
		}
		switch {
		case d == -24*time.Hour: // "-1": unbounded (not on Consumption)
			hc.FunctionTimeout = 0
		case d < minFunctionTimeout:
			return nil, cfgErr(file, "functionTimeout", "%s is below the minimum of 00:00:01", s)
		default:
			hc.FunctionTimeout = d
		}
	}

	ch, ok, err := o.object("customHandler")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cfgErr(file, "customHandler", "missing: funchost runs custom-handler apps only")
	}
	if err := parseCustomHandler(ch, hc, dir); err != nil {
		return nil, err
	}

	hc.Queues = queueOptions{
		BatchSize: defaultBatchSize, NewBatchThreshold: -1, MaxPollingInterval: defaultMaxPollingInterval,
		MaxDequeueCount: defaultMaxDequeueCount, Base64: true,
	}
	hc.Blobs = blobOptions{MaxDegreeOfParallelism: 8 * processors, PoisonBlobThreshold: defaultPoisonBlobLimit}
	if ext, ok, err := o.object("extensions"); err != nil {
		return nil, err
	} else if ok {
		if err := parseExtensions(ext, hc); err != nil {
			return nil, err
		}
	}
	if hc.Queues.NewBatchThreshold < 0 {
		hc.Queues.NewBatchThreshold = hc.Queues.BatchSize / 2 * processors
	}

	if fs, ok, err := o.strList("functions"); err != nil {
		return nil, err
	} else if ok {
		hc.Functions = fs
		if hc.Functions == nil {
			hc.Functions = []string{}
		}
	}

	if c, ok, err := o.object("concurrency"); err != nil {
		return nil, err
	} else if ok {
		dyn, _, err := c.boolean("dynamicConcurrencyEnabled")
		if err != nil {
			return nil, err
		}
		if dyn {
			return nil, cfgErr(file, "concurrency.dynamicConcurrencyEnabled", "dynamic concurrency is not supported by funchost; remove it (batchSize/newBatchThreshold apply)")
		}
		hc.Warnings = append(hc.Warnings, "concurrency: accepted, not modelled")
	}
	if o.has("retry") {
		return nil, cfgErr(file, "retry", "host-level retry policies are not supported by funchost (queue and blob triggers retry through the queue's dequeue count)")
	}
	for _, k := range o.unknown() {
		warn, known := hostIgnored[strings.ToLower(k)]
		if !known {
			return nil, cfgErr(file, k, "unknown or unsupported host.json setting")
		}
		if warn {
			hc.Warnings = append(hc.Warnings, k+": accepted, not modelled")
		}
	}
	return hc, nil
}

func parseCustomHandler(ch *jsonObject, hc *hostConfig, dir string) error {
	desc, ok, err := ch.object("description")
	if err != nil {
		return err
	}
	if !ok {
		return cfgErr(hc.File, "customHandler.description", "missing (\"Missing worker Description\" in the real host)")
	}
	exe, _, err := desc.str("defaultExecutablePath")
	if err != nil {
		return err
	}
	exe = expandPercentEnv(exe)
	if strings.TrimSpace(exe) == "" {
		return cfgErr(hc.File, "customHandler.description.defaultExecutablePath", "must name the handler executable")
	}
	args, _, err := desc.strList("arguments")
	if err != nil {
		return err
	}
	for i := range args {
		args[i] = expandPercentEnv(args[i])
	}
	wd, _, err := desc.str("workingDirectory")
	if err != nil {
		return err
	}
	wd = expandPercentEnv(wd)
	switch {
	case wd == "":
		wd = dir
	case !filepath.IsAbs(wd):
		wd = filepath.Join(dir, wd)
	}
	// The real host resolves a relative executable against the app root
	// when that file exists, and otherwise leaves it to the PATH lookup.
	if !filepath.IsAbs(exe) {
		if st, err := os.Stat(filepath.Join(dir, exe)); err == nil && !st.IsDir() {
			exe = filepath.Join(dir, exe)
		}
	}
	for _, k := range desc.unknown() {
		switch strings.ToLower(k) {
		case "defaultworkerpath", "workerdirectory", "workerarguments", "language", "extensions":
			return cfgErr(hc.File, "customHandler.description."+k, "not supported by funchost for custom handlers")
		default:
			return cfgErr(hc.File, "customHandler.description."+k, "unknown setting")
		}
	}
	fwd, _, err := ch.boolean("enableForwardingHttpRequest")
	if err != nil {
		return err
	}
	if proxy, _, err := ch.boolean("enableProxyingHttpRequest"); err != nil {
		return err
	} else if proxy {
		return cfgErr(hc.File, "customHandler.enableProxyingHttpRequest", "HTTP proxying is not supported by funchost; use enableForwardingHttpRequest")
	}
	if _, _, err := ch.object("http"); err != nil {
		return err
	}
	if ch.has("port") {
		return cfgErr(hc.File, "customHandler.port", "a fixed handler port is not supported by funchost; the host picks a free port per instance")
	}
	for _, k := range ch.unknown() {
		return cfgErr(hc.File, "customHandler."+k, "unknown setting")
	}
	hc.Handler = handlerConfig{ExecutablePath: exe, Arguments: args, WorkingDirectory: wd, Forwarding: fwd}
	return nil
}

func parseExtensions(ext *jsonObject, hc *hostConfig) error {
	if q, ok, err := ext.object("queues"); err != nil {
		return err
	} else if ok {
		if err := parseQueues(q, hc); err != nil {
			return err
		}
	}
	if b, ok, err := ext.object("blobs"); err != nil {
		return err
	} else if ok {
		if n, ok, err := b.integer("maxDegreeOfParallelism"); err != nil {
			return err
		} else if ok {
			if n < 1 {
				return cfgErr(hc.File, "extensions.blobs.maxDegreeOfParallelism", "must be at least 1, got %d", n)
			}
			hc.Blobs.MaxDegreeOfParallelism = n
		}
		if n, ok, err := b.integer("poisonBlobThreshold"); err != nil {
			return err
		} else if ok {
			if n < 1 {
				return cfgErr(hc.File, "extensions.blobs.poisonBlobThreshold", "must be at least 1, got %d", n)
			}
			hc.Blobs.PoisonBlobThreshold = n
		}
		for _, k := range b.unknown() {
			return cfgErr(hc.File, "extensions.blobs."+k, "unknown setting")
		}
	}
	if h, ok, err := ext.object("http"); err != nil {
		return err
	} else if ok {
		if p, ok, err := h.str("routePrefix"); err != nil {
			return err
		} else if ok {
			hc.RoutePrefix = strings.Trim(p, "/")
		}
		for _, k := range h.unknown() {
			switch strings.ToLower(k) {
			case "maxconcurrentrequests", "maxoutstandingrequests", "dynamicthrottlesenabled", "hsts", "customheaders":
				hc.Warnings = append(hc.Warnings, "extensions.http."+k+": accepted, not modelled")
			default:
				return cfgErr(hc.File, "extensions.http."+k, "unknown setting")
			}
		}
	}
	for _, k := range ext.unknown() {
		// Extensions of bindings funchost does not implement: harmless
		// unless a function uses such a binding, which parseFunctionJSON
		// refuses.
		hc.Warnings = append(hc.Warnings, "extensions."+k+": no such binding in funchost; ignored")
	}
	return nil
}

func parseQueues(q *jsonObject, hc *hostConfig) error {
	f := func(k string) string { return "extensions.queues." + k }
	if n, ok, err := q.integer("batchSize"); err != nil {
		return err
	} else if ok {
		if n < 1 || n > maxBatchSize {
			return cfgErr(hc.File, f("batchSize"), "must be 1..32, got %d", n)
		}
		hc.Queues.BatchSize = n
	}
	if n, ok, err := q.integer("newBatchThreshold"); err != nil {
		return err
	} else if ok {
		if n < 0 {
			return cfgErr(hc.File, f("newBatchThreshold"), "must not be negative, got %d", n)
		}
		hc.Queues.NewBatchThreshold = n
	}
	if n, ok, err := q.integer("maxDequeueCount"); err != nil {
		return err
	} else if ok {
		if n < 1 {
			return cfgErr(hc.File, f("maxDequeueCount"), "must be at least 1, got %d", n)
		}
		hc.Queues.MaxDequeueCount = n
	}
	for _, k := range []string{"maxPollingInterval", "visibilityTimeout"} {
		s, ok, err := q.str(k)
		if err != nil {
			return cfgErr(hc.File, f(k), "must be a TimeSpan string like \"00:00:02\"")
		}
		if !ok {
			continue
		}
		d, err := parseTimeSpan(s)
		if err != nil {
			return cfgErr(hc.File, f(k), "%v", err)
		}
		if d < 0 {
			return cfgErr(hc.File, f(k), "must not be negative, got %q", s)
		}
		if k == "maxPollingInterval" {
			if d < minPollingInterval {
				return cfgErr(hc.File, f(k), "must not be less than 00:00:00.1, got %q", s)
			}
			hc.Queues.MaxPollingInterval = d
		} else {
			hc.Queues.VisibilityTimeout = d
		}
	}
	if e, ok, err := q.str("messageEncoding"); err != nil {
		return err
	} else if ok {
		switch strings.ToLower(e) {
		case "base64":
			hc.Queues.Base64 = true
		case "none":
			hc.Queues.Base64 = false
		default:
			return cfgErr(hc.File, f("messageEncoding"), "must be \"base64\" or \"none\", got %q", e)
		}
	}
	for _, k := range q.unknown() {
		return cfgErr(hc.File, f(k), "unknown setting")
	}
	return nil
}

// timeSpanRe is .NET's invariant TimeSpan format: [-][d.]hh:mm[:ss[.fffffff]].
var timeSpanRe = regexp.MustCompile(`^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$`)

// maxSpanDays keeps a TimeSpan within time.Duration's range (~292 years).
const maxSpanDays = 106000

// parseTimeSpan parses a .NET TimeSpan string as configuration binding
// does: "hh:mm:ss", "d.hh:mm:ss.fffffff", "hh:mm", or a whole number of days
// ("-1" is minus one day).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n > maxSpanDays || n < -maxSpanDays {
			return 0, fmt.Errorf("TimeSpan %q out of range", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	m := timeSpanRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a TimeSpan (hh:mm:ss)", s)
	}
	num := func(x string) int64 {
		if x == "" {
			return 0
		}
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	days, hh, mm, ss := num(m[2]), num(m[3]), num(m[4]), num(m[5])
	if len(m[2]) > 6 || days >= maxSpanDays {
		return 0, fmt.Errorf("TimeSpan %q out of range", s)
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return 0, fmt.Errorf("%q is not a TimeSpan: hours 0-23, minutes and seconds 0-59", s)
	}
	frac := m[6]
	var ticks int64
	if frac != "" {
		ticks = num(frac + strings.Repeat("0", 7-len(frac)))
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute +
		time.Duration(ss)*time.Second + time.Duration(ticks)*100*time.Nanosecond
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

var percentEnvRe = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// expandPercentEnv expands %NAME% from the environment, as the host does for
// the custom handler's path, arguments and working directory.
func expandPercentEnv(s string) string {
	return percentEnvRe.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := os.LookupEnv(m[1 : len(m)-1]); ok {
			return v
		}
		return m
	})
}

var bindingNameRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*|\$return)$`)

// parseFunctionJSON parses one function.json of function name.
func parseFunctionJSON(name, file string, raw []byte) (*function, error) {
	o, err := parseObject(file, "", stripJSONComments(raw))
	if err != nil {
		return nil, err
	}
	f := &function{Name: name, File: file}
	if d, ok, err := o.boolean("disabled"); err != nil {
		return nil, err
	} else if ok {
		f.Disabled = d
	}
	if v, ok := o.raw("scriptFile"); ok {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, cfgErr(file, "scriptFile", "must be a string")
		}
	}
	if o.has("retry") {
		return nil, cfgErr(file, "retry", "function retry policies are not supported by funchost")
	}
	for _, k := range []string{"excluded", "entryPoint", "configurationSource", "generatedBy"} {
		o.raw(k) // harmless metadata written by tooling
	}
	v, ok := o.raw("bindings")
	if !ok {
		return nil, cfgErr(file, "bindings", "missing")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, cfgErr(file, "bindings", "must be an array of binding objects")
	}
	names := map[string]bool{}
	for i, r := range raws {
		b, err := parseBinding(file, i, r)
		if err != nil {
			return nil, err
		}
		ln := strings.ToLower(b.Name)
		if names[ln] {
			return nil, cfgErr(file, fmt.Sprintf("bindings[%d].name", i), "%q is used twice (names are case-insensitive)", b.Name)
		}
		names[ln] = true
		f.Bindings = append(f.Bindings, b)
		switch {
		case b.isTrigger():
			if f.Trigger != nil {
				return nil, cfgErr(file, fmt.Sprintf("bindings[%d].type", i), "a second trigger (%s); a function has exactly one", b.Type)
			}
			f.Trigger = b
		case b.Direction == "out":
			f.Outputs = append(f.Outputs, b)
		default:
			f.Inputs = append(f.Inputs, b)
		}
	}
	if f.Trigger == nil {
		return nil, cfgErr(file, "bindings", "no trigger binding; a function needs exactly one")
	}
	for _, b := range f.Bindings {
		if b.Type == typeHTTP && f.Trigger.Type != typeHTTPTrigger {
			return nil, cfgErr(file, fmt.Sprintf("bindings[%d]", b.Index), "an http output needs an httpTrigger")
		}
	}
	for _, k := range o.unknown() {
		return nil, cfgErr(file, k, "unknown function.json setting")
	}
	return f, nil
}

func parseBinding(file string, i int, raw json.RawMessage) (*binding, error) {
	path := fmt.Sprintf("bindings[%d]", i)
	o, err := parseObject(file, path, raw)
	if err != nil {
		return nil, err
	}
	b := &binding{Index: i}
	need := func(key string) (string, error) {
		s, ok, err := o.str(key)
		if err != nil {
			return "", err
		}
		if !ok || strings.TrimSpace(s) == "" {
			return "", cfgErr(file, o.field(key), "missing")
		}
		return s, nil
	}
	t, err := need("type")
	if err != nil {
		return nil, err
	}
	b.Type = strings.ToLower(t)
	switch b.Type {
	case typeHTTPTrigger, typeHTTP, typeQueueTrigger, typeQueue, typeBlobTrigger, typeBlob:
	default:
		return nil, cfgErr(file, o.field("type"), "binding type %q is not supported by funchost (httpTrigger, http, queueTrigger, queue, blobTrigger, blob)", t)
	}
	if b.Name, err = need("name"); err != nil {
		return nil, err
	}
	if !bindingNameRe.MatchString(b.Name) {
		return nil, cfgErr(file, o.field("name"), "%q is not a valid binding name", b.Name)
	}
	dir, ok, err := o.str("direction")
	if err != nil {
		return nil, err
	}
	b.Direction = strings.ToLower(dir)
	if !ok {
		if b.Type == typeHTTPTrigger || b.Type == typeQueueTrigger || b.Type == typeBlobTrigger {
			b.Direction = "in"
		} else {
			return nil, cfgErr(file, o.field("direction"), "missing")
		}
	}
	if b.Direction != "in" && b.Direction != "out" && b.Direction != "inout" {
		return nil, cfgErr(file, o.field("direction"), "must be \"in\" or \"out\", got %q", dir)
	}
	if dt, ok, err := o.str("dataType"); err != nil {
		return nil, err
	} else if ok {
		b.DataType = strings.ToLower(dt)
		switch b.DataType {
		case "binary":
			b.Binary = true
		case "string", "":
		case "stream":
			return nil, cfgErr(file, o.field("dataType"), "\"stream\" is not supported for custom handlers")
		default:
			return nil, cfgErr(file, o.field("dataType"), "must be \"string\" or \"binary\", got %q", dt)
		}
	}
	if c, _, err := o.str("connection"); err != nil {
		return nil, err
	} else {
		b.Connection = c
	}
	wantDir := func(d string) error {
		if b.Direction != d {
			return cfgErr(file, o.field("direction"), "a %s binding must have direction %q, got %q", t, d, b.Direction)
		}
		return nil
	}
	if b.Name == "$return" && b.Direction != "out" {
		return nil, cfgErr(file, o.field("name"), "$return must be an output binding")
	}
	switch b.Type {
	case typeHTTPTrigger:
		if err := wantDir("in"); err != nil {
			return nil, err
		}
		if ms, _, err := o.strList("methods"); err != nil {
			return nil, err
		} else if ms != nil {
			for _, m := range ms {
				m = strings.ToUpper(strings.TrimSpace(m))
				if m == "" {
					return nil, cfgErr(file, o.field("methods"), "empty method name")
				}
				b.Methods = append(b.Methods, m)
			}
		}
		al, _, err := o.str("authLevel")
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(al) {
		case "", "anonymous", "function", "admin", "system", "user":
			b.AuthLevel = strings.ToLower(al)
		default:
			return nil, cfgErr(file, o.field("authLevel"), "must be anonymous, function or admin, got %q", al)
		}
		if r, ok, err := o.str("route"); err != nil {
			return nil, err
		} else if ok {
			b.RouteText = r
		}
		o.raw("webHookType")
	case typeHTTP:
		if err := wantDir("out"); err != nil {
			return nil, err
		}
	case typeQueueTrigger, typeQueue:
		if b.Type == typeQueueTrigger {
			if err := wantDir("in"); err != nil {
				return nil, err
			}
		} else if err := wantDir("out"); err != nil {
			return nil, err
		}
		q, err := need("queueName")
		if err != nil {
			return nil, err
		}
		switch {
		case strings.Contains(q, "{") && b.Type == typeQueueTrigger:
			return nil, cfgErr(file, o.field("queueName"), "a trigger's queueName cannot hold binding expressions, got %q", q)
		case !strings.ContainsAny(q, "{%"):
			if err := validQueueName(q); err != nil {
				return nil, cfgErr(file, o.field("queueName"), "%v", err)
			}
		}
		b.QueueName = q
	case typeBlobTrigger, typeBlob:
		if b.Type == typeBlobTrigger {
			if err := wantDir("in"); err != nil {
				return nil, err
			}
		} else if b.Direction == "inout" {
			return nil, cfgErr(file, o.field("direction"), "inout blob bindings are not supported by funchost")
		}
		p, err := need("path")
		if err != nil {
			return nil, err
		}
		b.Path = p
		bp, err := parseBlobPattern(p)
		if err != nil {
			return nil, cfgErr(file, o.field("path"), "%v", err)
		}
		b.blobPath = bp
		if b.Type == typeBlobTrigger {
			src, _, err := o.str("source")
			if err != nil {
				return nil, err
			}
			switch strings.ToLower(src) {
			case "", "logsandcontainerscan":
				b.Source = "logsandcontainerscan"
			case "eventgrid":
				b.Source = "eventgrid"
			default:
				return nil, cfgErr(file, o.field("source"), "must be \"LogsAndContainerScan\" or \"EventGrid\", got %q", src)
			}
			if !bp.triggerable() {
				return nil, cfgErr(file, o.field("path"), "a blobTrigger path must be \"container/...\" with a fixed container name and at most {parameters} in the blob name, got %q", p)
			}
		}
	default:
		return nil, cfgErr(file, o.field("type"), "binding type %q is not supported by funchost (httpTrigger, http, queueTrigger, queue, blobTrigger, blob)", t)
	}
	for _, k := range o.unknown() {
		return nil, cfgErr(file, o.field(k), "unknown or unsupported setting for a %s binding", t)
	}
	return b, nil
}

// validQueueName applies Azure's queue naming rules.
func validQueueName(q string) error {
	if len(q) < 3 || len(q) > 63 {
		return fmt.Errorf("queue name %q must be 3-63 characters", q)
	}
	for i, c := range q {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(q)-1 && q[i-1] != '-':
		default:
			return fmt.Errorf("queue name %q: only lower-case letters, digits and single inner hyphens are allowed", q)
		}
	}
	return nil
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

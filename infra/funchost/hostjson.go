package funchost

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

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

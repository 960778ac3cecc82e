package funchost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodHost = `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "handler"}}}`

func TestParseHostJSONDefaults(t *testing.T) {
	hc, err := parseHostJSON("host.json", []byte(goodHost), "/app", 2)
	require.NoError(t, err)
	assert.Equal(t, queueOptions{BatchSize: 16, NewBatchThreshold: 16, MaxPollingInterval: time.Minute, MaxDequeueCount: 5, Base64: true}, hc.Queues)
	assert.Equal(t, blobOptions{MaxDegreeOfParallelism: 16, PoisonBlobThreshold: 5}, hc.Blobs)
	assert.Equal(t, "api", hc.RoutePrefix)
	assert.Equal(t, 30*time.Minute, hc.FunctionTimeout)
	assert.Equal(t, "handler", hc.Handler.ExecutablePath, "not in the app folder: left to the PATH lookup")
	assert.Equal(t, "/app", hc.Handler.WorkingDirectory)
	assert.False(t, hc.Handler.Forwarding)
}

func TestParseHostJSONSettings(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "handler"), []byte("#!/bin/sh\n"), 0o755))
	t.Setenv("FUNCHOST_TEST_ARG", "expanded")
	raw := `{
	  // comments are allowed, as in the real host
	  "Version": "2.0",
	  "functionTimeout": "00:10:30",
	  "customHandler": {
	    "description": {"defaultExecutablePath": "handler", "arguments": ["--x", "%FUNCHOST_TEST_ARG%"], "workingDirectory": "sub"},
	    "enableForwardingHttpRequest": true
	  },
	  "extensions": {
	    "http": {"routePrefix": "/v1/"},
	    "queues": {"batchSize": 8, "maxPollingInterval": "00:00:02", "visibilityTimeout": "00:00:30",
	               "maxDequeueCount": 7, "messageEncoding": "none"},
	    "blobs": {"maxDegreeOfParallelism": 3, "poisonBlobThreshold": 2}
	  },
	  "functions": ["A", "B"]
	}`
	hc, err := parseHostJSON("host.json", []byte(raw), dir, 4)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute+30*time.Second, hc.FunctionTimeout)
	assert.Equal(t, filepath.Join(dir, "handler"), hc.Handler.ExecutablePath)
	assert.Equal(t, []string{"--x", "expanded"}, hc.Handler.Arguments)
	assert.Equal(t, filepath.Join(dir, "sub"), hc.Handler.WorkingDirectory)
	assert.True(t, hc.Handler.Forwarding)
	assert.Equal(t, "v1", hc.RoutePrefix)
	assert.Equal(t, queueOptions{BatchSize: 8, NewBatchThreshold: 16, MaxPollingInterval: 2 * time.Second,
		VisibilityTimeout: 30 * time.Second, MaxDequeueCount: 7, Base64: false}, hc.Queues, "newBatchThreshold = batchSize/2 × processors")
	assert.Equal(t, blobOptions{MaxDegreeOfParallelism: 3, PoisonBlobThreshold: 2}, hc.Blobs)
	assert.Equal(t, []string{"A", "B"}, hc.Functions)

	hc, err = parseHostJSON("host.json", []byte(`{"version":"2.0","functionTimeout":"-1","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"http":{"routePrefix":""}}}`), dir, 1)
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), hc.FunctionTimeout, "-1 is unbounded")
	assert.Equal(t, "", hc.RoutePrefix)
}

func TestParseHostJSONErrors(t *testing.T) {
	ch := `"customHandler": {"description": {"defaultExecutablePath": "h"}}`
	for _, c := range []struct {
		name, json, field, msg string
	}{
		{"not json", `{"version": `, "", "not a JSON object"},
		{"no version", `{` + ch + `}`, "version", "missing"},
		{"version 1", `{"version": "1.0", ` + ch + `}`, "version", `"1.0"`},
		{"no custom handler", `{"version": "2.0"}`, "customHandler", "missing"},
		{"no description", `{"version": "2.0", "customHandler": {}}`, "customHandler.description", "missing"},
		{"empty executable", `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": ""}}}`, "customHandler.description.defaultExecutablePath", "must name"},
		{"arguments not strings", `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "h", "arguments": [1]}}}`, "customHandler.description.arguments", "array of strings"},
		{"unknown top-level", `{"version": "2.0", ` + ch + `, "bogus": 1}`, "bogus", "unknown"},
		{"bad timeout", `{"version": "2.0", ` + ch + `, "functionTimeout": "5 minutes"}`, "functionTimeout", "not a TimeSpan"},
		{"timeout too small", `{"version": "2.0", ` + ch + `, "functionTimeout": "00:00:00"}`, "functionTimeout", "minimum"},
		{"timeout number", `{"version": "2.0", ` + ch + `, "functionTimeout": 300}`, "functionTimeout", "TimeSpan string"},
		{"batch too big", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"batchSize": 33}}}`, "extensions.queues.batchSize", "1..32"},
		{"batch not int", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"batchSize": "many"}}}`, "extensions.queues.batchSize", "integer"},
		{"negative threshold", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"newBatchThreshold": -1}}}`, "extensions.queues.newBatchThreshold", "negative"},
		{"dequeue zero", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"maxDequeueCount": 0}}}`, "extensions.queues.maxDequeueCount", "at least 1"},
		{"polling too fast", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"maxPollingInterval": "00:00:00.050"}}}`, "extensions.queues.maxPollingInterval", "less than"},
		{"polling not timespan", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"maxPollingInterval": 2000}}}`, "extensions.queues.maxPollingInterval", "TimeSpan"},
		{"encoding", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"messageEncoding": "utf8"}}}`, "extensions.queues.messageEncoding", "base64"},
		{"unknown queue setting", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"batchsize": 2, "bacthSize": 3}}}`, "extensions.queues.bacthSize", "unknown"},
		{"duplicate key", `{"version": "2.0", ` + ch + `, "extensions": {"queues": {"batchSize": 2, "BatchSize": 3}}}`, "extensions.queues.", "twice"},
		{"blob parallelism", `{"version": "2.0", ` + ch + `, "extensions": {"blobs": {"maxDegreeOfParallelism": 0}}}`, "extensions.blobs.maxDegreeOfParallelism", "at least 1"},
		{"dynamic concurrency", `{"version": "2.0", ` + ch + `, "concurrency": {"dynamicConcurrencyEnabled": true}}`, "concurrency.dynamicConcurrencyEnabled", "not supported"},
		{"retry", `{"version": "2.0", ` + ch + `, "retry": {"strategy": "fixedDelay"}}`, "retry", "not supported"},
		{"proxying", `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "h"}, "enableProxyingHttpRequest": true}}`, "customHandler.enableProxyingHttpRequest", "not supported"},
		{"forwarding not bool", `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "h"}, "enableForwardingHttpRequest": "yes"}}`, "customHandler.enableForwardingHttpRequest", "true or false"},
		{"worker path", `{"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "h", "defaultWorkerPath": "w"}}}`, "customHandler.description.defaultWorkerPath", "not supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseHostJSON("/app/host.json", []byte(c.json), "/app", 1)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrConfig), "wraps ErrConfig: %v", err)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "/app/host.json", ce.File)
			assert.True(t, strings.HasPrefix(ce.Field, c.field), "field %q, want prefix %q", ce.Field, c.field)
			assert.Contains(t, err.Error(), c.msg)
			assert.Contains(t, err.Error(), "/app/host.json")
		})
	}
}

func TestParseFunctionJSON(t *testing.T) {
	f, err := parseFunctionJSON("Work", "f.json", []byte(`{
	  "scriptFile": "",
	  "bindings": [
	    {"Type": "QueueTrigger", "name": "msg", "queueName": "work", "connection": "Store", "dataType": "binary"},
	    {"type": "queue", "direction": "out", "name": "out", "queueName": "next-{id}"},
	    {"type": "blob", "direction": "out", "name": "b", "path": "con1/{rand-guid}.txt"},
	    {"type": "blob", "direction": "in", "name": "ref", "path": "con1/{queueTrigger}"}
	  ]}`))
	require.NoError(t, err)
	assert.Equal(t, "queuetrigger", f.Trigger.Type)
	assert.Equal(t, "in", f.Trigger.Direction)
	assert.True(t, f.Trigger.Binary)
	assert.Equal(t, "Store", f.Trigger.Connection)
	require.Len(t, f.Outputs, 2)
	require.Len(t, f.Inputs, 1)
	assert.Equal(t, "ref", f.Inputs[0].Name)
	assert.False(t, f.isHTTPInAndOut())

	f, err = parseFunctionJSON("H", "f.json", []byte(`{"bindings": [
	    {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get", "Post"], "authLevel": "function", "route": "jobs/{id}"},
	    {"type": "http", "direction": "out", "name": "res"}]}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"GET", "POST"}, f.Trigger.Methods)
	assert.True(t, f.isHTTPInAndOut())

	f, err = parseFunctionJSON("B", "f.json", []byte(`{"disabled": true, "bindings": [
	    {"type": "blobTrigger", "name": "b", "path": "input/data-{name}.csv", "source": "EventGrid"}]}`))
	require.NoError(t, err)
	assert.True(t, f.Disabled)
	assert.Equal(t, "eventgrid", f.Trigger.Source)
	assert.Equal(t, "data-", f.Trigger.blobPath.prefix())
	vals, ok := f.Trigger.blobPath.matchBlob("data-2026.csv")
	require.True(t, ok)
	assert.Equal(t, []string{"2026"}, vals)
	_, ok = f.Trigger.blobPath.matchBlob("data-2026.txt")
	assert.False(t, ok)
}

func TestParseFunctionJSONErrors(t *testing.T) {
	for _, c := range []struct {
		name, json, field, msg string
	}{
		{"no bindings", `{}`, "bindings", "missing"},
		{"bindings not array", `{"bindings": {}}`, "bindings", "array"},
		{"no trigger", `{"bindings": [{"type": "queue", "direction": "out", "name": "o", "queueName": "q1q"}]}`, "bindings", "no trigger"},
		{"two triggers", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}, {"type": "blobTrigger", "name": "b", "path": "c1c/{name}"}]}`, "bindings[1].type", "second trigger"},
		{"queue trigger out", `{"bindings": [{"type": "queueTrigger", "direction": "out", "name": "a", "queueName": "qqq"}]}`, "bindings[0].direction", `"in"`},
		{"queue output in", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}, {"type": "queue", "direction": "in", "name": "o", "queueName": "qqq"}]}`, "bindings[1].direction", `"out"`},
		{"blob trigger without path", `{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b"}]}`, "bindings[0].path", "missing"},
		{"blob trigger path expression container", `{"bindings": [{"type": "blobTrigger", "name": "b", "path": "{c}/{name}"}]}`, "bindings[0].path", "fixed container"},
		{"blob path without container", `{"bindings": [{"type": "blobTrigger", "name": "b", "path": "justname"}]}`, "bindings[0].path", "container/blob"},
		{"bad container name", `{"bindings": [{"type": "blobTrigger", "name": "b", "path": "Bad_Name/{name}"}]}`, "bindings[0].path", "container name"},
		{"queue name", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "Work_Items"}]}`, "bindings[0].queueName", "queue name"},
		{"queue trigger expression", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "q-{x}"}]}`, "bindings[0].queueName", "binding expressions"},
		{"no queue name", `{"bindings": [{"type": "queueTrigger", "name": "a"}]}`, "bindings[0].queueName", "missing"},
		{"unsupported type", `{"bindings": [{"type": "serviceBusTrigger", "name": "t", "queueName": "q"}]}`, "bindings[0].type", "not supported"},
		{"no name", `{"bindings": [{"type": "queueTrigger", "queueName": "qqq"}]}`, "bindings[0].name", "missing"},
		{"bad name", `{"bindings": [{"type": "queueTrigger", "name": "my-msg", "queueName": "qqq"}]}`, "bindings[0].name", "not a valid"},
		{"duplicate names", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}, {"type": "queue", "direction": "out", "name": "A", "queueName": "qqq"}]}`, "bindings[1].name", "twice"},
		{"data type", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq", "dataType": "stream"}]}`, "bindings[0].dataType", "stream"},
		{"auth level", `{"bindings": [{"type": "httpTrigger", "name": "r", "authLevel": "public"}]}`, "bindings[0].authLevel", "anonymous"},
		{"bad route", `{"bindings": [{"type": "httpTrigger", "name": "r", "route": "a/{x"}]}`, "", ""},
		{"http out without http trigger", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}, {"type": "http", "direction": "out", "name": "res"}]}`, "bindings[1]", "httpTrigger"},
		{"unknown binding setting", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq", "queuename2": "x"}]}`, "bindings[0].queuename2", "unknown"},
		{"unknown function setting", `{"bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}], "timeout": 5}`, "timeout", "unknown"},
		{"retry", `{"retry": {}, "bindings": [{"type": "queueTrigger", "name": "a", "queueName": "qqq"}]}`, "retry", "not supported"},
		{"return as input", `{"bindings": [{"type": "queueTrigger", "name": "$return", "queueName": "qqq"}]}`, "bindings[0].name", "$return"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseFunctionJSON("F", "/app/F/function.json", []byte(c.json))
			if err == nil && c.name == "bad route" {
				// Routes are parsed when the app is loaded.
				err = checkRoutes(&app{Functions: []*function{f}})
				c.field, c.msg = "bindings[0].route", "unbalanced"
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "/app/F/function.json", ce.File)
			assert.True(t, strings.HasPrefix(ce.Field, c.field), "field %q, want prefix %q", ce.Field, c.field)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestLoadApp(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	write("host.json", goodHost)
	write("B/function.json", `{"bindings": [{"type": "httpTrigger", "name": "req", "route": "items/{id}"}, {"type": "http", "direction": "out", "name": "res"}]}`)
	write("A/function.json", `{"bindings": [{"type": "httpTrigger", "name": "req"}]}`)
	write("notafunction/readme.txt", "x")
	a, err := loadApp(dir, 1)
	require.NoError(t, err)
	require.Len(t, a.Functions, 2)
	assert.Equal(t, "A", a.Functions[0].Name)
	assert.Equal(t, "A", a.Functions[0].Trigger.Route.Text, "the route defaults to the function name")

	write("C/function.json", `{"bindings": [{"type": "httpTrigger", "name": "req", "route": "items/{key}"}]}`)
	_, err = loadApp(dir, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "also the route of function B")
	assert.Contains(t, err.Error(), filepath.Join(dir, "C", "function.json"))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "C")))

	write("host.json", `{"version": "2.0", "functions": ["A", "Z"], "customHandler": {"description": {"defaultExecutablePath": "h"}}}`)
	_, err = loadApp(dir, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"Z"`)

	write("host.json", `{"version": "2.0", "functions": ["A"], "customHandler": {"description": {"defaultExecutablePath": "h"}}}`)
	a, err = loadApp(dir, 1)
	require.NoError(t, err)
	require.Len(t, a.Functions, 1, "host.json functions limits what is loaded")

	_, err = loadApp(filepath.Join(dir, "missing"), 1)
	assert.ErrorIs(t, err, ErrConfig)
}

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "local.settings.json"), []byte(`{
	  "IsEncrypted": false,
	  "Values": {"FUNCTIONS_WORKER_RUNTIME": "custom", "A": "from file", "B": "from file", "N": 3}
	}`), 0o644))
	s, err := loadSettings(dir, map[string]string{"B": "explicit"})
	require.NoError(t, err)
	assert.Equal(t, "from file", s["A"])
	assert.Equal(t, "explicit", s["B"], "Config.Settings win over local.settings.json")
	assert.Equal(t, "3", s["N"])

	_, err = loadSettings(dir, map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"})
	assert.ErrorIs(t, err, ErrConfig)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "local.settings.json"), []byte(`{"Values": [1]}`), 0o644))
	_, err = loadSettings(dir, nil)
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "local.settings.json")

	a := &app{Functions: []*function{{Name: "F", File: "f.json", Bindings: []*binding{{Type: typeQueueTrigger, QueueName: "%Q%"}}}}}
	err = resolveSettingRefs(a, map[string]string{})
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), `app setting "Q"`)
	require.NoError(t, resolveSettingRefs(a, map[string]string{"Q": "jobs"}))
	assert.Equal(t, "jobs", a.Functions[0].Bindings[0].QueueName)

	// As the host: names ignore case, an expression may be part of a name,
	// an unpaired '%' and an unset setting are errors naming the problem.
	for _, c := range []struct {
		in, want, err string
	}{
		{in: "%prefix%units", want: "funnel-units"},
		{in: "%PREFIX%units-%Suffix%", want: "funnel-units-x"},
		{in: "%PREFIX%units%", err: "closing"},
		{in: "%PREFIX%%Missing%", err: `app setting "Missing"`},
	} {
		a := &app{Functions: []*function{{Name: "F", File: "f.json", Bindings: []*binding{{Type: typeQueueTrigger, QueueName: c.in}}}}}
		err := resolveSettingRefs(a, map[string]string{"PREFIX": "funnel-", "suffix": "x"})
		if c.err != "" {
			require.ErrorIs(t, err, ErrConfig, c.in)
			assert.Contains(t, err.Error(), c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, a.Functions[0].Bindings[0].QueueName, c.in)
	}
}

func TestParseTimeSpan(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00:02", 2 * time.Second, true},
		{"00:05:00", 5 * time.Minute, true},
		{"1.02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"00:00:00.100", 100 * time.Millisecond, true},
		{"00:00:00.1234567", 123456700 * time.Nanosecond, true},
		{"01:30", 90 * time.Minute, true},
		{"-1", -24 * time.Hour, true},
		{"2", 48 * time.Hour, true},
		{"-00:00:01", -time.Second, true},
		{"24:00:00", 0, false},
		{"00:60:00", 0, false},
		{"5m", 0, false},
		{"", 0, false},
		{"00:00:00.12345678", 0, false},
	} {
		got, err := parseTimeSpan(c.in)
		if !c.ok {
			assert.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
}

func FuzzParseTimeSpan(f *testing.F) {
	for _, s := range []string{"00:00:02", "1.02:03:04.5", "-1", "99", "23:59:59.9999999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTimeSpan(s)
		if err != nil {
			return
		}
		// Whatever parses fits time.Duration without wrapping.
		if d > maxSpanDays*24*time.Hour || d < -maxSpanDays*24*time.Hour || (strings.HasPrefix(strings.TrimSpace(s), "-") != (d < 0) && d != 0) {
			t.Fatalf("%q parsed to %v", s, d)
		}
	})
}

func FuzzParseHostJSON(f *testing.F) {
	f.Add([]byte(goodHost))
	f.Add([]byte(`{"version":"2.0","extensions":{"queues":{"batchSize":1}}}`))
	f.Add([]byte(`{/*c*/"version":"2.0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hc, err := parseHostJSON("host.json", b, "/app", 1)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		if hc.Queues.BatchSize < 1 || hc.Queues.BatchSize > 32 || hc.Queues.MaxDequeueCount < 1 || hc.Queues.MaxPollingInterval < minPollingInterval {
			t.Fatalf("accepted out-of-range queue options %+v", hc.Queues)
		}
	})
}

package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffSequence(t *testing.T) {
	for _, c := range []struct {
		name string
		r    float64 // rand() result; the factor is 0.8 + 0.4r
		want []time.Duration
	}{
		// minimum + factor × 2^(k-1) × 100 ms, capped at the maximum.
		{"factor 1", 0.5, []time.Duration{100, 200, 300, 500, 900, 1000, 1000}},
		{"factor 0.8", 0, []time.Duration{100, 180, 260, 420, 740, 1000}},
		{"factor 1.2", 1, []time.Duration{100, 220, 340, 580, 1000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBackoff(100*time.Millisecond, time.Second)
			b.rand = func() float64 { return c.r }
			for i, w := range c.want {
				got := b.next(false)
				assert.InDelta(t, float64(w*time.Millisecond), float64(got), float64(time.Microsecond), "step %d", i)
			}
		})
	}
	b := newBackoff(100*time.Millisecond, time.Second)
	b.rand = func() float64 { return 0.5 }
	for i := 0; i < 10; i++ {
		b.next(false)
	}
	assert.Equal(t, time.Second, b.next(false), "stays at the maximum")
	assert.Equal(t, 100*time.Millisecond, b.next(true), "a found message resets to the minimum")
	assert.Equal(t, 200*time.Millisecond, b.next(false), "and the growth restarts")
}

// TestBillingUsesThePackageRules checks that the summary bills through
// package bench/billing: Consumption per execution (50 ms → 100 ms at
// 128 MB; 1 s at 640 MB), Flex per activity period (instance 0's two
// invocations 700 ms apart share one 1 s period; instance 1's 1 s).
func TestBillingUsesThePackageRules(t *testing.T) {
	t0 := time.Unix(1000, 0)
	recs := []Record{
		{Instance: 0, Start: t0, DurationMS: 50},
		{Instance: 0, Start: t0.Add(700 * time.Millisecond), DurationMS: 50},
		{Instance: 1, Start: t0, DurationMS: 1000},
	}
	b := bill(recs, map[string]int64{"0": 100 << 20, "1": 600 << 20}, 512)
	assert.Equal(t, 3, b.Executions)
	assert.InDelta(t, 2*0.1*128/1024+1.0*640/1024, b.ConsumptionGBSeconds, 1e-12)
	assert.InDelta(t, (1+1)*512.0/1024, b.FlexGBSeconds, 1e-9)
	assert.Equal(t, 512, b.FlexMemoryMB)
	assert.Equal(t, 2.0, quantile([]float64{1, 2, 3, 4}, 0.5))
	assert.Equal(t, 4.0, quantile([]float64{1, 2, 3, 4}, 0.95))
}

func TestReadInstanceLimits(t *testing.T) {
	// The project's host.json: batchSize 16, newBatchThreshold 8, blob
	// parallelism at its default of 8 per processor.
	l, err := ReadInstanceLimits(filepath.Join("..", "..", "host.json"), 2)
	require.NoError(t, err)
	assert.Equal(t, InstanceLimits{QueueBatchSize: 16, QueueNewBatchThreshold: 8, BlobMaxDegreeOfParallelism: 16, Processors: 2}, l)
	assert.Equal(t, 24, l.QueueConcurrency())

	dir := t.TempDir()
	bad := filepath.Join(dir, "host.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version": "1.0"}`), 0o644))
	_, err = ReadInstanceLimits(bad, 2)
	require.ErrorIs(t, err, ErrConfig)
	_, err = ReadInstanceLimits(filepath.Join(dir, "none.json"), 2)
	require.ErrorIs(t, err, ErrConfig)
}

func TestQueueOutputMessages(t *testing.T) {
	for _, c := range []struct {
		name   string
		value  string
		binary bool
		want   []string
	}{
		{"plain string", `"done:x"`, false, []string{"done:x"}},
		{"base64 string decoded (the pitfall)", `"aGVsbG8="`, false, []string{"hello"}},
		{"base64-looking word decoded", `"abcd"`, false, []string{"i\xb7\x1d"}},
		{"binary binding keeps the string", `"aGVsbG8="`, true, []string{"aGVsbG8="}},
		{"array: one message each, never decoded", `["aGVsbG8=", "b", 3]`, false, []string{"aGVsbG8=", "b", "3"}},
		{"object: indented JSON", `{"a":1,"b":[true]}`, false, []string{"{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}"}},
		{"string holding an object", `"{\"a\":1}"`, false, []string{"{\n  \"a\": 1\n}"}},
		{"string holding an array", `"[\"x\",\"y\"]"`, false, []string{"x", "y"}},
		{"array of objects", `[{"a":1},{"b":2}]`, false, []string{"{\n  \"a\": 1\n}", "{\n  \"b\": 2\n}"}},
		{"number", `42`, false, []string{"42"}},
		{"boolean", `true`, false, []string{"True"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs, err := queueOutputMessages(json.RawMessage(c.value), c.binary)
			require.NoError(t, err)
			var got []string
			for _, m := range msgs {
				got = append(got, string(m))
			}
			assert.Equal(t, c.want, got)
		})
	}
	_, err := queueOutputMessages(json.RawMessage(`"{not json}"`), false)
	assert.Error(t, err, "a string that looks like JSON must parse, as JToken.Parse demands")
}

func TestBlobOutputBytes(t *testing.T) {
	for _, c := range []struct {
		name   string
		value  string
		binary bool
		want   []byte
	}{
		{"base64 decoded for a non-binary binding", `"AAEC/w=="`, false, []byte{0, 1, 2, 255}},
		{"binary binding writes the text", `"AAEC/w=="`, true, []byte("AAEC/w==")},
		{"text", `"a,b\n1,2"`, false, []byte("a,b\n1,2")},
		{"object compact", `{ "a" : 1 }`, false, []byte(`{"a":1}`)},
		{"int as int32 LE", `258`, false, []byte{2, 1, 0, 0}},
		{"bool", `true`, false, []byte{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := blobOutputBytes(json.RawMessage(c.value), c.binary)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	f, err := blobOutputBytes(json.RawMessage(`1.5`), false)
	require.NoError(t, err)
	assert.Len(t, f, 8)
	assert.Equal(t, 1.5, math.Float64frombits(uint64(f[0])|uint64(f[1])<<8|uint64(f[2])<<16|uint64(f[3])<<24|uint64(f[4])<<32|uint64(f[5])<<40|uint64(f[6])<<48|uint64(f[7])<<56))
}

func TestDecodeBase64DotNet(t *testing.T) {
	b, err := decodeBase64DotNet("aGVs\r\nbG8=")
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	for _, bad := range []string{"hello", "aGVsbG8", "{\"a\":1}", "a=b="} {
		_, err := decodeBase64DotNet(bad)
		assert.Error(t, err, bad)
	}
	b, err = decodeBase64DotNet("")
	require.NoError(t, err)
	assert.Empty(t, b)
}

func TestMetadataJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456700, time.UTC)
	bd := newBindingData("Work", now)
	bd.sys.RandGuid = "00000000-0000-0000-0000-000000000001"
	bd.set("QueueTrigger", "hello")
	bd.set("DequeueCount", int64(3))
	bd.set("ExpirationTime", now.Add(time.Hour))
	bd.set("Id", "abc")
	bd.set("Properties", json.RawMessage(`{"X":1}`))
	bd.set("Query", stringMap{{"a", "1"}})
	bd.applyJSON(`{"id": "fromjson", "n": 5, "ok": true, "arr": [1], "nil": null, "obj": {"k": "v"}}`)
	got := string(bd.metadataJSON())
	want := `{"DequeueCount":"3","ExpirationTime":"2026-01-02T04:04:05+00:00","Id":"\"fromjson\"","Properties":{"X":1},"Query":{"a":"1"},"n":"\"5\"","ok":"\"True\"","obj":{"k": "v"},` +
		`"sys":{"MethodName":"Work","UtcNow":"2026-01-02T03:04:05.1234567Z","RandGuid":"00000000-0000-0000-0000-000000000001"}}`
	assert.Equal(t, want, got)
	assert.True(t, json.Valid([]byte(got)))

	v, ok := bd.expr("obj.k", "")
	assert.True(t, ok)
	assert.Equal(t, "v", v)
	v, ok = bd.expr("ID", "")
	assert.True(t, ok)
	assert.Equal(t, "fromjson", v)
	v, ok = bd.expr("DateTime", "")
	assert.True(t, ok)
	assert.Equal(t, "2026-01-02T03-04-05Z", v)
	v, ok = bd.expr("DateTime", "yyyy/MM/dd")
	assert.True(t, ok)
	assert.Equal(t, "2026/01/02", v)
	_, ok = bd.expr("missing", "")
	assert.False(t, ok)
	v, ok = bd.expr("rand-guid", "")
	assert.True(t, ok)
	assert.Len(t, v, 36)
}

func TestNewtonsoftStrings(t *testing.T) {
	var b bytes.Buffer
	writeJSONString(&b, "a\"b\\c\n\t\b\f\x01<&>é\u2028\xff")
	assert.Equal(t, `"a\"b\\c\n\t\b\f\u0001<&>é`+"\u2028\uFFFD"+`"`, b.String())
	assert.Equal(t, `"hello"`, serializeObject("hello"))
	assert.Equal(t, `"\"hello\""`, string(jsonStringValue("hello")))
	assert.Equal(t, `"AAE="`, string(jsonBytesValue([]byte{0, 1})))
	assert.Equal(t, "2026-01-02T03:04:05Z", newtonsoftDate(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	assert.Equal(t, "2026-01-02T03:04:05.5Z", newtonsoftDate(time.Date(2026, 1, 2, 3, 4, 5, 500000000, time.UTC)))
}

func TestTemplatesAndBlobPatterns(t *testing.T) {
	bd := newBindingData("F", time.Now())
	bd.set("name", "data/file.csv")
	bp, err := parseBlobPattern("out/{name}-{sys.methodname}.json")
	require.NoError(t, err)
	c, n, err := bp.expand(bd)
	require.NoError(t, err)
	assert.Equal(t, "out", c)
	assert.Equal(t, "data/file.csv-F.json", n)
	bp, err = parseBlobPattern("out/{nope}")
	require.NoError(t, err)
	_, _, err = bp.expand(bd)
	assert.ErrorIs(t, err, errNoBindingValue)
	for _, bad := range []string{"nocontainer", "/x", "c/{", "c/}", "c/{a b}"} {
		_, err := parseBlobPattern(bad)
		assert.Error(t, err, bad)
	}
	bp, err = parseBlobPattern("container/{name}.{ext}")
	require.NoError(t, err)
	require.True(t, bp.triggerable())
	vals, ok := bp.matchBlob("a/b.c.txt")
	require.True(t, ok)
	assert.Equal(t, []string{"a/b.c", "txt"}, vals, "parameters match greedily, across slashes")
	bp, err = parseBlobPattern("container/{DateTime}")
	require.NoError(t, err)
	assert.True(t, bp.triggerable(), "any parameter name can capture")
	bp, err = parseBlobPattern("container/{name:x}")
	require.NoError(t, err)
	assert.False(t, bp.triggerable())
}

func TestPoisonAndHostNames(t *testing.T) {
	assert.Equal(t, "jobs-poison", poisonQueueName("jobs"))
	assert.Equal(t, "", poisonQueueName("jobs-poison"), "no poison queue for a poison queue")
	assert.Equal(t, "", poisonQueueName(strings.Repeat("q", 60)), "nor when the name would be too long")
	assert.Equal(t, "partition", hostID("Partition", nil))
	assert.Equal(t, "my-app", hostID("My_App!", nil))
	assert.Equal(t, "explicit", hostID("x", map[string]string{"AzureFunctionsWebHost__hostid": "Explicit"}))
	assert.Len(t, hostID(strings.Repeat("a", 50), nil), 32)
	assert.Equal(t, "azure-webjobs-blobtrigger-abc", blobTriggerQueueName("abc"))
	assert.Equal(t, `"0x1"`, quoteETag("0x1"))
	assert.Equal(t, `"0x1"`, quoteETag(`"0x1"`))
	assert.Equal(t, "http://h/acct/c/a/b%20c.txt", blobURI("http://h/acct/", "c", "a/b c.txt"))
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"Type":"BlobTrigger"}`))
	got, err := decodeBase64DotNet(b64)
	require.NoError(t, err)
	assert.Equal(t, `{"Type":"BlobTrigger"}`, string(got))
}

func TestHTTPOutputs(t *testing.T) {
	fn := &function{Outputs: []*binding{{Type: typeHTTP, Name: "res", Direction: "out"}}}
	for _, c := range []struct {
		name    string
		outputs string
		status  int
		body    string
		ctype   string
		fail    bool
	}{
		{"object body", `{"res": {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-A": 1}, "body": "{\"a\":1}"}}`, 201, `{"a":1}`, "application/json", false},
		{"status as string", `{"res": {"statusCode": "404", "body": "missing"}}`, 404, "missing", "", false},
		{"status key", `{"res": {"status": 202, "body": null}}`, 202, "", "", false},
		{"json body object is indented", `{"res": {"body": {"a": 1}}}`, 200, "{\n  \"a\": 1\n}", "", false},
		{"string holding the object", `{"res": "{\"statusCode\": 409, \"body\": \"dup\"}"}`, 409, "dup", "", false},
		{"missing output", `{"other": 1}`, 200, "{}", "", false},
		{"plain string fails", `{"res": "hello"}`, 0, "", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res invocationResult
			require.NoError(t, json.Unmarshal([]byte(`{"Outputs": `+c.outputs+`}`), &res))
			a, err := httpOutput(fn, &res)
			if c.fail {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.status, a.status)
			assert.Equal(t, c.body, string(a.body))
			assert.Equal(t, c.ctype, a.ctype)
		})
	}
	ret := &function{Outputs: []*binding{{Type: typeHTTP, Name: "$return", Direction: "out"}}}
	var res invocationResult
	require.NoError(t, json.Unmarshal([]byte(`{"ReturnValue": {"statusCode": 418, "body": "teapot"}}`), &res))
	a, err := httpOutput(ret, &res)
	require.NoError(t, err)
	assert.Equal(t, 418, a.status)
	assert.Equal(t, "teapot", string(a.body))
	require.NoError(t, json.Unmarshal([]byte(`{"ReturnValue": "just text"}`), &res))
	a, err = httpOutput(ret, &res)
	require.NoError(t, err)
	assert.Equal(t, 200, a.status)
	assert.Equal(t, "just text", string(a.body))
}

func TestParseResult(t *testing.T) {
	r, err := parseResult([]byte(`{"outputs": {"a": "x"}, "logs": ["l1"], "returnValue": 5}`))
	require.NoError(t, err)
	assert.Equal(t, `"x"`, string(r.Outputs["a"]), "property names match case-insensitively")
	assert.Equal(t, []string{"l1"}, r.Logs)
	assert.Equal(t, "5", string(r.ReturnValue))
	_, err = parseResult([]byte(``))
	assert.Error(t, err)
	_, err = parseResult([]byte(`not json`))
	assert.Error(t, err)
	assert.Equal(t, OutcomeTimeout, outcomeOf(errTimeout))
	assert.Equal(t, OutcomeFailure, outcomeOf(errHandlerStatus))
	assert.Equal(t, OutcomeSuccess, outcomeOf(nil))
}

// The host's storage clients wait about as long as the real host's
// (Azure.Core's defaults: 0.8, 1.6 and 3.2 s) before a request fails, by
// the Go SDK's schedule ((2^n-1) × RetryDelay, capped), jitter aside.
func TestHostStorageRetriesLikeTheRealHost(t *testing.T) {
	o := hostStorageOptions(nil)
	var total time.Duration
	for n := 1; n <= o.MaxRetries; n++ {
		total += min(time.Duration(1<<n-1)*o.RetryDelay, o.MaxRetryDelay)
	}
	const real = 5600 * time.Millisecond
	if o.MaxRetries != 3 || total < real || total > real*5/4 {
		t.Fatalf("%d retries waiting %v; the real host makes 3 waiting %v", o.MaxRetries, total, real)
	}
}

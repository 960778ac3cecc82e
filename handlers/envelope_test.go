package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
)

// hostString encodes s as the real host puts a string input in Data:
// JsonConvert.SerializeObject(s), then serialised again as a JSON value.
func hostString(s string) json.RawMessage {
	once, _ := json.Marshal(s)
	twice, _ := json.Marshal(string(once))
	return twice
}

func TestQueueMessage(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    string
		wantErr error
	}{
		{"host quoting, text", string(hostString("hello world")), "hello world", nil},
		{"host quoting, JSON message", string(hostString(`{"job":"j","unit":1}`)), `{"job":"j","unit":1}`, nil},
		{"host quoting, empty message", string(hostString("")), "", nil},
		{"host quoting, message is a quoted word", string(hostString(`"quoted"`)), `"quoted"`, nil},
		{"host quoting, unicode and escapes", string(hostString("naïve \u2028 <tab>\t")), "naïve \u2028 <tab>\t", nil},
		{"quoted once (docs example)", `"{ message: \"Hello, world!\" }"`, `{ message: "Hello, world!" }`, nil},
		{"quoted once, plain text", `"hello"`, "hello", nil},
		{"object", `{"job":"j"}`, `{"job":"j"}`, nil},
		{"number", `42`, `42`, nil},
		{"null", `null`, "", handlers.ErrMissing},
		{"not JSON", `{"job"`, "", handlers.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &handlers.Invocation{Data: map[string]json.RawMessage{"msg": json.RawMessage(tt.raw)}}
			got, err := inv.QueueMessage("msg")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := (&handlers.Invocation{}).QueueMessage("msg")
	require.ErrorIs(t, err, handlers.ErrMissing)
}

func TestBlob(t *testing.T) {
	bin := []byte{0, 1, 2, 0xff, '\n', '|'}
	tests := []struct {
		name    string
		raw     string
		want    []byte
		wantErr error
	}{
		{"binary as base64", `"` + base64.StdEncoding.EncodeToString(bin) + `"`, bin, nil},
		{"empty binary", `""`, []byte{}, nil},
		{"text blob, host quoting", string(hostString("1|a|b|\n")), []byte("1|a|b|\n"), nil},
		{"text blob, quoted once", `"1|a|b|"`, []byte("1|a|b|"), nil},
		{"object", `{"a":1}`, nil, handlers.ErrMalformed},
		{"null", `null`, nil, handlers.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &handlers.Invocation{Data: map[string]json.RawMessage{"blob": json.RawMessage(tt.raw)}}
			got, err := inv.Blob("blob")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMetadata(t *testing.T) {
	inv := &handlers.Invocation{Metadata: map[string]json.RawMessage{
		"DequeueCount":  json.RawMessage(`"3"`),           // host v4: SerializeObject(3)
		"DequeueNumber": json.RawMessage(`3`),             // as in the docs' example
		"Quoted":        json.RawMessage(`"\"7\""`),       // a long put through SerializeObject twice
		"Id":            json.RawMessage(`"\"abc-123\""`), // host v4
		"PlainId":       json.RawMessage(`"abc-123"`),     // docs
		"Time":          json.RawMessage(`"2025-03-14T09:26:51+00:00"`),
		"sys":           json.RawMessage(`{"MethodName":"Work"}`),
		"Null":          json.RawMessage(`null`),
		"Word":          json.RawMessage(`"\"many\""`),
		"Huge":          json.RawMessage(`"99999999999999999999"`),
	}}
	intTests := []struct {
		key     string
		want    int64
		wantErr error
	}{
		{"DequeueCount", 3, nil},
		{"DequeueNumber", 3, nil},
		{"Quoted", 7, nil},
		{"Word", 0, handlers.ErrMalformed},
		{"Huge", 0, handlers.ErrMalformed},
		{"sys", 0, handlers.ErrMalformed},
		{"Null", 0, handlers.ErrMissing},
		{"Absent", 0, handlers.ErrMissing},
	}
	for _, tt := range intTests {
		t.Run("MetaInt "+tt.key, func(t *testing.T) {
			got, err := inv.MetaInt(tt.key)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	strTests := []struct{ key, want string }{
		{"Id", "abc-123"},
		{"PlainId", "abc-123"},
		{"Time", "2025-03-14T09:26:51+00:00"},
		{"sys", `{"MethodName":"Work"}`},
		{"DequeueNumber", "3"},
	}
	for _, tt := range strTests {
		t.Run("MetaString "+tt.key, func(t *testing.T) {
			got, err := inv.MetaString(tt.key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHTTPRequestBody(t *testing.T) {
	bin := []byte{0x89, 'P', 'N', 'G', 0}
	tests := []struct {
		name        string
		contentType string
		body        string // raw JSON of Body; "" for none
		wantText    string
		wantBytes   []byte
	}{
		{"JSON text", "application/json", `"{\"a\":1}"`, `{"a":1}`, []byte(`{"a":1}`)},
		{"plain text", "text/plain", `"hello"`, "hello", []byte("hello")},
		{"JSON value body", "application/json", `{"a":1}`, `{"a":1}`, []byte(`{"a":1}`)},
		{"octet-stream is base64", "application/octet-stream", `"` + base64.StdEncoding.EncodeToString(bin) + `"`,
			base64.StdEncoding.EncodeToString(bin), bin},
		{"no body", "", "", "", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := handlers.HTTPRequest{Method: "POST", Headers: map[string][]string{}, Body: json.RawMessage(tt.body)}
			if tt.contentType != "" {
				req.Headers["Content-Type"] = []string{tt.contentType}
			}
			text, err := req.BodyText()
			require.NoError(t, err)
			assert.Equal(t, tt.wantText, text)
			b, err := req.BodyBytes()
			require.NoError(t, err)
			assert.Equal(t, string(tt.wantBytes), string(b))
		})
	}
}

func TestDecodeBody(t *testing.T) {
	type submit struct {
		Input string `json:"input"`
	}
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
	}{
		{"string body", `"{\"input\":\"x\"}"`, "x", nil},
		{"object body", `{"input":"x"}`, "x", nil},
		{"unknown field", `"{\"input\":\"x\",\"inptu\":1}"`, "", handlers.ErrMalformed},
		{"trailing data", `"{\"input\":\"x\"} {}"`, "", handlers.ErrMalformed},
		{"not JSON", `"input=x"`, "", handlers.ErrMalformed},
		{"empty", ``, "", handlers.ErrMissing},
		{"blank", `"  "`, "", handlers.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := handlers.HTTPRequest{Method: "POST", Body: json.RawMessage(tt.body)}
			var s submit
			err := req.DecodeBody(&s)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Input)
		})
	}
}

func TestHTTPRequestRejectsNonRequests(t *testing.T) {
	for _, raw := range []string{`"text"`, `{"Url":"http://x/"}`, `[1]`} {
		inv := &handlers.Invocation{Data: map[string]json.RawMessage{"req": json.RawMessage(raw)}}
		_, err := inv.HTTPRequest("req")
		require.ErrorIs(t, err, handlers.ErrMalformed, raw)
	}
}

func TestResponseEncoding(t *testing.T) {
	tests := []struct {
		name  string
		build func(r *handlers.Response) error
		want  string
	}{
		{"empty", func(*handlers.Response) error { return nil }, `{"Outputs":{},"Logs":[],"ReturnValue":null}`},
		{"one queue message is a string", func(r *handlers.Response) error {
			r.AddQueue("out", `{"a":1}`)
			return nil
		}, `{"Outputs":{"out":"{\"a\":1}"},"Logs":[],"ReturnValue":null}`},
		{"several are an array, across calls", func(r *handlers.Response) error {
			r.AddQueue("out", "m:1")
			r.AddQueue("out")
			r.AddQueue("out", "m:2", "m:3")
			return nil
		}, `{"Outputs":{"out":["m:1","m:2","m:3"]},"Logs":[],"ReturnValue":null}`},
		{"blob is base64", func(r *handlers.Response) error {
			r.SetBlob("b", []byte("hi\x00"))
			return nil
		}, `{"Outputs":{"b":"aGkA"},"Logs":[],"ReturnValue":null}`},
		{"http text body, default status", func(r *handlers.Response) error {
			return r.SetHTTP("res", handlers.HTTPResponse{Body: "ok", Headers: map[string]string{"content-type": "text/plain"}})
		}, `{"Outputs":{"res":{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"ok"}},"Logs":[],"ReturnValue":null}`},
		{"http JSON body keeps a given content type", func(r *handlers.Response) error {
			return r.SetHTTP("res", handlers.HTTPResponse{StatusCode: 201, Body: []int{1, 2}, Headers: map[string]string{"Content-type": "application/x.funnel+json"}})
		}, `{"Outputs":{"res":{"statusCode":201,"headers":{"Content-type":"application/x.funnel+json"},"body":"[1,2]"}},"Logs":[],"ReturnValue":null}`},
		{"http no body", func(r *handlers.Response) error {
			return r.SetHTTP("res", handlers.HTTPResponse{StatusCode: 204})
		}, `{"Outputs":{"res":{"statusCode":204,"body":""}},"Logs":[],"ReturnValue":null}`},
		{"logs and return value", func(r *handlers.Response) error {
			r.Log("one")
			r.Log("two")
			r.ReturnValue = "v"
			return nil
		}, `{"Outputs":{},"Logs":["one","two"],"ReturnValue":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := handlers.NewResponse()
			require.NoError(t, tt.build(r))
			b, err := json.Marshal(r)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
		})
	}
	err := handlers.NewResponse().SetHTTP("res", handlers.HTTPResponse{Body: make(chan int)})
	require.Error(t, err)
}

// FuzzQueueMessageRoundTrip checks that any message text survives the real
// host's double quoting, and that no input makes the decoders panic.
func FuzzQueueMessageRoundTrip(f *testing.F) {
	for _, s := range []string{"", "hello", `{"job":"j"}`, `"quoted"`, "\x00\xff", "  \"x\"  ", `\u0000`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inv := &handlers.Invocation{
			Data:     map[string]json.RawMessage{"host": hostString(s), "raw": json.RawMessage(s)},
			Metadata: map[string]json.RawMessage{"raw": json.RawMessage(s)},
		}
		got, err := inv.QueueMessage("host")
		require.NoError(t, err)
		// encoding/json turns invalid UTF-8 into U+FFFD on the way in, as
		// the host's serialiser would; compare with that normal form.
		var want string
		b, err := json.Marshal(s)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &want))
		assert.Equal(t, want, got)

		// Arbitrary bytes: any error is fine, a panic is not; a success
		// must not come from invalid JSON.
		if _, err := inv.QueueMessage("raw"); err == nil {
			assert.True(t, json.Valid([]byte(s)), "accepted invalid JSON %q", s)
		}
		if _, err := inv.Blob("raw"); err == nil {
			assert.True(t, json.Valid([]byte(s)), "accepted invalid JSON %q", s)
		}
		if _, err := inv.HTTPRequest("raw"); err == nil {
			assert.True(t, json.Valid([]byte(s)), "accepted invalid JSON %q", s)
		}
		if _, err := inv.MetaInt("raw"); err == nil {
			assert.True(t, json.Valid([]byte(s)), "accepted invalid JSON %q", s)
		}
	})
}

// FuzzBlobRoundTrip checks that any bytes survive base64 transport.
func FuzzBlobRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("1|Customer#000000001|x|15|25-989-741-2988|711.56|BUILDING|c|\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := handlers.NewResponse()
		r.SetBlob("b", b)
		out, err := json.Marshal(r.Outputs["b"])
		require.NoError(t, err)
		inv := &handlers.Invocation{Data: map[string]json.RawMessage{"b": out}}
		got, err := inv.Blob("b")
		require.NoError(t, err)
		assert.Equal(t, string(b), string(got))
	})
}

package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strconv"
	"strings"
)

// Sentinel errors of the envelope decoders. Every decoder error wraps exactly
// one of them, so callers test with errors.Is.
var (
	// ErrMissing means the invocation has no Data entry or Metadata key of
	// the requested name: usually a name that differs from function.json.
	ErrMissing = errors.New("handlers: missing binding")
	// ErrMalformed means the entry exists but does not have the shape the
	// decoder expects (not base64, not an object, not a number, ...).
	ErrMalformed = errors.New("handlers: malformed binding value")
)

// Invocation is one request of the Functions host: the decoded envelope
// {"Data": {...}, "Metadata": {...}} plus what the host sent in headers.
//
// Data is keyed by the name of the trigger and of each input binding, as
// written in function.json; Metadata holds the trigger's binding data (for a
// queue trigger DequeueCount, Id, PopReceipt, InsertionTime, ExpirationTime,
// NextVisibleTime, sys; for a blob trigger Uri, Properties, Metadata, the
// path's {parameters}, sys). Values are kept as raw JSON; the decoders below
// undo the host's encodings.
type Invocation struct {
	// ID is the host's invocation ID (header X-Azure-Functions-InvocationId);
	// empty when the caller did not send one.
	ID string
	// Function is the function's name: the request path, which the host
	// sets to the function's folder name.
	Function string
	// Data holds the trigger and input binding values by binding name.
	Data map[string]json.RawMessage
	// Metadata holds the trigger's binding data by key.
	Metadata map[string]json.RawMessage
	// Log is the app's logger with attributes invocation_id and function.
	// Never nil for an invocation built by App.
	Log *slog.Logger
}

// envelope is the wire form of an invocation request.
type envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// raw returns the Data entry name, or ErrMissing.
func (inv *Invocation) raw(name string) (json.RawMessage, error) {
	v, ok := inv.Data[name]
	if !ok || len(trimJSONSpace(v)) == 0 {
		return nil, fmt.Errorf("%w: Data has no %q", ErrMissing, name)
	}
	return v, nil
}

// Text returns the Data entry name as text: the content of a JSON string,
// with the host's second layer of JSON quoting removed (see QueueMessage);
// any other JSON value (object, array, number, ...) is returned as its raw
// JSON text. A JSON null is ErrMissing.
func (inv *Invocation) Text(name string) (string, error) {
	v, err := inv.raw(name)
	if err != nil {
		return "", err
	}
	s, err := unwrapText(v)
	if err != nil {
		return "", fmt.Errorf("%w: Data %q: %v", ErrMalformed, name, err)
	}
	if s == nil {
		return "", fmt.Errorf("%w: Data %q is null", ErrMissing, name)
	}
	return *s, nil
}

// QueueMessage returns the text of the queue message bound to name (a queue
// trigger, or a queue input).
//
// The real host passes a string input through Newtonsoft's
// JsonConvert.SerializeObject before putting it in Data (azure-functions-host,
// src/WebJobs.Script/Workers/MessageExtensions/ScriptInvocationContextExtensions.cs,
// GetHttpScriptInvocationContextValue), so the message `hello` arrives as the
// JSON string "\"hello\"" and a JSON message `{"a":1}` as "\"{\\\"a\\\":1}\"".
// QueueMessage removes both layers. A string whose content is not itself a
// JSON string literal is returned as is (hosts that quote once); a non-string
// value (an object, when a host hands a JSON message over as an object) is
// returned as its raw JSON text. The one ambiguity: under a host that quotes
// once, a message whose whole text is a JSON string literal ("x" with the
// quotes) loses its quotes.
func (inv *Invocation) QueueMessage(name string) (string, error) {
	return inv.Text(name)
}

// Blob returns the content of the blob bound to name (a blob trigger or a
// blob input).
//
// Declare the binding with "dataType": "binary": the host then sends the
// bytes base64-encoded, and Blob decodes them. Without it the host sends the
// blob as text (quoted twice, as for QueueMessage); Blob then returns that
// text's bytes — but a text blob that happens to be valid base64 is decoded,
// so binary is the only exact mode.
func (inv *Invocation) Blob(name string) ([]byte, error) {
	v, err := inv.raw(name)
	if err != nil {
		return nil, err
	}
	v = trimJSONSpace(v)
	if string(v) == "null" {
		return nil, fmt.Errorf("%w: Data %q is null", ErrMissing, name)
	}
	// Fast path for the usual case, base64 in a JSON string without escapes:
	// no JSON decoding pass over what may be megabytes.
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexAny(v, "\\\r\n") < 0 {
		src := v[1 : len(v)-1]
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		if n, err := base64.StdEncoding.Decode(dst, src); err == nil {
			return dst[:n], nil
		}
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%w: Data %q is not a JSON string: %v", ErrMalformed, name, err)
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	t, err := unwrapText(v)
	if err != nil || t == nil {
		return nil, fmt.Errorf("%w: Data %q: cannot decode blob", ErrMalformed, name)
	}
	return []byte(*t), nil
}

// HTTPRequest is the host's description of an HTTP trigger request when
// request forwarding is off (azure-functions-host,
// src/WebJobs.Script/Extensions/HttpRequestExtensions.cs, GetRequestAsJObject).
type HTTPRequest struct {
	// URL is the full request URL including the query string.
	URL string `json:"Url"`
	// Method is the HTTP method, upper case.
	Method string `json:"Method"`
	// Query maps each query parameter to its value; the host joins repeated
	// parameters with commas.
	Query map[string]string `json:"Query"`
	// Headers maps each header name to its values.
	Headers map[string][]string `json:"Headers"`
	// Params holds the route parameters of function.json's "route".
	Params map[string]string `json:"Params"`
	// Identities is the caller's claims identities as the host serialised them.
	Identities json.RawMessage `json:"Identities"`
	// Body is the request body as raw JSON: absent for an empty body, a JSON
	// string holding the text of a textual body, or a base64 JSON string for
	// an application/octet-stream or multipart body. Use BodyText, BodyBytes
	// or DecodeBody rather than reading it directly.
	Body json.RawMessage `json:"Body"`
}

// HTTPRequest decodes the HTTP trigger request bound to name.
func (inv *Invocation) HTTPRequest(name string) (*HTTPRequest, error) {
	v, err := inv.raw(name)
	if err != nil {
		return nil, err
	}
	var req HTTPRequest
	if err := json.Unmarshal(v, &req); err != nil {
		return nil, fmt.Errorf("%w: Data %q is not an HTTP request: %v", ErrMalformed, name, err)
	}
	if req.Method == "" {
		return nil, fmt.Errorf("%w: Data %q is not an HTTP request: no Method", ErrMalformed, name)
	}
	return &req, nil
}

// Header returns the first value of the named header (case-insensitive), or "".
func (r *HTTPRequest) Header(name string) string {
	for k, vs := range r.Headers {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// BodyText returns the body as text: the content of a JSON string body, the
// raw JSON text of any other JSON body, "" when there is no body.
func (r *HTTPRequest) BodyText() (string, error) {
	b := trimJSONSpace(r.Body)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	if b[0] != '"' {
		return string(b), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%w: Body: %v", ErrMalformed, err)
	}
	return s, nil
}

// BodyBytes returns the body's bytes: base64-decoded when the request's
// Content-Type is application/octet-stream or multipart/* (the host sends
// those as base64), the text of BodyText otherwise.
func (r *HTTPRequest) BodyBytes() ([]byte, error) {
	s, err := r.BodyText()
	if err != nil {
		return nil, err
	}
	if binaryMediaType(r.Header("Content-Type")) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: binary Body is not base64: %v", ErrMalformed, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// DecodeBody unmarshals a JSON body (sent by the host as a JSON string
// holding the text, or as a JSON value) into v. An empty body is ErrMissing;
// unknown fields are errors, so a misspelt request is refused rather than
// half-read.
func (r *HTTPRequest) DecodeBody(v any) error {
	s, err := r.BodyText()
	if err != nil {
		return err
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: empty request body", ErrMissing)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: request body: trailing data after the JSON value", ErrMalformed)
	}
	return nil
}

func binaryMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

// MetaString returns the Metadata value key as text. The real host serialises
// scalar binding data twice like Data strings (an Id arrives as
// "\"4b2f...\"" and DequeueCount as "\"1\"" or "1"); MetaString removes those
// layers. Objects (sys, Properties) come back as raw JSON text.
func (inv *Invocation) MetaString(key string) (string, error) {
	v, ok := inv.Metadata[key]
	if !ok || len(trimJSONSpace(v)) == 0 {
		return "", fmt.Errorf("%w: Metadata has no %q", ErrMissing, key)
	}
	s, err := unwrapText(v)
	if err != nil {
		return "", fmt.Errorf("%w: Metadata %q: %v", ErrMalformed, key, err)
	}
	if s == nil {
		return "", fmt.Errorf("%w: Metadata %q is null", ErrMissing, key)
	}
	return *s, nil
}

// MetaInt returns the Metadata value key as an integer: a JSON number, or a
// string holding one (the real host sends DequeueCount as the string "1").
func (inv *Invocation) MetaInt(key string) (int64, error) {
	s, err := inv.MetaString(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: Metadata %q is not an integer: %q", ErrMalformed, key, s)
	}
	return n, nil
}

// unwrapText turns a raw JSON value into text: a JSON string is decoded, and
// decoded once more if its content is itself a JSON string literal (the
// host's SerializeObject layer); anything else is returned as its JSON text.
// A JSON null gives nil.
func unwrapText(v json.RawMessage) (*string, error) {
	v = trimJSONSpace(v)
	if string(v) == "null" {
		return nil, nil
	}
	if len(v) == 0 || v[0] != '"' {
		if !json.Valid(v) {
			return nil, errors.New("not valid JSON")
		}
		s := string(v)
		return &s, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	// SerializeObject output has no surrounding white space, so neither
	// does a string this layer is removed from.
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var t string
		if err := json.Unmarshal([]byte(s), &t); err == nil {
			return &t, nil
		}
	}
	return &s, nil
}

// Response is a handler's answer to the host:
// {"Outputs": {name: value}, "Logs": [...], "ReturnValue": ...}.
//
// The host reads Outputs by the names of the function's output bindings and
// ignores other names; Logs are written to the host's log for the
// invocation; ReturnValue feeds a "$return" binding.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// NewResponse returns an empty response (no outputs, no logs, null return value).
func NewResponse() *Response {
	return &Response{Outputs: map[string]any{}, Logs: []string{}}
}

// SetOutput sets output binding name to v, replacing any earlier value. v is
// marshalled with encoding/json. See SetBlob for the host's base64 pitfall
// with string values.
func (r *Response) SetOutput(name string, v any) {
	if r.Outputs == nil {
		r.Outputs = map[string]any{}
	}
	r.Outputs[name] = v
}

// HTTPResponse is the value of an HTTP output binding
// (azure-functions-host, src/WebJobs.Script/Workers/Http/HttpOutputBindingResponse.cs).
type HTTPResponse struct {
	// StatusCode is the HTTP status; 0 means 200.
	StatusCode int
	// Headers are sent as given.
	Headers map[string]string
	// Body: a string is sent as is, []byte and json.RawMessage as their
	// text, nil as an empty body, anything else as its JSON encoding with
	// Content-Type application/json unless Headers sets one.
	Body any
}

// httpOutput is the wire form of HTTPResponse.
type httpOutput struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body"`
}

// SetHTTP sets HTTP output binding name to h. It returns an error only when
// h.Body cannot be JSON-encoded.
func (r *Response) SetHTTP(name string, h HTTPResponse) error {
	out := httpOutput{StatusCode: h.StatusCode, Headers: h.Headers}
	if out.StatusCode == 0 {
		out.StatusCode = 200
	}
	switch b := h.Body.(type) {
	case nil:
	case string:
		out.Body = b
	case []byte:
		out.Body = string(b)
	case json.RawMessage:
		out.Body = string(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("handlers: HTTP output %q: %w", name, err)
		}
		out.Body = string(j)
		if !hasHeader(out.Headers, "Content-Type") {
			hs := make(map[string]string, len(out.Headers)+1)
			for k, v := range out.Headers {
				hs[k] = v
			}
			hs["Content-Type"] = "application/json"
			out.Headers = hs
		}
	}
	r.SetOutput(name, out)
	return nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// AddQueue appends messages to queue output binding name. The host accepts a
// string (one message) or an array of strings (several): AddQueue writes the
// former while the binding holds one message and the latter once it holds
// more. Calling it with no messages leaves the binding unchanged.
//
// The host's base64 pitfall (see SetBlob) applies to each message: a message
// that is valid base64 is decoded before it is enqueued. JSON objects are
// safe, as '{' is not a base64 character.
func (r *Response) AddQueue(name string, msgs ...string) {
	if len(msgs) == 0 {
		return
	}
	var all []string
	switch prev := r.Outputs[name].(type) {
	case string:
		all = append(all, prev)
	case []string:
		all = append(all, prev...)
	}
	all = append(all, msgs...)
	if len(all) == 1 {
		r.SetOutput(name, all[0])
		return
	}
	r.SetOutput(name, all)
}

// SetBlob sets blob output binding name to content, sent base64-encoded.
//
// Declare the blob output binding WITHOUT "dataType": "binary". The host
// (azure-functions-host, src/WebJobs.Script/Workers/Http/HttpScriptInvocationResultExtensions.cs,
// GetBindingValue) base64-decodes a string sent for a non-binary output when
// it can, and writes the decoded bytes — which is exactly content. For a
// binary output it passes the string on unchanged, so the blob would hold the
// base64 text (azure-functions-host issue 6091 is about this).
//
// The same rule is the pitfall of text outputs: a string sent with
// SetOutput or AddQueue to a non-binary output that happens to be valid
// base64 ("abcd", "1234") is decoded by the host. JSON objects are safe,
// as '{' is not a base64 character.
func (r *Response) SetBlob(name string, content []byte) {
	r.SetOutput(name, base64.StdEncoding.EncodeToString(content))
}

// Log appends a line to the logs the host records for this invocation.
func (r *Response) Log(line string) {
	r.Logs = append(r.Logs, line)
}

// trimJSONSpace trims the four characters JSON counts as white space
// (bytes.TrimSpace trims more, such as form feed, which JSON rejects).
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

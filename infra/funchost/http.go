package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxRequestBody is the HTTP trigger request limit (100 MB, as in Azure).
const maxRequestBody = 100 << 20

// localIdentities is Data.<req>.Identities under func start: requests are
// not authenticated locally and carry the admin key level, as the local
// host reports them.
const localIdentities = `[{"AuthenticationType":"WebJobsAuthLevel","IsAuthenticated":true,"Actor":null,"BootstrapContext":null,"Claims":[{"Issuer":"LOCAL AUTHORITY","OriginalIssuer":"LOCAL AUTHORITY","Properties":{},"Type":"http://schemas.microsoft.com/2017/07/functions/claims/authlevel","Value":"Admin","ValueType":"http://www.w3.org/2001/XMLSchema#string"}],"Label":null,"Name":null,"NameClaimType":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name","RoleClaimType":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}]`

// ServeHTTP serves the HTTP triggers under /<routePrefix>/. Methods are a
// route constraint, as in the real host: a request whose method a function
// does not accept matches no route and gets 404. authLevel is not enforced
// (func start does not check keys either).
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == "/" || path == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Your Functions 4.0 app is up and running (funchost %s)\n", HostVersion)
		return
	}
	if path == "/admin/host/status" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, `{"id":%q,"state":"Running","version":%q}`, h.hostID, HostVersion)
		return
	}
	if path == blobWebhookPath {
		h.serveBlobWebhook(w, r)
		return
	}
	rest, ok := stripPrefix(path, h.app.Host.RoutePrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	for _, rt := range h.routes {
		params, ok := rt.tmpl.match(rest)
		if !ok || !methodAllowed(rt.fn.Trigger.Methods, r.Method) {
			continue
		}
		h.serveFunction(w, r, rt.fn, params)
		return
	}
	http.NotFound(w, r)
}

func stripPrefix(path, prefix string) (string, bool) {
	path = strings.TrimPrefix(path, "/")
	if prefix == "" {
		return path, true
	}
	if strings.EqualFold(path, prefix) {
		return "", true
	}
	if len(path) > len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) && path[len(prefix)] == '/' {
		return path[len(prefix)+1:], true
	}
	return "", false
}

func methodAllowed(methods []string, m string) bool {
	if methods == nil {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

func (h *Host) serveFunction(w http.ResponseWriter, r *http.Request, fn *function, params map[string]string) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil {
			http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxRequestBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
	}
	in := h.nextInstance()
	if h.app.Host.Handler.Forwarding && fn.isHTTPInAndOut() {
		h.forward(w, r, in, fn, body)
		return
	}
	inv := &invocation{id: newUUID(), fn: fn, meta: httpBindingData(fn, r, body, params)}
	inv.data = []dataEntry{{fn.Trigger.Name, httpRequestData(r, body, params)}}
	var out *httpAnswer
	err := h.invoke(in, inv, func(res *invocationResult) error {
		var err error
		out, err = httpOutput(fn, res)
		return err
	})
	if err != nil || out == nil {
		// A failed invocation is a bare 500, as from the real host.
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	out.write(w)
}

// httpRequestData is Data.<name> for an HTTP trigger
// (HttpRequestExtensions.GetRequestAsJObject).
func httpRequestData(r *http.Request, body []byte, params map[string]string) json.RawMessage {
	var b bytes.Buffer
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	b.WriteString(`{"Url":`)
	writeJSONString(&b, u)
	b.WriteString(`,"Method":`)
	writeJSONString(&b, r.Method)
	b.WriteString(`,"Query":`)
	writeStringMap(&b, queryMap(r.URL.Query()))
	b.WriteString(`,"Headers":{`)
	for i, kv := range requestHeaders(r) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, kv.k)
		b.WriteString(":[")
		for j, v := range kv.vs {
			if j > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, v)
		}
		b.WriteByte(']')
	}
	b.WriteString(`},"Params":`)
	writeStringMap(&b, paramMap(params))
	b.WriteString(`,"Identities":`)
	b.WriteString(localIdentities)
	// The host copies a body only when Content-Length says it has one.
	if r.ContentLength > 0 {
		b.WriteString(`,"Body":`)
		if octetOrMultipart(r.Header.Get("Content-Type")) {
			b.WriteString(`"` + base64.StdEncoding.EncodeToString(body) + `"`)
		} else {
			writeJSONString(&b, string(body))
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

type headerValues struct {
	k  string
	vs []string
}

// requestHeaders lists the request's headers as Kestrel has them, Host
// and Content-Length included.
func requestHeaders(r *http.Request) []headerValues {
	var out []headerValues
	seenHost, seenLen := false, false
	for k, vs := range r.Header {
		out = append(out, headerValues{k, vs})
		seenHost = seenHost || strings.EqualFold(k, "Host")
		seenLen = seenLen || strings.EqualFold(k, "Content-Length")
	}
	if !seenHost && r.Host != "" {
		out = append(out, headerValues{"Host", []string{r.Host}})
	}
	if !seenLen && r.ContentLength > 0 {
		out = append(out, headerValues{"Content-Length", []string{strconv.FormatInt(r.ContentLength, 10)}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

// queryMap joins repeated query parameters with commas (StringValues.ToString).
func queryMap(q url.Values) stringMap {
	var out stringMap
	for _, k := range sortedKeys(q) {
		out = append(out, kv{k, strings.Join(q[k], ",")})
	}
	return out
}

func paramMap(p map[string]string) stringMap {
	var out stringMap
	for _, k := range sortedKeys(p) {
		out = append(out, kv{k, p[k]})
	}
	return out
}

func writeStringMap(b *bytes.Buffer, m stringMap) {
	b.WriteByte('{')
	for i, p := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, p.k)
		b.WriteByte(':')
		writeJSONString(b, p.v)
	}
	b.WriteByte('}')
}

func octetOrMultipart(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

// httpBindingData is the HTTP trigger's binding data
// (HttpTriggerAttributeBindingProvider.GetRequestBindingDataAsync): the
// properties of a JSON object body, each query parameter, each route
// parameter, then Query and Headers as dictionaries.
func httpBindingData(fn *function, r *http.Request, body []byte, params map[string]string) *bindingData {
	bd := newBindingData(fn.Name, time.Now())
	if r.ContentLength > 0 {
		bd.applyJSON(string(body))
	}
	q := r.URL.Query()
	for _, k := range sortedKeys(q) {
		if strings.EqualFold(k, "code") {
			continue
		}
		bd.set(k, strings.Join(q[k], ","))
	}
	for _, k := range sortedKeys(params) {
		bd.set(k, params[k])
	}
	bd.set("Params", paramMap(params))
	if _, ok := bd.get("Query"); !ok {
		bd.set("Query", queryMap(q))
	}
	if _, ok := bd.get("Headers"); !ok {
		var hs stringMap
		for _, hv := range requestHeaders(r) {
			hs = append(hs, kv{hv.k, strings.Join(hv.vs, ",")})
		}
		bd.set("Headers", hs)
	}
	return bd
}

// httpAnswer is the response an HTTP trigger sends back.
type httpAnswer struct {
	status  int
	headers [][2]string
	body    []byte
	ctype   string
}

func (a *httpAnswer) write(w http.ResponseWriter) {
	for _, h := range a.headers {
		w.Header().Add(h[0], h[1])
	}
	ct := a.ctype
	if ct == "" {
		ct = "text/plain; charset=utf-8" // StringOutputFormatter's default
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	if _, err := w.Write(a.body); err != nil {
		return // the client went away
	}
}

// httpOutput builds the response from the function's http output binding
// (HttpScriptInvocationResultExtensions.GetHttpOutputBindingResponse, then
// HttpBinding.CreateResult and RawScriptResult).
func httpOutput(fn *function, res *invocationResult) (*httpAnswer, error) {
	var b *binding
	for _, o := range fn.Outputs {
		if o.Type == typeHTTP {
			b = o
			break
		}
	}
	if b == nil {
		// No http output: the real host answers 204-less empty 200.
		return &httpAnswer{status: http.StatusOK}, nil
	}
	if b.Name == "$return" {
		v := outputValue(b, res)
		if v == nil {
			return &httpAnswer{status: http.StatusOK}, nil
		}
		return responseFromContent(v)
	}
	if res.Outputs == nil {
		return &httpAnswer{status: http.StatusOK}, nil
	}
	v, ok := res.Outputs[b.Name]
	if !ok || isNull(v) {
		// An empty ExpandoObject, written as JSON.
		return &httpAnswer{status: http.StatusOK, body: []byte("{}")}, nil
	}
	// outputBindingValue.ToString() is deserialised as
	// HttpOutputBindingResponse: a JSON object, or a string holding one.
	obj := bytes.TrimSpace(v)
	if obj[0] == '"' {
		var s string
		if err := json.Unmarshal(obj, &s); err != nil {
			return nil, err
		}
		obj = []byte(strings.TrimSpace(s))
	}
	if len(obj) == 0 || obj[0] != '{' || !json.Valid(obj) {
		return nil, fmt.Errorf("http output %q: Failed while trying to Deserialize to httpOutputBindingResponse. Output is not in expected format: %s", b.Name, snippet(v))
	}
	return responseObject(obj)
}

// responseFromContent is HttpBinding.CreateResult for a $return value: a
// string that parses as a JSON object with a body is a response object;
// anything else is the body.
func responseFromContent(v json.RawMessage) (*httpAnswer, error) {
	t := bytes.TrimSpace(v)
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, err
		}
		st := strings.TrimSpace(s)
		if json.Valid([]byte(st)) && len(st) > 0 && (st[0] == '{' || st[0] == '[') {
			t = []byte(st)
		} else {
			return &httpAnswer{status: http.StatusOK, body: []byte(s)}, nil
		}
	}
	if t[0] == '{' {
		props, err := orderedObject(t)
		if err != nil {
			return nil, err
		}
		for _, p := range props {
			if strings.EqualFold(p.k, "body") {
				return responseObject(t)
			}
		}
	}
	s, err := jtokenString(t)
	if err != nil {
		return nil, err
	}
	return &httpAnswer{status: http.StatusOK, body: []byte(s)}, nil
}

// responseObject reads {statusCode|status, headers, body}.
func responseObject(obj []byte) (*httpAnswer, error) {
	props, err := orderedObject(obj)
	if err != nil {
		return nil, err
	}
	a := &httpAnswer{status: http.StatusOK}
	var statusSet bool
	for _, p := range props {
		v := bytes.TrimSpace(p.v)
		switch strings.ToLower(p.k) {
		case "statuscode", "status":
			if statusSet && strings.EqualFold(p.k, "status") {
				continue
			}
			s := jvalueString(v)
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				a.status = n
				statusSet = strings.EqualFold(p.k, "statusCode")
			}
		case "headers":
			if isNull(v) || v[0] != '{' {
				continue
			}
			hs, err := orderedObject(v)
			if err != nil {
				return nil, err
			}
			for _, hv := range hs {
				val, err := jtokenString(hv.v)
				if err != nil {
					return nil, err
				}
				if strings.EqualFold(hv.k, "content-type") {
					if isNull(hv.v) {
						return nil, errors.New("content-type header cannot be null")
					}
					a.ctype = val
					continue
				}
				a.headers = append(a.headers, [2]string{hv.k, val})
			}
		case "body":
			if isNull(v) {
				continue
			}
			if v[0] == '"' {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, err
				}
				a.body = []byte(s)
				continue
			}
			s, err := jtokenString(v)
			if err != nil {
				return nil, err
			}
			a.body = []byte(s)
		}
	}
	if a.status < 100 || a.status > 999 {
		return nil, fmt.Errorf("invalid HTTP status %d", a.status)
	}
	return a, nil
}

// forward sends the raw request to the handler at its original path and
// returns the raw answer (enableForwardingHttpRequest, for functions
// whose only bindings are an httpTrigger and an http output).
func (h *Host) forward(w http.ResponseWriter, r *http.Request, in *instance, fn *function, body []byte) {
	inv := &invocation{id: newUUID(), fn: fn, meta: newBindingData(fn.Name, time.Now())}
	start := time.Now()
	in.begin(start)
	var answer *httpAnswer
	res, err := in.exchange(inv, func(p *process) (*http.Request, error) {
		u := fmt.Sprintf("http://127.0.0.1:%d%s", p.port, r.URL.EscapedPath())
		if q := queryMap(r.URL.Query()); len(q) > 0 {
			vals := url.Values{}
			for _, kv := range q {
				vals.Set(kv.k, kv.v)
			}
			u += "?" + vals.Encode()
		}
		var rb io.Reader
		if r.ContentLength > 0 {
			rb = bytes.NewReader(body)
		}
		req, err := http.NewRequest(r.Method, u, rb)
		if err != nil {
			return nil, err
		}
		for k, vs := range r.Header {
			if strings.EqualFold(k, "Content-Length") {
				continue
			}
			req.Header[k] = append([]string(nil), vs...)
		}
		if r.ContentLength > 0 {
			req.ContentLength = int64(len(body))
		}
		req.Host = r.Host
		setHostHeaders(req.Header, inv.id)
		return req, nil
	}, func(resp *http.Response) (*invocationResult, error) {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		answer = &httpAnswer{status: resp.StatusCode, body: b}
		for k, vs := range resp.Header {
			if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") || strings.EqualFold(k, "Connection") {
				continue
			}
			if strings.EqualFold(k, "Content-Type") {
				answer.ctype = strings.Join(vs, ", ")
				continue
			}
			for _, v := range vs {
				answer.headers = append(answer.headers, [2]string{k, v})
			}
		}
		return &invocationResult{bytesOut: int64(len(b))}, nil
	})
	end := time.Now()
	in.end(end)
	var out int64
	if res != nil {
		out = res.bytesOut
	}
	h.record(in, inv, start, end, int64(len(body)), out, err)
	if err != nil || answer == nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	for _, hv := range answer.headers {
		w.Header().Add(hv[0], hv[1])
	}
	if answer.ctype != "" {
		w.Header().Set("Content-Type", answer.ctype)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(answer.body)))
	w.WriteHeader(answer.status)
	if _, err := w.Write(answer.body); err != nil {
		return
	}
}

package funchost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// bindingData is a trigger's binding data: what the real host puts in an
// invocation's Metadata and what binding expressions ({name}, {Id}, ...)
// read. Keys are case-insensitive and keep their first spelling and
// insertion order, like the host's Dictionary with OrdinalIgnoreCase.
type bindingData struct {
	keys   []string
	values map[string]any // lower-cased key → value
	// sys is the SystemBindingData every invocation has.
	sys sysData
}

// sysData is the "sys" binding data (Microsoft.Azure.WebJobs.Host,
// SystemBindingData): MethodName, UtcNow, RandGuid.
type sysData struct {
	MethodName string
	UtcNow     time.Time
	RandGuid   string
}

// Value kinds held in bindingData.values: string, int64, time.Time (a
// DateTimeOffset), json.RawMessage (an object: JObject in the host), and
// stringMap (a Dictionary<string,string>).
type stringMap []kv

type kv struct{ k, v string }

func newBindingData(method string, now time.Time) *bindingData {
	return &bindingData{
		values: map[string]any{},
		sys:    sysData{MethodName: method, UtcNow: now.UTC(), RandGuid: uuid.NewString()},
	}
}

// set adds or replaces key; a replaced key keeps its first spelling and
// position, as a .NET dictionary indexer does.
func (d *bindingData) set(key string, v any) {
	lk := strings.ToLower(key)
	if _, ok := d.values[lk]; !ok {
		d.keys = append(d.keys, key)
	}
	d.values[lk] = v
}

func (d *bindingData) get(key string) (any, bool) {
	v, ok := d.values[strings.ToLower(key)]
	return v, ok
}

// applyJSON adds the top-level properties of a JSON object text, as
// Utility.ApplyBindingData does with a trigger value: non-array properties,
// objects as objects, everything else as its string form; nulls skipped.
// Text that is not a JSON object is ignored.
func (d *bindingData) applyJSON(text string) {
	t := strings.TrimSpace(text)
	if !(strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")) {
		return
	}
	props, err := orderedObject([]byte(t))
	if err != nil {
		return
	}
	for _, p := range props {
		v := bytes.TrimSpace(p.v)
		switch {
		case len(v) == 0 || v[0] == '[' || string(v) == "null":
		case v[0] == '{':
			d.set(p.k, json.RawMessage(v))
		default:
			d.set(p.k, jvalueString(v))
		}
	}
}

type rawProp struct {
	k string
	v json.RawMessage
}

// orderedObject decodes a JSON object's members in document order.
func orderedObject(b []byte) ([]rawProp, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var out []rawProp
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, rawProp{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return out, nil
}

// jvalueString is (string)JToken for a primitive: a string's content,
// a number's text, True/False for booleans (.NET's bool.ToString()).
func jvalueString(v json.RawMessage) string {
	switch {
	case len(v) > 0 && v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case string(v) == "true":
		return "True"
	case string(v) == "false":
		return "False"
	}
	return string(v)
}

// expr evaluates a binding expression: a binding data key, a dotted path
// into an object value, or a built-in (rand-guid, DateTime, sys.*).
func (d *bindingData) expr(name, format string) (string, bool) {
	switch strings.ToLower(name) {
	case "rand-guid":
		return uuid.NewString(), true
	case "datetime":
		if format == "" {
			format = "yyyy-MM-ddTHH-mm-ssZ"
		}
		return dotnetFormat(d.sys.UtcNow, format), true
	case "sys.randguid":
		return d.sys.RandGuid, true
	case "sys.utcnow":
		if format != "" {
			return dotnetFormat(d.sys.UtcNow, format), true
		}
		return d.sys.UtcNow.Format(time.RFC3339), true
	case "sys.methodname":
		return d.sys.MethodName, true
	}
	head, rest, dotted := strings.Cut(name, ".")
	v, ok := d.get(head)
	if !ok {
		if dotted {
			v, ok = d.get(name)
			rest, dotted = "", false
		}
		if !ok {
			return "", false
		}
	}
	for dotted {
		raw, isObj := v.(json.RawMessage)
		if !isObj {
			return "", false
		}
		var field string
		field, rest, dotted = strings.Cut(rest, ".")
		props, err := orderedObject(raw)
		if err != nil {
			return "", false
		}
		found := false
		for _, p := range props {
			if strings.EqualFold(p.k, field) {
				pv := bytes.TrimSpace(p.v)
				if len(pv) > 0 && pv[0] == '{' {
					v = json.RawMessage(pv)
				} else {
					v = jvalueString(pv)
				}
				found = true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case time.Time:
		if format != "" {
			return dotnetFormat(x, format), true
		}
		return x.Format(time.RFC3339), true
	case json.RawMessage:
		return string(x), true
	}
	return "", false
}

// dotnetFormat renders the common .NET custom date format specifiers.
func dotnetFormat(t time.Time, f string) string {
	repl := []struct{ from, to string }{
		{"yyyy", "2006"}, {"yy", "06"}, {"MM", "01"}, {"dd", "02"}, {"HH", "15"},
		{"hh", "03"}, {"mm", "04"}, {"ss", "05"}, {"fff", "000"}, {"tt", "PM"},
	}
	var b strings.Builder
	for i := 0; i < len(f); {
		matched := false
		for _, r := range repl {
			if strings.HasPrefix(f[i:], r.from) {
				b.WriteString(t.Format(r.to))
				i += len(r.from)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(f[i])
			i++
		}
	}
	return b.String()
}

// metadataJSON renders the binding data as the real host's Metadata
// object: strings and numbers passed once more through SerializeObject
// (so they arrive as JSON strings holding JSON), DateTimeOffsets as ISO
// strings to the second, objects as objects, and "sys" last. Keys ending
// in "Trigger" are left out (Data carries the trigger value).
func (d *bindingData) metadataJSON() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, k := range d.keys {
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeMetaValue(&b, d.values[strings.ToLower(k)])
	}
	if !first {
		b.WriteByte(',')
	}
	b.WriteString(`"sys":{"MethodName":`)
	writeJSONString(&b, d.sys.MethodName)
	b.WriteString(`,"UtcNow":`)
	writeJSONString(&b, newtonsoftDate(d.sys.UtcNow))
	b.WriteString(`,"RandGuid":`)
	writeJSONString(&b, d.sys.RandGuid)
	b.WriteString("}}")
	return b.Bytes()
}

func writeMetaValue(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		writeJSONString(b, serializeObject(x))
	case int64:
		writeJSONString(b, strconv.FormatInt(x, 10))
	case time.Time:
		writeJSONString(b, dateTimeOffset(x))
	case json.RawMessage:
		b.Write(x)
	case stringMap:
		b.WriteByte('{')
		for i, p := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, p.k)
			b.WriteByte(':')
			writeJSONString(b, p.v)
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}

// serializeObject is JsonConvert.SerializeObject(string): the string as a
// JSON string literal, quotes included.
func serializeObject(s string) string {
	var b bytes.Buffer
	writeJSONString(&b, s)
	return b.String()
}

// writeJSONString writes s as a JSON string the way Newtonsoft does by
// default: no HTML escaping, short escapes for \b \t \n \f \r, \uXXXX for
// other control characters; invalid UTF-8 becomes U+FFFD.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			b.WriteString("\uFFFD")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// dateTimeOffset renders a DateTimeOffset the way the host's Metadata has
// it after DateTimeOffset.Parse(value.ToString()): to the second, with the
// offset.
func dateTimeOffset(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05") + "+00:00"
}

// newtonsoftDate renders a UTC DateTime as Newtonsoft's ISO format does:
// up to seven fractional digits, trailing zeros dropped, "Z".
func newtonsoftDate(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if ns := t.Nanosecond() / 100; ns != 0 {
		f := strings.TrimRight(fmt.Sprintf("%07d", ns), "0")
		s += "." + f
	}
	return s + "Z"
}

package funchost

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

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

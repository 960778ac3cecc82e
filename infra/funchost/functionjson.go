package funchost

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/funnelpipe/funnel/transport"
)

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

// bindingParser parses the type-specific settings of one binding kind into
// b; the common settings (type, name, direction, dataType, connection) are
// already in b. o.unknown() afterwards names what it did not read.
type bindingParser func(o *jsonObject, b *binding) error

// bindingParsers holds one parser per binding type this host implements.
var bindingParsers = map[string]bindingParser{
	typeHTTPTrigger:  parseHTTPTrigger,
	typeHTTP:         parseHTTPOutput,
	typeQueueTrigger: parseQueueBinding,
	typeQueue:        parseQueueBinding,
	typeBlobTrigger:  parseBlobBinding,
	typeBlob:         parseBlobBinding,
	typeTimerTrigger: parseTimerTrigger,
}

// parseBinding parses bindings[i]: the settings every binding has, then
// its type's own through bindingParsers.
func parseBinding(file string, i int, raw json.RawMessage) (*binding, error) {
	o, err := parseObject(file, fmt.Sprintf("bindings[%d]", i), raw)
	if err != nil {
		return nil, err
	}
	b := &binding{Index: i}
	t, err := requiredString(o, "type")
	if err != nil {
		return nil, err
	}
	b.Type = strings.ToLower(t)
	parse, ok := bindingParsers[b.Type]
	if !ok {
		return nil, cfgErr(file, o.field("type"), "binding type %q is not supported by funchost (httpTrigger, http, queueTrigger, queue, blobTrigger, blob, timerTrigger)", t)
	}
	if b.Name, err = requiredString(o, "name"); err != nil {
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
		if !b.isTrigger() {
			return nil, cfgErr(file, o.field("direction"), "missing")
		}
		b.Direction = "in"
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
	if b.Connection, _, err = o.str("connection"); err != nil {
		return nil, err
	}
	if b.Name == "$return" && b.Direction != "out" {
		return nil, cfgErr(file, o.field("name"), "$return must be an output binding")
	}
	if err := parse(o, b); err != nil {
		return nil, err
	}
	for _, k := range o.unknown() {
		return nil, cfgErr(file, o.field(k), "unknown or unsupported setting for a %s binding", t)
	}
	return b, nil
}

// requiredString reads a string setting that must be present and not blank.
func requiredString(o *jsonObject, key string) (string, error) {
	s, ok, err := o.str(key)
	if err != nil {
		return "", err
	}
	if !ok || strings.TrimSpace(s) == "" {
		return "", cfgErr(o.file, o.field(key), "missing")
	}
	return s, nil
}

// wantDirection refuses a binding whose direction is not d.
func wantDirection(o *jsonObject, b *binding, d string) error {
	if b.Direction != d {
		return cfgErr(o.file, o.field("direction"), "a %s binding must have direction %q, got %q", typeNames[b.Type], d, b.Direction)
	}
	return nil
}

// parseHTTPTrigger reads httpTrigger's methods, authLevel and route (the
// route is parsed with the whole app, in checkRoutes).
func parseHTTPTrigger(o *jsonObject, b *binding) error {
	if err := wantDirection(o, b, "in"); err != nil {
		return err
	}
	ms, _, err := o.strList("methods")
	if err != nil {
		return err
	}
	for _, m := range ms {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			return cfgErr(o.file, o.field("methods"), "empty method name")
		}
		b.Methods = append(b.Methods, m)
	}
	al, _, err := o.str("authLevel")
	if err != nil {
		return err
	}
	switch strings.ToLower(al) {
	case "", "anonymous", "function", "admin", "system", "user":
		b.AuthLevel = strings.ToLower(al)
	default:
		return cfgErr(o.file, o.field("authLevel"), "must be anonymous, function or admin, got %q", al)
	}
	if b.RouteText, _, err = o.str("route"); err != nil {
		return err
	}
	o.raw("webHookType")
	return nil
}

// parseHTTPOutput checks an http output binding, which has no settings of
// its own.
func parseHTTPOutput(o *jsonObject, b *binding) error { return wantDirection(o, b, "out") }

// parseQueueBinding reads queueTrigger's and the queue output's queueName.
// A name holding %setting% is checked once resolveSettingRefs has expanded
// it; one holding {expressions} (outputs only) when it is written to.
func parseQueueBinding(o *jsonObject, b *binding) error {
	dir := "out"
	if b.Type == typeQueueTrigger {
		dir = "in"
	}
	if err := wantDirection(o, b, dir); err != nil {
		return err
	}
	q, err := requiredString(o, "queueName")
	if err != nil {
		return err
	}
	switch {
	case strings.Contains(q, "{") && b.Type == typeQueueTrigger:
		return cfgErr(o.file, o.field("queueName"), "a trigger's queueName cannot hold binding expressions, got %q", q)
	case !strings.ContainsAny(q, "{%"):
		if err := transport.ValidateStorageName(q); err != nil {
			return cfgErr(o.file, o.field("queueName"), "invalid queue name: %v", err)
		}
	}
	b.QueueName = q
	return nil
}

// parseBlobBinding reads the path of blobTrigger and blob bindings and
// blobTrigger's source.
func parseBlobBinding(o *jsonObject, b *binding) error {
	if b.Type == typeBlobTrigger {
		if err := wantDirection(o, b, "in"); err != nil {
			return err
		}
	} else if b.Direction == "inout" {
		return cfgErr(o.file, o.field("direction"), "inout blob bindings are not supported by funchost")
	}
	p, err := requiredString(o, "path")
	if err != nil {
		return err
	}
	b.Path = p
	bp, err := parseBlobPattern(p)
	if err != nil {
		return cfgErr(o.file, o.field("path"), "%v", err)
	}
	b.blobPath = bp
	if b.Type != typeBlobTrigger {
		return nil
	}
	src, _, err := o.str("source")
	if err != nil {
		return err
	}
	switch strings.ToLower(src) {
	case "", "logsandcontainerscan":
		b.Source = "logsandcontainerscan"
	case "eventgrid":
		b.Source = "eventgrid"
	default:
		return cfgErr(o.file, o.field("source"), "must be \"LogsAndContainerScan\" or \"EventGrid\", got %q", src)
	}
	if !bp.triggerable() {
		return cfgErr(o.file, o.field("path"), "a blobTrigger path must be \"container/...\" with a fixed container name and at most {parameters} in the blob name, got %q", p)
	}
	return nil
}

package funchost

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// routeTemplate is an ASP.NET Core route template as httpTrigger "route"
// takes it: literal segments, {name}, {name?} (optional), {name=default},
// {*rest} (catch-all) and the constraints parseConstraint reproduces
// ({name:alpha}, {name:int}, {id:length(3,8)}, {id:regex(^x$)}, ...).
type routeTemplate struct {
	Text     string
	segments []routeSegment
}

type routeSegment struct {
	literal     string // when param == ""
	param       string
	optional    bool
	catchAll    bool
	hasDefault  bool
	defaultVal  string
	constraints []routeConstraint
}

type routeConstraint struct {
	name string
	ok   func(string) bool
}

var paramNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseRoute parses a route template. The leading "/" or "~/" is dropped
// as ASP.NET does.
func parseRoute(text string) (*routeTemplate, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(text, "~"), "/")
	rt := &routeTemplate{Text: text}
	if t == "" {
		return rt, nil
	}
	names := map[string]bool{}
	parts := strings.Split(t, "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("route %q has an empty segment", text)
		}
		if strings.Count(p, "{") != strings.Count(p, "}") {
			return nil, fmt.Errorf("route %q: unbalanced braces in segment %q", text, p)
		}
		if !strings.ContainsAny(p, "{}") {
			rt.segments = append(rt.segments, routeSegment{literal: p})
			continue
		}
		if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.Count(p, "{") != 1 {
			return nil, fmt.Errorf("route %q: segment %q mixes literal text and a parameter, which funchost does not support", text, p)
		}
		seg, err := parseRouteParam(p[1 : len(p)-1])
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", text, err)
		}
		ln := strings.ToLower(seg.param)
		if names[ln] {
			return nil, fmt.Errorf("route %q: parameter %q appears twice", text, seg.param)
		}
		names[ln] = true
		if seg.catchAll && i != len(parts)-1 {
			return nil, fmt.Errorf("route %q: a catch-all parameter must be the last segment", text)
		}
		rt.segments = append(rt.segments, seg)
	}
	// An optional parameter may only be followed by optional ones.
	seenOptional := false
	for _, s := range rt.segments {
		if s.optional || s.hasDefault || s.catchAll {
			seenOptional = true
		} else if seenOptional {
			return nil, fmt.Errorf("route %q: only the last segments may be optional", text)
		}
	}
	return rt, nil
}

func parseRouteParam(body string) (routeSegment, error) {
	var seg routeSegment
	if strings.HasPrefix(body, "**") {
		seg.catchAll, body = true, body[2:]
	} else if strings.HasPrefix(body, "*") {
		seg.catchAll, body = true, body[1:]
	}
	// Split off a default value: everything after the first '=' not inside
	// a constraint's parentheses.
	depth := 0
	for i, c := range body {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case '=':
			if depth == 0 {
				seg.hasDefault, seg.defaultVal, body = true, body[i+1:], body[:i]
			}
		}
		if seg.hasDefault {
			break
		}
	}
	if strings.HasSuffix(body, "?") {
		seg.optional, body = true, strings.TrimSuffix(body, "?")
	}
	pieces := splitConstraints(body)
	seg.param = pieces[0]
	if !paramNameRe.MatchString(seg.param) {
		return seg, fmt.Errorf("invalid parameter name %q", seg.param)
	}
	for _, c := range pieces[1:] {
		rc, err := parseConstraint(c)
		if err != nil {
			return seg, fmt.Errorf("parameter %q: %w", seg.param, err)
		}
		seg.constraints = append(seg.constraints, rc)
	}
	if seg.optional && seg.hasDefault {
		return seg, fmt.Errorf("parameter %q cannot be optional and have a default", seg.param)
	}
	return seg, nil
}

// splitConstraints splits "id:int:min(3)" at colons outside parentheses.
func splitConstraints(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ':':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

var constraintRe = regexp.MustCompile(`^([A-Za-z]+)(?:\((.*)\))?$`)

// unfaithfulConstraints are ASP.NET Core constraints whose parsing follows
// .NET's culture-dependent number and date rules, which funchost does not
// reproduce: accepting them would route requests the real host refuses or
// the other way round, so they are configuration errors.
var unfaithfulConstraints = map[string]bool{"decimal": true, "double": true, "float": true, "datetime": true}

// parseConstraint builds one of the inline route constraints ASP.NET Core
// knows and funchost reproduces: int, long, bool, alpha, guid, min, max,
// range, length, minlength, maxlength, regex, required. Number values are
// parsed as .NET's invariant TryParse does (surrounding white space and a
// sign allowed), lengths count UTF-16 code units as .NET strings do.
func parseConstraint(c string) (routeConstraint, error) {
	m := constraintRe.FindStringSubmatch(c)
	if m == nil {
		return routeConstraint{}, fmt.Errorf("malformed constraint %q", c)
	}
	name, arg := strings.ToLower(m[1]), m[2]
	ints := func(n int) ([]int64, error) {
		parts := strings.Split(arg, ",")
		if arg == "" || len(parts) != n {
			return nil, fmt.Errorf("constraint %q needs %d integer argument(s)", c, n)
		}
		var out []int64
		for _, p := range parts {
			v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("constraint %q: %q is not an integer", c, p)
			}
			out = append(out, v)
		}
		return out, nil
	}
	// bounds reads one or two integer arguments as [lo, hi]; lengths must
	// not be negative.
	bounds := func(n int, lengths bool) (lo, hi int64, err error) {
		a, err := ints(n)
		if err != nil {
			return 0, 0, err
		}
		lo, hi = a[0], a[len(a)-1]
		if lo > hi || lengths && lo < 0 {
			return 0, 0, fmt.Errorf("constraint %q: bounds out of order or negative", c)
		}
		return lo, hi, nil
	}
	integer := func(v string, bits int) (int64, bool) {
		n, err := strconv.ParseInt(dotnetTrim(v), 10, bits)
		return n, err == nil
	}
	rc := routeConstraint{name: name}
	switch name {
	case "int":
		rc.ok = func(v string) bool { _, ok := integer(v, 32); return ok }
	case "long":
		rc.ok = func(v string) bool { _, ok := integer(v, 64); return ok }
	case "bool":
		rc.ok = func(v string) bool {
			v = dotnetTrim(v)
			return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
		}
	case "guid":
		rc.ok = func(v string) bool { return guidRe.MatchString(dotnetTrim(v)) }
	case "alpha":
		rc.ok = func(v string) bool {
			for _, r := range v {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
					return false
				}
			}
			return v != ""
		}
	case "min", "max":
		a, err := ints(1)
		if err != nil {
			return rc, err
		}
		rc.ok = func(v string) bool {
			n, ok := integer(v, 64)
			if name == "min" {
				return ok && n >= a[0]
			}
			return ok && n <= a[0]
		}
	case "range":
		lo, hi, err := bounds(2, false)
		if err != nil {
			return rc, err
		}
		rc.ok = func(v string) bool { n, ok := integer(v, 64); return ok && n >= lo && n <= hi }
	case "length":
		lo, hi, err := bounds(1, true)
		if err != nil {
			if lo, hi, err = bounds(2, true); err != nil {
				return rc, err
			}
		}
		rc.ok = func(v string) bool { n := utf16Len(v); return n >= lo && n <= hi }
	case "minlength", "maxlength":
		a, _, err := bounds(1, true)
		if err != nil {
			return rc, err
		}
		rc.ok = func(v string) bool {
			if name == "minlength" {
				return utf16Len(v) >= a
			}
			return utf16Len(v) <= a
		}
	case "regex":
		// .NET compiles it with IgnoreCase | CultureInvariant; a pattern
		// RE2 cannot compile (look-arounds, back references) is refused.
		re, err := regexp.Compile("(?i)" + arg)
		if err != nil {
			return rc, fmt.Errorf("constraint %q: %v", c, err)
		}
		rc.ok = re.MatchString
	case "required":
		rc.ok = func(v string) bool { return v != "" }
	default:
		if unfaithfulConstraints[name] {
			return rc, fmt.Errorf("route constraint %q is not supported by funchost (its .NET parsing rules are not reproduced)", name)
		}
		return rc, fmt.Errorf("unknown route constraint %q", name)
	}
	return rc, nil
}

// guidRe is what Guid.TryParse accepts in its N, D, B and P formats (32
// hex digits; 8-4-4-4-12 with hyphens; that in braces or in parentheses).
// The X format ({0x...,...}) cannot stand in a route segment usefully and
// is not accepted.
var guidRe = regexp.MustCompile(`^(?:[0-9A-Fa-f]{32}|` + guidD + `|\{` + guidD + `\}|\(` + guidD + `\))$`)

const guidD = `[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`

// dotnetTrim removes the white space .NET's number parsing skips.
func dotnetTrim(s string) string { return strings.Trim(s, " \t\n\v\f\r") }

// utf16Len is the length of s as a .NET string: UTF-16 code units.
func utf16Len(s string) int64 {
	var n int64
	for _, r := range s {
		n += int64(utf16.RuneLen(r))
	}
	return n
}

// match matches a path (already stripped of the route prefix, no leading
// slash, still percent-encoded) and returns the route values. Literals
// compare case-insensitively, as in ASP.NET Core.
func (rt *routeTemplate) match(path string) (map[string]string, bool) {
	path = strings.Trim(path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	vals := map[string]string{}
	for i, seg := range rt.segments {
		if seg.catchAll {
			rest := strings.Join(parts[min(i, len(parts)):], "/")
			if rest == "" {
				if seg.hasDefault {
					rest = seg.defaultVal
				}
				if rest == "" {
					return vals, true
				}
			} else {
				rest = unescapePathKeepSlash(rest)
			}
			if !seg.accepts(rest) {
				return nil, false
			}
			vals[seg.param] = rest
			return vals, true
		}
		if i >= len(parts) {
			switch {
			case seg.optional:
				continue
			case seg.hasDefault:
				vals[seg.param] = seg.defaultVal
				continue
			default:
				return nil, false
			}
		}
		p := parts[i]
		if seg.param == "" {
			if !strings.EqualFold(unescapePath(p), seg.literal) {
				return nil, false
			}
			continue
		}
		v := unescapePath(p)
		if v == "" || !seg.accepts(v) {
			return nil, false
		}
		vals[seg.param] = v
	}
	if len(parts) > len(rt.segments) {
		return nil, false
	}
	return vals, true
}

func (s *routeSegment) accepts(v string) bool {
	for _, c := range s.constraints {
		if !c.ok(v) {
			return false
		}
	}
	return true
}

// precedence orders routes the way ASP.NET Core's route precedence does,
// closely enough: per segment, literal < constrained parameter <
// parameter < optional < catch-all (smaller first).
func (rt *routeTemplate) precedence() []int {
	var out []int
	for _, s := range rt.segments {
		switch {
		case s.param == "":
			out = append(out, 1)
		case s.catchAll:
			out = append(out, 5)
		case s.optional || s.hasDefault:
			out = append(out, 4)
		case len(s.constraints) > 0:
			out = append(out, 2)
		default:
			out = append(out, 3)
		}
	}
	return out
}

func lessPrecedence(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) > len(b)
}

func unescapePath(s string) string { return unescape(s, false) }

// unescapePathKeepSlash decodes a catch-all value but keeps %2F encoded, as
// ASP.NET Core does for {*rest}.
func unescapePathKeepSlash(s string) string { return unescape(s, true) }

func unescape(s string, keepSlash bool) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && !(keepSlash && v == '/') {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkRoutes parses every httpTrigger route of a and rejects two functions
// claiming the same template.
func checkRoutes(a *app) error {
	seen := map[string]string{}
	for _, f := range a.Functions {
		b := f.Trigger
		if b.Type != typeHTTPTrigger {
			continue
		}
		text := b.RouteText
		if text == "" {
			text = f.Name
		}
		rt, err := parseRoute(text)
		if err != nil {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].route", b.Index), "%v", err)
		}
		b.Route = rt
		key := strings.ToLower(routeShape(rt))
		if other, dup := seen[key]; dup && methodsOverlap(b.Methods, methodsOf(a, other)) {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].route", b.Index), "route %q is also the route of function %s", text, other)
		}
		seen[key] = f.Name
	}
	return nil
}

// routeShape renders a template with parameter names erased, so that
// "jobs/{id}" and "jobs/{key}" compare equal.
func routeShape(rt *routeTemplate) string {
	var parts []string
	for _, s := range rt.segments {
		if s.param == "" {
			parts = append(parts, s.literal)
		} else {
			parts = append(parts, fmt.Sprintf("{%v%v%v%d}", s.optional, s.catchAll, s.hasDefault, len(s.constraints)))
		}
	}
	return strings.Join(parts, "/")
}

func methodsOf(a *app, name string) []string {
	for _, f := range a.Functions {
		if f.Name == name {
			return f.Trigger.Methods
		}
	}
	return nil
}

func methodsOverlap(a, b []string) bool {
	if a == nil || b == nil {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// httpRoute is one httpTrigger function's route on the host's HTTP server.
type httpRoute struct {
	fn    *function
	tmpl  *routeTemplate
	order []int
}

// sortRoutes orders routes most specific first.
func sortRoutes(rs []httpRoute) {
	sort.SliceStable(rs, func(i, j int) bool { return lessPrecedence(rs[i].order, rs[j].order) })
}

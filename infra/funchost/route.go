package funchost

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// routeTemplate is an ASP.NET Core route template as httpTrigger "route"
// takes it: literal segments, {name}, {name?} (optional), {name=default},
// {*rest} (catch-all) and constraints {name:alpha}, {name:int},
// {id:length(3,8)}, {id:regex(^x$)}, ...
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

// parseConstraint builds the inline route constraints ASP.NET Core knows.
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
	rc := routeConstraint{name: name}
	switch name {
	case "int":
		rc.ok = func(v string) bool { _, err := strconv.ParseInt(v, 10, 32); return err == nil }
	case "long":
		rc.ok = func(v string) bool { _, err := strconv.ParseInt(v, 10, 64); return err == nil }
	case "bool":
		rc.ok = func(v string) bool { return strings.EqualFold(v, "true") || strings.EqualFold(v, "false") }
	case "decimal", "double", "float":
		rc.ok = func(v string) bool { _, err := strconv.ParseFloat(v, 64); return err == nil }
	case "guid":
		rc.ok = func(v string) bool { return guidRe.MatchString(v) }
	case "datetime":
		rc.ok = func(v string) bool {
			for _, l := range []string{time.RFC3339, "2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
				if _, err := time.Parse(l, v); err == nil {
					return true
				}
			}
			return false
		}
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
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			if name == "min" {
				return n >= a[0]
			}
			return n <= a[0]
		}
	case "range":
		a, err := ints(2)
		if err != nil {
			return rc, err
		}
		rc.ok = func(v string) bool {
			n, err := strconv.ParseInt(v, 10, 64)
			return err == nil && n >= a[0] && n <= a[1]
		}
	case "length":
		lo, hi := int64(0), int64(0)
		if a, err := ints(1); err == nil {
			lo, hi = a[0], a[0]
		} else if a, err2 := ints(2); err2 == nil {
			lo, hi = a[0], a[1]
		} else {
			return rc, err
		}
		rc.ok = func(v string) bool { n := int64(len([]rune(v))); return n >= lo && n <= hi }
	case "minlength", "maxlength":
		a, err := ints(1)
		if err != nil {
			return rc, err
		}
		rc.ok = func(v string) bool {
			n := int64(len([]rune(v)))
			if name == "minlength" {
				return n >= a[0]
			}
			return n <= a[0]
		}
	case "regex":
		re, err := regexp.Compile("(?i)" + arg)
		if err != nil {
			return rc, fmt.Errorf("constraint %q: %v", c, err)
		}
		rc.ok = re.MatchString
	case "required":
		rc.ok = func(v string) bool { return v != "" }
	default:
		return rc, fmt.Errorf("unknown route constraint %q", name)
	}
	return rc, nil
}

var guidRe = regexp.MustCompile(`^[{(]?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}[)}]?$`)

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

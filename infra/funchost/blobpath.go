package funchost

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// template is a binding expression template such as "out/{name}-{rand-guid}.json":
// literal text with {expressions}.
type template struct {
	text  string
	parts []templatePart
}

type templatePart struct {
	literal string
	expr    string // when non-empty: the expression inside braces
	format  string // {DateTime:yyyy}: the part after ':'
}

var exprRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_.\-]*$`)

func parseTemplate(s string) (*template, error) {
	t := &template{text: s}
	for len(s) > 0 {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			t.parts = append(t.parts, templatePart{literal: s})
			break
		}
		if s[i] == '}' {
			return nil, fmt.Errorf("unmatched '}' in %q", t.text)
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{literal: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unterminated '{' in %q", t.text)
		}
		body := s[i+1 : i+j]
		expr, format, _ := strings.Cut(body, ":")
		if !exprRe.MatchString(expr) {
			return nil, fmt.Errorf("invalid binding expression {%s} in %q", body, t.text)
		}
		t.parts = append(t.parts, templatePart{expr: expr, format: format})
		s = s[i+j+1:]
	}
	return t, nil
}

// hasExpr reports whether the template has any {expression}.
func (t *template) hasExpr() bool {
	for _, p := range t.parts {
		if p.expr != "" {
			return true
		}
	}
	return false
}

// errNoBindingValue is returned when an expression names no binding data.
var errNoBindingValue = errors.New("no value for binding expression")

// expand fills in the expressions from data.
func (t *template) expand(data *bindingData) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == "" {
			b.WriteString(p.literal)
			continue
		}
		v, ok := data.expr(p.expr, p.format)
		if !ok {
			return "", fmt.Errorf("%w {%s} in %q", errNoBindingValue, p.expr, t.text)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// blobPattern is a blob binding's path: "container/blob-name-template".
type blobPattern struct {
	text      string
	container *template
	blob      *template
	re        *regexp.Regexp // trigger patterns: matches a blob name
	params    []string       // trigger patterns: parameter names in order
}

func parseBlobPattern(p string) (*blobPattern, error) {
	p = strings.TrimPrefix(p, "/")
	c, rest, ok := strings.Cut(p, "/")
	if !ok || c == "" {
		return nil, fmt.Errorf("path %q must be \"container/blob\"", p)
	}
	ct, err := parseTemplate(c)
	if err != nil {
		return nil, err
	}
	bt, err := parseTemplate(rest)
	if err != nil {
		return nil, err
	}
	bp := &blobPattern{text: p, container: ct, blob: bt}
	if !ct.hasExpr() && !strings.Contains(c, "%") {
		if err := validContainerName(c); err != nil {
			return nil, err
		}
	}
	return bp, nil
}

// triggerable reports whether the pattern can drive a blob trigger: a fixed
// container, and a blob name of literals and {name} parameters. It builds
// the matching regexp as a side effect.
func (bp *blobPattern) triggerable() bool {
	if bp.container.hasExpr() {
		return false
	}
	var re strings.Builder
	re.WriteString("(?is)^")
	seen := map[string]bool{}
	for _, part := range bp.blob.parts {
		if part.expr == "" {
			re.WriteString(regexp.QuoteMeta(part.literal))
			continue
		}
		if part.format != "" || !paramNameRe.MatchString(part.expr) || seen[strings.ToLower(part.expr)] {
			return false
		}
		seen[strings.ToLower(part.expr)] = true
		bp.params = append(bp.params, part.expr)
		re.WriteString("(.*)")
	}
	re.WriteString("$")
	bp.re = regexp.MustCompile(re.String())
	return true
}

// containerName is the fixed container of a trigger pattern.
func (bp *blobPattern) containerName() string { return bp.container.text }

// prefix is the literal start of a trigger pattern's blob name: the listing
// prefix.
func (bp *blobPattern) prefix() string {
	if len(bp.blob.parts) > 0 && bp.blob.parts[0].expr == "" {
		return bp.blob.parts[0].literal
	}
	return ""
}

// matchBlob matches a blob name against a trigger pattern and returns the
// parameter values, in pattern order.
func (bp *blobPattern) matchBlob(name string) ([]string, bool) {
	m := bp.re.FindStringSubmatch(name)
	if m == nil {
		return nil, false
	}
	return m[1:], true
}

// expand resolves an output or input path: container and blob name.
func (bp *blobPattern) expand(data *bindingData) (container, blob string, err error) {
	container, err = bp.container.expand(data)
	if err != nil {
		return "", "", err
	}
	if err := validContainerName(container); err != nil {
		return "", "", err
	}
	blob, err = bp.blob.expand(data)
	if err != nil {
		return "", "", err
	}
	if blob == "" || len(blob) > 1024 {
		return "", "", fmt.Errorf("blob name %q must be 1-1024 characters", blob)
	}
	return container, blob, nil
}

// validContainerName applies Azure's container naming rules.
func validContainerName(c string) error {
	if c == "$root" || c == "$logs" || c == "$web" {
		return nil
	}
	if len(c) < 3 || len(c) > 63 {
		return fmt.Errorf("container name %q must be 3-63 characters", c)
	}
	for i, r := range c {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0 && i < len(c)-1 && c[i-1] != '-':
		default:
			return fmt.Errorf("container name %q: only lower-case letters, digits and single inner hyphens are allowed", c)
		}
	}
	return nil
}

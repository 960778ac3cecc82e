package partition

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInputRefused is returned (by Submit) for an input container a job may
// not read: one outside the allow list, or one of funnel's own or the
// Functions host's. The job API answers it with 403.
var ErrInputRefused = errors.New("input container refused")

// DefaultInputContainers is the allow list when FUNNEL_INPUT_CONTAINERS is
// not set.
const DefaultInputContainers = "input"

// reservedPrefixes name containers no job may read whatever the allow list
// says: funnel's job records and transport containers ("funnel",
// "funnel-units", ...) and the Functions host's ("azure-webjobs-hosts",
// "azure-webjobs-secrets", its blob-trigger receipts and locks).
var reservedPrefixes = []string{"funnel", "azure-webjobs-"}

// InputPolicy says which containers a job may name as its input.
type InputPolicy struct {
	// Allow lists container names; an entry ending in '*' allows every
	// name with that prefix ("*" alone allows any container that is not
	// reserved). Empty means DefaultInputContainers.
	Allow []string
	// Reserved are further names always refused: the job records
	// container and the transports' name prefix when their settings
	// differ from the defaults (FUNNEL_JOBS_CONTAINER, FUNNEL_PREFIX).
	Reserved []string
}

// ParseInputContainers reads an allow list from its setting: names (or
// prefixes ending in '*') separated by commas; empty gives the default.
func ParseInputContainers(setting string) []string {
	if strings.TrimSpace(setting) == "" {
		setting = DefaultInputContainers
	}
	var out []string
	for _, f := range strings.Split(setting, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Check returns an error wrapping ErrInputRefused that says why, or nil if
// a job may read container c.
func (p InputPolicy) Check(c string) error {
	for _, r := range reservedPrefixes {
		if strings.HasPrefix(c, r) {
			return fmt.Errorf("%w: %q holds funnel's or the Functions host's own data (names starting with %q are never job input)", ErrInputRefused, c, r)
		}
	}
	for _, r := range p.Reserved {
		if r != "" && strings.HasPrefix(c, r) {
			return fmt.Errorf("%w: %q holds funnel's own data (names starting with %q are never job input)", ErrInputRefused, c, r)
		}
	}
	allow := p.Allow
	if len(allow) == 0 {
		allow = ParseInputContainers("")
	}
	for _, a := range allow {
		if pre, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(c, pre) {
				return nil
			}
		} else if a == c {
			return nil
		}
	}
	return fmt.Errorf("%w: %q is not an input container of this deployment (allowed: %s; setting FUNNEL_INPUT_CONTAINERS)", ErrInputRefused, c, strings.Join(allow, ", "))
}

// Package job holds what a funnel job is and what it leaves in storage: the
// request a user submits (Spec), the work units partition plans (WorkUnit),
// the partial aggregates aggregate sends (PartialMsg), and the durable job
// records that merge folds partials into exactly once (Record, Shard).
//
// # Storage layout
//
// Every record lives in one blob container (default "funnel"):
//
//	jobs/<id>/job.json          the job record: spec, plan, state, failure
//	jobs/<id>/shard-<k>.json    merge shard k: applied units and their sum
//	jobs/<id>/errors/<unit>     the last error of a failing unit
//	results/<id>.json, .csv     the result, once the job is done
//
// Records are updated with optimistic concurrency (ETag If-Match, retry on
// conflict), so concurrent stage instances never lose an update.
package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/funnelpipe/funnel/aggregate"
)

// Limits on a job request.
const (
	// DefaultUnitMB is the CLI's --unit-mb default; a spec without
	// unit_mb gets a unit size chosen from the input (AutoUnitBytes).
	DefaultUnitMB  = 8
	MaxUnitMB      = 1024
	MaxParallelism = 10000
	MaxBlobs       = 100000
	MaxRequest     = 1 << 20 // bytes of a submit request body
)

// Spec is a job request as a user submits it.
type Spec struct {
	// ID names the job; empty means "assign one". Resubmitting the same ID
	// with the same spec is idempotent.
	ID string `json:"id,omitempty"`
	// Transport is "queue" or "blob": the medium the stages use.
	Transport string `json:"transport"`
	Input     Input  `json:"input"`
	// UnitMB is the size of a work unit in MiB; 0 (the default) lets
	// partition choose it from the input size, Parallelism and the
	// transport (AutoUnitBytes).
	UnitMB int `json:"unit_mb,omitempty"`
	// Parallelism is how many units should run at once when the unit size
	// is chosen automatically (default DefaultParallelism).
	Parallelism int `json:"parallelism,omitempty"`
	// Delimiter is the field delimiter (default "|").
	Delimiter string `json:"delimiter,omitempty"`
	// Header says that every input blob starts with a header line.
	Header bool `json:"header,omitempty"`
}

// Input names the input blobs: a container and either a list of blobs or a
// name prefix.
type Input struct {
	Container string   `json:"container"`
	Blobs     []string `json:"blobs,omitempty"`
	Prefix    string   `json:"prefix,omitempty"`
}

// ErrInvalid marks a request that can never succeed as given.
var ErrInvalid = errors.New("invalid job request")

var (
	idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// containerPattern is Azure's container name rule without its length
	// (3-63, checked apart): letters and digits in runs joined by single
	// hyphens, so "a-b" is valid and "a--b", "-ab", "ab-" are not.
	containerPattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
)

// CheckID returns an error wrapping ErrInvalid unless id is a valid job ID
// (1-63 lower-case letters, digits and '-', starting with a letter or
// digit). Every path that turns an ID into a record name checks it first,
// so no ID reaches a blob name it was not meant to ("..%2F", "/", very
// long IDs).
func CheckID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: job id %.80q: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", ErrInvalid, id)
	}
	return nil
}

// ValidContainer reports whether name is a valid Azure blob container name:
// 3-63 lower-case letters, digits and single hyphens, starting and ending
// with a letter or digit.
func ValidContainer(name string) bool {
	return len(name) >= 3 && len(name) <= 63 && containerPattern.MatchString(name)
}

// transports are the media a job may choose, in the order tools try them.
var transports = [...]string{"queue", "blob"}

// Transports returns the names of the media a job may choose ("queue",
// "blob"), a fresh slice each call.
func Transports() []string { return append([]string(nil), transports[:]...) }

// knownTransport reports whether name is one of Transports.
func knownTransport(name string) bool { return slices.Contains(transports[:], name) }

// Normalize fills defaults and checks the spec, returning an error wrapping
// ErrInvalid that says what is wrong. It does not look at storage.
func (s *Spec) Normalize() error {
	if s.ID != "" {
		if err := CheckID(s.ID); err != nil {
			return err
		}
	}
	switch {
	case s.Transport == "":
		return fmt.Errorf("%w: transport is required (one of %s)", ErrInvalid, strings.Join(transports[:], ", "))
	case !knownTransport(s.Transport):
		return fmt.Errorf("%w: unknown transport %q (one of %s)", ErrInvalid, s.Transport, strings.Join(transports[:], ", "))
	}
	if !ValidContainer(s.Input.Container) {
		return fmt.Errorf("%w: input.container %q is not a valid container name (3-63 lower-case letters, digits and single hyphens)", ErrInvalid, s.Input.Container)
	}
	if len(s.Input.Blobs) > 0 && s.Input.Prefix != "" {
		return fmt.Errorf("%w: give input.blobs or input.prefix, not both", ErrInvalid)
	}
	if len(s.Input.Blobs) > MaxBlobs {
		return fmt.Errorf("%w: %d input blobs; at most %d", ErrInvalid, len(s.Input.Blobs), MaxBlobs)
	}
	seen := make(map[string]bool, len(s.Input.Blobs))
	for _, b := range s.Input.Blobs {
		if b == "" || len(b) > 1024 {
			return fmt.Errorf("%w: input.blobs: blob name %q must be 1-1024 characters", ErrInvalid, b)
		}
		if seen[b] {
			return fmt.Errorf("%w: input.blobs: %q listed twice", ErrInvalid, b)
		}
		seen[b] = true
	}
	if s.UnitMB < 0 || s.UnitMB > MaxUnitMB {
		return fmt.Errorf("%w: unit_mb %d: must be 1..%d, or 0 to let partition choose", ErrInvalid, s.UnitMB, MaxUnitMB)
	}
	if s.Parallelism < 0 || s.Parallelism > MaxParallelism {
		return fmt.Errorf("%w: parallelism %d: must be 1..%d", ErrInvalid, s.Parallelism, MaxParallelism)
	}
	if s.Delimiter == "" {
		s.Delimiter = "|"
	}
	if _, err := s.Layout(); err != nil {
		return err
	}
	return nil
}

// Layout is the row layout the spec asks for.
func (s *Spec) Layout() (aggregate.Layout, error) {
	l := aggregate.DefaultLayout()
	if len(s.Delimiter) != 1 {
		return l, fmt.Errorf("%w: delimiter %q: must be one byte", ErrInvalid, s.Delimiter)
	}
	l.Delimiter = s.Delimiter[0]
	l.Header = s.Header
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return l, nil
}

// UnitBytes is the size of a work unit in bytes, 0 when partition is to
// choose it.
func (s *Spec) UnitBytes() int64 { return int64(s.UnitMB) << 20 }

// Same reports whether two normalized specs ask for the same job.
func (s *Spec) Same(o *Spec) bool {
	if s.ID != o.ID || s.Transport != o.Transport || s.UnitMB != o.UnitMB || s.Parallelism != o.Parallelism ||
		s.Delimiter != o.Delimiter || s.Header != o.Header ||
		s.Input.Container != o.Input.Container || s.Input.Prefix != o.Input.Prefix ||
		len(s.Input.Blobs) != len(o.Input.Blobs) {
		return false
	}
	for i := range s.Input.Blobs {
		if s.Input.Blobs[i] != o.Input.Blobs[i] {
			return false
		}
	}
	return true
}

// DecodeSpec decodes a job request strictly: unknown fields, trailing data
// and wrong types are errors wrapping ErrInvalid that say what is wrong.
func DecodeSpec(data []byte) (Spec, error) {
	var s Spec
	if len(bytes.TrimSpace(data)) == 0 {
		return s, fmt.Errorf("%w: empty request body; send a JSON job spec", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%w: body is not a job spec: %v", ErrInvalid, err)
	}
	if dec.More() {
		return s, fmt.Errorf("%w: trailing data after the job spec", ErrInvalid)
	}
	return s, nil
}

package transport

import (
	"fmt"
	"strings"
)

// MaxIDLen is the longest message ID.
const MaxIDLen = 512

// DefaultPrefix starts the queue and container names of the storage-backed
// implementations unless configured otherwise: topic "units" travels
// through queue or container "funnel-units".
const DefaultPrefix = "funnel-"

// ValidateID reports whether id is a valid Message.ID: 1–512 characters of
// [A-Za-z0-9._/-], not starting or ending with '/', and made of non-empty
// '/'-separated segments none of which is "." or ".." (an ID is used as a
// blob name, and URL handling would collapse such segments). The error wraps
// ErrBadName.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("message ID %.40q: length %d not in 1..%d: %w", id, len(id), MaxIDLen, ErrBadName)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return fmt.Errorf("message ID %.40q: character %q not allowed: %w", id, id[i], ErrBadName)
		}
	}
	for seg := range strings.SplitSeq(id, "/") {
		switch seg {
		case "":
			return fmt.Errorf("message ID %.40q: empty path segment (leading, trailing or double '/'): %w", id, ErrBadName)
		case ".", "..":
			return fmt.Errorf("message ID %.40q: path segment %q not allowed: %w", id, seg, ErrBadName)
		}
	}
	return nil
}

func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

// ValidateStorageName reports whether name is a valid Azure queue or blob
// container name: 3–63 characters of lower-case letters, digits and
// hyphens, starting and ending with a letter or digit, with no two hyphens
// in a row. The error wraps ErrBadName.
func ValidateStorageName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("storage name %.70q: length %d not in 3..63: %w", name, len(name), ErrBadName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if i == 0 || i == len(name)-1 {
				return fmt.Errorf("storage name %q: starts or ends with '-': %w", name, ErrBadName)
			}
			if name[i-1] == '-' {
				return fmt.Errorf("storage name %q: two hyphens in a row: %w", name, ErrBadName)
			}
		default:
			return fmt.Errorf("storage name %q: character %q not allowed (lower-case letters, digits, '-'): %w", name, c, ErrBadName)
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix can start storage names: up to 60
// characters of lower-case letters, digits and single hyphens, starting
// with a letter or digit (it may end with a hyphen, as in "funnel-"). An
// empty prefix is valid. The error wraps ErrBadName.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > 60 {
		return fmt.Errorf("name prefix %.70q: longer than 60: %w", prefix, ErrBadName)
	}
	// A prefix is valid when some suffix makes a valid name; "x00" is the
	// shortest suffix that can follow any valid prefix.
	if err := ValidateStorageName(prefix + "x00"); err != nil {
		return fmt.Errorf("name prefix %q: %w", prefix, err)
	}
	return nil
}

// StorageName joins prefix and topic into a queue or container name and
// validates it; the error wraps ErrBadName.
func StorageName(prefix, topic string) (string, error) {
	if topic == "" {
		return "", fmt.Errorf("empty topic: %w", ErrBadName)
	}
	name := prefix + topic
	if err := ValidateStorageName(name); err != nil {
		return "", fmt.Errorf("topic %q: %w", topic, err)
	}
	return name, nil
}

// ValidateMessages checks what every Send checks before it stores
// anything: each message has a valid ID (ValidateID, ErrBadName) and a
// body of at most MaxBody bytes (ErrTooLarge). It returns the first
// problem.
func ValidateMessages(msgs []Message) error {
	for _, m := range msgs {
		if err := ValidateID(m.ID); err != nil {
			return err
		}
		if len(m.Body) > MaxBody {
			return fmt.Errorf("message %s: %d bytes over %d: %w", m.ID, len(m.Body), MaxBody, ErrTooLarge)
		}
	}
	return nil
}

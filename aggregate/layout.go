// Package aggregate is funnel's aggregation kernel: it parses delimited
// TPC-H customer rows and folds them into a per-nation Partial (row count,
// exact sum in cents, min, max, and the rejected rows), merges Partials, and
// turns the final Partial into a Result written as JSON, CSV or a table.
//
// The same code serves `funnel ref` (whole files on one machine) and the
// pipeline's aggregate stage (one byte range of a blob per work unit), so the
// reference answer and the pipeline's answer cannot drift apart.
//
// # Row contract
//
// Lines end at '\n'; one '\r' before it is dropped, so CRLF files work. A
// file need not end with a newline. Blank lines (empty, or only spaces, tabs,
// '\r', '\v', '\f') are ignored. A line is split at Layout.Delimiter and each
// field is trimmed of surrounding spaces and tabs. A row is valid when it has
// at least max(NationField, BalanceField) fields, its nation field is an
// unsigned decimal integer 0..24 (leading zeros allowed, no sign), and its
// balance field matches -?[0-9]+(\.[0-9]{1,2})? and fits in an int64 number
// of cents. Every other non-blank line is rejected: counted in
// Partial.Rejected and, for the first MaxSamples lines by (file, offset),
// kept as a Sample with the reason. With Layout.Header the line starting at
// byte 0 of a file is skipped (neither counted nor rejected).
//
// # Byte ranges
//
// ScanRange aggregates the lines that start inside [Start, End) of a file: a
// line belongs to the range in which it starts. Splitting a file into
// adjacent ranges and merging their Partials gives exactly the Partial of
// the whole file.
//
// # Exact arithmetic
//
// Balances are int64 cents; per-nation sums are 128-bit (Int128), so no
// input can overflow them. Means are exact quotients rounded half away from
// zero to a cent.
package aggregate

import (
	"encoding/json"
	"errors"
	"fmt"
)

// NationCount is the number of TPC-H nations; valid nation keys are
// 0..NationCount-1.
const NationCount = 25

// MaxField is the largest column position a Layout accepts.
const MaxField = 1024

// ErrBadLayout is returned (wrapped) for a Layout that cannot be used.
var ErrBadLayout = errors.New("aggregate: bad layout")

// Layout says where the fields a scan needs are in a line.
//
// Its JSON form is {"delimiter":"|","nation_field":4,"balance_field":6,
// "header":false}; fields missing from the JSON keep DefaultLayout's values.
type Layout struct {
	// Delimiter separates fields: any single byte except '\n' and '\r'.
	Delimiter byte
	// NationField is the 1-based position of the nation key (c_nationkey).
	NationField int
	// BalanceField is the 1-based position of the balance (c_acctbal).
	BalanceField int
	// Header says the first line of each file (the line at offset 0) is a
	// header and is skipped.
	Header bool
	// MaxLine is the longest line a scan reads, '\n' excluded; 0 means
	// DefaultMaxLine. A longer line is rejected as "line too long" (with a
	// sample of its start) and skipped, so a scan's memory and reads stay
	// bounded whatever the input holds (a file without newlines, a gzip
	// uploaded by mistake).
	MaxLine int `json:",omitempty"`
}

// DefaultMaxLine is the longest line a scan reads unless Layout.MaxLine
// says otherwise: 1 MiB, far above any real CSV row.
const DefaultMaxLine = 1 << 20

// LineLimit is the longest line a scan with l reads: MaxLine, or
// DefaultMaxLine when MaxLine is 0. A scan of a range never needs a byte
// more than LineLimit past the range's end.
func (l Layout) LineLimit() int {
	if l.MaxLine > 0 {
		return l.MaxLine
	}
	return DefaultMaxLine
}

// DefaultLayout is the layout dbgen writes: '|'-delimited, nation key in
// field 4, balance in field 6, no header.
func DefaultLayout() Layout {
	return Layout{Delimiter: '|', NationField: 4, BalanceField: 6}
}

// Validate reports whether l can be used for a scan; the error wraps
// ErrBadLayout.
func (l Layout) Validate() error {
	switch {
	case l.Delimiter == '\n' || l.Delimiter == '\r':
		return fmt.Errorf("%w: delimiter may not be a line terminator (%q)", ErrBadLayout, l.Delimiter)
	case l.NationField < 1 || l.NationField > MaxField:
		return fmt.Errorf("%w: nation field %d is not in 1..%d", ErrBadLayout, l.NationField, MaxField)
	case l.BalanceField < 1 || l.BalanceField > MaxField:
		return fmt.Errorf("%w: balance field %d is not in 1..%d", ErrBadLayout, l.BalanceField, MaxField)
	case l.NationField == l.BalanceField:
		return fmt.Errorf("%w: nation and balance are both field %d", ErrBadLayout, l.NationField)
	case l.MaxLine < 0:
		return fmt.Errorf("%w: maximum line length %d is negative", ErrBadLayout, l.MaxLine)
	}
	return nil
}

// minFields is how many fields a valid row has at least.
func (l Layout) minFields() int {
	return max(l.NationField, l.BalanceField)
}

// ParseDelimiter turns a user's spelling of a delimiter into its byte: a
// single byte is itself; `\t` and "tab" mean a tab. Anything else is an error
// wrapping ErrBadLayout.
func ParseDelimiter(s string) (byte, error) {
	switch s {
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%w: delimiter %q is not a single byte", ErrBadLayout, s)
	}
	if s[0] == '\n' || s[0] == '\r' {
		return 0, fmt.Errorf("%w: delimiter may not be a line terminator", ErrBadLayout)
	}
	return s[0], nil
}

type layoutJSON struct {
	Delimiter    string `json:"delimiter"`
	NationField  int    `json:"nation_field"`
	BalanceField int    `json:"balance_field"`
	Header       bool   `json:"header"`
}

// MarshalJSON writes the delimiter as a one-character string.
func (l Layout) MarshalJSON() ([]byte, error) {
	return json.Marshal(layoutJSON{
		Delimiter:    string(rune(l.Delimiter)),
		NationField:  l.NationField,
		BalanceField: l.BalanceField,
		Header:       l.Header,
	})
}

// UnmarshalJSON reads the JSON form; missing fields take DefaultLayout's
// values, and the result is validated.
func (l *Layout) UnmarshalJSON(b []byte) error {
	d := DefaultLayout()
	w := layoutJSON{Delimiter: string(rune(d.Delimiter)), NationField: d.NationField, BalanceField: d.BalanceField}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadLayout, err)
	}
	r := []rune(w.Delimiter)
	if len(r) != 1 || r[0] > 0xff {
		return fmt.Errorf("%w: delimiter %q is not a single byte", ErrBadLayout, w.Delimiter)
	}
	nl := Layout{Delimiter: byte(r[0]), NationField: w.NationField, BalanceField: w.BalanceField, Header: w.Header}
	if err := nl.Validate(); err != nil {
		return err
	}
	*l = nl
	return nil
}

// Package reference computes the pipeline's answer — rows accepted and
// rejected, and per nation the count, exact sum, minimum, maximum and mean
// account balance — the slow, obvious way, sharing no code with the
// aggregation kernel (package aggregate): lines split with bytes.Split,
// balances matched by a regular expression and parsed as big.Rat, sums
// kept as big.Int, the mean rounded with big.Rat. It is the independent
// answer a kernel bug cannot also produce: aggregate's fuzz tests check the
// kernel against it, and the benchmark runner and `funnel run` check every
// job against it (SF 1 against the dbgen answer in shared/testdata; see
// package sf1).
//
// The row contract it implements (the same one aggregate documents): lines
// end at '\n' (a trailing '\r' is dropped); blank lines are skipped; with a
// header the first line is skipped; fields are split at the delimiter and
// trimmed of spaces and tabs; the nation key is an unsigned decimal below
// 25; the balance is an optional '-', digits, and at most two decimals,
// within int64 cents (math.MinInt64 excluded). Any other line is rejected
// with one of the Reason texts.
package reference

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"strings"

	"github.com/funnelpipe/funnel/testing_data/sf1"
)

// Nations is the TPC-H nation table's names by key (TPC-H specification
// 2.18, clause 4.2.3), written here rather than taken from the kernel.
var Nations = [25]string{
	"ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT",
	"ETHIOPIA", "FRANCE", "GERMANY", "INDIA", "INDONESIA",
	"IRAN", "IRAQ", "JAPAN", "JORDAN", "KENYA",
	"MOROCCO", "MOZAMBIQUE", "PERU", "CHINA", "ROMANIA",
	"SAUDI ARABIA", "VIETNAM", "RUSSIA", "UNITED KINGDOM", "UNITED STATES",
}

// Why a line is rejected: the row contract's texts.
const (
	ReasonNationEmpty   = "empty nation key"
	ReasonNationSyntax  = "nation key is not an unsigned integer"
	ReasonNationRange   = "nation key out of range 0..24"
	ReasonBalanceEmpty  = "empty balance"
	ReasonBalanceSyntax = "balance is not a decimal number with at most 2 places"
	ReasonBalanceRange  = "balance out of range"
)

// ReasonTooFew is the reason for a line with fewer than need fields.
func ReasonTooFew(need int) string { return fmt.Sprintf("too few fields (need %d)", need) }

// Layout says where the fields are. NationField and BalanceField count
// from 1.
type Layout struct {
	Delimiter    byte
	NationField  int
	BalanceField int
	Header       bool
}

// TPCH is the layout of dbgen's customer.tbl: '|'-separated, the nation key
// in field 4 and the account balance in field 6, no header.
func TPCH() Layout { return Layout{Delimiter: '|', NationField: 4, BalanceField: 6} }

// Nation is one nation's figures; Min and Max are in cents and mean
// nothing when Count is 0.
type Nation struct {
	Key      int
	Count    int64
	SumCents *big.Int
	Min, Max int64
}

// Rejection is one rejected line.
type Rejection struct {
	File   string
	Offset int64 // of the line's first byte in its file
	Reason string
	Line   []byte // without its line end
}

// Answer is the reference answer for some input.
type Answer struct {
	Bytes    int64
	Rows     int64
	Rejected int64
	Nations  [25]Nation
	// Rejections holds the first MaxRejections rejected lines.
	Rejections []Rejection
}

// MaxRejections bounds Answer.Rejections.
const MaxRejections = 1000

func newAnswer() *Answer {
	a := &Answer{}
	for k := range a.Nations {
		a.Nations[k] = Nation{Key: k, SumCents: new(big.Int)}
	}
	return a
}

var (
	balanceRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,2})?$`)
	digitsRE  = regexp.MustCompile(`^[0-9]+$`)
)

// Balance parses a balance the obvious way, in cents, or says why it is
// not one (a Reason text).
func Balance(b []byte) (int64, string) {
	if len(b) == 0 {
		return 0, ReasonBalanceEmpty
	}
	if !balanceRE.Match(b) {
		return 0, ReasonBalanceSyntax
	}
	r, ok := new(big.Rat).SetString(string(b))
	if !ok {
		return 0, ReasonBalanceSyntax
	}
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	n := cents.Num()
	if !cents.IsInt() || !n.IsInt64() || n.Int64() == math.MinInt64 {
		return 0, ReasonBalanceRange
	}
	return n.Int64(), ""
}

// line adds one line (without its '\n') at offset off of file.
func (a *Answer) line(file string, off int64, line []byte, l Layout) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(bytes.Trim(line, " \t\r\v\f")) == 0 {
		return
	}
	need := max(l.NationField, l.BalanceField)
	fields := bytes.Split(line, []byte{l.Delimiter})
	reason := ""
	var key int
	var cents int64
	if len(fields) < need {
		reason = ReasonTooFew(need)
	} else {
		nation := bytes.Trim(fields[l.NationField-1], " \t")
		switch {
		case len(nation) == 0:
			reason = ReasonNationEmpty
		case !digitsRE.Match(nation):
			reason = ReasonNationSyntax
		default:
			k, _ := new(big.Int).SetString(string(nation), 10)
			if k.Cmp(big.NewInt(int64(len(Nations)))) >= 0 {
				reason = ReasonNationRange
			} else {
				key = int(k.Int64())
				cents, reason = Balance(bytes.Trim(fields[l.BalanceField-1], " \t"))
			}
		}
	}
	if reason != "" {
		a.Rejected++
		if len(a.Rejections) < MaxRejections {
			a.Rejections = append(a.Rejections, Rejection{File: file, Offset: off, Reason: reason, Line: bytes.Clone(line)})
		}
		return
	}
	a.Rows++
	n := &a.Nations[key]
	if n.Count == 0 || cents < n.Min {
		n.Min = cents
	}
	if n.Count == 0 || cents > n.Max {
		n.Max = cents
	}
	n.Count++
	n.SumCents.Add(n.SumCents, big.NewInt(cents))
}

// Scan computes the answer for one whole input held in memory, named file
// in its rejections.
func Scan(in []byte, file string, l Layout) *Answer {
	a := newAnswer()
	a.Bytes = int64(len(in))
	first := true
	for off := 0; off < len(in); {
		line := in[off:]
		next := len(in)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], off+i+1
		}
		if !(first && l.Header) {
			a.line(file, int64(off), line, l)
		}
		first = false
		off = next
	}
	return a
}

// ScanReader computes the answer for one input read from r, a line at a
// time (lines of any length).
func ScanReader(r io.Reader, file string, l Layout) (*Answer, error) {
	a := newAnswer()
	br := bufio.NewReaderSize(r, 1<<20)
	var off int64
	first := true
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			n := int64(len(line))
			if !(first && l.Header) {
				a.line(file, off, bytes.TrimSuffix(line, []byte("\n")), l)
			}
			first = false
			off += n
		}
		if errors.Is(err, io.EOF) {
			a.Bytes = off
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reference: %s: %w", file, err)
		}
	}
}

// ScanFiles computes the answer for files read one after the other, each
// an input of its own (a header, if the layout has one, in each).
func ScanFiles(paths []string, l Layout) (*Answer, error) {
	total := newAnswer()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
		a, err := ScanReader(f, p, l)
		f.Close()
		if err != nil {
			return nil, err
		}
		total.add(a)
	}
	return total, nil
}

// add folds b into a.
func (a *Answer) add(b *Answer) {
	a.Bytes += b.Bytes
	a.Rows += b.Rows
	a.Rejected += b.Rejected
	for k := range a.Nations {
		x, y := &a.Nations[k], b.Nations[k]
		if y.Count == 0 {
			continue
		}
		if x.Count == 0 || y.Min < x.Min {
			x.Min = y.Min
		}
		if x.Count == 0 || y.Max > x.Max {
			x.Max = y.Max
		}
		x.Count += y.Count
		x.SumCents.Add(x.SumCents, y.SumCents)
	}
	for _, r := range b.Rejections {
		if len(a.Rejections) < MaxRejections {
			a.Rejections = append(a.Rejections, r)
		}
	}
}

// FormatCents prints cents as a decimal with two places: -5 → "-0.05".
func FormatCents(c *big.Int) string {
	abs := new(big.Int).Abs(c)
	q, r := new(big.Int).QuoRem(abs, big.NewInt(100), new(big.Int))
	sign := ""
	if c.Sign() < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%s%s.%02d", sign, q.String(), r.Int64())
}

// Mean is the nation's mean balance, Sum/Count rounded half away from zero
// to the cent, as a decimal with two places ("" without rows).
func (n Nation) Mean() string {
	if n.Count == 0 {
		return ""
	}
	q := new(big.Rat).SetFrac(n.SumCents, big.NewInt(n.Count))
	// round half away from zero: floor(|q| + 1/2) with the sign of q.
	abs := new(big.Rat).Abs(q)
	abs.Add(abs, big.NewRat(1, 2))
	whole := new(big.Int).Quo(abs.Num(), abs.Denom())
	if q.Sign() < 0 {
		whole.Neg(whole)
	}
	return FormatCents(whole)
}

// NationJSON is one nation's line in funnel's result format.
type NationJSON struct {
	Key      int      `json:"key"`
	Name     string   `json:"name"`
	Count    int64    `json:"count"`
	SumCents *big.Int `json:"sum_cents"`
	Min      string   `json:"min"`
	Max      string   `json:"max"`
	Mean     string   `json:"mean"`
}

// ResultJSON is an answer in funnel's result format (the format of
// shared/testdata's customer_sf1.expected.json and of a job's result):
// nations without rows are left out.
type ResultJSON struct {
	Rows     int64        `json:"rows"`
	Rejected int64        `json:"rejected"`
	Nations  []NationJSON `json:"nations"`
}

// Result returns the answer in funnel's result format.
func (a *Answer) Result() ResultJSON {
	r := ResultJSON{Rows: a.Rows, Rejected: a.Rejected, Nations: []NationJSON{}}
	for _, n := range a.Nations {
		if n.Count == 0 {
			continue
		}
		r.Nations = append(r.Nations, NationJSON{
			Key: n.Key, Name: Nations[n.Key], Count: n.Count, SumCents: new(big.Int).Set(n.SumCents),
			Min: FormatCents(big.NewInt(n.Min)), Max: FormatCents(big.NewInt(n.Max)), Mean: n.Mean(),
		})
	}
	return r
}

// ErrDiffers marks an answer that differs from the reference.
var ErrDiffers = errors.New("reference: the answer differs")

// Compare reports how got differs from want, both in funnel's result
// format: row counts, and per nation the name, count, sum, minimum,
// maximum and mean. A difference is an error wrapping ErrDiffers that
// lists the first few differences.
func Compare(got, want ResultJSON) error {
	var diffs []string
	if got.Rows != want.Rows || got.Rejected != want.Rejected {
		diffs = append(diffs, fmt.Sprintf("%d rows accepted and %d rejected, want %d and %d", got.Rows, got.Rejected, want.Rows, want.Rejected))
	}
	wantBy := map[int]NationJSON{}
	for _, n := range want.Nations {
		wantBy[n.Key] = n
	}
	seen := map[int]bool{}
	for _, g := range got.Nations {
		if seen[g.Key] {
			diffs = append(diffs, fmt.Sprintf("nation %d appears twice", g.Key))
			continue
		}
		seen[g.Key] = true
		w, ok := wantBy[g.Key]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("nation %d %s should not be there", g.Key, g.Name))
		case g.Name != w.Name || g.Count != w.Count || g.SumCents == nil || w.SumCents == nil || g.SumCents.Cmp(w.SumCents) != 0 ||
			g.Min != w.Min || g.Max != w.Max || g.Mean != w.Mean:
			diffs = append(diffs, fmt.Sprintf("nation %d %s: count %d sum %v min %s max %s mean %s, want %s %d %v %s %s %s",
				g.Key, g.Name, g.Count, g.SumCents, g.Min, g.Max, g.Mean, w.Name, w.Count, w.SumCents, w.Min, w.Max, w.Mean))
		}
	}
	for _, w := range want.Nations {
		if !seen[w.Key] {
			diffs = append(diffs, fmt.Sprintf("nation %d %s is missing", w.Key, w.Name))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	const show = 5
	more := ""
	if len(diffs) > show {
		more = fmt.Sprintf(" (and %d more differences)", len(diffs)-show)
		diffs = diffs[:show]
	}
	return fmt.Errorf("%w: %s%s", ErrDiffers, strings.Join(diffs, "; "), more)
}

// ParseResult reads an answer in funnel's result format (a job's result,
// or shared/testdata's expected answer).
func ParseResult(b []byte) (ResultJSON, error) {
	var r ResultJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return ResultJSON{}, fmt.Errorf("reference: not a result: %w", err)
	}
	return r, nil
}

// FromResult reads any value that marshals to funnel's result format (a
// job's result, the kernel's aggregate.Result) as a ResultJSON, so that it
// can be compared with Compare.
func FromResult(v any) (ResultJSON, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ResultJSON{}, fmt.Errorf("reference: %w", err)
	}
	return ParseResult(b)
}

// ForTable returns the exact answer for a TPC-H customer table at scale
// factor sf held in the files paths (bytes in all), and where it comes
// from: at SF 1 dbgen's own answer from shared/testdata (package sf1), when
// that folder is found, after checking that the files hold as many bytes
// as dbgen's table; otherwise the reference scanner's over the files.
func ForTable(sf float64, paths []string, bytes int64) (*ResultJSON, string, error) {
	if sf == 1 {
		if b, err := sf1.ExpectedJSON(); err == nil {
			if bytes != sf1.Bytes {
				return nil, "", fmt.Errorf("reference: the SF 1 files hold %d bytes, dbgen's table %d", bytes, sf1.Bytes)
			}
			r, err := ParseResult(b)
			if err != nil {
				return nil, "", fmt.Errorf("reference: %s: %w", sf1.ExpectedFile, err)
			}
			return &r, "dbgen's answer (shared/testdata/" + sf1.ExpectedFile + ")", nil
		}
	}
	a, err := ScanFiles(paths, TPCH())
	if err != nil {
		return nil, "", err
	}
	if a.Bytes != bytes {
		return nil, "", fmt.Errorf("reference: read %d bytes, the files hold %d", a.Bytes, bytes)
	}
	r := a.Result()
	return &r, "reference scanner (testing_data/reference)", nil
}

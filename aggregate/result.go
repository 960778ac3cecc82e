package aggregate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is a job's answer: per nation with rows, the count, exact sum, min,
// max and mean balance. Its JSON form is
//
//	{"rows":150000,"rejected":0,"nations":[{"key":0,"name":"ALGERIA",
//	 "count":5925,"sum_cents":2632297010,"min":"-997.46","max":"9998.97",
//	 "mean":"4442.70"}, ...]}
//
// plus "rejected_samples" when there are samples.
type Result struct {
	Rows     int64 `json:"rows"`
	Rejected int64 `json:"rejected"`
	// Nations lists the nations with at least one row, by key.
	Nations         []NationResult `json:"nations"`
	RejectedSamples []Sample       `json:"rejected_samples,omitempty"`
}

// NationResult is one nation's line of a Result. Min, Max and Mean are
// decimals with exactly two places; Mean is Sum/Count rounded half away from
// zero.
type NationResult struct {
	Key      int    `json:"key"`
	Name     string `json:"name"`
	Count    int64  `json:"count"`
	SumCents Int128 `json:"sum_cents"`
	Min      string `json:"min"`
	Max      string `json:"max"`
	Mean     string `json:"mean"`
}

// NewResult computes the Result of a (final) Partial.
func NewResult(p *Partial) *Result {
	r := &Result{Rows: p.Rows, Rejected: p.Rejected, Nations: []NationResult{}}
	for k, s := range p.Nations {
		if s.Count == 0 {
			continue
		}
		r.Nations = append(r.Nations, NationResult{
			Key:      k,
			Name:     NationName(k),
			Count:    s.Count,
			SumCents: s.Sum,
			Min:      FormatCents(s.Min),
			Max:      FormatCents(s.Max),
			Mean:     formatBigCents(MeanCents(s.Sum, s.Count)),
		})
	}
	if len(p.Samples) > 0 {
		r.RejectedSamples = append([]Sample(nil), p.Samples...)
	}
	return r
}

// MeanCents returns sum/count rounded half away from zero, in cents. count
// must be positive.
func MeanCents(sum Int128, count int64) *big.Int {
	q, rem := new(big.Int).QuoRem(new(big.Int).Abs(sum.Big()), big.NewInt(count), new(big.Int))
	// half away from zero: round up the magnitude when rem >= count/2
	if rem.Lsh(rem, 1).Cmp(big.NewInt(count)) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if sum.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

// FormatCents writes cents as a decimal with exactly two places:
// -5 is "-0.05", 71150 is "711.50".
func FormatCents(cents int64) string {
	u := uint64(cents)
	sign := ""
	if cents < 0 {
		u, sign = -u, "-"
	}
	return sign + strconv.FormatUint(u/100, 10) + "." + string([]byte{byte('0' + u%100/10), byte('0' + u%10)})
}

// formatBigCents is FormatCents for any size.
func formatBigCents(cents *big.Int) string {
	if cents.IsInt64() {
		return FormatCents(cents.Int64())
	}
	q, r := new(big.Int).QuoRem(new(big.Int).Abs(cents), big.NewInt(100), new(big.Int))
	sign := ""
	if cents.Sign() < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%s%s.%02d", sign, q, r.Int64())
}

// WriteJSON writes r as indented JSON followed by a newline.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("aggregate: write result: %w", err)
	}
	return nil
}

// WriteCSV writes one line per nation under the header
// key,name,customers,mean,min,max,total (total is the exact sum).
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"key", "name", "customers", "mean", "min", "max", "total"}); err != nil {
		return fmt.Errorf("aggregate: write result: %w", err)
	}
	for _, n := range r.Nations {
		rec := []string{strconv.Itoa(n.Key), n.Name, strconv.FormatInt(n.Count, 10), n.Mean, n.Min, n.Max, formatBigCents(n.SumCents.Big())}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("aggregate: write result: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("aggregate: write result: %w", err)
	}
	return nil
}

// WriteTable writes r as an aligned table for people, numbers right-aligned,
// with a last line giving the accepted and rejected row counts.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	nameWidth := len("NATION")
	for _, n := range r.Nations {
		nameWidth = max(nameWidth, len(n.Name))
	}
	// tabwriter right-aligns every column; padding the name to the column's
	// width keeps it reading left-aligned.
	fmt.Fprintf(tw, "KEY\t%-*s\tCUSTOMERS\tMEAN\tMIN\tMAX\tTOTAL\t\n", nameWidth, "NATION")
	for _, n := range r.Nations {
		fmt.Fprintf(tw, "%d\t%-*s\t%d\t%s\t%s\t%s\t%s\t\n", n.Key, nameWidth, n.Name, n.Count, n.Mean, n.Min, n.Max, formatBigCents(n.SumCents.Big()))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("aggregate: write result: %w", err)
	}
	if _, err := fmt.Fprintf(w, "rows accepted: %d, rejected: %d\n", r.Rows, r.Rejected); err != nil {
		return fmt.Errorf("aggregate: write result: %w", err)
	}
	return nil
}

// Compare returns nil when got has the same figures as want: the row
// counts and every nation's count, sum, minimum, maximum and mean.
// Rejected samples are not compared (they name blobs on one side and local
// files on the other), only their number. Otherwise the error lists the
// first five differences.
func Compare(got, want Result) error {
	var diffs []string
	if got.Rows != want.Rows || got.Rejected != want.Rejected {
		diffs = append(diffs, fmt.Sprintf("%d rows accepted and %d rejected, want %d and %d", got.Rows, got.Rejected, want.Rows, want.Rejected))
	}
	wantBy := map[int]NationResult{}
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
		case g != w:
			diffs = append(diffs, fmt.Sprintf("nation %d %s: count %d sum %s min %s max %s mean %s, want %d %s %s %s %s",
				g.Key, g.Name, g.Count, g.SumCents, g.Min, g.Max, g.Mean, w.Count, w.SumCents, w.Min, w.Max, w.Mean))
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
	return fmt.Errorf("answers differ: %s%s", strings.Join(diffs, "; "), more)
}

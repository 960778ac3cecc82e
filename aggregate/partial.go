package aggregate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxSamples is how many rejected lines a Partial keeps as samples.
const MaxSamples = 5

// MaxSampleLine is how many bytes of a rejected line a Sample keeps.
const MaxSampleLine = 200

// ErrBadPartial is returned (wrapped) when a Partial's JSON is malformed or
// inconsistent.
var ErrBadPartial = errors.New("aggregate: bad partial")

// NationStats is the aggregate of one nation's accepted rows. When Count is
// 0 the other fields are meaningless and ignored.
type NationStats struct {
	Count int64
	// Sum is the exact sum of the balances in cents.
	Sum Int128
	// Min and Max are the smallest and largest balance in cents.
	Min, Max int64
}

// add folds one balance in.
func (s *NationStats) add(cents int64) {
	if s.Count == 0 {
		s.Min, s.Max = cents, cents
	} else {
		s.Min = min(s.Min, cents)
		s.Max = max(s.Max, cents)
	}
	s.Count++
	s.Sum = s.Sum.Add64(cents)
}

// merge folds o in.
func (s *NationStats) merge(o NationStats) {
	switch {
	case o.Count == 0:
		return
	case s.Count == 0:
		*s = o
		return
	}
	s.Count += o.Count
	s.Sum = s.Sum.Add(o.Sum)
	s.Min = min(s.Min, o.Min)
	s.Max = max(s.Max, o.Max)
}

// Sample is one rejected line.
type Sample struct {
	// File names the input the line came from (Range.File).
	File string `json:"file"`
	// Offset is the byte offset of the line's start within File.
	Offset int64 `json:"offset"`
	// Reason says why the line was rejected.
	Reason string `json:"reason"`
	// Line is the line without its terminator, cut to MaxSampleLine bytes
	// and made valid UTF-8 (invalid bytes become U+FFFD) so that it survives
	// JSON unchanged.
	Line string `json:"line"`
}

func compareSamples(a, b Sample) int {
	return cmp.Or(
		cmp.Compare(a.File, b.File),
		cmp.Compare(a.Offset, b.Offset),
		cmp.Compare(a.Reason, b.Reason),
		cmp.Compare(a.Line, b.Line),
	)
}

// Partial is the aggregate of some lines of some files. The zero value is an
// empty Partial. Partials from disjoint inputs combine with Merge; the
// result does not depend on the order or grouping of merges.
//
// Its JSON form is compact and lossless:
//
//	{"rows":2,"rejected":1,"bytes":300,
//	 "nations":[{"key":15,"count":2,"sum":142312,"min":71156,"max":71156}],
//	 "samples":[{"file":"a.tbl","offset":150,"reason":"...","line":"..."}]}
//
// where sum, min and max are cents and only nations with rows are listed.
type Partial struct {
	// Rows counts accepted rows.
	Rows int64
	// Rejected counts rejected (non-blank, invalid) lines.
	Rejected int64
	// Bytes counts the bytes of every line the scan owned, terminators
	// included (accepted, rejected, blank and header lines): the Partials of
	// adjacent ranges covering a file add up to the file's size.
	Bytes int64
	// Nations holds the statistics per nation key.
	Nations [NationCount]NationStats
	// Samples holds up to MaxSamples rejected lines: those with the
	// smallest (File, Offset), in that order.
	Samples []Sample
}

// Merge folds o into p. Merge is associative and commutative: counts and
// sums add, min and max combine, and the samples kept are the MaxSamples
// smallest of both by (File, Offset, Reason, Line).
func (p *Partial) Merge(o *Partial) {
	p.Rows += o.Rows
	p.Rejected += o.Rejected
	p.Bytes += o.Bytes
	for k := range p.Nations {
		p.Nations[k].merge(o.Nations[k])
	}
	if len(o.Samples) == 0 {
		return
	}
	all := make([]Sample, 0, len(p.Samples)+len(o.Samples))
	all = append(all, p.Samples...)
	all = append(all, o.Samples...)
	slices.SortFunc(all, compareSamples)
	p.Samples = slices.Clip(all[:min(len(all), MaxSamples)])
}

// addSample records a rejected line; lines arrive in increasing offset
// within one scan, so the first MaxSamples are the ones to keep.
func (p *Partial) addSample(file string, off int64, reason string, line []byte) {
	p.Rejected++
	if len(p.Samples) >= MaxSamples {
		return
	}
	p.Samples = append(p.Samples, Sample{File: file, Offset: off, Reason: reason, Line: sampleText(line)})
}

// sampleText cuts a line to MaxSampleLine bytes and makes it valid UTF-8.
func sampleText(line []byte) string {
	if len(line) > MaxSampleLine {
		line = line[:MaxSampleLine]
	}
	return strings.ToValidUTF8(string(line), "\uFFFD")
}

type nationJSON struct {
	Key   int    `json:"key"`
	Count int64  `json:"count"`
	Sum   Int128 `json:"sum"`
	Min   int64  `json:"min"`
	Max   int64  `json:"max"`
}

type partialJSON struct {
	Rows     int64        `json:"rows"`
	Rejected int64        `json:"rejected"`
	Bytes    int64        `json:"bytes"`
	Nations  []nationJSON `json:"nations"`
	Samples  []Sample     `json:"samples,omitempty"`
}

// MarshalJSON writes p's compact JSON form.
func (p Partial) MarshalJSON() ([]byte, error) {
	w := partialJSON{Rows: p.Rows, Rejected: p.Rejected, Bytes: p.Bytes, Nations: []nationJSON{}, Samples: p.Samples}
	for k, s := range p.Nations {
		if s.Count == 0 {
			continue
		}
		w.Nations = append(w.Nations, nationJSON{Key: k, Count: s.Count, Sum: s.Sum, Min: s.Min, Max: s.Max})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form MarshalJSON writes and checks it: nation keys
// in range and unique, counts positive, min <= max, counts and sample count
// consistent. Errors wrap ErrBadPartial.
func (p *Partial) UnmarshalJSON(b []byte) error {
	var w partialJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPartial, err)
	}
	if w.Rows < 0 || w.Rejected < 0 || w.Bytes < 0 {
		return fmt.Errorf("%w: negative count", ErrBadPartial)
	}
	var np Partial
	np.Rows, np.Rejected, np.Bytes = w.Rows, w.Rejected, w.Bytes
	var total int64
	for _, n := range w.Nations {
		switch {
		case n.Key < 0 || n.Key >= NationCount:
			return fmt.Errorf("%w: nation key %d out of range", ErrBadPartial, n.Key)
		case np.Nations[n.Key].Count != 0:
			return fmt.Errorf("%w: nation %d listed twice", ErrBadPartial, n.Key)
		case n.Count <= 0:
			return fmt.Errorf("%w: nation %d has count %d", ErrBadPartial, n.Key, n.Count)
		case n.Min > n.Max:
			return fmt.Errorf("%w: nation %d has min %d > max %d", ErrBadPartial, n.Key, n.Min, n.Max)
		}
		np.Nations[n.Key] = NationStats{Count: n.Count, Sum: n.Sum, Min: n.Min, Max: n.Max}
		total += n.Count
	}
	if total != w.Rows {
		return fmt.Errorf("%w: nation counts add up to %d, rows is %d", ErrBadPartial, total, w.Rows)
	}
	if int64(len(w.Samples)) > min(w.Rejected, MaxSamples) {
		return fmt.Errorf("%w: %d samples for %d rejected lines", ErrBadPartial, len(w.Samples), w.Rejected)
	}
	if len(w.Samples) > 0 {
		np.Samples = w.Samples
		slices.SortFunc(np.Samples, compareSamples)
	}
	*p = np
	return nil
}

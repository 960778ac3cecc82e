package aggregate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
)

// ToEnd as a Range's End means "to the end of the file".
const ToEnd int64 = math.MaxInt64

// ErrBadRange is returned (wrapped) for a Range with Start < 0 or
// End < Start.
var ErrBadRange = errors.New("aggregate: bad range")

// Range is the byte range [Start, End) of the input named File. File only
// labels samples; it is not opened.
type Range struct {
	File       string
	Start, End int64
}

// Read buffer sizes: large enough that a read costs little per byte, small
// enough to stay in the core's L2 cache while the rows are parsed.
const (
	readBufSize    = 256 << 10
	minReadBufSize = 4 << 10
	// tailReadSize is the first read size once the range's end has been
	// reached and only its last line is being finished; it doubles on each
	// further read, so a scan reads little past the end of its last line.
	tailReadSize = 512
	// bufSlack is spare capacity past the read buffer's length, so that the
	// row parser may load eight bytes at any index of a line.
	bufSlack = 8
	// maxEmptyReads is how many (0, nil) reads in a row mean a broken reader.
	maxEmptyReads = 100
)

// ScanFile aggregates the whole file at path. Samples name the file by path.
func ScanFile(ctx context.Context, path string, layout Layout) (*Partial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	defer f.Close()
	return Scan(ctx, f, path, layout)
}

// Scan aggregates everything r yields, as the whole of the input named file.
func Scan(ctx context.Context, r io.Reader, file string, layout Layout) (*Partial, error) {
	return ScanRange(ctx, r, Range{File: file, Start: 0, End: ToEnd}, layout)
}

// ScanRange aggregates the lines of a file that start in [rng.Start,
// rng.End).
//
// r must yield the file's bytes from offset max(0, rng.Start-1): the byte
// before Start tells whether a line starts at Start. The first, partial line
// is skipped unless it starts at Start; the line that runs across End is
// read to its end. r may go on to the end of the file or stop anywhere after
// the newline that ends the range's last line: ScanRange issues no read
// after it has that newline, and reads at most a few small reads past End
// while looking for it. If r ends earlier, its end is taken as the file's
// end.
//
// Reads and memory are bounded by the range and the layout's maximum line
// length (Layout.MaxLine), whatever the input: a line longer than that is
// rejected as "line too long" once MaxLine bytes of it have been read, and
// skipped up to its newline but never past End (a later range's bytes are
// not its owner's to read); the partial first line is skipped up to End at
// most. So a scan reads at most MaxLine+1 bytes past End, and adjacent
// ranges add up to the file's size except for the part of an overlong line
// past the end of the range it starts in.
//
// A read error is returned wrapped, with the offset; ctx is checked between
// reads. The layout is validated first (errors wrap ErrBadLayout).
func ScanRange(ctx context.Context, r io.Reader, rng Range, layout Layout) (*Partial, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if rng.Start < 0 || rng.End < rng.Start {
		return nil, fmt.Errorf("%w: [%d, %d) of %q", ErrBadRange, rng.Start, rng.End, rng.File)
	}
	if rng.Start == rng.End {
		return &Partial{}, nil
	}
	// A small range gets a small buffer; it grows if a line needs it.
	size := readBufSize
	if span := rng.End - rng.Start; span < readBufSize/2 {
		size = max(minReadBufSize, 2*int(span))
	}
	// The buffer never holds more than max+1 bytes, so a line whose '\n'
	// is in it is never longer than max: a long line is rejected however
	// the input is read.
	size = min(size, layout.LineLimit()+1)
	s := scanner{
		r:      r,
		rng:    rng,
		layout: layout,
		minf:   layout.minFields(),
		tooFew: fmt.Sprintf("too few fields (need %d)", layout.minFields()),
		buf:    make([]byte, size, size+bufSlack),
		max:    layout.LineLimit(),
		off:    max(0, rng.Start-1),
		tail:   tailReadSize,
	}
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	return &s.p, nil
}

// scanner holds one scan's state. buf[lo:hi] is read but not yet consumed;
// buf[lo] is at file offset off and, after the first line, always starts a
// line.
type scanner struct {
	r      io.Reader
	rng    Range
	layout Layout
	minf   int
	tooFew string

	buf    []byte
	lo, hi int
	from   int // no '\n' in buf[lo:from]
	off    int64
	eof    bool
	tail   int
	max    int  // longest line read
	done   bool // nothing more of the range to read (an overlong line ran past End)

	p Partial
}

func (s *scanner) run(ctx context.Context) error {
	if s.rng.Start > 0 {
		ok, err := s.skipPartialLine(ctx)
		if !ok || err != nil {
			return err
		}
	}
	for s.off < s.rng.End {
		if j := bytes.LastIndexByte(s.buf[s.from:s.hi], '\n'); j >= 0 {
			s.lines(s.from + j + 1)
			s.from = s.lo
			continue
		}
		s.from = s.hi
		if s.hi-s.lo > s.max {
			if err := s.skipLongLine(ctx); err != nil || s.done {
				return err
			}
			continue
		}
		if s.eof {
			if s.lo < s.hi {
				// The last line has no final newline: parse it as if it
				// had one (the buffer's slack has room), but count only
				// its own bytes.
				s.buf[:s.hi+1][s.hi] = '\n'
				s.lines(s.hi + 1)
				s.p.Bytes--
				s.off--
				s.lo = s.hi
			}
			return nil
		}
		if err := s.fill(ctx); err != nil {
			return err
		}
	}
	return nil
}

// lines parses the whole lines in buf[lo:lim] (buf[lim-1] is '\n') that
// start before the range's end.
func (s *scanner) lines(lim int) {
	lo, off, end := s.lo, s.off, s.rng.End
	if off == 0 && s.layout.Header && lo < lim { // skip the header line
		next := lo + bytes.IndexByte(s.buf[lo:lim], '\n') + 1
		off += int64(next - lo)
		lo = next
	}
	for lo < lim && off < end {
		next := s.row(lo, lim, off)
		off += int64(next - lo)
		lo = next
	}
	s.p.Bytes += off - s.off
	s.lo, s.off = lo, off
}

// Constants of the SWAR (SIMD within a register) search: eight bytes are
// compared with the delimiter at once.
const (
	swarOnes = 0x0101010101010101
	swarLow7 = 0x7f7f7f7f7f7f7f7f
)

// zeroBytes returns 0x80 in each byte of the result where x has a zero
// byte, and 0 elsewhere (exactly: no false positives).
func zeroBytes(x uint64) uint64 {
	return ^(((x & swarLow7) + swarLow7) | x | swarLow7)
}

// row parses the line starting at s.buf[start], folds it in, and returns the
// index just after its '\n'. A '\n' must occur in s.buf[start:lim], and the
// buffer's slack lets eight bytes be loaded at any index before lim.
func (s *scanner) row(start, lim int, off int64) int {
	buf := s.buf[:lim+bufSlack-1]
	nf, bf, minf := s.layout.NationField, s.layout.BalanceField, s.minf
	dm := uint64(s.layout.Delimiter) * swarOnes
	nl := start + bytes.IndexByte(buf[start:lim], '\n')
	// Find the delimiters ending fields 1..minf, eight bytes at a time,
	// noting where the nation and balance fields lie.
	count, prev := 0, start-1
	ns, ne, bs, be := 0, 0, 0, 0
	for i := start; i < nl; i += 8 {
		y := zeroBytes(binary.LittleEndian.Uint64(buf[i:]) ^ dm)
		if rest := nl - i; rest < 8 {
			y &= 1<<(uint(8*rest)&63) - 1
		}
		for y != 0 {
			p := i + bits.TrailingZeros64(y)>>3
			y &= y - 1
			count++
			if count == nf {
				ns, ne = prev+1, p
			} else if count == bf {
				bs, be = prev+1, p
			}
			prev = p
			if count == minf {
				goto fields
			}
		}
	}
	{
		// The line ended first; its last field runs to the end of the line
		// (before a '\r').
		end := nl
		if end > start && buf[end-1] == '\r' {
			end--
		}
		count++
		switch {
		case count < minf:
			s.reject(start, nl, off, s.tooFew)
			return nl + 1
		case count == nf:
			ns, ne = prev+1, max(prev+1, end)
		case count == bf:
			bs, be = prev+1, max(prev+1, end)
		}
	}
fields:
	key, reason := parseNation(trimSpaceTab(buf[ns:ne]))
	if reason != "" {
		s.reject(start, nl, off, reason)
		return nl + 1
	}
	bs, be = trimSpaceTabAt(buf, bs, be)
	cents, reason := parseBalanceAt(buf, bs, be)
	if reason != "" {
		s.reject(start, nl, off, reason)
		return nl + 1
	}
	s.p.Rows++
	s.p.Nations[key].add(cents)
	return nl + 1
}

// reject counts and samples the bad line buf[start:nl], unless it is blank.
func (s *scanner) reject(start, nl int, off int64, reason string) {
	line := s.buf[start:nl]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if isBlank(line) {
		return
	}
	s.p.addSample(s.rng.File, off, reason, line)
}

// skipLongLine rejects the line at buf[lo] (file offset off), which has
// no '\n' within its first max bytes, and skips it up to its newline —
// counting its bytes — but not past the range's end: then done is set.
func (s *scanner) skipLongLine(ctx context.Context) error {
	start := s.off
	s.p.addSample(s.rng.File, start, fmt.Sprintf("%s (no newline within %d bytes)", reasonLineTooLong, s.max), s.buf[s.lo:s.hi])
	for {
		if i := bytes.IndexByte(s.buf[s.lo:s.hi], '\n'); i >= 0 {
			s.off += int64(i + 1)
			s.lo += i + 1
			s.from = s.lo
			s.p.Bytes += s.off - start
			return nil
		}
		s.off += int64(s.hi - s.lo)
		s.lo, s.hi, s.from = 0, 0, 0
		if s.eof || s.off >= s.rng.End {
			s.p.Bytes += s.off - start
			s.done = true
			return nil
		}
		if err := s.fill(ctx); err != nil {
			return err
		}
	}
}

// skipPartialLine consumes input through the first '\n', discarding as it
// goes so a long skipped line costs no memory. It reports false if the input
// ended first, or if no line starts before the range's end (the range lies
// inside one line that started earlier): then it reads nothing past End.
func (s *scanner) skipPartialLine(ctx context.Context) (bool, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.lo:s.hi], '\n'); i >= 0 {
			s.off += int64(i + 1)
			s.lo += i + 1
			s.from = s.lo
			return s.off < s.rng.End, nil
		}
		s.off += int64(s.hi - s.lo)
		s.lo, s.hi, s.from = 0, 0, 0
		if s.eof || s.off >= s.rng.End {
			return false, nil
		}
		if err := s.fill(ctx); err != nil {
			return false, err
		}
	}
}

// fill reads more input after buf[hi], compacting or growing buf when it is
// full. Before End it reads at most up to End; past End it reads in small,
// doubling steps.
func (s *scanner) fill(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("aggregate: scan %s: %w", s.rng.File, err)
	}
	if s.hi == len(s.buf) {
		if s.lo > 0 {
			n := copy(s.buf, s.buf[s.lo:s.hi])
			s.from -= s.lo
			s.lo, s.hi = 0, n
		} else { // a line longer than the buffer, up to max+1 bytes
			n := min(2*len(s.buf), s.max+1)
			nb := make([]byte, n, n+bufSlack)
			copy(nb, s.buf[:s.hi])
			s.buf = nb
		}
	}
	want := len(s.buf) - s.hi
	readAt := s.off + int64(s.hi-s.lo) // file offset of buf[hi]
	if readAt >= s.rng.End {
		want = min(want, s.tail)
		s.tail = min(2*s.tail, readBufSize)
	} else if rest := s.rng.End - readAt; rest < int64(want) {
		want = int(rest)
	}
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf[s.hi : s.hi+want])
		s.hi += n
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("aggregate: read %s at offset %d: %w", s.rng.File, readAt+int64(n), err)
		}
		if n > 0 {
			return nil
		}
		if empty >= maxEmptyReads {
			return fmt.Errorf("aggregate: read %s at offset %d: %w", s.rng.File, readAt, io.ErrNoProgress)
		}
	}
}

// Reasons a line is rejected.
const (
	reasonNationEmpty    = "empty nation key"
	reasonNationSyntax   = "nation key is not an unsigned integer"
	reasonNationRange    = "nation key out of range 0..24"
	reasonBalanceEmpty   = "empty balance"
	reasonBalanceSyntax  = "balance is not a decimal number with at most 2 places"
	reasonBalanceRange   = "balance out of range"
	reasonLineTooLong    = "line too long"
	maxCentsIntegerPart  = math.MaxInt64 / 100
	nationOverflowMarker = 1000
)

func isBlank(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r', '\v', '\f':
		default:
			return false
		}
	}
	return true
}

func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// trimSpaceTabAt is trimSpaceTab on the bounds of buf[s:e].
func trimSpaceTabAt(buf []byte, s, e int) (int, int) {
	for s < e && (buf[s] == ' ' || buf[s] == '\t') {
		s++
	}
	for e > s && (buf[e-1] == ' ' || buf[e-1] == '\t') {
		e--
	}
	return s, e
}

// parseNation parses an unsigned decimal nation key (leading zeros allowed).
// A non-empty reason means the field is invalid.
func parseNation(b []byte) (int, string) {
	if n := uint(len(b)); n-1 < 2 {
		// One or two digits, without a branch on which: with one, b[0]
		// and b[n-1] are the same digit and its tens weight is 0.
		d0, d1 := uint(b[0]-'0'), uint(b[n-1]-'0')
		if v := d0*10*(n-1) + d1; d0 <= 9 && d1 <= 9 && v < NationCount {
			return int(v), ""
		}
	} else if n == 0 {
		return 0, reasonNationEmpty
	}
	v := 0
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, reasonNationSyntax
		}
		if v < nationOverflowMarker {
			v = v*10 + int(d)
		}
	}
	if v >= NationCount {
		return 0, reasonNationRange
	}
	return v, ""
}

// parseBalanceAt is parseBalance(buf[s:e]) with a fast path for the usual
// shape, -?[0-9]{1,5}\.[0-9]{1,2}: it removes the point and converts the up
// to 8 digits with a few multiplications (D. Lemire, "Quickly parsing eight
// digits", 2018) instead of a loop with a branch per digit. Anything else
// goes to parseBalance. Eight bytes must be readable in buf from any index
// before e.
func parseBalanceAt(buf []byte, s, e int) (int64, string) {
	if s >= e {
		return 0, reasonBalanceEmpty
	}
	ds := s
	if buf[ds] == '-' {
		ds++
	}
	n := e - ds  // digits and point
	var k, f int // digits before and after the point
	switch {
	case n < 3 || n > 8:
		return parseBalance(buf[s:e])
	case buf[e-3] == '.':
		k, f = n-3, 2
	case buf[e-2] == '.':
		k, f = n-2, 1
	default:
		return parseBalance(buf[s:e])
	}
	if k < 1 {
		return parseBalance(buf[s:e])
	}
	// Shift counts are masked with 63 (they are all below 64) so that the
	// compiler emits plain shifts.
	w := binary.LittleEndian.Uint64(buf[ds:])
	kb := uint(8*k) & 63
	digits := w&(1<<kb-1) | (w>>((kb+8)&63))&(1<<(uint(8*f)&63)-1)<<kb
	if f == 1 {
		digits |= '0' << ((kb + 8) & 63)
	}
	m := k + 2 // digits of the value in cents, at most 8
	if m < 8 {
		digits |= 0x3030303030303030 << (uint(8*m) & 63) // pad with '0'
	}
	if digits&0xf0f0f0f0f0f0f0f0 != 0x3030303030303030 ||
		(digits+0x0606060606060606)&0xf0f0f0f0f0f0f0f0 != 0x3030303030303030 {
		return parseBalance(buf[s:e]) // not all digits: let the slow path say why
	}
	// Digit values, most significant first in the lowest byte, moved up so
	// the padding becomes leading zeros.
	v := (digits - 0x3030303030303030) << (uint(8*(8-m)) & 63)
	v = v*10 + v>>8
	v = ((v&0x000000ff000000ff)*(100+1000000<<32) + (v>>16&0x000000ff000000ff)*(1+10000<<32)) >> 32
	cents := int64(v)
	if ds > s {
		cents = -cents
	}
	return cents, ""
}

// parseBalance parses -?[0-9]+(\.[0-9]{1,2})? into cents. A non-empty
// reason means the field is invalid.
func parseBalance(b []byte) (int64, string) {
	if len(b) == 0 {
		return 0, reasonBalanceEmpty
	}
	i, neg := 0, false
	if b[0] == '-' {
		neg, i = true, 1
	}
	start := i
	var ip uint64
	big := false
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		if ip > maxCentsIntegerPart {
			big = true
		} else {
			ip = ip*10 + uint64(d)
		}
	}
	if i == start {
		return 0, reasonBalanceSyntax
	}
	var frac uint64
	if i < len(b) {
		if b[i] != '.' {
			return 0, reasonBalanceSyntax
		}
		i++
		places := len(b) - i
		if places < 1 || places > 2 {
			return 0, reasonBalanceSyntax
		}
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				return 0, reasonBalanceSyntax
			}
			frac = frac*10 + uint64(d)
		}
		if places == 1 {
			frac *= 10
		}
	}
	if big || ip > (math.MaxInt64-frac)/100 {
		return 0, reasonBalanceRange
	}
	cents := int64(ip*100 + frac)
	if neg {
		cents = -cents
	}
	return cents, ""
}

package dbgen

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// Per-column streams of the customer table: dbgen's seeds for streams 26–31
// and how many numbers each column is allotted per row. A column that uses
// fewer is skipped forward to its allotment at the end of the row.
var customerStreams = [numCustomerColumns]struct {
	seed   int64
	perRow int64
}{
	colAddress: {881155353, 9},
	colNation:  {1489529863, 1},
	colPhone:   {1521138112, 3},
	colBalance: {298370230, 1},
	colSegment: {1140279430, 1},
	colComment: {1335826707, 2},
}

const (
	colAddress = iota
	colNation
	colPhone
	colBalance
	colSegment
	colComment
	numCustomerColumns
)

const (
	// Address lengths: dbgen's average of 25 scaled by 0.4 and 1.6.
	addressMin, addressMax = 10, 40
	// Comment lengths: dbgen's average of 73 scaled by 0.4 and 1.6.
	commentMin, commentMax = 29, 116
	// Account balance range in cents.
	balanceMin, balanceMax = -99999, 999999
	// commentBatch is how many comments appendRows fetches at a time.
	commentBatch = 32
	// maxRowLen bounds one customer line for up to 19-digit keys.
	maxRowLen = 20 + 10 + 20 + addressMax + 3 + 16 + 12 + 10 + commentMax + 9
)

// alphaNum is the alphabet of dbgen's random strings, indexed by six bits.
const alphaNum = "0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ,"

// ErrRowRange reports a row range outside the table's key space.
var ErrRowRange = errors.New("dbgen: invalid row range")

// MaxKey is the largest customer key the generator accepts: the last row at
// dbgen's largest supported scale factor.
const MaxKey = customersPerSF * MaxScaleFactor

// Generator produces customer rows. It holds dbgen's text pool (300 MiB),
// which takes about a second to build; after that it is read-only, so one
// Generator may serve any number of goroutines at once.
type Generator struct {
	pool     []byte
	segments *picker
	buffers  sync.Pool // of *[]byte chunk buffers with capacity chunkCap
}

// NewGenerator builds a Generator, including its text pool. The pool's
// memory is returned to the system once the Generator is unreachable.
func NewGenerator() *Generator {
	mem, release := allocPool(textPoolSize + maxSentence)
	buildTextPool(mem)
	g := &Generator{pool: mem[:textPoolSize:textPoolSize], segments: newPicker(distMarketSegments)}
	runtime.AddCleanup(g, func(release func()) { release() }, release)
	return g
}

// AppendRows appends the lines of customers first … first+count−1 (keys
// start at 1) to dst and returns the extended slice. Each line is exactly
// what dbgen writes to customer.tbl, newline included. A row's content
// depends only on its key, not on the scale factor or the range asked for.
// It returns ErrRowRange if first < 1, count < 0 or the range passes MaxKey.
func (g *Generator) AppendRows(dst []byte, first, count int64) ([]byte, error) {
	if first < 1 || count < 0 || first > MaxKey || count > MaxKey-first+1 {
		return dst, fmt.Errorf("%w: first %d, count %d (keys run 1..%d)", ErrRowRange, first, count, MaxKey)
	}
	return g.appendRows(dst, first, count), nil
}

// appendRows is AppendRows without the range check.
func (g *Generator) appendRows(dst []byte, first, count int64) []byte {
	var streams [numCustomerColumns]stream
	for c, cs := range customerStreams {
		streams[c] = stream{x: cs.seed}
		streams[c].skip(cs.perRow * (first - 1))
	}
	// Only the address uses a varying count of numbers per row; the other
	// columns always use exactly their allotment, so their streams simply
	// run on from row to row. The address stream restarts each row from
	// addrRow, which steps by its allotment.
	addrRow := streams[colAddress].x
	addrStep := lehmerPow(customerStreams[colAddress].perRow)
	nation, phone := &streams[colNation], &streams[colPhone]
	balance, segment := &streams[colBalance], &streams[colSegment]
	comment := &streams[colComment]

	// Comments are copied from random places in a 300 MiB pool, so nearly
	// every one misses the caches and the TLB. Fetching a batch of them in a
	// tight loop lets the processor overlap those misses instead of taking
	// them one row at a time.
	var (
		stage    [commentBatch][commentMax]byte
		stageLen [commentBatch]int
	)
	pool := g.pool
	for key := first; key < first+count; {
		batch := int(min(commentBatch, first+count-key))
		for j := range batch {
			off := comment.uniform(0, textPoolSize-commentMax)
			n := comment.uniform(commentMin, commentMax)
			stageLen[j] = copy(stage[j][:], pool[off:off+n])
		}
		for j := range batch {
			dst = strconv.AppendInt(dst, key, 10)
			dst = append(dst, "|Customer#"...)
			dst = appendPadded(dst, key, 9)
			dst = append(dst, '|')

			addr := stream{x: addrRow}
			addrRow = addrRow * addrStep % lehmerM
			n := addr.uniform(addressMin, addressMax)
			var bits int64
			for i := range n {
				if i%5 == 0 {
					bits = addr.alnum()
				}
				dst = append(dst, alphaNum[bits&63])
				bits >>= 6
			}
			dst = append(dst, '|')

			nk := nation.uniform(0, nationCount-1)
			dst = strconv.AppendInt(dst, nk, 10)
			dst = append(dst, '|')

			area := phone.uniform(100, 999)
			exchange := phone.uniform(100, 999)
			number := phone.uniform(1000, 9999)
			dst = appendPadded(dst, 10+nk%90, 2)
			dst = append(dst, '-')
			dst = appendPadded(dst, area, 3)
			dst = append(dst, '-')
			dst = appendPadded(dst, exchange, 3)
			dst = append(dst, '-')
			dst = appendPadded(dst, number, 4)
			dst = append(dst, '|')

			cents := balance.uniform(balanceMin, balanceMax)
			if cents < 0 {
				dst = append(dst, '-')
				cents = -cents
			}
			dst = strconv.AppendInt(dst, cents/100, 10)
			dst = append(dst, '.')
			dst = appendPadded(dst, cents%100, 2)
			dst = append(dst, '|')

			dst = append(dst, g.segments.word(segment)...)
			dst = append(dst, '|')

			dst = append(dst, stage[j][:stageLen[j]]...)
			dst = append(dst, '|', '\n')
			key++
		}
	}
	// The pool may live outside the Go heap and be unmapped by g's cleanup;
	// g must stay reachable for as long as the pool is read.
	runtime.KeepAlive(g)
	return dst
}

// appendPadded appends v (≥ 0) in decimal, zero-padded to at least width
// digits.
func appendPadded(dst []byte, v int64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	buf[i] = byte('0' + v)
	return append(dst, buf[i:]...)
}

// Package dbgen generates the TPC-H customer table exactly as the official
// TPC-H dbgen 2.x writes customer.tbl, byte for byte, for any supported
// scale factor.
//
// Each line is
//
//	c_custkey|c_name|c_address|c_nationkey|c_phone|c_acctbal|c_mktsegment|c_comment|
//
// followed by "\n". Scale factor SF gives 150,000 × SF rows, computed as
// dbgen computes it: below 1 the factor counts in thousandths (0.01 gives
// 1,500 rows); from 1 up it must be a whole number. The largest accepted
// factor is dbgen's own limit, MaxScaleFactor.
//
// Every row is a pure function of its key (dbgen resets its random streams
// to fixed per-row positions), so rows can be produced in any order or in
// parallel: Write splits the table into chunks, generates them on several
// goroutines and writes them in key order. Generating needs dbgen's 300 MiB
// text pool, which a Generator builds once (about a second) and then shares
// read-only.
//
// The algorithm follows the public TPC-H dbgen sources and dists.dss; the
// code here is an independent implementation.
package dbgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

const (
	// customersPerSF is the customer row count at scale factor 1.
	customersPerSF = 150000
	// MaxScaleFactor is the largest scale factor dbgen supports.
	MaxScaleFactor = 100000
	// MaxWorkers bounds Options.Workers; each worker may hold two chunks
	// of about 1 MB in flight.
	MaxWorkers = 256
	// chunkRows is how many rows one unit of work holds (about 660 kB):
	// small enough that a chunk is still in cache when it is written out.
	chunkRows = 4096
	// chunkCap is a chunk buffer's capacity, enough for any chunk.
	chunkCap = chunkRows * maxRowLen
)

// ErrOptions reports invalid generation options.
var ErrOptions = errors.New("dbgen: invalid options")

// Options controls Write.
type Options struct {
	// ScaleFactor selects the table size, see the package documentation.
	ScaleFactor float64
	// Workers is how many goroutines generate rows; 0 means
	// runtime.GOMAXPROCS(0). The output does not depend on it.
	Workers int
}

// Rows returns the number of customer rows dbgen writes at scale factor sf,
// or an error wrapping ErrOptions if sf is not positive, exceeds
// MaxScaleFactor, is fractional above 1 (dbgen would silently truncate it)
// or is finer than a thousandth below 1 (dbgen would silently round it down).
func Rows(sf float64) (int64, error) {
	switch {
	case math.IsNaN(sf) || sf <= 0:
		return 0, fmt.Errorf("%w: scale factor %v must be positive", ErrOptions, sf)
	case sf > MaxScaleFactor:
		return 0, fmt.Errorf("%w: scale factor %v exceeds the maximum %d", ErrOptions, sf, MaxScaleFactor)
	case sf >= 1:
		if sf != math.Trunc(sf) {
			return 0, fmt.Errorf("%w: scale factor %v: from 1 up it must be a whole number", ErrOptions, sf)
		}
		return customersPerSF * int64(sf), nil
	}
	milli := sf * 1000
	if milli < 1 || math.Abs(milli-math.Round(milli)) > 1e-6 {
		return 0, fmt.Errorf("%w: scale factor %v: below 1 it must be a multiple of 0.001", ErrOptions, sf)
	}
	// dbgen truncates the product to an int and scales the base row count
	// by it in integer arithmetic; mirror that, rounding error included.
	return int64(milli) * customersPerSF / 1000, nil
}

// workers returns the validated worker count.
func (o Options) workers() (int, error) {
	switch {
	case o.Workers < 0 || o.Workers > MaxWorkers:
		return 0, fmt.Errorf("%w: workers %d must be between 0 and %d", ErrOptions, o.Workers, MaxWorkers)
	case o.Workers == 0:
		return runtime.GOMAXPROCS(0), nil
	}
	return o.Workers, nil
}

// Write builds a Generator and writes the whole customer table for opts to
// w. See (*Generator).Write.
func Write(ctx context.Context, w io.Writer, opts Options) error {
	if _, err := Rows(opts.ScaleFactor); err != nil {
		return err
	}
	if _, err := opts.workers(); err != nil {
		return err
	}
	// Building the text pool takes about a second; don't start it in vain.
	if err := ctx.Err(); err != nil {
		return err
	}
	return NewGenerator().Write(ctx, w, opts)
}

// Write writes the whole customer table for opts to w, in key order. It
// returns an error wrapping ErrOptions for invalid options (before writing
// anything), the first error from w, or ctx's error if ctx ends first. After
// an error, w has received a prefix of the table: whole chunks of rows plus
// whatever part of the failed write w accepted.
func (g *Generator) Write(ctx context.Context, w io.Writer, opts Options) error {
	rows, err := Rows(opts.ScaleFactor)
	if err != nil {
		return err
	}
	workers, err := opts.workers()
	if err != nil {
		return err
	}
	chunks := (rows + chunkRows - 1) / chunkRows
	if int64(workers) > chunks {
		workers = int(max(chunks, 1))
	}
	if workers == 1 {
		return g.writeSerial(ctx, w, rows)
	}
	return g.writeParallel(ctx, w, rows, chunks, workers)
}

// chunkRange returns the first key and row count of chunk i.
func chunkRange(i, rows int64) (first, count int64) {
	first = i*chunkRows + 1
	return first, min(chunkRows, rows-first+1)
}

func (g *Generator) writeSerial(ctx context.Context, w io.Writer, rows int64) error {
	buf := g.getBuffer()
	defer g.putBuffer(buf)
	for first := int64(1); first <= rows; first += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = g.appendRows(buf[:0], first, min(chunkRows, rows-first+1))
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("dbgen: write: %w", err)
		}
	}
	return nil
}

// chunk is one generated unit of work on its way to the writer.
type chunk struct {
	index int64
	buf   []byte
}

// writeParallel generates chunks on workers goroutines and writes them in
// order from one more goroutine. At most 2×workers chunks are in flight,
// which bounds memory: a worker must take a slot before claiming the next
// chunk index, and the writer frees a slot only after writing a chunk.
// Claiming indices in slot order means the chunk the writer waits for is
// always already being generated, so the pipeline cannot stall.
func (g *Generator) writeParallel(ctx context.Context, w io.Writer, rows, chunks int64, workers int) error {
	inFlight := 2 * workers
	slots := make(chan []byte, inFlight)
	for range inFlight {
		slots <- g.getBuffer()
	}
	defer func() {
		for range len(slots) {
			g.putBuffer(<-slots)
		}
	}()
	done := make(chan chunk, inFlight)

	eg, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64 // the next chunk index to claim
	for range workers {
		eg.Go(func() error {
			for {
				var buf []byte
				select {
				case buf = <-slots:
				case <-ctx.Done():
					return ctx.Err()
				}
				i := next.Add(1) - 1
				if i >= chunks {
					return nil
				}
				first, count := chunkRange(i, rows)
				buf = g.appendRows(buf[:0], first, count)
				select {
				case done <- chunk{index: i, buf: buf}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
	}
	eg.Go(func() error {
		pending := make(map[int64][]byte, inFlight)
		for want := int64(0); want < chunks; {
			select {
			case c := <-done:
				pending[c.index] = c.buf
			case <-ctx.Done():
				return ctx.Err()
			}
			for buf, ok := pending[want]; ok; buf, ok = pending[want] {
				delete(pending, want)
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("dbgen: write: %w", err)
				}
				slots <- buf
				want++
			}
		}
		return nil
	})
	return eg.Wait()
}

// getBuffer returns an empty chunk buffer, reusing one from an earlier
// Write if possible: fresh memory costs a page fault per 4 kB.
func (g *Generator) getBuffer() []byte {
	if b, ok := g.buffers.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, chunkCap)
}

// putBuffer makes buf available to getBuffer again.
func (g *Generator) putBuffer(buf []byte) {
	g.buffers.Put(&buf)
}

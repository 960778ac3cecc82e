package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

	"github.com/funnelpipe/funnel/aggregate"
)

// cmdRef computes the reference answer on this machine with the same kernel
// the pipeline runs: each file is cut into units of --unit-mb, scanned in
// parallel (the pipeline's byte-range rule), and the partials merged.
// Files ending in .xz are decompressed and scanned whole; "-" is standard
// input. The result goes to stdout; a summary and any rejected samples go to
// stderr.
func cmdRef(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "ref", "[--json|--csv] [--delimiter C] [--header] [--nation-field N] [--balance-field N] FILE...")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	asCSV := fs.Bool("csv", false, "print the result as CSV")
	delim := fs.String("delimiter", "|", `field delimiter: one byte, or \t (tab)`)
	header := fs.Bool("header", false, "each file's first line is a header")
	def := aggregate.DefaultLayout()
	nationField := fs.Int("nation-field", def.NationField, "1-based position of the nation key")
	balanceField := fs.Int("balance-field", def.BalanceField, "1-based position of the account balance")
	unitMB := fs.Int("unit-mb", 64, "cut files into units of this many MiB, scanned in parallel")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "units scanned at once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *asJSON && *asCSV:
		return fmt.Errorf("%w: --json and --csv exclude each other", errUsage)
	case fs.NArg() == 0:
		return fmt.Errorf("%w: ref needs at least one FILE", errUsage)
	case *unitMB < 1:
		return fmt.Errorf("%w: --unit-mb %d must be at least 1", errUsage, *unitMB)
	case *workers < 1:
		return fmt.Errorf("%w: --workers %d must be at least 1", errUsage, *workers)
	}
	d, err := aggregate.ParseDelimiter(*delim)
	if err != nil {
		return fmt.Errorf("%w: --delimiter: %w", errUsage, err)
	}
	layout := aggregate.Layout{Delimiter: d, NationField: *nationField, BalanceField: *balanceField, Header: *header}
	if err := layout.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	started := time.Now()
	units, err := refUnits(fs.Args(), int64(*unitMB)<<20)
	if err != nil {
		return err
	}
	partials := make([]*aggregate.Partial, len(units))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(*workers)
	for i, u := range units {
		g.Go(func() error {
			p, err := u.scan(gctx, e.stdin, layout)
			if err != nil {
				return fmt.Errorf("ref: %w", err)
			}
			partials[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var total aggregate.Partial
	for _, p := range partials {
		total.Merge(p)
	}

	res := aggregate.NewResult(&total)
	switch {
	case *asJSON:
		err = res.WriteJSON(e.stdout)
	case *asCSV:
		err = res.WriteCSV(e.stdout)
	default:
		err = res.WriteTable(e.stdout)
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	fmt.Fprintf(e.stderr, "ref: %d file(s), %d bytes, %d rows accepted, %d rejected, in %.2fs (%.0f MB/s)\n",
		len(fs.Args()), total.Bytes, total.Rows, total.Rejected, elapsed.Seconds(), float64(total.Bytes)/1e6/max(elapsed.Seconds(), 1e-9))
	if total.Rejected > 0 {
		fmt.Fprintf(e.stderr, "ref: %d line(s) rejected; the first %d:\n", total.Rejected, len(total.Samples))
		for _, s := range total.Samples {
			fmt.Fprintf(e.stderr, "  %s:%d: %s: %q\n", s.File, s.Offset, s.Reason, s.Line)
		}
	}
	return nil
}

// refUnit is one piece of work for ref: a byte range of a plain file, or a
// whole stream (standard input, an .xz file).
type refUnit struct {
	path  string
	rng   aggregate.Range
	size  int64 // file size; -1 for a stream
	stdin bool
}

// refUnits stats the files and cuts plain ones into units of unit bytes.
func refUnits(files []string, unit int64) ([]refUnit, error) {
	var units []refUnit
	stdin := false
	for _, f := range files {
		switch {
		case f == "-":
			if stdin {
				return nil, fmt.Errorf("%w: standard input (-) given twice", errUsage)
			}
			stdin = true
			units = append(units, refUnit{path: "-", rng: aggregate.Range{File: "-", End: aggregate.ToEnd}, size: -1, stdin: true})
			continue
		case strings.HasSuffix(f, ".xz"):
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("ref: %w", err)
			}
			units = append(units, refUnit{path: f, rng: aggregate.Range{File: f, End: aggregate.ToEnd}, size: -1})
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("ref: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%w: %s is a directory", errUsage, f)
		}
		size := st.Size()
		for start := int64(0); start == 0 || start < size; start += unit {
			units = append(units, refUnit{path: f, rng: aggregate.Range{File: f, Start: start, End: min(start+unit, size)}, size: size})
		}
	}
	return units, nil
}

// scan runs the kernel over the unit.
func (u refUnit) scan(ctx context.Context, stdin io.Reader, layout aggregate.Layout) (*aggregate.Partial, error) {
	if u.stdin {
		return aggregate.Scan(ctx, stdin, "-", layout)
	}
	f, err := os.Open(u.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if u.size < 0 { // .xz
		zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.path, err)
		}
		return aggregate.Scan(ctx, zr, u.path, layout)
	}
	// From the byte before the unit to the end of the file: the kernel
	// reads only as far as its last line needs.
	from := max(0, u.rng.Start-1)
	return aggregate.ScanRange(ctx, io.NewSectionReader(f, from, u.size-from), u.rng, layout)
}

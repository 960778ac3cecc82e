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

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
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
	units, err := refUnits(fs.Args(), int64(*unitMB)<<20, e.stdin)
	if err != nil {
		return err
	}
	total, err := aggregate.ScanLocal(ctx, units, *workers, layout)
	if err != nil {
		return fmt.Errorf("ref: %w", err)
	}

	res := aggregate.NewResult(total)
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

// refUnits stats the files and cuts plain ones into units of unit bytes as
// the pipeline cuts blobs (job.CutLocal); standard input ("-") and .xz
// files are streams scanned whole.
func refUnits(files []string, unit int64, stdin io.Reader) ([]aggregate.LocalUnit, error) {
	var units []aggregate.LocalUnit
	var plain []job.File // consecutive plain files, cut together
	flush := func() {
		units = append(units, job.CutLocal(plain, unit)...)
		plain = nil
	}
	seenStdin := false
	for _, f := range files {
		switch {
		case f == "-":
			if seenStdin {
				return nil, fmt.Errorf("%w: standard input (-) given twice", errUsage)
			}
			seenStdin = true
			flush()
			units = append(units, aggregate.LocalUnit{Path: "-", Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		case strings.HasSuffix(f, ".xz"):
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("ref: %w", err)
			}
			flush()
			units = append(units, aggregate.LocalUnit{Path: f, Open: func() (io.ReadCloser, error) { return openXZ(f) }})
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("ref: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%w: %s is a directory", errUsage, f)
		}
		plain = append(plain, job.File{Name: f, Size: st.Size()})
	}
	flush()
	return units, nil
}

// openXZ opens an .xz file decompressing.
func openXZ(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

package aggregate

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"
)

// LocalUnit is one piece of a scan of local files: a byte range of a file
// on disk, or, when Open is set, a whole stream (standard input, a
// decompressed file) that cannot be cut. Files are cut into ranges the way
// the pipeline cuts blobs by job.CutLocal (job.Cut), the one cutting rule.
type LocalUnit struct {
	Path  string
	Range Range
	Size  int64 // the file's size; unused for a stream
	// Open opens the stream to scan whole; nil for a range of Path.
	Open func() (io.ReadCloser, error)
}

// ScanLocal scans units with up to workers at a time and merges their
// partials: on one machine, the answer the pipeline computes for the same
// files and units. The first failure cancels the rest; its error names the
// file.
func ScanLocal(ctx context.Context, units []LocalUnit, workers int, layout Layout) (*Partial, error) {
	partials := make([]*Partial, len(units))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for i, u := range units {
		g.Go(func() error {
			p, err := u.scan(gctx, layout)
			if err != nil {
				return fmt.Errorf("%s: %w", u.Path, err)
			}
			partials[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var total Partial
	for _, p := range partials {
		total.Merge(p)
	}
	return &total, nil
}

func (u LocalUnit) scan(ctx context.Context, layout Layout) (*Partial, error) {
	if u.Open != nil {
		r, err := u.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return Scan(ctx, r, u.Path, layout)
	}
	f, err := os.Open(u.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// From the byte before the unit to the end of the file: the kernel needs
	// that byte to know whether the unit starts on a line, and reads only as
	// far as its last line needs.
	from := max(0, u.Range.Start-1)
	return ScanRange(ctx, io.NewSectionReader(f, from, u.Size-from), u.Range, layout)
}

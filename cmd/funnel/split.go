package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/funnelpipe/funnel/testing_data/chunk"
)

// cmdSplit cuts a table file into line-aligned chunk files for upload and
// prints their paths, one a line.
func cmdSplit(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "split", "--chunks N [--mode lines|roundrobin] [--name PATTERN] --out DIR FILE")
	chunks := fs.Int("chunks", 0, "number of chunk files to write (required)")
	mode := fs.String("mode", "lines", "lines: contiguous runs of about equal size; roundrobin: line i to chunk i mod N")
	out := fs.String("out", "", "directory for the chunks, created if missing (required)")
	name := fs.String("name", chunk.DefaultName, "chunk file name; {n} becomes the zero-padded chunk number")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: split needs exactly one FILE (- for standard input, roundrobin only), got %d", errUsage, fs.NArg())
	}
	if *out == "" {
		return fmt.Errorf("%w: --out DIR is required", errUsage)
	}
	m, err := chunk.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	opts := chunk.Options{Chunks: *chunks, Mode: m, Dir: *out, Name: *name}
	var paths []string
	if src := fs.Arg(0); src == "-" {
		if m != chunk.RoundRobin {
			return fmt.Errorf("%w: lines mode needs the input's size: give a file, or use --mode roundrobin", errUsage)
		}
		paths, err = chunk.Split(ctx, e.stdin, -1, opts)
	} else {
		paths, err = chunk.SplitFile(ctx, src, opts)
	}
	if errors.Is(err, chunk.ErrBadOptions) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(e.stdout, p)
	}
	fmt.Fprintf(e.stderr, "split: %d chunk(s) in %s (%s mode)\n", len(paths), *out, m)
	return nil
}

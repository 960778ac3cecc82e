package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/funnelpipe/funnel/testing_data/dbgen"
)

// cmdGen writes the TPC-H customer table, byte-identical to dbgen's
// customer.tbl, to standard output or a file.
func cmdGen(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "gen", "[-sf N] [-out FILE|-] [-workers N]")
	sf := fs.Float64("sf", 1, "TPC-H scale factor: 150,000 × sf rows; below 1 in steps of 0.001, from 1 up a whole number")
	out := fs.String("out", "-", "output file, or - for standard output; a file appears only when complete")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines generating rows (output is the same for any count)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: gen takes no arguments, got %q", errUsage, fs.Args())
	}
	if *workers < 1 {
		return fmt.Errorf("%w: -workers %d must be at least 1", errUsage, *workers)
	}
	opts := dbgen.Options{ScaleFactor: *sf, Workers: *workers}
	// Check the options before building the text pool or creating a file.
	if _, err := dbgen.Rows(opts.ScaleFactor); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if opts.Workers > dbgen.MaxWorkers {
		return fmt.Errorf("%w: -workers %d exceeds %d", errUsage, opts.Workers, dbgen.MaxWorkers)
	}
	if *out == "-" {
		return dbgen.Write(ctx, e.stdout, opts)
	}
	return writeFileAtomically(*out, func(w io.Writer) error {
		return dbgen.Write(ctx, w, opts)
	})
}

// writeFileAtomically writes path through a temporary file in the same
// directory that is renamed into place only if write and close succeed, so
// an interrupted run never leaves a truncated table under the final name.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(f.Name()))
		}
	}()
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	// CreateTemp makes the file private; a generated table is not secret.
	if err := f.Chmod(0o644); err != nil {
		return errors.Join(fmt.Errorf("gen: %w", err), f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	return nil
}

// Package sf1 gives tests the real TPC-H dbgen output at scale factor 1 and
// its exact answer, kept outside the repository in shared/testdata (the
// folder beside the repository root; see its README):
//
//	customer_sf1.tbl.xz          150,000 rows, 24,346,144 bytes uncompressed
//	customer_sf1.expected.json   the answer in funnel's result format
//
// Find looks for the folder by walking up from the working directory (a
// test's is its package directory).
package sf1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ulikunitz/xz"
)

// Facts about the table, from shared/testdata/README.md.
const (
	Rows  = 150000
	Bytes = 24346144
)

// File names inside the folder.
const (
	TableFile    = "customer_sf1.tbl.xz"
	ExpectedFile = "customer_sf1.expected.json"
)

// ErrNotFound is returned when no parent of the working directory holds
// shared/testdata with the table.
var ErrNotFound = errors.New("sf1: shared/testdata/" + TableFile + " is in no parent directory")

// Find returns the shared/testdata folder: the nearest one, from the
// working directory upwards, that holds the table.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("sf1: %w", err)
	}
	return findFrom(dir)
}

func findFrom(dir string) (string, error) {
	for {
		cand := filepath.Join(dir, "shared", "testdata")
		if _, err := os.Stat(filepath.Join(cand, TableFile)); err == nil {
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}

// Open returns the decompressed table as a stream.
func Open() (io.ReadCloser, error) {
	dir, err := Find()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, TableFile))
	if err != nil {
		return nil, fmt.Errorf("sf1: %w", err)
	}
	// xz reads in small pieces: buffer the file.
	zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sf1: %s: %w", TableFile, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// Table returns the whole decompressed table.
func Table() ([]byte, error) {
	r, err := Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var b bytes.Buffer
	b.Grow(Bytes)
	if _, err := b.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("sf1: %s: %w", TableFile, err)
	}
	buf := b.Bytes()
	if len(buf) != Bytes {
		return nil, fmt.Errorf("sf1: %s decompressed to %d bytes, want %d", TableFile, len(buf), Bytes)
	}
	return buf, nil
}

// ExpectedJSON returns the expected answer's JSON.
func ExpectedJSON() ([]byte, error) {
	dir, err := Find()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, ExpectedFile))
	if err != nil {
		return nil, fmt.Errorf("sf1: %w", err)
	}
	return b, nil
}

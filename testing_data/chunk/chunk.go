// Package chunk splits a text file of lines into chunk files for upload, as
// funnel's test inputs arrive: several blobs per table. A line is never
// split; every input byte lands in exactly one chunk.
//
// Two modes, like GNU split's -n l/N and -n r/N:
//
//   - Lines: contiguous runs of about equal size. Chunk i holds the lines
//     that start in [i*size/N, (i+1)*size/N) — the same "a line belongs to
//     the range it starts in" rule the aggregate stage uses — so the
//     concatenation of the chunks is the input. It needs the input's size.
//     (GNU's l/N may put a boundary line in the other chunk.)
//   - RoundRobin: line j goes to chunk j mod N, exactly as split -n r/N.
//
// Chunks are named by Options.Name, "customer.{n}.csv" by default, where
// {n} is the chunk's 0-based number zero-padded to at least three digits
// (more when there are over 1000 chunks). All N files are written, empty
// ones included, so a listing always shows N chunks. Memory is bounded:
// lines mode copies through one buffer; round robin keeps one small buffer
// and one open file per chunk.
package chunk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is how lines are dealt to chunks.
type Mode int

const (
	// Lines writes contiguous runs of about equal bytes.
	Lines Mode = iota
	// RoundRobin deals line j to chunk j mod N.
	RoundRobin
)

// String returns the mode's name as ParseMode reads it.
func (m Mode) String() string {
	switch m {
	case Lines:
		return "lines"
	case RoundRobin:
		return "roundrobin"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode reads "lines" or "roundrobin" (also "rr").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "lines", "l":
		return Lines, nil
	case "roundrobin", "rr", "r":
		return RoundRobin, nil
	}
	return 0, fmt.Errorf("%w: mode %q (want lines or roundrobin)", ErrBadOptions, s)
}

// DefaultName is the chunk name pattern used when Options.Name is empty.
const DefaultName = "customer.{n}.csv"

// ErrBadOptions is returned (wrapped) for unusable Options.
var ErrBadOptions = errors.New("chunk: bad options")

// Options say how to split.
type Options struct {
	// Chunks is how many chunk files to write; at least 1.
	Chunks int
	// Mode is Lines (the zero value) or RoundRobin.
	Mode Mode
	// Dir is where the chunks go; it is created if missing.
	Dir string
	// Name is the file name pattern, with one "{n}" for the chunk number;
	// DefaultName if empty.
	Name string
}

// names checks o and returns the chunk paths.
func (o Options) names() ([]string, error) {
	if o.Chunks < 1 {
		return nil, fmt.Errorf("%w: %d chunks (want at least 1)", ErrBadOptions, o.Chunks)
	}
	if o.Mode != Lines && o.Mode != RoundRobin {
		return nil, fmt.Errorf("%w: %v", ErrBadOptions, o.Mode)
	}
	name := o.Name
	if name == "" {
		name = DefaultName
	}
	if strings.Count(name, "{n}") != 1 || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%w: name pattern %q needs exactly one {n} and no path separator", ErrBadOptions, name)
	}
	width := max(3, len(strconv.Itoa(o.Chunks-1)))
	paths := make([]string, o.Chunks)
	for i := range paths {
		paths[i] = filepath.Join(o.Dir, strings.Replace(name, "{n}", fmt.Sprintf("%0*d", width, i), 1))
	}
	return paths, nil
}

// SplitFile splits the file at path; lines mode takes the size from the
// file. It returns the chunk paths in chunk order.
func SplitFile(ctx context.Context, path string, o Options) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	return Split(ctx, f, st.Size(), o)
}

// Split splits what r yields. Lines mode needs size, the number of bytes r
// will yield (if r yields more, the last chunk takes the rest; if fewer,
// the last chunks are empty); round robin ignores it. It returns the chunk
// paths in chunk order. On error the chunks written so far are removed.
func Split(ctx context.Context, r io.Reader, size int64, o Options) (paths []string, err error) {
	paths, err = o.names()
	if err != nil {
		return nil, err
	}
	if o.Mode == Lines && size < 0 {
		return nil, fmt.Errorf("%w: lines mode needs the input size", ErrBadOptions)
	}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("chunk: %w", err)
		}
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p) // best effort: the error being returned matters more
			}
			paths = nil
		}
	}()
	create := func(p string) (*os.File, error) {
		f, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("chunk: %w", err)
		}
		created = append(created, p)
		return f, nil
	}
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 1<<20)
	if o.Mode == Lines {
		err = splitLines(br, size, paths, create)
	} else {
		err = splitRoundRobin(br, paths, create)
	}
	if err != nil {
		return nil, err
	}
	return paths, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// tracker remembers the last byte written through it.
type tracker struct {
	w    io.Writer
	last byte
	n    int64
}

func (t *tracker) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	if n > 0 {
		t.last = b[n-1]
		t.n += int64(n)
	}
	return n, err
}

// copyLine copies from br through the next '\n' (or to the end of input).
func copyLine(w io.Writer, br *bufio.Reader) error {
	for {
		b, err := br.ReadSlice('\n')
		if _, werr := w.Write(b); werr != nil {
			return werr
		}
		switch err {
		case nil, io.EOF:
			return nil
		case bufio.ErrBufferFull:
			continue
		default:
			return err
		}
	}
}

func splitLines(br *bufio.Reader, size int64, paths []string, create func(string) (*os.File, error)) error {
	n := int64(len(paths))
	var pos int64 // input bytes copied so far
	var last byte // the byte at pos-1
	bw := bufio.NewWriterSize(nil, 1<<20)
	for i, p := range paths {
		f, err := create(p)
		if err != nil {
			return err
		}
		bw.Reset(f)
		t := &tracker{w: bw, last: last}
		if i == len(paths)-1 {
			_, err = io.Copy(t, br)
		} else if end := (int64(i) + 1) * size / n; pos < end {
			// Copy up to the target, then finish the line that runs
			// across it: the next chunk starts at a line start.
			_, err = io.CopyN(t, br, end-pos)
			if err == io.EOF {
				err = nil
			}
			if err == nil && t.n > 0 && t.last != '\n' {
				err = copyLine(t, br)
			}
		}
		pos += t.n
		last = t.last
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("chunk: %s: %w", p, err)
		}
	}
	return nil
}

func splitRoundRobin(br *bufio.Reader, paths []string, create func(string) (*os.File, error)) error {
	files := make([]*os.File, len(paths))
	outs := make([]*bufio.Writer, len(paths))
	closeAll := func() error {
		var first error
		for i, f := range files {
			if f == nil {
				continue
			}
			if err := outs[i].Flush(); err != nil && first == nil {
				first = fmt.Errorf("chunk: %s: %w", paths[i], err)
			}
			if err := f.Close(); err != nil && first == nil {
				first = fmt.Errorf("chunk: %s: %w", paths[i], err)
			}
			files[i] = nil
		}
		return first
	}
	for i, p := range paths {
		f, err := create(p)
		if err != nil {
			closeAll()
			return err
		}
		files[i], outs[i] = f, bufio.NewWriterSize(f, 16<<10)
	}
	c := 0
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			if _, werr := outs[c].Write(b); werr != nil {
				closeAll()
				return fmt.Errorf("chunk: %s: %w", paths[c], werr)
			}
		}
		switch err {
		case nil:
			c = (c + 1) % len(paths)
		case bufio.ErrBufferFull: // a long line goes on in the same chunk
		case io.EOF:
			return closeAll()
		default:
			closeAll()
			return fmt.Errorf("chunk: read: %w", err)
		}
	}
}

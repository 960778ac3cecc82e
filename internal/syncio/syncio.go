// Package syncio has the writers that several goroutines share: a Writer
// that serialises writes to another writer, and a Buffer that collects
// what is written and can be read while writers run. (The standard
// library's bytes.Buffer and most io.Writers are not safe for concurrent
// use.)
package syncio

import (
	"bytes"
	"io"
	"sync"
)

// Writer serialises writes to w, so that lines written by several
// goroutines never interleave mid-write. After Close, writes are dropped
// (and reported as done), so that late loggers do not write to a closed
// file.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	return l.w.Write(p)
}

// Close makes later writes no-ops. It does not close the writer under it.
func (l *Writer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what has been written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

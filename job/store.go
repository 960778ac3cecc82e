package job

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/storage"
)

// Store keeps the job records: small named documents updated with
// optimistic concurrency. BlobStore keeps them in Azure Blob Storage;
// MemStore in memory, for unit tests. Both pass the conformance suite in
// package job/storetest (BlobStore on Azurite).
type Store interface {
	// Get returns a document and its ETag, or an error wrapping
	// storage.ErrNotFound.
	Get(ctx context.Context, name string) (data []byte, etag string, err error)
	// Put writes a document under cond and returns its new ETag. A write
	// whose condition fails returns an error wrapping storage.ErrConflict;
	// a document over MaxDocument bytes, one wrapping storage.ErrTooLarge
	// before anything is written.
	Put(ctx context.Context, name string, data []byte, cond Cond) (etag string, err error)
}

// MaxDocument bounds a job document, written or read: records are small
// (a plan of MaxUnits units, a shard's partial and unit indices), so a
// larger one is refused before it is written rather than written and then
// refused by every reader.
const MaxDocument = 64 << 20

func checkSize(name string, data []byte) error {
	if len(data) > MaxDocument {
		return fmt.Errorf("put %s: %d bytes, over the document limit of %d: %w", name, len(data), MaxDocument, storage.ErrTooLarge)
	}
	return nil
}

// Cond is the precondition of a Put.
type Cond struct {
	// IfMatch: write only if the current ETag is this one.
	IfMatch string
	// IfNoneMatch: write only if the document does not exist.
	IfNoneMatch bool
}

// update applies fn to the document name until its conditional write wins.
// fn gets the current content (nil when missing) and returns the new one, or
// nil to leave the document as it is. It returns the content in force.
func update(ctx context.Context, st Store, name string, fn func(cur []byte) ([]byte, error)) ([]byte, error) {
	return updateFrom(ctx, st, name, nil, fn)
}

// updateFrom is update whose first attempt, when first is not nil, works
// on the document as the caller read it (first.etag "" for a missing one)
// instead of reading it again; a later attempt reads it.
func updateFrom(ctx context.Context, st Store, name string, first *read, fn func(cur []byte) ([]byte, error)) ([]byte, error) {
	backoff := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		var cur []byte
		var etag string
		var err error
		if first != nil {
			cur, etag, first = first.data, first.etag, nil
		} else if cur, etag, err = st.Get(ctx, name); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return cur, nil
		}
		cond := Cond{IfMatch: etag, IfNoneMatch: etag == ""}
		if _, err := st.Put(ctx, name, next, cond); err == nil {
			return next, nil
		} else if !errors.Is(err, storage.ErrConflict) {
			return nil, err
		}
		if attempt >= 200 {
			return nil, fmt.Errorf("update %s: still conflicting after %d attempts", name, attempt+1)
		}
		// Jittered exponential backoff keeps racing writers from colliding
		// again in lock step.
		d := backoff/2 + rand.N(backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// MemStore is an in-memory Store for unit tests. Its zero value is ready.
type MemStore struct {
	mu   sync.Mutex
	docs map[string]memDoc
	seq  int
	// BeforePut, if set, runs before every Put; a test uses it to inject a
	// failure or a concurrent write.
	BeforePut func(name string) error
}

type memDoc struct {
	data []byte
	etag string
}

var _ Store = (*MemStore)(nil)

// Get implements Store.
func (m *MemStore) Get(ctx context.Context, name string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[name]
	if !ok {
		return nil, "", fmt.Errorf("get %s: %w", name, storage.ErrNotFound)
	}
	return append([]byte(nil), d.data...), d.etag, nil
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, name string, data []byte, cond Cond) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkSize(name, data); err != nil {
		return "", err
	}
	if m.BeforePut != nil {
		if err := m.BeforePut(name); err != nil {
			return "", err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[name]
	if cond.IfNoneMatch && ok {
		return "", fmt.Errorf("put %s: exists: %w", name, storage.ErrConflict)
	}
	if cond.IfMatch != "" && (!ok || d.etag != cond.IfMatch) {
		return "", fmt.Errorf("put %s: etag mismatch: %w", name, storage.ErrConflict)
	}
	if m.docs == nil {
		m.docs = make(map[string]memDoc)
	}
	m.seq++
	etag := fmt.Sprintf("\"%d\"", m.seq)
	m.docs[name] = memDoc{data: append([]byte(nil), data...), etag: etag}
	return etag, nil
}

// Names lists the documents held, for tests.
func (m *MemStore) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.docs))
	for n := range m.docs {
		out = append(out, n)
	}
	return out
}

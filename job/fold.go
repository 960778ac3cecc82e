package job

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// FoldOutcome says what Fold did.
type FoldOutcome struct {
	// Applied is false when the unit had been folded before (a duplicate).
	Applied bool
	// ShardComplete is true when the unit's shard holds all its units.
	ShardComplete bool
}

// Fold folds one unit's partial into its merge shard exactly once: a unit
// already in the shard's applied set is not folded again, and the write is
// conditional on the ETag read, so concurrent folds into one shard never
// lose an update.
func Fold(ctx context.Context, st Store, m *PartialMsg) (FoldOutcome, error) {
	if err := m.check(); err != nil {
		return FoldOutcome{}, err
	}
	req := &foldRequest{m: m}
	err := foldBatch(ctx, st, []*foldRequest{req})
	return req.out, err
}

// foldTimeout bounds one batch's fold: the callers whose partials ride in
// a batch wait for it whatever their own contexts say.
const foldTimeout = time.Minute

// Folder folds partials like Fold, but the partials of one shard that
// arrive while a write to that shard is in flight go into its next write
// together (group commit): one read and one conditional write per batch
// instead of per partial, and no ETag conflicts among the folds of one
// process. Each caller returns only when the write that holds its partial
// has succeeded (or with that write's error), so exactly once holds as for
// Fold. The zero value is ready; a Folder is safe for concurrent use.
type Folder struct {
	mu     sync.Mutex
	shards map[string]*shardQueue
}

type shardQueue struct {
	pending []*foldRequest
	busy    bool // a batch is being written
}

type foldRequest struct {
	m    *PartialMsg
	out  FoldOutcome
	err  error
	done chan struct{} // closed when the batch that held m is written
	lead chan struct{} // closed when this request is to write the next batch
}

// Fold folds m into its shard of st, in a batch with the other partials of
// that shard waiting at the time.
func (f *Folder) Fold(ctx context.Context, st Store, m *PartialMsg) (FoldOutcome, error) {
	if err := m.check(); err != nil {
		return FoldOutcome{}, err
	}
	key := shardName(m.Job, ShardOf(m.Index, m.Shards))
	req := &foldRequest{m: m, done: make(chan struct{}), lead: make(chan struct{})}
	f.mu.Lock()
	if f.shards == nil {
		f.shards = map[string]*shardQueue{}
	}
	q := f.shards[key]
	if q == nil {
		q = &shardQueue{}
		f.shards[key] = q
	}
	q.pending = append(q.pending, req)
	leader := !q.busy
	if leader {
		q.busy = true
	}
	f.mu.Unlock()
	if !leader {
		select {
		case <-req.done:
			return req.out, req.err
		case <-req.lead:
		}
	}
	// This caller writes the batch: every partial of the shard waiting now.
	f.mu.Lock()
	batch := q.pending
	q.pending = nil
	f.mu.Unlock()
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), foldTimeout)
	err := foldBatch(bctx, st, batch)
	cancel()
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
	// Hand the shard to the first partial that arrived meanwhile, if any.
	f.mu.Lock()
	if len(q.pending) > 0 {
		close(q.pending[0].lead)
	} else {
		q.busy = false
		delete(f.shards, key)
	}
	f.mu.Unlock()
	return req.out, req.err
}

// foldBatch folds the partials of reqs, all of one shard, in one
// conditional write, and sets each request's outcome.
func foldBatch(ctx context.Context, st Store, reqs []*foldRequest) error {
	m0 := reqs[0].m
	k := ShardOf(m0.Index, m0.Shards)
	_, err := update(ctx, st, shardName(m0.Job, k), func(cur []byte) ([]byte, error) {
		sh, err := decodeShard(cur)
		if err != nil {
			return nil, fmt.Errorf("job %s shard %d: %w", m0.Job, k, err)
		}
		changed := false
		for _, r := range reqs {
			m := r.m
			i, found := slices.BinarySearch(sh.Applied, m.Index)
			r.out.Applied = !found
			if found {
				continue
			}
			changed = true
			sh.Applied = slices.Insert(sh.Applied, i, m.Index)
			sh.Partial.Merge(m.Partial)
			sh.Bytes += m.Bytes
			if sh.First.IsZero() || (!m.Started.IsZero() && m.Started.Before(sh.First)) {
				sh.First = m.Started.UTC()
			}
			if m.Finished.After(sh.Last) {
				sh.Last = m.Finished.UTC()
			}
		}
		for _, r := range reqs {
			r.out.ShardComplete = len(sh.Applied) == ShardUnits(r.m.Count, r.m.Shards, k)
		}
		if !changed {
			return nil, nil
		}
		return json.Marshal(sh)
	})
	return err
}

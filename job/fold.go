package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/storage"
)

// FoldOutcome says what Fold did.
type FoldOutcome struct {
	// Applied is false when the unit had been folded before (a duplicate).
	Applied bool
	// ShardComplete is true when the unit's shard holds all its units and
	// this fold is to run the job's completion check: of the folds written
	// together by a Folder, only the first.
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
	err := foldBatch(ctx, st, []*foldRequest{req}, nil)
	return req.out, err
}

// foldTimeout bounds one batch's fold: the callers whose partials ride in
// a batch wait for it whatever their own contexts say.
const foldTimeout = time.Minute

// Folder folds partials like Fold, but the partials of one shard that
// arrive while a write to that shard is pending go into one write together
// (group commit): one read and one conditional write per batch instead of
// per partial, and no ETag conflicts among the folds of one process. Each
// caller returns only when the write that holds its partial has succeeded
// (or with that write's error), so exactly once holds as for Fold: a
// partial is acknowledged only once it is in the shard. The zero value is
// ready; a Folder is safe for concurrent use.
//
// With a Window, a batch's writer first reads the shard and then waits for
// more partials of it while the host keeps delivering: it writes once no
// partial of any shard has reached the Folder for Idle (the host has
// handed over what it fetched, and the invocations waiting here are the
// ones it counts as in flight, so waiting longer would only stall the
// queue), once Window has passed, at once when the shard would be complete
// with the partials waiting (its last unit is never held back), or when
// MaxBatch partials wait in the shard or in the whole Folder. Partials
// reach a merge one by one as units finish, so without a window nearly
// every partial is written on its own; with one, a write holds what the
// host delivered together.
type Folder struct {
	// Window is how long a batch waits for more partials of its shard at
	// most; 0 writes what is waiting at once.
	Window time.Duration
	// Idle ends the wait when no partial has arrived for that long
	// (default DefaultIdle).
	Idle time.Duration
	// MaxBatch ends a wait early (default DefaultMaxBatch).
	MaxBatch int

	mu      sync.Mutex
	shards  map[string]*shardQueue
	waiting int // partials in every shard's pending list
	flushes int // times the Folder filled: every batch gathering then writes
}

// DefaultIdle is Folder.Idle's default: longer than the host takes to
// hand a fetched batch of messages to the handler, short beside a unit's
// run.
const DefaultIdle = 50 * time.Millisecond

func (f *Folder) idle() time.Duration {
	if f.Idle > 0 {
		return f.Idle
	}
	return DefaultIdle
}

// DefaultMaxBatch is Folder.MaxBatch's default: the host's default queue
// batch size (host.json extensions.queues.batchSize).
const DefaultMaxBatch = 16

type shardQueue struct {
	pending []*foldRequest
	busy    bool          // a batch is being gathered or written
	arrived chan struct{} // signalled when a partial reaches the Folder
}

type foldRequest struct {
	m       *PartialMsg
	out     FoldOutcome
	err     error
	flushes int           // the Folder's flushes when m arrived
	done    chan struct{} // closed when the batch that held m is written
	lead    chan struct{} // closed when this request is to write the next batch
}

func (f *Folder) maxBatch() int {
	if f.MaxBatch > 0 {
		return f.MaxBatch
	}
	return DefaultMaxBatch
}

// Fold folds m into its shard of st, in a batch with the other partials of
// that shard waiting at the time (or arriving within the Window).
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
		q = &shardQueue{arrived: make(chan struct{}, 1)}
		f.shards[key] = q
	}
	req.flushes = f.flushes
	q.pending = append(q.pending, req)
	f.waiting++
	leader := !q.busy
	if leader {
		q.busy = true
	}
	if f.waiting >= f.maxBatch() {
		// Every gathering batch writes now, not only this shard's.
		f.flushes++
	}
	for _, o := range f.shards {
		signal(o.arrived)
	}
	f.mu.Unlock()
	if !leader {
		select {
		case <-req.done:
			return req.out, req.err
		case <-req.lead:
		}
	}
	// This caller writes the batch: every partial of the shard waiting
	// now, or by the end of the window.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), foldTimeout)
	batch, err := f.gather(bctx, st, q, req)
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

// signal wakes the gatherer listening on c without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// gather collects the batch of q's shard (see Folder) and folds it; it
// returns the batch, whose outcomes are set.
func (f *Folder) gather(ctx context.Context, st Store, q *shardQueue, lead *foldRequest) ([]*foldRequest, error) {
	m0 := lead.m
	take := func() []*foldRequest {
		f.mu.Lock()
		defer f.mu.Unlock()
		batch := q.pending
		q.pending = nil
		f.waiting -= len(batch)
		return batch
	}
	if f.Window <= 0 {
		batch := take()
		return batch, foldBatch(ctx, st, batch, nil)
	}
	k := ShardOf(m0.Index, m0.Shards)
	name := shardName(m0.Job, k)
	cur, etag, err := st.Get(ctx, name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return take(), err
	}
	sh, err := decodeShard(cur)
	if err != nil {
		return take(), fmt.Errorf("job %s shard %d: %w", m0.Job, k, err)
	}
	units := ShardUnits(m0.Count, m0.Shards, k)
	window := time.NewTimer(f.Window)
	defer window.Stop()
	idle := time.NewTimer(f.idle())
	defer idle.Stop()
wait:
	for !f.full(q, sh, units, lead.flushes) {
		select {
		case <-q.arrived:
			idle.Reset(f.idle())
		case <-idle.C:
			break wait
		case <-window.C:
			break wait
		}
	}
	batch := take()
	return batch, foldBatch(ctx, st, batch, &read{cur, etag})
}

// full reports whether a gathering batch should be written now: the shard
// read as sh would be complete with the partials waiting, or enough wait
// in the shard or have waited in the Folder since the gatherer's own
// partial arrived (when f.flushes was flushes).
func (f *Folder) full(q *shardQueue, sh *Shard, units, flushes int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(q.pending) >= f.maxBatch() || f.waiting >= f.maxBatch() || f.flushes != flushes {
		return true
	}
	have := len(sh.Applied)
	seen := map[int]bool{}
	for _, r := range q.pending {
		i := r.m.Index
		if _, found := slices.BinarySearch(sh.Applied, i); !found && !seen[i] {
			seen[i] = true
			have++
		}
	}
	return have >= units
}

// read is a document as read, with its ETag ("" when it was missing).
type read struct {
	data []byte
	etag string
}

// foldBatch folds the partials of reqs, all of one shard, in one
// conditional write, and sets each request's outcome. first, if not nil,
// is the shard as just read: the first attempt writes on it instead of
// reading again.
func foldBatch(ctx context.Context, st Store, reqs []*foldRequest, first *read) error {
	m0 := reqs[0].m
	k := ShardOf(m0.Index, m0.Shards)
	_, err := updateFrom(ctx, st, shardName(m0.Job, k), first, func(cur []byte) ([]byte, error) {
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
		// One completion check per write is enough: the first fold of the
		// batch runs it, and if that check fails, its retry (a duplicate,
		// which finds the shard complete) runs it again.
		for i, r := range reqs {
			r.out.ShardComplete = i == 0 && len(sh.Applied) == ShardUnits(r.m.Count, r.m.Shards, k)
		}
		if !changed {
			return nil, nil
		}
		return json.Marshal(sh)
	})
	return err
}

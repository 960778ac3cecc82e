package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// Batcher sends the partials of units that finish close together in one
// message (group commit), so that a job costs one message — a put, the
// trigger's receive and delete, a merge invocation — per batch instead of
// per unit. Each unit's invocation returns only when the message holding
// its partial is stored (or with that send's error), so a unit is
// acknowledged only once its partial is on its way, exactly as when it
// travels alone; merge applies each unit of a message once
// (job.PartialsID).
//
// A batch holds partials of one job over one transport, whatever their
// merge shards (merge folds each into its shard, the partials of one shard
// in one write): concurrent units have consecutive indices, which the
// shards take round robin, so batches per shard would be a shard count
// times smaller. The first partial opens a batch and waits for more: the
// batch goes when Window has passed, when it holds job.MaxBatchUnits
// partials or job.MaxBatchBytes, or at once when no other unit is running
// in this process (nothing more could join it, so a job's last partials
// are never held back). The zero value (Window 0) sends every partial on
// its own at once; a Batcher is safe for concurrent use.
type Batcher struct {
	// Window is how long a batch waits for more partials at most.
	Window time.Duration

	mu      sync.Mutex
	running int // units started and not yet at the Batcher
	open    map[batchKey]*batch
}

// DefaultBatchWindow is the Batcher's Window in the aggregate binary:
// shorter than a unit's run, so that waiting costs less than the run, and
// long enough that the units the host hands over together (its queue
// batch) finish inside it.
const DefaultBatchWindow = 100 * time.Millisecond

// sendTimeout bounds one batch's send: the units riding in it wait for it
// whatever their own contexts say.
const sendTimeout = time.Minute

type batchKey struct{ transport, job string }

type batch struct {
	ms     []*job.PartialMsg
	bodies [][]byte // ms encoded
	bytes  int
	ready  chan struct{} // closed when the batch is to be sent now
	done   chan struct{} // closed when the send has finished; err is set
	err    error
}

// wait waits for the batch's send.
func (b *batch) wait(ctx context.Context) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// The partial still goes with the batch; the unit's retry sends it
		// again, which merge recognises.
		return ctx.Err()
	}
}

// release has the batch sent now.
func (b *batch) release() {
	select {
	case <-b.ready:
	default:
		close(b.ready)
	}
}

// started tells the Batcher a unit has started running; each started unit
// later calls Send or stopped.
func (bt *Batcher) started() {
	bt.mu.Lock()
	bt.running++
	bt.mu.Unlock()
}

// stopped tells the Batcher a started unit ended without a partial to send.
func (bt *Batcher) stopped() {
	bt.mu.Lock()
	bt.running--
	bt.releaseIfIdle()
	bt.mu.Unlock()
}

// releaseIfIdle sends every open batch when no unit is running: nothing
// more can join them. bt.mu is held.
func (bt *Batcher) releaseIfIdle() {
	if bt.running > 0 {
		return
	}
	for k, b := range bt.open {
		b.release()
		delete(bt.open, k)
	}
}

// Send sends m, the partial of a started unit, through out: in a batch
// with other partials of its job when Window allows, else alone. It
// returns once the message holding m is stored, or with the error of the
// send that was to store it.
func (bt *Batcher) Send(ctx context.Context, out transport.Transport, m *job.PartialMsg) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode partial: %w", err)
	}
	if bt.Window <= 0 {
		bt.mu.Lock()
		bt.running--
		bt.mu.Unlock()
		return sendPartials(ctx, out, []*job.PartialMsg{m}, [][]byte{body})
	}
	key := batchKey{out.Name(), m.Job}
	bt.mu.Lock()
	bt.running--
	if bt.open == nil {
		bt.open = map[batchKey]*batch{}
	}
	b := bt.open[key]
	if b != nil && slices.ContainsFunc(b.ms, func(o *job.PartialMsg) bool { return o.Index == m.Index }) {
		// A second delivery of a unit whose partial is waiting: the same
		// partial, so it rides with the first.
		bt.releaseIfIdle()
		bt.mu.Unlock()
		return b.wait(ctx)
	}
	if b != nil && len(b.ms) < job.MaxBatchUnits && b.bytes+len(body)+1 <= job.MaxBatchBytes {
		b.ms = append(b.ms, m)
		b.bodies = append(b.bodies, body)
		b.bytes += len(body) + 1
		if len(b.ms) == job.MaxBatchUnits {
			b.release()
			delete(bt.open, key)
		}
		bt.releaseIfIdle()
		bt.mu.Unlock()
		return b.wait(ctx)
	}
	if b != nil {
		// Full: it goes now, and m opens the next batch.
		b.release()
	}
	b = &batch{ms: []*job.PartialMsg{m}, bodies: [][]byte{body}, bytes: len(body) + 2, ready: make(chan struct{}), done: make(chan struct{})}
	bt.open[key] = b
	bt.releaseIfIdle()
	bt.mu.Unlock()

	window := time.NewTimer(bt.Window)
	select {
	case <-b.ready:
	case <-window.C:
	}
	window.Stop()
	bt.mu.Lock()
	if bt.open[key] == b {
		delete(bt.open, key)
	}
	ms, bodies := b.ms, b.bodies
	bt.mu.Unlock()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	b.err = sendPartials(sctx, out, ms, bodies)
	close(b.done)
	return b.err
}

// sendPartials sends the partials ms, encoded one by one as bodies, in one
// message.
func sendPartials(ctx context.Context, out transport.Transport, ms []*job.PartialMsg, bodies [][]byte) error {
	body, err := job.JoinPartials(bodies)
	if err != nil {
		return err
	}
	units := make([]int, len(ms))
	for i, m := range ms {
		units[i] = m.Index
	}
	if err := out.Send(ctx, OutTopic, transport.Message{ID: job.PartialsID(ms[0].Job, units), Body: body}); err != nil {
		return fmt.Errorf("send the partials of %s: %w", job.PartialsID(ms[0].Job, units), err)
	}
	return nil
}

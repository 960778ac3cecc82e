// Package stage is funnel's second stage: it takes one work unit (a byte
// range of an input blob), range-reads exactly the bytes it needs, pinned to
// the ETag partition planned with, runs the aggregation kernel over them,
// and sends the unit's partial aggregate to the merge stage (topic
// "partials") through the job's transport — with the partials of the
// units that finish alongside it in one message (Batcher).
//
// Memory is bounded whatever the unit size: the blob is read in segments as
// the kernel consumes it, never whole.
//
// The binary is cmd/aggregate; the kernel is package aggregate.
package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// Topics this stage receives on and sends to.
const (
	InTopic  = "units"
	OutTopic = "partials"
)

// Source reads byte ranges of input blobs.
type Source interface {
	// ReadRange returns count bytes of blob name from offset, as they are
	// in the version with the given ETag. A blob whose ETag is no longer
	// etag gives an error wrapping storage.ErrConflict; a missing one,
	// storage.ErrNotFound.
	ReadRange(ctx context.Context, container, name, etag string, offset, count int64) (io.ReadCloser, error)
}

// Stage runs work units.
type Stage struct {
	Source     Source
	Store      job.Store
	Transports map[string]transport.Transport
	// SegmentBytes is how much is read per range request past the unit's
	// first one (default 4 MiB).
	SegmentBytes int64
	// Batcher sends the partials of units that finish together in one
	// message; its zero value sends each on its own (the aggregate binary
	// sets DefaultBatchWindow).
	Batcher Batcher
	Now     func() time.Time
	Log     *slog.Logger
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stage) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// ErrPermanent marks a failure that retrying cannot fix; the job has been
// failed with the reason and the delivery should not be retried.
var ErrPermanent = errors.New("permanent failure")

// Handle runs the unit a trigger delivered through the transport named
// medium. A nil error means the unit's partial has been sent (or was sent
// before: a redelivery) or the job no longer needs it. Any other error
// means "retry": the unit's last error is recorded on the job so that, if
// the message ends in a poison queue, the job fails with that reason.
func (s *Stage) Handle(ctx context.Context, medium string, d transport.Delivery) error {
	in, ok := s.Transports[medium]
	if !ok {
		return fmt.Errorf("aggregate: no transport %q", medium)
	}
	msg, err := in.Open(ctx, InTopic, d)
	if errors.Is(err, storage.ErrNotFound) {
		// Open finds the body gone only after Done: the partial was sent.
		s.log().Info("unit already processed", "id", msg.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("aggregate: open delivery: %w", err)
	}
	var u job.WorkUnit
	if err := json.Unmarshal(msg.Body, &u); err != nil {
		return job.NoteFailure(ctx, s.Store, s.log(), msg.ID, fmt.Errorf("aggregate: message %s: bad work unit: %w", msg.ID, err))
	}
	if err := checkUnit(&u); err != nil {
		return job.NoteFailure(ctx, s.Store, s.log(), msg.ID, fmt.Errorf("aggregate: message %s: %w", msg.ID, err))
	}
	// The unit message carries all a unit needs: the job record is read
	// only on a redelivery, to skip the work of a job that has ended.
	if d.DequeueCount > 1 {
		rec, err := job.Get(ctx, s.Store, u.Job)
		if err != nil {
			return job.NoteFailure(ctx, s.Store, s.log(), job.UnitID(u.Job, u.Index), fmt.Errorf("aggregate: %w", err))
		}
		if rec.State.Final() {
			s.log().Info("job no longer needs unit", "job", u.Job, "unit", u.Index, "state", rec.State)
			if err := in.Done(ctx, InTopic, msg); err != nil {
				s.log().Warn("could not release unit message", "id", msg.ID, "err", err)
			}
			return nil
		}
	}
	err = s.run(ctx, &u)
	switch {
	case errors.Is(err, ErrPermanent):
		s.log().Warn("unit failed the job", "job", u.Job, "unit", u.Index, "err", err)
	case err != nil:
		return job.NoteFailure(ctx, s.Store, s.log(), job.UnitID(u.Job, u.Index), err)
	}
	if err := in.Done(ctx, InTopic, msg); err != nil {
		// The partial is sent; a leftover message body is only garbage.
		s.log().Warn("could not release unit message", "id", msg.ID, "err", err)
	}
	return nil
}

func checkUnit(u *job.WorkUnit) error {
	switch {
	case u.Job == "":
		return errors.New("work unit without job")
	case u.Count < 1 || u.Index < 0 || u.Index >= u.Count:
		return fmt.Errorf("unit %d of %d out of range", u.Index, u.Count)
	case u.Shards < 1:
		return fmt.Errorf("unit with %d shards", u.Shards)
	case u.Container == "" || len(u.Parts) == 0:
		return errors.New("unit without input blob")
	}
	for _, p := range u.Parts {
		switch {
		case p.File == "":
			return errors.New("unit part without input blob")
		case p.Start < 0 || p.End <= p.Start || p.End > p.Size:
			return fmt.Errorf("bad range [%d, %d) of the %d-byte blob %s", p.Start, p.End, p.Size, p.File)
		}
	}
	return u.Layout.Validate()
}

func (s *Stage) run(ctx context.Context, u *job.WorkUnit) error {
	out, ok := s.Transports[u.Transport]
	if !ok {
		// No retry can fix this, and dropping the unit would leave its job
		// running forever: fail the job with the reason.
		reason := fmt.Sprintf("unit %d: transport %q is not configured in the aggregate app", u.Index, u.Transport)
		if ferr := job.Fail(ctx, s.Store, u.Job, u.Index, reason, s.now()); ferr != nil {
			return fmt.Errorf("aggregate: %s; and failing the job: %w", reason, ferr)
		}
		return fmt.Errorf("%w: job %s: %s", ErrPermanent, u.Job, reason)
	}
	s.Batcher.started()
	sent := false
	defer func() {
		if !sent {
			s.Batcher.stopped()
		}
	}()
	started := s.now()
	p := &aggregate.Partial{}
	for i := range u.Parts {
		part := &u.Parts[i]
		pp, err := s.scanPart(ctx, u.Container, part, u.Layout)
		if errors.Is(err, storage.ErrConflict) {
			return s.failJob(ctx, u, fmt.Sprintf("input blob %s/%s changed while the job ran (planned ETag %s)", u.Container, part.File, part.ETag))
		}
		if errors.Is(err, storage.ErrNotFound) {
			return s.failJob(ctx, u, fmt.Sprintf("input blob %s/%s was deleted while the job ran", u.Container, part.File))
		}
		if err != nil {
			return fmt.Errorf("aggregate: unit %d of job %s: %w", u.Index, u.Job, err)
		}
		p.Merge(pp)
	}
	pm := job.PartialMsg{
		Job: u.Job, Transport: u.Transport, Index: u.Index, Count: u.Count, Shards: u.Shards,
		Bytes: u.Bytes(), Started: started.UTC(), Finished: s.now().UTC(), Partial: p,
	}
	sent = true
	if err := s.Batcher.Send(ctx, out, &pm); err != nil {
		return fmt.Errorf("aggregate: unit %d: %w", u.Index, err)
	}
	return nil
}

// scanPart runs the kernel over one part of a unit.
func (s *Stage) scanPart(ctx context.Context, container string, part *job.Part, layout aggregate.Layout) (*aggregate.Partial, error) {
	r := &segmentReader{ctx: ctx, src: s.Source, container: container, part: part, seg: s.SegmentBytes}
	r.pos = max(0, part.Start-1)
	// The kernel needs no byte more than a maximum line past the end.
	r.limit = min(part.Size, part.End+int64(layout.LineLimit()))
	defer r.Close()
	return aggregate.ScanRange(ctx, r, aggregate.Range{File: part.File, Start: part.Start, End: part.End}, layout)
}

// failJob fails u's job for a reason no retry can fix and returns an
// error wrapping ErrPermanent.
func (s *Stage) failJob(ctx context.Context, u *job.WorkUnit, reason string) error {
	if ferr := job.Fail(ctx, s.Store, u.Job, u.Index, reason, s.now()); ferr != nil {
		return fmt.Errorf("aggregate: %s; and failing the job: %w", reason, ferr)
	}
	return fmt.Errorf("%w: %s", ErrPermanent, reason)
}

// segmentReader reads a unit's bytes from max(0, Start-1) in range
// requests: the first covers the unit and a little more (most last lines end
// there), each further one SegmentBytes, until the kernel stops reading or
// the limit — the blob's end, or a maximum line past the part's end, beyond
// which the kernel needs nothing — is reached. So a unit costs one read
// operation in the common case, never holds more than one response open,
// and never reads far into someone else's range.
type segmentReader struct {
	ctx       context.Context
	src       Source
	container string
	part      *job.Part
	seg       int64
	limit     int64 // no byte at or past this offset is read
	pos       int64 // offset of the next byte Read returns
	segEnd    int64 // end of the open request
	cur       io.ReadCloser
}

// firstSlack is how far past a unit's end the first request reads: dbgen
// rows are under 256 bytes, so it nearly always finishes the last line.
const firstSlack = 4 << 10

func (r *segmentReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.pos >= r.limit {
				return 0, io.EOF
			}
			n := r.seg
			if n <= 0 {
				n = 4 << 20
			}
			if r.pos < r.part.End {
				n = r.part.End - r.pos + firstSlack
			}
			n = min(n, r.limit-r.pos)
			rc, err := r.src.ReadRange(r.ctx, r.container, r.part.File, r.part.ETag, r.pos, n)
			if err != nil {
				return 0, err
			}
			r.cur, r.segEnd = rc, r.pos+n
		}
		n, err := r.cur.Read(p)
		r.pos += int64(n)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if r.pos < r.segEnd {
				return n, fmt.Errorf("blob %s/%s: range read ended at %d, before %d: %w", r.container, r.part.File, r.pos, r.segEnd, io.ErrUnexpectedEOF)
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *segmentReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

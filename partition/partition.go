// Package partition is funnel's first stage and its job API. Submit checks
// a job request and stores it; the plan function (Plan, triggered by a
// message on the control queue <prefix>plans) then looks at the input
// blobs (size and ETag — it moves no data), cuts them into byte-range work
// units of about unit_mb MiB, records the plan, and sends the units to the
// aggregate stage through the job's transport (topic "units"), recording
// its progress in batches so that a restart carries on where it stopped.
// Status and Result read a job back.
//
// The HTTP functions that expose this (POST /api/jobs, GET /api/jobs/{id},
// GET /api/jobs/{id}/result) are in http.go, the plan function in plan.go;
// the binary is cmd/partition.
package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// Topic is the transport topic work units are sent on.
const Topic = "units"

// ErrNoInput is returned (wrapping job.ErrInvalid) when no blob matches a
// job's input.
var ErrNoInput = fmt.Errorf("%w: no input blobs", job.ErrInvalid)

// Inputs looks at input blobs without reading them.
type Inputs interface {
	// Stat returns the named blobs of a container in the given order; a
	// missing blob or container is an error wrapping storage.ErrNotFound.
	Stat(ctx context.Context, container string, names []string) ([]job.File, error)
	// List returns the blobs of a container whose names start with prefix,
	// in name order; a missing container is an error wrapping
	// storage.ErrNotFound.
	List(ctx context.Context, container, prefix string) ([]job.File, error)
}

// Service accepts jobs, plans them and answers for them.
type Service struct {
	Store      job.Store
	Inputs     Inputs
	Transports map[string]transport.Transport
	// Inputs a job may read; the zero policy allows DefaultInputContainers.
	Policy InputPolicy
	// SendBatch is how many units Plan sends between two records of its
	// progress (DefaultSendBatch when 0).
	SendBatch int
	// Now and NewID default to the clock and a random 16-hex-digit ID.
	Now   func() time.Time
	NewID func() string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Submit accepts a job: it checks the request and stores the spec (state
// planning); the plan function (Plan) plans the job and sends its units.
// It does not look at the input, so that the job API answers at once
// whatever the input's size. It is idempotent for a given ID: resubmitting
// the same spec returns the job as it stands. Errors wrapping
// job.ErrInvalid (a bad request) or job.ErrExists (the ID is used by
// another spec) are the caller's; others are worth a retry. NeedsPlan says
// whether the job still wants a plan message.
func (s *Service) Submit(ctx context.Context, spec job.Spec) (*job.Record, error) {
	if err := spec.Normalize(); err != nil {
		return nil, err
	}
	if err := s.Policy.Check(spec.Input.Container); err != nil {
		return nil, err
	}
	if _, ok := s.Transports[spec.Transport]; !ok {
		return nil, fmt.Errorf("%w: transport %q is not configured here", job.ErrInvalid, spec.Transport)
	}
	if spec.ID == "" {
		if s.NewID != nil {
			spec.ID = s.NewID()
		} else {
			spec.ID = job.NewID()
		}
	}
	return job.Create(ctx, s.Store, spec, s.now())
}

// NeedsPlan reports whether a job's planning or sending is unfinished, so
// that a submit must (again) ask the plan function for it: the plan message
// of an earlier submit may have been lost with its request, and a duplicate
// plan message does no harm.
func NeedsPlan(rec *job.Record) bool {
	return !rec.Sent && !rec.State.Final()
}

func (s *Service) inputFiles(ctx context.Context, in job.Input) ([]job.File, error) {
	var files []job.File
	var err error
	if len(in.Blobs) > 0 {
		files, err = s.Inputs.Stat(ctx, in.Container, in.Blobs)
	} else {
		files, err = s.Inputs.List(ctx, in.Container, in.Prefix)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", job.ErrInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("look at input: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in container %q with prefix %q", ErrNoInput, in.Container, in.Prefix)
	}
	return files, nil
}

// workUnits lists a planned job's units: of plan when the caller has it
// (it just recorded it), else of the plan read from plan.json.
func (s *Service) workUnits(ctx context.Context, rec *job.Record, plan *job.Plan) ([]job.WorkUnit, error) {
	layout, err := rec.Spec.Layout()
	if err != nil {
		return nil, err
	}
	if plan == nil {
		if plan, err = job.GetPlan(ctx, s.Store, rec.Spec.ID); err != nil {
			return nil, err
		}
	}
	return plan.WorkUnits(&rec.Spec, layout), nil
}

// sendUnits sends work units under their deterministic message IDs.
func sendUnits(ctx context.Context, tr transport.Transport, id string, units []job.WorkUnit) error {
	msgs := make([]transport.Message, len(units))
	for i, u := range units {
		body, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("encode unit %d: %w", i, err)
		}
		msgs[i] = transport.Message{ID: job.UnitID(u.Job, u.Index), Body: body}
	}
	if err := tr.Send(ctx, Topic, msgs...); err != nil {
		return fmt.Errorf("send units of job %s: %w", id, err)
	}
	return nil
}

// sendOnly sends the units of a planned job whose indices are given.
func (s *Service) sendOnly(ctx context.Context, rec *job.Record, only []int) error {
	if len(only) == 0 {
		return nil
	}
	tr, ok := s.Transports[rec.Spec.Transport]
	if !ok {
		return fmt.Errorf("job %s: transport %q is not configured here", rec.Spec.ID, rec.Spec.Transport)
	}
	all, err := s.workUnits(ctx, rec, nil)
	if err != nil {
		return err
	}
	units := make([]job.WorkUnit, 0, len(only))
	for _, i := range only {
		if i < 0 || i >= len(all) {
			return fmt.Errorf("job %s: no unit %d of %d", rec.Spec.ID, i, len(all))
		}
		units = append(units, all[i])
	}
	return sendUnits(ctx, tr, rec.Spec.ID, units)
}

// Status reads a job's status. An ID that is not a job ID gives an error
// wrapping job.ErrInvalid, a missing job one wrapping transport.ErrNotFound.
func (s *Service) Status(ctx context.Context, id string) (*job.Status, error) {
	if err := job.CheckID(id); err != nil {
		return nil, err
	}
	return job.ReadStatus(ctx, s.Store, id, s.now())
}

// Retry sends again the units of a failed job that never landed in its
// merge state (job.Retry says which) and returns the job's record and how
// many units were sent. It is idempotent: a call that finds a retry whose
// units are not all sent yet sends them again, which merge folds once. A
// job that is not failed gives an error wrapping job.ErrNotRetryable.
func (s *Service) Retry(ctx context.Context, id string) (*job.Record, int, error) {
	if err := job.CheckID(id); err != nil {
		return nil, 0, err
	}
	rec, only, err := job.Retry(ctx, s.Store, id, s.now())
	if err != nil {
		return nil, 0, err
	}
	if err := s.sendOnly(ctx, rec, only); err != nil {
		return nil, 0, err
	}
	if rec, err = job.MarkRetrySent(ctx, s.Store, id); err != nil {
		return nil, 0, err
	}
	if len(only) == 0 {
		// Every unit had landed (the job failed for another reason): the
		// retry is the completion check that failure stopped.
		if _, err := job.Finish(ctx, s.Store, id, rec.Plan.Units, rec.Plan.Shards, s.now()); err != nil {
			return nil, 0, err
		}
		if rec, err = job.Get(ctx, s.Store, id); err != nil {
			return nil, 0, err
		}
	}
	return rec, len(only), nil
}

// Result reads a finished job's result in format "json" or "csv". A job that
// is not done gives an error wrapping ErrNotDone.
func (s *Service) Result(ctx context.Context, id, format string) ([]byte, error) {
	if err := job.CheckID(id); err != nil {
		return nil, err
	}
	rec, err := job.Get(ctx, s.Store, id)
	if err != nil {
		return nil, err
	}
	if rec.State != job.Done {
		return nil, fmt.Errorf("job %s is %s: %w", id, rec.State, ErrNotDone)
	}
	data, _, err := s.Store.Get(ctx, job.ResultName(id, format))
	return data, err
}

// ErrNotDone is returned by Result for a job without a result yet.
var ErrNotDone = errors.New("job not done")

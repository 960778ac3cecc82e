package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// NewID returns a fresh random job ID ("j" and 16 hex digits). The CLI
// picks the ID of a job before it submits it, so that a submit repeated
// after a timeout is the same job, not a second one.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "j" + hex.EncodeToString(b[:])
}

// ErrNotRetryable is returned by Retry for a job that is not failed: one
// that is done, still planning, or running without a retry under way.
var ErrNotRetryable = errors.New("job cannot be retried")

// Attempt is a failed attempt of a job, kept in its record when the job is
// retried.
type Attempt struct {
	Failure     string    `json:"failure"`
	FailedUnits []int     `json:"failed_units,omitempty"`
	Finished    time.Time `json:"finished"`
}

// RetryState is a retry under way: the units to send again, and whether
// they have all been sent.
type RetryState struct {
	Units []int `json:"units"`
	Sent  bool  `json:"sent,omitempty"`
}

// Retry moves a failed job back to running so that the units that never
// landed in its merge state can be sent again, and returns the record and
// the units to send. Those are the units not folded into any shard: the
// ones that failed, and those that the failure stopped (aggregate drops the
// units of a failed job). Units already folded are never sent again, and
// merge's applied sets fold a unit once however often it is sent, so the
// result counts every unit exactly once.
//
// Retry is idempotent: while the retry's units have not all been sent
// (MarkRetrySent), calling it again returns the same units, so a caller
// that crashed half way sends them again. A job that is done, still
// planning, or running without a pending retry gives ErrNotRetryable.
func Retry(ctx context.Context, st Store, id string, now time.Time) (*Record, []int, error) {
	rec, err := Get(ctx, st, id)
	if err != nil {
		return nil, nil, err
	}
	if rec.State == Running && rec.Retry != nil && !rec.Retry.Sent {
		return rec, rec.Retry.Units, nil
	}
	if rec.State != Failed {
		return nil, nil, fmt.Errorf("job %s is %s: %w", id, rec.State, ErrNotRetryable)
	}
	if rec.Plan == nil {
		return nil, nil, fmt.Errorf("job %s failed before it was planned (%s); submit it again: %w", id, rec.Failure, ErrNotRetryable)
	}
	missing, err := UnappliedUnits(ctx, st, id, rec.Plan.Units, rec.Plan.Shards)
	if err != nil {
		return nil, nil, err
	}
	rec, err = modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.State == Running && r.Retry != nil && !r.Retry.Sent {
			return false, nil // a concurrent Retry won: send its units
		}
		if r.State != Failed {
			return false, fmt.Errorf("job %s is %s: %w", id, r.State, ErrNotRetryable)
		}
		r.Attempts = append(r.Attempts, Attempt{Failure: r.Failure, FailedUnits: r.FailedUnits, Finished: r.Finished})
		r.State = Running
		r.Failure = ""
		r.FailedUnits = nil
		r.Finished = time.Time{}
		r.Retry = &RetryState{Units: missing}
		return true, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rec, rec.Retry.Units, nil
}

// MarkRetrySent records that every unit of the job's retry has been sent.
func MarkRetrySent(ctx context.Context, st Store, id string) (*Record, error) {
	return modify(ctx, st, id, func(r *Record) (bool, error) {
		if r.Retry == nil || r.Retry.Sent {
			return false, nil
		}
		r.Retry.Sent = true
		return true, nil
	})
}

// UnappliedUnits lists, in order, the units of a job that no merge shard
// holds.
func UnappliedUnits(ctx context.Context, st Store, id string, units, shards int) ([]int, error) {
	applied := make([]bool, units)
	for k := 0; k < shards; k++ {
		sh, err := readShard(ctx, st, id, k)
		if err != nil {
			return nil, err
		}
		for _, i := range sh.Applied {
			if i >= 0 && i < units {
				applied[i] = true
			}
		}
	}
	var out []int
	for i, a := range applied {
		if !a {
			out = append(out, i)
		}
	}
	return slices.Clip(out), nil
}

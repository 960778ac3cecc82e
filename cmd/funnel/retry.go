package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/funnelpipe/funnel/partition"
)

// cmdRetry retries a failed job: the units that never landed are sent
// again, once; --wait follows the job to its end.
func cmdRetry(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "retry", "[--wait] [--api URL] [--state FILE] JOB")
	wait := fs.Bool("wait", false, "follow the job until it is done or failed and print the result table")
	af := addAPIFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	id, err := oneJobID("retry", pos)
	if err != nil {
		return err
	}
	c, err := af.client(e)
	if err != nil {
		return err
	}
	ans, err := c.Retry(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "job %s: %s, %d units sent again (failed attempts so far: %d)\n", ans.ID, ans.State, ans.Resent, ans.Attempts)
	if !*wait {
		return nil
	}
	res, st, err := followJob(ctx, c, id, 250*time.Millisecond, e.stderr, isTerminal(e.stderr))
	if err != nil {
		if st != nil && errors.Is(err, partition.ErrJobFailed) {
			_ = writeStatus(e.stderr, st) // the error below says what matters
		}
		return err
	}
	return res.Result.WriteTable(e.stdout)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
)

// cmdSubmit submits a job to the job API and, with --wait, follows it to
// its result.
func cmdSubmit(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "submit", "--transport queue|blob --container C [--prefix P | --blobs a,b] [--unit-mb N] [--id ID] [--wait] [--json] [--api URL]")
	transport := fs.String("transport", "", "the medium the stages use: "+strings.Join(job.Transports(), " or "))
	container := fs.String("container", "", "the blob container holding the input")
	prefix := fs.String("prefix", "", "take every blob whose name starts with this (default: every blob in the container)")
	blobs := fs.String("blobs", "", "comma-separated blob names to take instead of a prefix")
	unitMB := fs.Int("unit-mb", 0, fmt.Sprintf("work unit size in MiB (1..%d); 0 lets partition choose it from the input size and the transport", job.MaxUnitMB))
	id := fs.String("id", "", "the job's ID (default: a fresh one); resubmitting an ID with the same spec is idempotent, so a submit whose answer is lost is sent again under its ID")
	delim := fs.String("delimiter", "|", "field delimiter of the input rows")
	header := fs.Bool("header", false, "every input blob starts with a header line")
	wait := fs.Bool("wait", false, "follow the job and print its result")
	asJSON := fs.Bool("json", false, "print JSON: {\"id\": ...}, or with --wait the result as the job API returns it")
	interval := fs.Duration("interval", 250*time.Millisecond, "how often --wait polls the job's status")
	timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (0: never)")
	af := addAPIFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: submit takes no arguments, got %q", errUsage, fs.Args())
	}
	if *id == "" {
		*id = job.NewID() // picked here, so that a resend is the same job
	}
	spec, err := submitSpec(*id, *transport, *container, *prefix, *blobs, *unitMB, *delim, *header)
	if err != nil {
		return err
	}
	if *interval <= 0 || *timeout < 0 {
		return fmt.Errorf("%w: --interval must be positive and --timeout not negative", errUsage)
	}
	c, err := af.client(e)
	if err != nil {
		return err
	}
	submitted := time.Now()
	jobID, err := c.Submit(ctx, spec)
	if err != nil {
		return err
	}
	if !*wait {
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(map[string]string{"id": jobID})
		}
		_, err := fmt.Fprintln(e.stdout, jobID)
		return err
	}
	if !*asJSON {
		fmt.Fprintln(e.stdout, jobID)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	res, st, err := followJob(ctx, c, jobID, *interval, e.stderr, isTerminal(e.stderr))
	if err != nil {
		if st != nil && errors.Is(err, partition.ErrJobFailed) {
			_ = writeStatus(e.stderr, st) // the error below says what matters
		}
		return err
	}
	took := time.Since(submitted)
	if *asJSON {
		return writeWithNewline(e.stdout, res.raw)
	}
	if err := res.Result.WriteTable(e.stdout); err != nil {
		return err
	}
	return writeTimings(e.stdout, st, took)
}

// submitSpec builds and checks a job spec from the flags, so that a bad
// request is refused before anything is sent.
func submitSpec(id, transport, container, prefix, blobs string, unitMB int, delim string, header bool) (job.Spec, error) {
	spec := job.Spec{
		ID: id, Transport: transport, UnitMB: unitMB, Delimiter: delim, Header: header,
		Input: job.Input{Container: container, Prefix: prefix},
	}
	if transport == "" {
		return spec, fmt.Errorf("%w: --transport is required (%s)", errUsage, strings.Join(job.Transports(), " or "))
	}
	if container == "" {
		return spec, fmt.Errorf("%w: --container is required", errUsage)
	}
	if unitMB < 0 || unitMB > job.MaxUnitMB {
		return spec, fmt.Errorf("%w: --unit-mb %d: must be 1..%d, or 0 for automatic", errUsage, unitMB, job.MaxUnitMB)
	}
	if blobs != "" {
		if prefix != "" {
			return spec, fmt.Errorf("%w: give --prefix or --blobs, not both", errUsage)
		}
		for _, b := range strings.Split(blobs, ",") {
			spec.Input.Blobs = append(spec.Input.Blobs, strings.TrimSpace(b))
		}
	}
	if err := spec.Normalize(); err != nil {
		return spec, fmt.Errorf("%w: %v", errUsage, err)
	}
	return spec, nil
}

// jobResult is a finished job's result: the JSON the API gave and its
// decoded form.
type jobResult struct {
	job.Result
	raw []byte
}

// followJob waits for a job (progress on w) and fetches its result.
func followJob(ctx context.Context, c *partition.Client, id string, interval time.Duration, w io.Writer, tty bool) (*jobResult, *job.Status, error) {
	st, err := waitJob(ctx, c, id, interval, w, tty)
	if err != nil {
		return nil, st, err
	}
	raw, err := c.Result(ctx, id, "json")
	if err != nil {
		return nil, st, err
	}
	res := &jobResult{raw: raw}
	if err := json.Unmarshal(raw, &res.Result); err != nil {
		return nil, st, fmt.Errorf("job %s: result: %w", id, err)
	}
	return res, st, nil
}

// writeTimings prints one line: the job's size and where its time went.
func writeTimings(w io.Writer, st *job.Status, took time.Duration) error {
	t := st.Timings
	_, err := fmt.Fprintf(w, "job %s (%s): %d rows in %d units of %d files; submit→done %s (job elapsed %s: partition %s, dispatch %s, aggregate %s, merge %s)\n",
		st.ID, st.Transport, st.Rows.Accepted, st.Units.Planned, st.Files, took.Round(time.Millisecond),
		seconds(t.ElapsedSeconds), seconds(t.PartitionSeconds), seconds(t.DispatchSeconds), seconds(t.AggregateSeconds), seconds(t.MergeSeconds))
	return err
}

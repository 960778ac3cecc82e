package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
)

// cmdStatus prints where a job stands.
func cmdStatus(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "status", "[--json] [--api URL] [--state FILE] JOB")
	asJSON := fs.Bool("json", false, "print the status as the job API returns it (JSON)")
	af := addAPIFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	id, err := oneJobID("status", pos)
	if err != nil {
		return err
	}
	c, err := af.client(e)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return writeStatus(e.stdout, st)
}

// oneJobID checks that exactly one job ID was given.
func oneJobID(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: %s takes one job ID, got %d arguments", errUsage, cmd, len(pos))
	}
	if strings.TrimSpace(pos[0]) == "" {
		return "", fmt.Errorf("%w: empty job ID", errUsage)
	}
	return pos[0], nil
}

// envAPIURL and envAPIKey name the job API of an Azure deployment in the
// environment; the azd environment holds FUNNEL_API_URL (a Bicep output).
const (
	envAPIURL = "FUNNEL_API_URL"
	envAPIKey = "FUNNEL_API_KEY"
)

// apiFlags find the job API: --api, else $FUNNEL_API_URL, else the running
// `funnel up`; and its function key: --key, else $FUNNEL_API_KEY.
type apiFlags struct {
	api   *string
	key   *string
	state *string
}

func addAPIFlags(fs *flag.FlagSet) *apiFlags {
	return &apiFlags{
		api:   fs.String("api", "", "the job API's base `URL`, e.g. https://<app>.azurewebsites.net/api (default $FUNNEL_API_URL, else the running funnel up)"),
		key:   fs.String("key", "", "function key sent as x-functions-key (default $FUNNEL_API_KEY; not needed locally)"),
		state: fs.String("state", defaultStateFile, "the state `file` of funnel up, read when --api is not given"),
	}
}

func (af *apiFlags) client(e env) (*partition.Client, error) {
	base, flagName := strings.TrimSuffix(*af.api, "/"), "--api"
	if base == "" {
		base, flagName = strings.TrimSuffix(strings.TrimSpace(e.getenv(envAPIURL)), "/"), "$"+envAPIURL
	}
	if base == "" {
		st, err := readState(*af.state)
		if err != nil {
			return nil, fmt.Errorf("no job API: pass --api or start `funnel up` (%w)", err)
		}
		base = st.APIURL
	} else if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("%w: %s %q: want an http:// or https:// URL", errUsage, flagName, base)
	}
	key := *af.key
	if key == "" {
		key = e.getenv(envAPIKey)
	}
	return &partition.Client{BaseURL: base, Key: key, HTTP: &http.Client{Timeout: time.Minute}}, nil
}

// writeStatus prints a status for people.
func writeStatus(w io.Writer, st *job.Status) error {
	tw := &errWriter{w: w}
	tw.printf("job        %s\n", st.ID)
	tw.printf("state      %s\n", st.State)
	tw.printf("transport  %s\n", st.Transport)
	if st.Failure != "" {
		tw.printf("failure    %s\n", st.Failure)
	}
	tw.printf("input      %d files, %s\n", st.Files, formatBytes(st.Bytes))
	tw.printf("units      %d planned, %d sent, %d done, %d failed\n", st.Units.Planned, st.Units.Sent, st.Units.Done, st.Units.Failed)
	if st.UnitBytes > 0 {
		how := "as asked"
		if st.UnitSizeAuto {
			how = autoUnitHow(st)
		}
		tw.printf("unit size  %s (%s)\n", formatMiB(st.UnitBytes), how)
	}
	tw.printf("rows       %d accepted, %d rejected\n", st.Rows.Accepted, st.Rows.Rejected)
	t := st.Timings
	tw.printf("timings    elapsed %s; partition %s, dispatch %s, aggregate %s, merge %s\n",
		seconds(t.ElapsedSeconds), seconds(t.PartitionSeconds), seconds(t.DispatchSeconds), seconds(t.AggregateSeconds), seconds(t.MergeSeconds))
	for _, s := range st.Samples {
		tw.printf("rejected   %s@%d: %s: %q\n", s.File, s.Offset, s.Reason, s.Line)
	}
	return tw.err
}

func seconds(s float64) string { return fmt.Sprintf("%.2fs", s) }

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) printf(format string, args ...any) {
	if ew.err == nil {
		_, ew.err = fmt.Fprintf(ew.w, format, args...)
	}
}

// waitJob polls a job until it is done or failed, drawing progress on w:
// a bar when tty, else one line whenever the counts change (at most one a
// second). A failed job gives its status and an error wrapping
// partition.ErrJobFailed.
func waitJob(ctx context.Context, c *partition.Client, id string, interval time.Duration, w io.Writer, tty bool) (*job.Status, error) {
	var bar *progressbar.ProgressBar
	var last string
	var lastAt time.Time
	progress := func(st *job.Status) {
		if w == nil {
			return
		}
		if tty {
			if bar == nil && st.Units.Planned > 0 {
				bar = progressbar.NewOptions(st.Units.Planned,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetWidth(30),
					progressbar.OptionShowCount(),
					progressbar.OptionSetItsString("units"),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
				)
			}
			if bar != nil {
				bar.Describe(fmt.Sprintf("job %s (%s): %d rows", id, st.Transport, st.Rows.Accepted))
				_ = bar.Set(st.Units.Done) // only fails on a closed writer
			}
			return
		}
		line := fmt.Sprintf("job %s (%s): %s, units %d/%d done, %d failed, %d rows", id, st.Transport, st.State, st.Units.Done, st.Units.Planned, st.Units.Failed, st.Rows.Accepted)
		final := st.State.Final()
		if line != last && (final || time.Since(lastAt) >= time.Second) {
			fmt.Fprintln(w, line)
			last, lastAt = line, time.Now()
		}
	}
	st, err := c.Wait(ctx, id, interval, progress)
	if bar != nil {
		if err == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Exit()
			fmt.Fprintln(w)
		}
	}
	return st, err
}

// formatMiB prints a byte count in MiB.
func formatMiB(n int64) string { return fmt.Sprintf("%.4g MiB", float64(n)/(1<<20)) }

// autoUnitHow says why partition chose a job's unit size.
func autoUnitHow(st *job.Status) string {
	switch st.UnitRule {
	case job.UnitRuleFloor:
		return fmt.Sprintf("the %s transport's smallest automatic unit: fewer units than %d-way parallelism asks for, as smaller ones would cost more in messages than in data", st.Transport, st.Parallelism)
	case job.UnitRuleCap:
		return fmt.Sprintf("the largest automatic unit: more units than %d-way parallelism asks for", st.Parallelism)
	}
	return fmt.Sprintf("chosen for %d-way parallelism", st.Parallelism)
}

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
)

func TestRunConfig(t *testing.T) {
	c, err := runConfig(0.01, 4, "blob, queue", 8, 8, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, runCfg{SF: 0.01, Rows: 1500, Chunks: 4, Transports: []string{"blob", "queue"}, UnitMB: 8, Parallel: 8, Timeout: time.Minute}, c)

	cases := []struct {
		name       string
		sf         float64
		chunks     int
		transports string
		unitMB     int
		parallel   int
		timeout    time.Duration
		want       string
	}{
		{"sf zero", 0, 4, "queue", 8, 8, time.Minute, "--sf"},
		{"sf fraction above one", 1.5, 4, "queue", 8, 8, time.Minute, "--sf"},
		{"no chunks", 1, 0, "queue", 8, 8, time.Minute, "--chunks"},
		{"more chunks than rows", 0.001, 151, "queue", 8, 8, time.Minute, "at most the row count (150"},
		{"unknown transport", 1, 4, "queue,pigeon", 8, 8, time.Minute, `unknown transport "pigeon"`},
		{"empty transports", 1, 4, "", 8, 8, time.Minute, "unknown transport"},
		{"transport twice", 1, 4, "blob,blob", 8, 8, time.Minute, "twice"},
		{"unit", 1, 4, "queue", 0, 8, time.Minute, "--unit-mb"},
		{"parallel", 1, 4, "queue", 8, 0, time.Minute, "--parallel"},
		{"timeout", 1, 4, "queue", 8, 8, 0, "--timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runConfig(tc.sf, tc.chunks, tc.transports, tc.unitMB, tc.parallel, tc.timeout)
			require.ErrorIs(t, err, errUsage)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRunRejectsBadUse(t *testing.T) {
	for _, args := range [][]string{
		{"run", "extra"},
		{"run", "--apps", t.TempDir()},
		{"run", "--apps", fakeApps(t), "--chunks", "-1"},
		{"run", "--apps", fakeApps(t), "--instances", "aggregate=0"},
	} {
		e, stdout, _ := cliEnv(nil)
		err := run(context.Background(), e, args)
		assert.ErrorIs(t, err, errUsage, "%q", args)
		assert.Zero(t, stdout.Len(), "%q", args)
	}
}

func TestSameAnswer(t *testing.T) {
	scan := func(rows string) aggregate.Result {
		p, err := aggregate.Scan(context.Background(), strings.NewReader(rows), "f", aggregate.DefaultLayout())
		require.NoError(t, err)
		return *aggregate.NewResult(p)
	}
	a := scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\n")
	require.NoError(t, sameAnswer(a, a))
	// Samples name files, which differ between blobs and local chunks.
	withSample := scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\nbad\n")
	otherFile, err := aggregate.Scan(context.Background(), strings.NewReader("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\nbad\n"), "blob", aggregate.DefaultLayout())
	require.NoError(t, err)
	require.NoError(t, sameAnswer(withSample, *aggregate.NewResult(otherFile)))

	cases := []struct {
		name string
		got  aggregate.Result
		want string
	}{
		{"one cent off", scan("1|a|x|3|p|100.26|s|c|\n2|b|x|7|p|-0.45|s|c|\n"), "nation 3 CANADA: count 1"},
		{"other nation", scan("1|a|x|3|p|100.25|s|c|\n2|b|x|8|p|-0.45|s|c|\n"), "nation 8 INDIA should not be there; nation 7 GERMANY is missing"},
		{"a row more", scan("1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\n3|b|x|7|p|1.00|s|c|\n"), "3 rows accepted and 0 rejected, want 2 and 0"},
		{"a rejected row", withSample, "rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, sameAnswer(tc.got, a), tc.want)
		})
	}
}

// TestRunEndToEnd runs the main job at a small scale on the real stack and
// checks the printed tables against an answer computed here.
func TestRunEndToEnd(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var table bytes.Buffer
	require.NoError(t, dbgen.Write(ctx, &table, dbgen.Options{ScaleFactor: 0.01}))
	p, err := aggregate.Scan(ctx, &table, "customer.tbl", aggregate.DefaultLayout())
	require.NoError(t, err)
	var want bytes.Buffer
	require.NoError(t, aggregate.NewResult(p).WriteTable(&want))

	e, stdout, stderr := cliEnv(nil)
	err = run(ctx, e, []string{"run", "--apps", apps, "--sf", "0.01", "--chunks", "4", "--unit-mb", "1", "--instances", "aggregate=2"})
	out := stdout.String()
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out, stderr.String())

	assert.Equal(t, 2, strings.Count(out, want.String()), "one table per transport, each equal to the answer computed here:\n%s", out)
	assert.Contains(t, out, "== queue: job ")
	assert.Contains(t, out, "== blob: job ")
	// The four small chunks (235 KiB) share one 1 MiB unit.
	assert.Regexp(t, `job j[0-9a-f]+ \(queue\): 1500 rows in 1 units of 4 files; submit→done \d`, out)
	assert.Regexp(t, `job j[0-9a-f]+ \(blob\): 1500 rows in 1 units of 4 files; submit→done \d`, out)
	assert.Contains(t, out, "OK: the queue and blob answers are identical and equal the reference answer")
	assert.Contains(t, out, "instances partition=1,aggregate=2,merge=1")

	m := regexp.MustCompile(`work folder (\S+)`).FindStringSubmatch(out)
	require.NotNil(t, m)
	_, err = os.Stat(m[1])
	assert.True(t, errors.Is(err, os.ErrNotExist), "the work folder is removed without --keep: %v", err)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
)

// refEnv is an env with buffers for output and the given standard input.
func refEnv(stdin string) (env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}, &stdout, &stderr
}

// refRows returns n dbgen-shaped rows with nations and balances that vary.
func refRows(n int) string {
	var b strings.Builder
	for i := range n {
		cents := (i*7919)%1099999 - 99999
		sign := ""
		if cents < 0 {
			sign, cents = "-", -cents
		}
		b.WriteString(strings.Join([]string{
			itoaRef(i + 1), "Customer#" + itoaRef(i+1), "addr " + strings.Repeat("z", i%40), itoaRef(i % 25),
			"25-989-741-2988", sign + itoaRef(cents/100) + "." + itoaRef(cents%100/10) + itoaRef(cents%10), "BUILDING", "comment", "\n",
		}, "|"))
	}
	return b.String()
}

func itoaRef(i int) string { return aggregate.Int128From64(int64(i)).String() }

// wantRef is the kernel's own answer for the concatenation of inputs.
func wantRef(t *testing.T, layout aggregate.Layout, inputs ...string) *aggregate.Result {
	t.Helper()
	var total aggregate.Partial
	for _, in := range inputs {
		p, err := aggregate.Scan(context.Background(), strings.NewReader(in), "x", layout)
		require.NoError(t, err)
		total.Merge(p)
	}
	return aggregate.NewResult(&total)
}

func decodeResult(t *testing.T, b []byte) *aggregate.Result {
	t.Helper()
	var r aggregate.Result
	require.NoError(t, json.Unmarshal(b, &r), "%s", b)
	return &r
}

func TestRefJSONOverFilesAndUnits(t *testing.T) {
	dir := t.TempDir()
	a, b := refRows(40000), refRows(3000)
	pa, pb := filepath.Join(dir, "a.tbl"), filepath.Join(dir, "b.tbl")
	require.NoError(t, os.WriteFile(pa, []byte(a), 0o644))
	require.NoError(t, os.WriteFile(pb, []byte(b), 0o644))
	require.Greater(t, len(a), 2<<20, "a must span several 1 MiB units")

	for _, extra := range [][]string{nil, {"--unit-mb", "1", "--workers", "3"}} {
		e, stdout, stderr := refEnv("")
		args := append(append([]string{"ref", "--json"}, extra...), pa, pb)
		require.NoError(t, run(context.Background(), e, args))
		got := decodeResult(t, stdout.Bytes())
		assert.Equal(t, wantRef(t, aggregate.DefaultLayout(), a, b), got, "%q", extra)
		assert.EqualValues(t, 43000, got.Rows)
		assert.Contains(t, stderr.String(), "43000 rows accepted, 0 rejected")
	}
}

func TestRefCSVTableAndStdin(t *testing.T) {
	in := refRows(100)
	e, stdout, _ := refEnv(in)
	require.NoError(t, run(context.Background(), e, []string{"ref", "--csv", "-"}))
	var want bytes.Buffer
	require.NoError(t, wantRef(t, aggregate.DefaultLayout(), in).WriteCSV(&want))
	assert.Equal(t, want.String(), stdout.String())
	assert.True(t, strings.HasPrefix(stdout.String(), "key,name,customers,mean,min,max,total\n"))

	e, stdout, _ = refEnv(in)
	require.NoError(t, run(context.Background(), e, []string{"ref", "-"}))
	want.Reset()
	require.NoError(t, wantRef(t, aggregate.DefaultLayout(), in).WriteTable(&want))
	assert.Equal(t, want.String(), stdout.String())
	assert.Contains(t, stdout.String(), "UNITED STATES")
}

func TestRefLayoutFlagsAndRejects(t *testing.T) {
	dir := t.TempDir()
	in := "balance;key\n12.50;3\n-0.05;3\noops\n7;99\n"
	p := filepath.Join(dir, "x.csv")
	require.NoError(t, os.WriteFile(p, []byte(in), 0o644))
	e, stdout, stderr := refEnv("")
	require.NoError(t, run(context.Background(), e, []string{"ref", "--json", "--delimiter", ";", "--header", "--nation-field", "2", "--balance-field", "1", p}))
	got := decodeResult(t, stdout.Bytes())
	assert.EqualValues(t, 2, got.Rows)
	assert.EqualValues(t, 2, got.Rejected)
	require.Len(t, got.Nations, 1)
	assert.Equal(t, aggregate.NationResult{Key: 3, Name: "CANADA", Count: 2, SumCents: aggregate.Int128From64(1245), Min: "-0.05", Max: "12.50", Mean: "6.23"}, got.Nations[0])
	assert.Contains(t, stderr.String(), "2 line(s) rejected")
	assert.Contains(t, stderr.String(), p+`:28: too few fields (need 2): "oops"`)
	assert.Contains(t, stderr.String(), "nation key out of range")
}

func TestRefSF1(t *testing.T) {
	dir, err := os.Getwd()
	require.NoError(t, err)
	var xzPath string
	for ; ; dir = filepath.Dir(dir) {
		xzPath = filepath.Join(dir, "shared", "testdata", "customer_sf1.tbl.xz")
		if _, err := os.Stat(xzPath); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("shared/testdata/customer_sf1.tbl.xz not found in any parent directory")
		}
	}
	expected, err := os.ReadFile(filepath.Join(filepath.Dir(xzPath), "customer_sf1.expected.json"))
	require.NoError(t, err)
	e, stdout, _ := refEnv("")
	require.NoError(t, run(context.Background(), e, []string{"ref", "--json", xzPath}))
	var want, got any
	require.NoError(t, json.Unmarshal(expected, &want))
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got))
	assert.Equal(t, want, got)
}

func TestRefRejectsBadUse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.tbl")
	require.NoError(t, os.WriteFile(p, []byte(refRows(3)), 0o644))
	for _, args := range [][]string{
		{"ref"},
		{"ref", "--json", "--csv", p},
		{"ref", "--delimiter", "||", p},
		{"ref", "--delimiter", "\n", p},
		{"ref", "--nation-field", "6", p},
		{"ref", "--balance-field", "0", p},
		{"ref", "--unit-mb", "0", p},
		{"ref", "--workers", "0", p},
		{"ref", "--bogus", p},
		{"ref", "-", "-"},
		{"ref", dir},
	} {
		e, stdout, _ := refEnv("")
		err := run(context.Background(), e, args)
		assert.ErrorIs(t, err, errUsage, "%q", args)
		assert.Zero(t, stdout.Len(), "%q", args)
	}
	e, _, _ := refEnv("")
	err := run(context.Background(), e, []string{"ref", filepath.Join(dir, "missing.tbl")})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.NotErrorIs(t, err, errUsage)

	e, _, stderr := refEnv("")
	assert.ErrorIs(t, run(context.Background(), e, []string{"ref", "-h"}), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "--delimiter")
}

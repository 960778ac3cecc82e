package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/transport/account"
)

func TestUploadRejectsBadUse(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	require.NoError(t, os.WriteFile(a, []byte("1|x|\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "other"), 0o755))
	b := filepath.Join(dir, "other", "a.csv")
	require.NoError(t, os.WriteFile(b, []byte("2|y|\n"), 0o644))
	// No storage anywhere: a check that needs none must fail before it
	// looks for one.
	noState := filepath.Join(dir, "none.json")
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no container", []string{a}, true, "--container is required"},
		{"bad container", []string{"--container", "Bad_Name", a}, true, "not allowed"},
		{"short container", []string{"--container", "ab", a}, true, "length"},
		{"parallel", []string{"--container", "input", "--parallel", "0", a}, true, "--parallel"},
		{"no files", []string{"--container", "input"}, true, "no files"},
		{"missing file", []string{"--container", "input", a, filepath.Join(dir, "gone.csv")}, false, "gone.csv"},
		{"directory", []string{"--container", "input", dir}, false, "not a regular file"},
		{"same blob twice", []string{"--container", "input", a, b}, true, "would both become blob"},
		{"no storage", []string{"--container", "input", a}, false, "no storage account"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, stdout, _ := cliEnv(nil)
			err := run(context.Background(), e, append([]string{"upload", "--state", noState}, tc.args...))
			require.Error(t, err)
			assert.Equal(t, tc.usage, errors.Is(err, errUsage), "usage error? %v", err)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, stdout.Len())
		})
	}
}

func TestUploadPlanNamesBlobs(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"customer.000.csv", "customer.001.csv"} {
		p := filepath.Join(dir, n)
		require.NoError(t, os.WriteFile(p, []byte(n), 0o644))
		paths = append(paths, p)
	}
	items, err := uploadPlan("sf1/", paths)
	require.NoError(t, err)
	assert.Equal(t, []account.FileUpload{
		{Path: paths[0], Blob: "sf1/customer.000.csv", Size: 16},
		{Path: paths[1], Blob: "sf1/customer.001.csv", Size: 16},
	}, items)
}

func TestStorageConfigPrecedence(t *testing.T) {
	state := filepath.Join(t.TempDir(), "up.json")
	require.NoError(t, writeState(state, upState{PID: 1, APIURL: "http://127.0.0.1:1/api", ConnectionString: "FromState"}))
	cases := []struct {
		name string
		flag string
		vars map[string]string
		want account.Config
		from string
		err  string
	}{
		{"flag wins", "FromFlag", map[string]string{"AzureWebJobsStorage": "FromEnv"}, account.Config{ConnectionString: "FromFlag"}, "--connection", ""},
		{"env next", "", map[string]string{"AzureWebJobsStorage": "FromEnv"}, account.Config{ConnectionString: "FromEnv"}, "$AzureWebJobsStorage", ""},
		{"identity in env", "", map[string]string{"AzureWebJobsStorage__accountName": "acct"}, account.Config{AccountName: "acct"}, "$AzureWebJobsStorage", ""},
		{"bad identity in env", "", map[string]string{"AzureWebJobsStorage__blobServiceUri": "https://a.blob.core.windows.net"}, account.Config{}, "", "go together"},
		{"azd's account name before the state", "", map[string]string{"AZURE_STORAGE_ACCOUNT": "stfunnelabc"}, account.Config{AccountName: "stfunnelabc"}, "$AZURE_STORAGE_ACCOUNT (Microsoft Entra identity)", ""},
		{"AzureWebJobsStorage before azd's account", "", map[string]string{"AZURE_STORAGE_ACCOUNT": "stfunnelabc", "AzureWebJobsStorage": "FromEnv"}, account.Config{ConnectionString: "FromEnv"}, "$AzureWebJobsStorage", ""},
		{"bad account name", "", map[string]string{"AZURE_STORAGE_ACCOUNT": "St-Funnel"}, account.Config{}, "", "lower-case"},
		{"state last", "", nil, account.Config{ConnectionString: "FromState"}, state, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _, _ := cliEnv(tc.vars)
			cfg, from, err := storageConfig(e, tc.flag, "", state)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg)
			assert.Equal(t, tc.from, from)
		})
	}
}

func TestStorageConfigAccountFlag(t *testing.T) {
	e, _, _ := cliEnv(map[string]string{"AzureWebJobsStorage": "FromEnv"})
	cfg, from, err := storageConfig(e, "", "stfunnelabc", "/nonexistent")
	require.NoError(t, err)
	assert.Equal(t, account.Config{AccountName: "stfunnelabc"}, cfg, "--account wins over the environment")
	assert.Equal(t, "--account (Microsoft Entra identity)", from)
	a, err := account.Open(cfg, account.Options{})
	require.NoError(t, err)
	assert.Equal(t, "https://stfunnelabc.blob.core.windows.net/", a.Blob().URL())
	assert.Contains(t, cfg.String(), "default credential chain")

	_, _, err = storageConfig(e, "conn", "stfunnelabc", "/nonexistent")
	require.ErrorIs(t, err, errUsage)
	_, _, err = storageConfig(e, "", "x", "/nonexistent")
	require.ErrorIs(t, err, errUsage)
}

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args []string
		pos  []string
		json bool
	}{
		{[]string{"job1"}, []string{"job1"}, false},
		{[]string{"job1", "--json"}, []string{"job1"}, true},
		{[]string{"--json", "job1"}, []string{"job1"}, true},
		{[]string{"a", "-json", "b"}, []string{"a", "b"}, true},
		{[]string{"a", "--", "--json"}, []string{"a", "--json"}, false},
		{nil, nil, false},
	}
	for _, tc := range cases {
		e, _, _ := cliEnv(nil)
		fs := newFlagSet(e, "x", "")
		j := fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		require.NoError(t, err, "%q", tc.args)
		assert.Equal(t, tc.pos, pos, "%q", tc.args)
		assert.Equal(t, tc.json, *j, "%q", tc.args)
	}
	e, _, _ := cliEnv(nil)
	fs := newFlagSet(e, "x", "")
	_, err := parseInterspersed(fs, []string{"a", "--bad"})
	assert.ErrorIs(t, err, errUsage)
	_, err = parseInterspersed(newFlagSet(e, "x", ""), []string{"a", "-h"})
	assert.ErrorIs(t, err, flag.ErrHelp)
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 24_196_144: "23.1 MiB", 1 << 40: "1.0 TiB"} {
		assert.Equal(t, want, formatBytes(n), "%d", n)
	}
}

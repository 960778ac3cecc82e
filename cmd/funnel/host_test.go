package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostDifferences(t *testing.T) {
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"host", "--differences"}))
	assert.Contains(t, stdout.String(), "Known differences")
}

func TestHostRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "host.json"), []byte(`{"version": "1.0"}`), 0o644))
	settings := filepath.Join(t.TempDir(), "s.json")
	require.NoError(t, os.WriteFile(settings, []byte(`{"Values": {"A": 1}}`), 0o644))
	for _, args := range [][]string{
		{"host"},
		{"host", "--app", dir, "extra"},
		{"host", "--app", dir, "--instances", "0"},
		{"host", "--app", dir, "--log-level", "loud"},
		{"host", "--app", dir}, // host.json version 1.0
		{"host", "--app", dir, "--settings", settings},
		{"host", "--app", filepath.Join(dir, "missing")},
	} {
		e, _, _ := genEnv()
		err := run(context.Background(), e, args)
		require.Error(t, err, "%v", args)
		assert.True(t, errors.Is(err, errUsage), "%v: %v", args, err)
	}
}

func TestReadSettingsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"IsEncrypted": false, "Values": {"A": "1", "B": "two"}}`), 0o644))
	s, err := readSettingsFile(p)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "1", "B": "two"}, s)
	require.NoError(t, os.WriteFile(p, []byte(`{"A": "x"}`), 0o644))
	s, err = readSettingsFile(p)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "x"}, s)
}

package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvironmentOf(t *testing.T) {
	for url, want := range map[string]string{
		"http://127.0.0.1:7071/api":                        EnvironmentLocal,
		"http://localhost:7071/api":                        EnvironmentLocal,
		"http://[::1]:7071/api":                            EnvironmentLocal,
		"https://func-partition-abc.azurewebsites.net/api": EnvironmentAzure,
	} {
		got, err := EnvironmentOf(url)
		require.NoError(t, err, url)
		assert.Equal(t, want, got, url)
	}
	_, err := EnvironmentOf("func-partition-abc.azurewebsites.net/api")
	assert.ErrorIs(t, err, ErrOptions)
}

func TestRemoteOptionsValidate(t *testing.T) {
	o := RemoteOptions{Transports: []string{"queue"}, ScaleFactor: 1, Chunks: 1, UnitMB: 8, Reps: 1, OutDir: "o", CacheDir: "c"}.withDefaults()
	require.NoError(t, o.validate())
	bad := o
	bad.Transports = []string{"smoke"}
	assert.ErrorIs(t, bad.validate(), ErrOptions)
	bad = o
	bad.CacheDir = ""
	assert.ErrorIs(t, bad.validate(), ErrOptions)
}

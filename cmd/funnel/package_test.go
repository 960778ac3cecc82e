package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/localstack"
)

// TestPackageZipIsDeployable opens the linux-amd64 zips `funnel package`
// writes (what the azd hooks deploy): host.json at the root, every function
// folder of the repository's <app>/functions, the handler at mode 0755,
// no local settings.
func TestPackageZipIsDeployable(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin, out := t.TempDir(), t.TempDir()
	for _, app := range localstack.Apps() {
		p := filepath.Join(bin, "linux-amd64", app)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("handler of "+app), 0o600))
	}
	e, _, _ := refEnv("")
	require.NoError(t, run(context.Background(), e, []string{"package", "-root", root, "-bin", bin, "-out", out, "-arch", "amd64"}))

	for _, app := range localstack.Apps() {
		fns, err := os.ReadDir(filepath.Join(root, app, "functions"))
		require.NoError(t, err)
		want := []string{"host.json", "handler"}
		for _, fn := range fns {
			want = append(want, fn.Name()+"/function.json")
		}

		zr, err := zip.OpenReader(filepath.Join(out, "linux-amd64", app+".zip"))
		require.NoError(t, err, app)
		var got []string
		for _, f := range zr.File {
			got = append(got, f.Name)
			switch f.Name {
			case "handler":
				assert.Equal(t, os.FileMode(0o755), f.Mode().Perm(), "%s: the handler must keep its exec bit in the zip", app)
				rc, err := f.Open()
				require.NoError(t, err)
				b := make([]byte, 64)
				n, _ := rc.Read(b)
				rc.Close()
				assert.Equal(t, "handler of "+app, string(b[:n]))
			case "host.json":
				rc, err := f.Open()
				require.NoError(t, err)
				var hj struct {
					CustomHandler struct {
						Description struct {
							DefaultExecutablePath string `json:"defaultExecutablePath"`
						} `json:"description"`
					} `json:"customHandler"`
				}
				require.NoError(t, json.NewDecoder(rc).Decode(&hj))
				rc.Close()
				assert.Equal(t, localstack.HandlerName, hj.CustomHandler.Description.DefaultExecutablePath)
			}
		}
		require.NoError(t, zr.Close())
		sort.Strings(want)
		sort.Strings(got)
		assert.Equal(t, want, got, app)

		b, err := os.ReadFile(filepath.Join(out, "linux-amd64", app, "local.settings.json"))
		require.NoError(t, err, "the folder has local settings for func start")
		var ls struct{ Values map[string]string }
		require.NoError(t, json.Unmarshal(b, &ls))
		for k, v := range localstack.AppSettings() {
			assert.Equal(t, v, ls.Values[k], "%s: %s", app, k)
		}
		assert.Equal(t, "custom", ls.Values["FUNCTIONS_WORKER_RUNTIME"])
	}

	// The triggers the deployment hook subscribes to Event Grid come from
	// the packaged function.json files and follow FUNNEL_PREFIX.
	e, stdout, _ := refEnv("")
	require.NoError(t, run(context.Background(), e, []string{"triggers", "--apps", filepath.Join(out, "linux-amd64"), "--set", "FUNNEL_PREFIX=demo-"}))
	var eventGrid []string
	for line := range strings.SplitSeq(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 5, line)
		if f[2] == "blobTrigger" && f[3] == "EventGrid" {
			eventGrid = append(eventGrid, f[0]+" "+f[1]+" "+f[4])
		}
	}
	assert.Equal(t, []string{"aggregate UnitsBlob demo-units", "merge PartialsBlob demo-partials"}, eventGrid)
	assert.Contains(t, stdout.String(), "merge\tPartialsQueue\tqueueTrigger\t-\tdemo-partials\n")
	assert.Contains(t, stdout.String(), "partition\tReconcile\ttimerTrigger\t-\t0 */1 * * * *\n")
}

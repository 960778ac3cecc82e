package localstack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/infra/process"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
	"github.com/funnelpipe/funnel/transport/account"
)

func TestMain(m *testing.M) { localstacktest.Main(m) }

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
}

func TestAssembleApp(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0"}`, 0o644)
	writeFile(t, filepath.Join(root, "merge", "functions", "PartialsQueue", "function.json"), `{"bindings":[1]}`, 0o644)
	writeFile(t, filepath.Join(root, "merge", "functions", "UnitsPoison", "function.json"), `{"bindings":[2]}`, 0o644)
	writeFile(t, filepath.Join(root, "merge", "functions", "README"), "not a function", 0o644)
	bin := filepath.Join(root, "bin", "merge")
	writeFile(t, bin, "binary", 0o600)

	out := filepath.Join(t.TempDir(), "apps", "merge")
	writeFile(t, filepath.Join(out, "Stale", "function.json"), "{}", 0o644)
	require.NoError(t, localstack.AssembleApp(root, bin, out))

	var files []string
	require.NoError(t, filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(out, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	assert.ElementsMatch(t, []string{"host.json", "PartialsQueue/function.json", "UnitsPoison/function.json", "handler"}, files)
	data, err := os.ReadFile(filepath.Join(out, "UnitsPoison", "function.json"))
	require.NoError(t, err)
	assert.Equal(t, `{"bindings":[2]}`, string(data))
	fi, err := os.Stat(filepath.Join(out, localstack.HandlerName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "the handler must be executable")
}

func TestAssembleAppErrorsKeepTheOldFolder(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), `{}`, 0o644)
	bin := filepath.Join(root, "handler-bin")
	writeFile(t, bin, "x", 0o755)
	out := filepath.Join(t.TempDir(), "aggregate")
	writeFile(t, filepath.Join(out, "host.json"), "old", 0o644)

	err := localstack.AssembleApp(root, filepath.Join(root, "missing"), out)
	require.ErrorContains(t, err, "make build")
	err = localstack.AssembleApp(root, bin, out) // no aggregate/functions in root
	require.ErrorContains(t, err, "function definitions")

	data, err := os.ReadFile(filepath.Join(out, "host.json"))
	require.NoError(t, err)
	assert.Equal(t, "old", string(data), "a failed assembly must not delete the existing folder")
}

func TestStartRejectsBadOptions(t *testing.T) {
	apps := t.TempDir()
	for _, app := range localstack.Apps() {
		writeFile(t, filepath.Join(apps, app, "host.json"), "{}", 0o644)
	}
	cases := []struct {
		name string
		opts localstack.Options
		want string
	}{
		{"no apps dir", localstack.Options{}, "AppsDir is empty"},
		{"missing app", localstack.Options{AppsDir: t.TempDir()}, "make package"},
		{"unknown app", localstack.Options{AppsDir: apps, Instances: map[string]int{"reduce": 2}}, `unknown app "reduce"`},
		{"negative count", localstack.Options{AppsDir: apps, Instances: map[string]int{"merge": -1}}, "at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := localstack.Start(context.Background(), tc.opts)
			require.ErrorIs(t, err, localstack.ErrOptions)
			assert.ErrorContains(t, err, tc.want)
			assert.Nil(t, s)
		})
	}
}

// processesMentioning returns the PIDs of live processes whose executable or command
// line mentions dir (process.Mentioning); it skips without /proc.
func processesMentioning(t *testing.T, dir string) []int {
	t.Helper()
	pids, err := process.Mentioning(dir)
	if err != nil {
		t.Skip(err)
	}
	return pids
}

// splitLines cuts data into n pieces at line boundaries.
func splitLines(data []byte, n int) [][]byte {
	var out [][]byte
	for i := n; i > 1; i-- {
		cut := len(data) / i
		nl := bytes.IndexByte(data[cut:], '\n')
		if nl < 0 {
			break
		}
		out = append(out, data[:cut+nl+1])
		data = data[cut+nl+1:]
	}
	return append(out, data)
}

func TestStackRunsJobsOverBothTransports(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var table bytes.Buffer
	require.NoError(t, dbgen.Write(ctx, &table, dbgen.Options{ScaleFactor: 0.01}))
	ref, err := aggregate.Scan(ctx, bytes.NewReader(table.Bytes()), "customer.tbl", aggregate.DefaultLayout())
	require.NoError(t, err)
	want := aggregate.NewResult(ref)
	require.EqualValues(t, 1500, want.Rows)

	records := t.TempDir()
	azLoc := filepath.Join(t.TempDir(), "azurite")
	stack, err := localstack.Start(ctx, localstack.Options{
		AppsDir:    apps,
		Instances:  map[string]int{"aggregate": 2},
		RecordsDir: records,
		Azurite:    azurite.Options{Location: azLoc},
	})
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			assert.NoError(t, stack.Stop())
		}
	}()

	assert.True(t, strings.HasPrefix(stack.APIURL(), "http://127.0.0.1:"), stack.APIURL())
	assert.True(t, strings.HasSuffix(stack.APIURL(), "/api"), stack.APIURL())
	assert.Contains(t, stack.ConnectionString(), "BlobEndpoint="+stack.BlobEndpoint())
	assert.Contains(t, stack.ConnectionString(), "QueueEndpoint="+stack.QueueEndpoint())
	require.Len(t, stack.Hosts(), 3)
	assert.NotZero(t, stack.AzuritePID())

	acct, err := account.Open(account.Config{ConnectionString: stack.ConnectionString()}, account.Options{})
	require.NoError(t, err)
	defer acct.Close()
	_, err = acct.Blob().CreateContainer(ctx, "input", nil)
	require.NoError(t, err)
	for i, part := range splitLines(table.Bytes(), 3) {
		_, err := acct.Blob().UploadBuffer(ctx, "input", fmt.Sprintf("customer/%d.tbl", i), part, &azblob.UploadBufferOptions{})
		require.NoError(t, err)
	}

	client := &partition.Client{BaseURL: stack.APIURL()}
	units := (table.Len() + 1<<20 - 1) >> 20 // the three parts share 1 MiB units
	for _, tr := range job.Transports() {
		t.Run(tr, func(t *testing.T) {
			id, err := client.Submit(ctx, job.Spec{Transport: tr, Input: job.Input{Container: "input", Prefix: "customer/"}, UnitMB: 1})
			require.NoError(t, err)
			st, err := client.Wait(ctx, id, 100*time.Millisecond, nil)
			require.NoError(t, err)
			assert.Equal(t, job.Done, st.State)
			assert.Equal(t, units, st.Units.Planned)
			assert.Equal(t, units, st.Units.Done)
			require.NotNil(t, st.Result)
			assert.Equal(t, want.Nations, st.Result.Nations)
			assert.Equal(t, want.Rows, st.Result.Rows)
			assert.Zero(t, st.Result.Rejected)
		})
	}

	sums := stack.Summaries()
	require.Len(t, sums, 3)
	assert.Equal(t, "aggregate", sums[1].App)
	assert.Len(t, sums[1].Instances, 2, "aggregate was asked for two instances")
	assert.GreaterOrEqual(t, sums[1].Invocations, 2*units, "every unit of two jobs")

	hostURLs := []string{}
	for _, h := range stack.Hosts() {
		hostURLs = append(hostURLs, h.HTTPURL())
	}
	azPID := stack.AzuritePID()
	require.NotEmpty(t, processesMentioning(t, apps), "the handlers run from the apps folder")

	require.NoError(t, stack.Stop())
	stopped = true
	assert.NoError(t, stack.Stop(), "Stop is idempotent")
	select {
	case <-stack.Failed():
		t.Fatalf("a deliberate Stop is not a failure: %v", stack.Err())
	default:
	}
	assert.Empty(t, processesMentioning(t, apps), "handler processes left behind")
	assert.Empty(t, processesMentioning(t, azLoc), "azurite left behind (pid %d)", azPID)
	for _, u := range hostURLs {
		_, err := http.Get(u + "/admin/host/status")
		assert.Error(t, err, "host %s still serves after Stop", u)
	}
	for _, app := range localstack.Apps() {
		data, err := os.ReadFile(filepath.Join(records, app+".jsonl"))
		require.NoError(t, err)
		assert.NotEmpty(t, data, "records of %s", app)
	}
}

func TestStartFailsCleanlyWhenAHandlerCannotStart(t *testing.T) {
	apps := localstacktest.Apps(t)
	// A merge handler that exits at once.
	require.NoError(t, os.WriteFile(filepath.Join(apps, "merge", localstack.HandlerName), []byte("#!/bin/sh\necho broken >&2\nexit 3\n"), 0o755))
	azLoc := filepath.Join(t.TempDir(), "azurite")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	stack, err := localstack.Start(ctx, localstack.Options{AppsDir: apps, Azurite: azurite.Options{Location: azLoc}})
	require.Error(t, err)
	assert.Nil(t, stack)
	assert.Contains(t, err.Error(), "merge")
	assert.False(t, errors.Is(err, localstack.ErrOptions))
	assert.Empty(t, processesMentioning(t, apps), "handlers left behind after a failed start")
	assert.Empty(t, processesMentioning(t, azLoc), "azurite left behind after a failed start")
}

func TestStartReusesGivenStorage(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := azurite.Start(ctx, azurite.Options{})
	require.NoError(t, err)
	defer srv.Stop()

	stack, err := localstack.Start(ctx, localstack.Options{AppsDir: apps, ConnectionString: srv.ConnectionString()})
	require.NoError(t, err)
	assert.Zero(t, stack.AzuritePID(), "no emulator of its own")
	assert.NotEqual(t, srv.BlobEndpoint(), stack.BlobEndpoint(), "blob requests go through the local Event Grid")
	assert.True(t, strings.HasSuffix(stack.BlobEndpoint(), "/devstoreaccount1"), stack.BlobEndpoint())
	assert.Equal(t, srv.QueueEndpoint(), stack.QueueEndpoint())
	resp, err := http.Get(stack.APIURL() + "/jobs/nosuchjob")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, stack.Stop())

	select {
	case <-srv.Exited():
		t.Fatal("Stop stopped storage it did not start")
	default:
	}
}

// TestFunnelTriggersFollowFunnelPrefix loads funnel's own app folders under
// funchost: without FUNNEL_PREFIX the host refuses them, naming the setting
// (as the real host refuses a %Setting% that does not resolve), so no
// launcher can leave a trigger listening on a name the handlers do not use.
func TestFunnelTriggersFollowFunnelPrefix(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "handler")
	writeFile(t, bin, "#!/bin/sh\n", 0o755)
	conn := azurite.ConnectionString("http://127.0.0.1:1/devstoreaccount1", "http://127.0.0.1:2/devstoreaccount1", "")
	for _, app := range []string{"aggregate", "merge"} {
		dir := filepath.Join(t.TempDir(), app)
		require.NoError(t, localstack.AssembleApp(root, bin, dir))
		_, err := funchost.New(funchost.Config{AppDir: dir, Settings: map[string]string{"AzureWebJobsStorage": conn}, HTTPAddr: "127.0.0.1:0"})
		require.ErrorIs(t, err, funchost.ErrConfig, app)
		assert.Contains(t, err.Error(), `"FUNNEL_PREFIX"`, app)

		settings := localstack.AppSettings()
		settings["AzureWebJobsStorage"] = conn
		h, err := funchost.New(funchost.Config{AppDir: dir, Settings: settings, HTTPAddr: "127.0.0.1:0"})
		require.NoError(t, err, app)
		require.NoError(t, h.Close())
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// Upload sizes: a file up to singlePutMax goes up in one Put Blob; a larger
// one in blocks of uploadBlock, uploadBlockConcurrency at a time, so that
// no single request carries more than a block (the account's per-try
// timeout is sized for 64 MiB).
const (
	singlePutMax           = 32 << 20
	uploadBlock            = 8 << 20
	uploadBlockConcurrency = 4
	maxUploadParallel      = 256
)

// cmdUpload uploads files to a blob container, in parallel.
func cmdUpload(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "upload", "--container C [--prefix P] [--parallel N] [--connection S | --account NAME] [--state FILE] FILES...")
	container := fs.String("container", "", "the blob container to upload to (created if missing)")
	prefix := fs.String("prefix", "", "prepended to each file's base name to make its blob name, e.g. customer/")
	parallel := fs.Int("parallel", 8, "files uploaded at once")
	conn := fs.String("connection", "", "storage connection `string` (default: $AzureWebJobsStorage, else --account, else the running funnel up)")
	acctName := fs.String("account", "", "storage account `name` in Azure, reached with your Microsoft Entra identity (az login), no key (default $"+envStorageAccount+")")
	state := fs.String("state", defaultStateFile, "the state `file` of funnel up, read when no connection is given")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *container == "" {
		return fmt.Errorf("%w: --container is required", errUsage)
	}
	if err := transport.ValidateStorageName(*container); err != nil {
		return fmt.Errorf("%w: --container: %v", errUsage, err)
	}
	if *parallel < 1 || *parallel > maxUploadParallel {
		return fmt.Errorf("%w: --parallel %d: must be 1..%d", errUsage, *parallel, maxUploadParallel)
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: no files to upload", errUsage)
	}
	items, err := uploadPlan(*prefix, files)
	if err != nil {
		return err
	}
	cfg, from, err := storageConfig(e, *conn, *acctName, *state)
	if err != nil {
		return err
	}
	acct, err := account.Open(cfg, account.Options{Component: "funnel-upload"})
	if err != nil {
		return err
	}
	defer acct.Close()
	var bar io.Writer
	if isTerminal(e.stderr) {
		bar = e.stderr
	}
	fmt.Fprintf(e.stderr, "uploading %d files to container %q (storage from %s)\n", len(items), *container, from)
	st, err := uploadFiles(ctx, acct.Blob(), *container, items, *parallel, bar)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "uploaded %d files, %s, to %s/%s in %s (%s/s)\n",
		st.Files, formatBytes(st.Bytes), *container, *prefix, st.Elapsed.Round(time.Millisecond), formatBytes(int64(float64(st.Bytes)/st.Elapsed.Seconds())))
	return nil
}

// uploadItem is one file to upload and the blob it becomes.
type uploadItem struct {
	Path string
	Blob string
	Size int64
}

// uploadPlan checks every file before anything is uploaded: it exists, is
// a regular file, and no two files map to one blob name.
func uploadPlan(prefix string, paths []string) ([]uploadItem, error) {
	items := make([]uploadItem, 0, len(paths))
	byBlob := map[string]string{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("upload: %s is not a regular file", p)
		}
		name := prefix + filepath.Base(p)
		if len(name) > 1024 {
			return nil, fmt.Errorf("%w: blob name %.40q... is longer than 1024 characters", errUsage, name)
		}
		if other, dup := byBlob[name]; dup {
			return nil, fmt.Errorf("%w: %s and %s would both become blob %q", errUsage, other, p, name)
		}
		byBlob[name] = p
		items = append(items, uploadItem{Path: p, Blob: name, Size: fi.Size()})
	}
	return items, nil
}

// uploadStats says what an upload did.
type uploadStats struct {
	Files   int
	Bytes   int64
	Elapsed time.Duration
}

// uploadFiles creates the container if needed and uploads items, parallel
// files at once, overwriting blobs of the same name. When bar is not nil a
// progress bar is drawn on it. The first failure cancels the rest and is
// returned, naming the file.
func uploadFiles(ctx context.Context, client *azblob.Client, container string, items []uploadItem, parallel int, bar io.Writer) (uploadStats, error) {
	start := time.Now()
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return uploadStats{}, account.Error(ctx, fmt.Sprintf("create container %q", container), err)
	}
	var total int64
	for _, it := range items {
		total += it.Size
	}
	var pb *progressbar.ProgressBar
	if bar != nil {
		pb = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(bar),
			progressbar.OptionSetDescription(fmt.Sprintf("uploading %d files", len(items))),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true), // MiB, as the summary line
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(bar) }),
		)
	}
	// Progress may go back when a request is retried, so each file's
	// figure is replaced rather than added to.
	var mu sync.Mutex
	sent := make([]int64, len(items))
	var sum atomic.Int64
	progress := func(i int, n int64) {
		mu.Lock()
		sum.Add(n - sent[i])
		sent[i] = n
		mu.Unlock()
		if pb != nil {
			_ = pb.Set64(sum.Load()) // only fails on a closed writer; the upload matters more
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, it := range items {
		g.Go(func() error {
			if err := uploadOne(gctx, client.ServiceClient().NewContainerClient(container).NewBlockBlobClient(it.Blob), it, func(n int64) { progress(i, n) }); err != nil {
				return account.Error(gctx, fmt.Sprintf("upload %s to %s/%s", it.Path, container, it.Blob), err)
			}
			return nil
		})
	}
	err := g.Wait()
	if pb != nil {
		if err == nil {
			_ = pb.Finish()
		} else {
			_ = pb.Exit()
			fmt.Fprintln(bar)
		}
	}
	if err != nil {
		return uploadStats{}, err
	}
	return uploadStats{Files: len(items), Bytes: total, Elapsed: time.Since(start)}, nil
}

func uploadOne(ctx context.Context, bb *blockblob.Client, it uploadItem, progress func(int64)) error {
	f, err := os.Open(it.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if it.Size <= singlePutMax {
		_, err = bb.UploadFile(ctx, f, &blockblob.UploadFileOptions{Progress: progress})
		return err
	}
	cr := &countingReader{r: f, progress: progress}
	_, err = bb.UploadStream(ctx, cr, &blockblob.UploadStreamOptions{BlockSize: uploadBlock, Concurrency: uploadBlockConcurrency})
	return err
}

// countingReader reports how many bytes have been read so far (the blocks
// read are in flight or sent).
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.progress(c.n)
	return n, err
}

// envStorageAccount names the storage account of an Azure deployment; the
// azd environment holds it (the Bicep's output), so `azd env get-values`
// gives it to the CLI.
const envStorageAccount = "AZURE_STORAGE_ACCOUNT"

// storageConfig finds the storage account: --connection, else the
// AzureWebJobsStorage settings in the environment (a connection string or
// an identity, as the Functions host reads them), else --account or
// $AZURE_STORAGE_ACCOUNT (an account in Azure, reached with
// DefaultAzureCredential: az login, azd auth login, environment, managed
// identity), else the running `funnel up`. It returns where the account
// came from, for messages.
func storageConfig(e env, conn, acctName, stateFile string) (account.Config, string, error) {
	if conn != "" && acctName != "" {
		return account.Config{}, "", fmt.Errorf("%w: --connection and --account both name a storage account; pass one", errUsage)
	}
	if conn != "" {
		return account.Config{ConnectionString: conn}, "--connection", nil
	}
	if acctName != "" {
		return accountByName(acctName, "--account")
	}
	if cfg, err := account.FromEnv(e.getenv, account.DefaultConnection); err == nil {
		return cfg, "$" + account.DefaultConnection, nil
	} else if !isUnset(e, account.DefaultConnection) {
		return account.Config{}, "", err // set, but wrong: say so rather than fall back
	}
	if name := strings.TrimSpace(e.getenv(envStorageAccount)); name != "" {
		return accountByName(name, "$"+envStorageAccount)
	}
	st, err := readState(stateFile)
	if err != nil {
		return account.Config{}, "", fmt.Errorf("no storage account: pass --connection or --account, set $%s or $%s, or start `funnel up` (%w)", account.DefaultConnection, envStorageAccount, err)
	}
	return account.Config{ConnectionString: st.ConnectionString}, stateFile, nil
}

// accountByName is the Config of an Azure storage account reached with
// DefaultAzureCredential.
func accountByName(name, from string) (account.Config, string, error) {
	if err := validAccountName(name); err != nil {
		return account.Config{}, "", fmt.Errorf("%w: %s: %v", errUsage, from, err)
	}
	return account.Config{AccountName: name}, from + " (Microsoft Entra identity)", nil
}

// validAccountName checks an Azure storage account name: 3-24 lower-case
// letters and digits.
func validAccountName(name string) error {
	if len(name) < 3 || len(name) > 24 {
		return fmt.Errorf("storage account name %q: want 3-24 characters", name)
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("storage account name %q: only lower-case letters and digits", name)
		}
	}
	return nil
}

// isUnset reports that no setting of the connection name is in the
// environment (neither the name nor any name__property).
func isUnset(e env, name string) bool {
	for _, k := range []string{name, "AzureWebJobs" + name, name + "__accountName", name + "__blobServiceUri", name + "__queueServiceUri", name + "__serviceUri", name + "__credential", name + "__clientId", name + "__managedIdentityResourceId"} {
		if e.getenv(k) != "" {
			return false
		}
	}
	return true
}

// isTerminal reports whether w is a terminal, where progress is drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// formatBytes writes n in binary units: "23.2 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments ("funnel status JOB --json"), as users expect,
// and returns the positional arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

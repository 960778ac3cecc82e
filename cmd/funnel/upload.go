package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// maxUploadParallel bounds --parallel.
const maxUploadParallel = 256

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
	st, err := uploadFiles(ctx, acct, *container, items, *parallel, bar)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "uploaded %d files, %s, to %s/%s in %s (%s/s)\n",
		st.Files, formatBytes(st.Bytes), *container, *prefix, st.Elapsed.Round(time.Millisecond), formatBytes(int64(float64(st.Bytes)/st.Elapsed.Seconds())))
	return nil
}

// uploadPlan checks every file before anything is uploaded: it exists, is
// a regular file, and no two files map to one blob name.
func uploadPlan(prefix string, paths []string) ([]account.FileUpload, error) {
	items := make([]account.FileUpload, 0, len(paths))
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
		items = append(items, account.FileUpload{Path: p, Blob: name, Size: fi.Size()})
	}
	return items, nil
}

// uploadStats says what an upload did.
type uploadStats struct {
	Files   int
	Bytes   int64
	Elapsed time.Duration
}

// uploadFiles uploads items with Account.UploadFiles, drawing a progress
// bar on bar when it is not nil.
func uploadFiles(ctx context.Context, acct *account.Account, container string, items []account.FileUpload, parallel int, bar io.Writer) (uploadStats, error) {
	start := time.Now()
	var total int64
	for _, it := range items {
		total += it.Size
	}
	var progress func(int64)
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
		progress = func(sent int64) {
			_ = pb.Set64(sent) // only fails on a closed writer; the upload matters more
		}
	}
	err := acct.UploadFiles(ctx, container, items, parallel, progress)
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

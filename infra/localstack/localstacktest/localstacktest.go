// Package localstacktest builds the funnel apps for end-to-end tests: it
// compiles the three handler binaries of this module for the machine the
// test runs on and assembles their app folders with
// localstack.AssembleApp, exactly as `make package` does, so that a test
// runs the code of the tree it is in (not a stale dist/).
//
// A package using it declares
//
//	func TestMain(m *testing.M) { localstacktest.Main(m) }
//
// so that the binaries are built once per test binary and removed at its
// end; each Apps call then gets its own copy of the app folders, which the
// test may change.
package localstacktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funnelpipe/funnel/infra/localstack"
)

// buildTimeout bounds the three `go build`s (a cold cache on two cores
// takes about a minute).
const buildTimeout = 5 * time.Minute

// built is the binaries one test binary builds, per GOARCH. It is package
// state by necessity: Main and Apps meet only here.
var built struct {
	mu    sync.Mutex
	main  bool
	root  string // module root
	dir   string // holds <goarch>/bin/<app>
	archs map[string]*archBuild
}

type archBuild struct {
	bin string
	err error
}

// Main runs the tests, then removes the binaries Apps built, and exits with
// the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	built.mu.Lock()
	built.main = true
	built.mu.Unlock()
	code := m.Run()
	built.mu.Lock()
	dir := built.dir
	built.mu.Unlock()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "localstacktest: %v\n", err)
		}
	}
	os.Exit(code)
}

// Apps returns a fresh folder of the three assembled apps, the AppsDir for
// localstack.Options, building the binaries on the first call. It skips the
// test under -short and fails it when a build fails, quoting the compiler.
func Apps(tb testing.TB) string {
	tb.Helper()
	return AppsFor(tb, runtime.GOARCH)
}

// AppsFor is Apps with handlers built for goarch (this OS), e.g. "arm64" to
// run them under qemu-aarch64-static (localstack.Options.ExecPrefix) on
// an amd64 machine.
func AppsFor(tb testing.TB, goarch string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the whole pipeline; skipped under -short")
	}
	root, bin, err := binaries(goarch)
	if err != nil {
		tb.Fatal(err)
	}
	apps := filepath.Join(tb.TempDir(), "apps")
	for _, app := range localstack.Apps() {
		if err := localstack.AssembleApp(root, filepath.Join(bin, app), filepath.Join(apps, app)); err != nil {
			tb.Fatalf("assemble %s: %v", app, err)
		}
	}
	return apps
}

func binaries(goarch string) (root, bin string, err error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if !built.main {
		return "", "", errors.New("localstacktest: declare func TestMain(m *testing.M) { localstacktest.Main(m) } in the package's tests")
	}
	if b, ok := built.archs[goarch]; ok {
		return built.root, b.bin, b.err
	}
	if built.archs == nil {
		built.archs = map[string]*archBuild{}
	}
	b := &archBuild{}
	built.archs[goarch] = b
	if built.root == "" {
		if built.root, b.err = ModuleRoot(); b.err != nil {
			built.root = ""
			return "", "", b.err
		}
	}
	if built.dir == "" {
		if built.dir, b.err = os.MkdirTemp("", "funnel-apps-*"); b.err != nil {
			return "", "", b.err
		}
	}
	b.bin = filepath.Join(built.dir, goarch, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	for _, app := range localstack.Apps() {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(b.bin, app), "./cmd/"+app)
		cmd.Dir = built.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("localstacktest: go build ./cmd/%s for %s: %v\n%s", app, goarch, err, out)
			break
		}
	}
	return built.root, b.bin, b.err
}

// ModuleRoot is the directory of this module's go.mod, found from the
// working directory (a test runs in its package's folder).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("localstacktest: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("localstacktest: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

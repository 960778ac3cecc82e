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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funnelpipe/funnel/infra/localstack"
)

// buildTimeout bounds the three `go build`s (a cold cache on two cores
// takes about a minute).
const buildTimeout = 5 * time.Minute

// built is the binaries one test binary builds. It is package state by
// necessity: Main and Apps meet only here.
var built struct {
	mu   sync.Mutex
	main bool
	done bool
	root string // module root
	dir  string // holds bin/<app>
	err  error
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
	if testing.Short() {
		tb.Skip("builds and runs the whole pipeline; skipped under -short")
	}
	root, bin, err := binaries()
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

func binaries() (root, bin string, err error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if !built.main {
		return "", "", errors.New("localstacktest: declare func TestMain(m *testing.M) { localstacktest.Main(m) } in the package's tests")
	}
	if built.done {
		return built.root, filepath.Join(built.dir, "bin"), built.err
	}
	built.done = true
	built.root, built.err = ModuleRoot()
	if built.err != nil {
		return "", "", built.err
	}
	built.dir, built.err = os.MkdirTemp("", "funnel-apps-*")
	if built.err != nil {
		return "", "", built.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	for _, app := range localstack.Apps() {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(built.dir, "bin", app), "./cmd/"+app)
		cmd.Dir = built.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("localstacktest: go build ./cmd/%s: %v\n%s", app, err, out)
			break
		}
	}
	return built.root, filepath.Join(built.dir, "bin"), built.err
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

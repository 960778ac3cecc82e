// Package azuritetest gives tests a running Azurite.
//
// A package whose tests need storage declares
//
//	func TestMain(m *testing.M) { azuritetest.Main(m) }
//
// and each test calls ForTest to get a connection string:
//
//	conn := azuritetest.ForTest(t) // skips under -short
//
// ForTest returns the connection string in the environment variable
// FUNNEL_TEST_STORAGE when it is set (an Azurite, or any storage account,
// that someone else runs). Otherwise the first ForTest call in a test binary
// starts one Azurite for the whole binary, and Main stops it when the tests
// are over. Tests share that emulator, so they use names of their own
// (containers, queues) rather than expect an empty account.
package azuritetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/transport/account"
)

// EnvStorage names the environment variable holding the connection string of
// an already running storage emulator to use instead of starting one.
const EnvStorage = "FUNNEL_TEST_STORAGE"

// binary is the state of the one emulator a test binary starts. It is
// package state by necessity: Main and ForTest meet only here.
var binary struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool // a start was attempted; err or server holds the outcome
	server  *azurite.Server
	err     error
}

// Main runs the tests and then stops the emulator ForTest started, if any,
// and exits with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	binary.mu.Lock()
	binary.main = true
	binary.mu.Unlock()

	code := m.Run()

	binary.mu.Lock()
	s := binary.server
	binary.server = nil
	binary.mu.Unlock()
	if s != nil {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "azuritetest: stop: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// ForTest returns a connection string for a running Azurite (see the package
// doc). It skips the test under -short, and fails it when no emulator can be
// had: Azurite not installed ("run make deps"), Main not called, or the
// emulator failing to start — the same error for every test of the binary.
func ForTest(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs Azurite; skipped under -short")
	}
	if conn := os.Getenv(EnvStorage); conn != "" {
		return conn
	}
	s, err := server()
	if err != nil {
		tb.Fatal(err)
	}
	return s.ConnectionString()
}

// Server returns the emulator this test binary started, starting it if
// needed, for tests that need more than a connection string (its ports or
// endpoints). It skips under -short like ForTest, and also when
// FUNNEL_TEST_STORAGE names an emulator run elsewhere.
func Server(tb testing.TB) *azurite.Server {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs Azurite; skipped under -short")
	}
	if os.Getenv(EnvStorage) != "" {
		tb.Skipf("%s is set: the emulator is not this binary's", EnvStorage)
	}
	s, err := server()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func server() (*azurite.Server, error) {
	binary.mu.Lock()
	defer binary.mu.Unlock()
	if !binary.main {
		return nil, fmt.Errorf("azuritetest: declare func TestMain(m *testing.M) { azuritetest.Main(m) } so the emulator is stopped after the tests")
	}
	if !binary.started {
		binary.started = true
		binary.server, binary.err = azurite.Start(context.Background(), azurite.Options{})
		if binary.err != nil {
			binary.err = fmt.Errorf("azuritetest: %w", binary.err)
		}
	}
	return binary.server, binary.err
}

// Unreachable returns a development-account connection string whose blob
// and queue endpoints are a loopback port nothing listens on, for tests of
// how a client fails when storage is down. It does not need Azurite.
func Unreachable(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("azuritetest: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil { // the port stays unused: nothing listens there any more
		tb.Fatalf("azuritetest: %v", err)
	}
	ep := "http://" + addr + "/" + account.DevAccountName
	return account.DevConnectionString(ep, ep, "")
}

// OpenAccount opens the account of ForTest's emulator with its request
// metrics on a registry of its own (returned, for counting requests), and
// closes it when the test ends. It skips under -short like ForTest.
func OpenAccount(tb testing.TB) (*account.Account, *prometheus.Registry) {
	tb.Helper()
	conn := ForTest(tb)
	reg := prometheus.NewRegistry()
	a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg})
	if err != nil {
		tb.Fatalf("azuritetest: open account: %v", err)
	}
	tb.Cleanup(a.Close)
	return a, reg
}

// Requests is how many storage requests the accounts on reg have made.
func Requests(tb testing.TB, reg prometheus.Gatherer) float64 {
	tb.Helper()
	usage, err := account.ReadUsage(reg)
	if err != nil {
		tb.Fatalf("azuritetest: read usage: %v", err)
	}
	total := 0.0
	for _, u := range usage {
		total += u.Requests
	}
	return total
}

package stagerun

import (
	"testing"
	"time"
)

// minRetryWait is the least a request waits across its retries before it
// fails, by the azcore retry policy's documented schedule: before retry n
// it sleeps (2^n - 1) × RetryDelay × a jitter in [0.8, 1.3), capped at
// MaxRetryDelay.
func minRetryWait(retries int, delay, maxDelay time.Duration) time.Duration {
	var total time.Duration
	for n := 1; n <= retries; n++ {
		d := time.Duration(float64(delay) * float64(int64(1)<<n-1) * 0.8)
		total += min(d, maxDelay)
	}
	return total
}

// A handler's storage requests ride through a storage outage of several
// seconds (an emulator restart took 3-4 s on the test machine), which the
// account's default retries (about 2 s) do not.
func TestStorageRetriesOutlastAShortOutage(t *testing.T) {
	o := StorageOptions(nil, "aggregate")
	got := minRetryWait(o.MaxRetries, o.RetryDelay, o.MaxRetryDelay)
	if got < 10*time.Second {
		t.Fatalf("a handler's request gives up after %v of retries; want at least 10 s", got)
	}
	if def := minRetryWait(3, 200*time.Millisecond, 2*time.Second); def >= 10*time.Second {
		t.Fatalf("the account default waits %v: the handler options are no longer needed", def)
	}
	if o.Component != "aggregate" {
		t.Errorf("component %q", o.Component)
	}
}

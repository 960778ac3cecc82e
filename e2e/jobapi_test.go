package e2e

import "testing"

// TestJobAPI runs, on one stack, the job API's answers to bad and repeated
// requests, jobs over empty and malformed input, and jobs under duplicate
// delivery. The aggregate and merge apps run two instances each, so that
// their invocations also race across processes.
func TestJobAPI(t *testing.T) {
	s := startStack(t, stackConfig{instances: map[string]int{"aggregate": 2, "merge": 2}})
	t.Run("invalid requests", func(t *testing.T) { testInvalidRequests(t, s) })
	t.Run("resubmission", func(t *testing.T) { testResubmission(t, s) })
	t.Run("empty input", func(t *testing.T) { testEmptyInput(t, s) })
	t.Run("malformed input", func(t *testing.T) { testMalformedInput(t, s) })
	t.Run("duplicates", func(t *testing.T) { testDuplicates(t, s) })
}

package e2e

import (
	"testing"

	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
)

// TestMain builds the three handler binaries once for the whole test
// binary (localstacktest.Apps) and removes them at the end.
func TestMain(m *testing.M) { localstacktest.Main(m) }

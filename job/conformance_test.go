package job_test

import (
	"testing"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/job/storetest"
	"github.com/funnelpipe/funnel/transport/account"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) job.Store { return &job.MemStore{} })
}

// TestBlobStoreConformance runs the suite on Azurite, one container for the
// run, created by the store's first write.
func TestBlobStoreConformance(t *testing.T) {
	conn := azuritetest.ForTest(t)
	acct, err := account.Open(account.Config{ConnectionString: conn}, account.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acct.Close)
	storetest.Run(t, func(*testing.T) job.Store { return job.NewBlobStore(acct.Blob(), "jobstore-conformance") })
}

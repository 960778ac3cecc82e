package stage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// A unit whose transport this app lacks cannot ever be sent on: the job
// fails with the reason instead of the unit being dropped (which left the
// job running forever).
func TestMissingTransportFailsTheJob(t *testing.T) {
	s, _, out, st, units := setup(t, rows(100), 1<<20)
	units[0].Transport = "blob"
	err := s.run(context.Background(), &units[0])
	require.ErrorIs(t, err, ErrPermanent)
	assert.Empty(t, out.sent)
	rec, err := job.Get(context.Background(), st, "j")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, `transport "blob" is not configured in the aggregate app`)
	assert.Equal(t, []int{0}, rec.FailedUnits)
}

// Only 412 ConditionNotMet means the input changed; another 409 is a
// failure worth a retry.
func TestBlobSourceTellsAChangedBlobFromOtherConflicts(t *testing.T) {
	for _, tc := range []struct {
		status  int
		code    string
		changed bool
	}{
		{http.StatusPreconditionFailed, "ConditionNotMet", true},
		{http.StatusConflict, "LeaseIdMissing", false},
		{http.StatusConflict, "BlobBeingRehydrated", false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-ms-error-code", tc.code)
			w.WriteHeader(tc.status)
		}))
		client, err := azblob.NewClientWithNoCredential(srv.URL+"/devstoreaccount1", nil)
		require.NoError(t, err)
		src := &BlobSource{Client: client}
		_, err = src.ReadRange(context.Background(), "input", "c.csv", `"0x1"`, 0, 10)
		require.Error(t, err)
		assert.Equal(t, tc.changed, errors.Is(err, transport.ErrConflict), "%d %s: %v", tc.status, tc.code, err)
		srv.Close()
	}
}

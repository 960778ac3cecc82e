package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/transport/account"
)

func TestClassifyOperation(t *testing.T) {
	tests := []struct {
		service Service
		op      string
		want    BillingClass
	}{
		{ServiceBlob, "PutBlob", ClassWrite},
		{ServiceBlob, "PutBlockList", ClassWrite},
		{ServiceBlob, "CopyBlob", ClassWrite},
		{ServiceBlob, "GetBlob", ClassRead},
		{ServiceBlob, "getblob", ClassRead},
		{ServiceBlob, "ListBlobs", ClassList},
		{ServiceBlob, "CreateContainer", ClassList},
		{ServiceBlob, "GetBlobProperties", ClassOther},
		{ServiceBlob, "GetBlockList", ClassOther},
		{ServiceBlob, "AcquireBlobLease", ClassOther},
		{ServiceBlob, "DeleteBlob", ClassFree},
		{ServiceQueue, "PutMessage", ClassQueue1},
		{ServiceQueue, "DeleteMessage", ClassQueue1},
		{ServiceQueue, "UpdateMessage", ClassQueue1},
		{ServiceQueue, "CreateQueue", ClassQueue1},
		{ServiceQueue, "GetMessages", ClassQueue2},
		{ServiceQueue, "PeekMessages", ClassQueue2},
		{ServiceQueue, "GetQueueMetadata", ClassQueue2},
	}
	for _, tt := range tests {
		t.Run(string(tt.service)+"/"+tt.op, func(t *testing.T) {
			got, err := ClassifyOperation(tt.service, tt.op)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	_, err := ClassifyOperation(ServiceBlob, "PutMessage")
	require.ErrorIs(t, err, ErrUnknownOperation)
	_, err = ClassifyOperation("file", "CreateFile")
	require.ErrorIs(t, err, ErrUnknownOperation)
	assert.Contains(t, err.Error(), `unknown service "file"`)
}

func TestOperationClassesAreDisjoint(t *testing.T) {
	for _, svc := range []Service{ServiceBlob, ServiceQueue} {
		seen := map[string]BillingClass{}
		for class, ops := range classNames(svc) {
			_, err := classPrice(svc, class)
			require.NoError(t, err, "%s %s has no price", svc, class)
			for _, op := range ops {
				k := strings.ToLower(op)
				if prev, dup := seen[k]; dup {
					t.Errorf("%s %s is in classes %s and %s", svc, op, prev, class)
				}
				seen[k] = class
			}
		}
	}
}

func TestNewStorageOp(t *testing.T) {
	op, err := NewStorageOp(ServiceQueue, "putmessage", 3, 300)
	require.NoError(t, err)
	assert.Equal(t, StorageOp{Service: ServiceQueue, Operation: "PutMessage", Class: ClassQueue1, Count: 3, Bytes: 300}, op)

	_, err = NewStorageOp(ServiceQueue, "PutMessage", -1, 0)
	require.ErrorIs(t, err, ErrBadMeasurement)
	_, err = NewStorageOp(ServiceQueue, "Enqueue", 1, 0)
	require.ErrorIs(t, err, ErrUnknownOperation)
}

func TestStorageOpsFromUsage(t *testing.T) {
	us := []account.Usage{
		{Component: "aggregate", Service: "blob", Operation: "GetBlob", Class: account.ClassRead, Requests: 10, Failed: 1, RequestBytes: 0, ResponseBytes: 5000},
		{Component: "merge", Service: "blob", Operation: "GetBlob", Class: account.ClassRead, Requests: 5, ResponseBytes: 100},
		{Component: "merge", Service: "blob", Operation: "LeaseBlob", Class: account.ClassOther, Requests: 2},
		{Component: "host", Service: "blob", Operation: "SetBlobTier", Class: account.ClassWrite, Requests: 1},
		{Component: "host", Service: "queue", Operation: "GetMessages", Class: account.ClassQueue, Requests: 40, ResponseBytes: 1},
		{Component: "host", Service: "queue", Operation: "QueuePATCH", Class: account.ClassQueue, Requests: 3},
		{Component: "partition", Service: "queue", Operation: "PutMessage", Class: account.ClassQueue, Requests: 7, RequestBytes: 700},
	}
	ops, err := StorageOpsFromUsage(us)
	require.NoError(t, err)
	assert.Equal(t, []StorageOp{
		{Service: ServiceBlob, Operation: "GetBlob", Class: ClassRead, Count: 15, Bytes: 5100},
		{Service: ServiceBlob, Operation: "LeaseBlob", Class: ClassOther, Count: 2},
		{Service: ServiceBlob, Operation: "SetBlobTier", Class: ClassWrite, Count: 1},
		{Service: ServiceQueue, Operation: "GetMessages", Class: ClassQueue2, Count: 40, Bytes: 1},
		{Service: ServiceQueue, Operation: "PutMessage", Class: ClassQueue1, Count: 7, Bytes: 700},
		{Service: ServiceQueue, Operation: "QueuePATCH", Class: ClassQueue1, Count: 3},
	}, ops)

	// The result prices without error, unknown operations included.
	c, err := ComputeCost(0, GBSeconds{}, ops, nil, 0, testPrices())
	require.NoError(t, err)
	assert.InDelta(t, (15*0.005+2*0.005+1*0.065+40*0.004+10*0.004)/1e4, c.StorageTotal, 1e-15)

	for _, bad := range []account.Usage{
		{Service: "table", Operation: "QueryEntities", Requests: 1},
		{Service: "blob", Operation: "BlobPOSTfoo", Class: "mystery", Requests: 1},
		{Service: "blob", Operation: "GetBlob", Requests: -1},
		{Service: "blob", Operation: "GetBlob", Requests: math.NaN()},
	} {
		_, err := StorageOpsFromUsage([]account.Usage{bad})
		require.Error(t, err, "%+v", bad)
	}
}

func TestResolveClass(t *testing.T) {
	c, err := resolveClass(StorageOp{Service: ServiceBlob, Operation: "SetBlobTier", Class: ClassWrite})
	require.NoError(t, err)
	assert.Equal(t, ClassWrite, c)
	_, err = resolveClass(StorageOp{Service: ServiceBlob, Operation: "SetBlobTier"})
	require.ErrorIs(t, err, ErrUnknownOperation)
	_, err = resolveClass(StorageOp{Service: ServiceBlob, Operation: "SetBlobTier", Class: ClassQueue1})
	require.ErrorIs(t, err, ErrUnknownOperation)
	_, err = resolveClass(StorageOp{Service: ServiceBlob, Operation: "GetBlob", Class: ClassWrite})
	require.ErrorIs(t, err, ErrBadMeasurement)
}

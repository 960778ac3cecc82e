package bench

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestRequestOperation(t *testing.T) {
	tests := []struct {
		service Service
		method  string
		target  string // path?query
		header  map[string]string
		want    string
	}{
		{ServiceBlob, "PUT", "/c/b", nil, "PutBlob"},
		{ServiceBlob, "PUT", "/c/dir/b.csv", nil, "PutBlob"},
		{ServiceBlob, "PUT", "/c/b", map[string]string{"x-ms-copy-source": "https://x/c/a"}, "CopyBlob"},
		{ServiceBlob, "PUT", "/c/b", map[string]string{"x-ms-copy-source": "https://x/c/a", "x-ms-requires-sync": "true"}, "CopyBlobFromURL"},
		{ServiceBlob, "PUT", "/c/b?comp=block&blockid=AAAA", nil, "PutBlock"},
		{ServiceBlob, "PUT", "/c/b?comp=blocklist", nil, "PutBlockList"},
		{ServiceBlob, "GET", "/c/b?comp=blocklist", nil, "GetBlockList"},
		{ServiceBlob, "GET", "/c/b", nil, "GetBlob"},
		{ServiceBlob, "HEAD", "/c/b", nil, "GetBlobProperties"},
		{ServiceBlob, "DELETE", "/c/b", nil, "DeleteBlob"},
		{ServiceBlob, "PUT", "/c/b?comp=metadata", nil, "SetBlobMetadata"},
		{ServiceBlob, "PUT", "/c/b?comp=lease", map[string]string{"x-ms-lease-action": "acquire"}, "AcquireBlobLease"},
		{ServiceBlob, "PUT", "/c?restype=container", nil, "CreateContainer"},
		{ServiceBlob, "DELETE", "/c?restype=container", nil, "DeleteContainer"},
		{ServiceBlob, "GET", "/c?restype=container&comp=list&prefix=job1/", nil, "ListBlobs"},
		{ServiceBlob, "GET", "/?comp=list", nil, "ListContainers"},
		{ServiceQueue, "POST", "/q/messages", nil, "PutMessage"},
		{ServiceQueue, "GET", "/q/messages?numofmessages=16&visibilitytimeout=600", nil, "GetMessages"},
		{ServiceQueue, "GET", "/q/messages?peekonly=true", nil, "PeekMessages"},
		{ServiceQueue, "DELETE", "/q/messages/abc?popreceipt=x", nil, "DeleteMessage"},
		{ServiceQueue, "PUT", "/q/messages/abc?popreceipt=x&visibilitytimeout=0", nil, "UpdateMessage"},
		{ServiceQueue, "DELETE", "/q/messages", nil, "ClearMessages"},
		{ServiceQueue, "PUT", "/q", nil, "CreateQueue"},
		{ServiceQueue, "GET", "/q?comp=metadata", nil, "GetQueueMetadata"},
		{ServiceQueue, "GET", "/?comp=list", nil, "ListQueues"},
	}
	for _, tt := range tests {
		t.Run(string(tt.service)+" "+tt.method+" "+tt.target, func(t *testing.T) {
			u, err := url.Parse(tt.target)
			require.NoError(t, err)
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, err := RequestOperation(tt.service, tt.method, u.Path, u.Query(), h)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			// Every name it produces is one the classifier knows.
			_, err = ClassifyOperation(tt.service, got)
			require.NoError(t, err)
		})
	}

	for _, bad := range []struct {
		service Service
		method  string
		target  string
	}{
		{ServiceQueue, "PATCH", "/q/messages"},
		{ServiceBlob, "POST", "/c/b"},
		{ServiceBlob, "PUT", "/c/b?comp=lease"}, // no lease action
		{"table", "GET", "/t"},
	} {
		u, err := url.Parse(bad.target)
		require.NoError(t, err)
		_, err = RequestOperation(bad.service, bad.method, u.Path, u.Query(), http.Header{})
		require.ErrorIs(t, err, ErrUnknownOperation, "%v", bad)
	}
}

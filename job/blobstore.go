package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport/account"
)

// DefaultContainer is the container that holds job records and results.
const DefaultContainer = "funnel"

// BlobStore keeps job records as block blobs in one container, using the
// blob's ETag for optimistic concurrency. The container is created on first
// write.
type BlobStore struct {
	client    *azblob.Client
	container string
	mu        sync.Mutex
	created   bool
}

var _ Store = (*BlobStore)(nil)

// NewBlobStore returns a Store over container (DefaultContainer if empty).
func NewBlobStore(client *azblob.Client, container string) *BlobStore {
	if container == "" {
		container = DefaultContainer
	}
	return &BlobStore{client: client, container: container}
}

// Get implements Store.
func (s *BlobStore) Get(ctx context.Context, name string) ([]byte, string, error) {
	resp, err := s.client.DownloadStream(ctx, s.container, name, nil)
	if err != nil {
		return nil, "", account.Error(ctx, "get "+name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocument+1))
	if err != nil {
		return nil, "", account.Error(ctx, "get "+name, err)
	}
	if len(data) > MaxDocument {
		return nil, "", fmt.Errorf("get %s: document over %d bytes", name, MaxDocument)
	}
	if resp.ETag == nil {
		return nil, "", fmt.Errorf("get %s: storage returned no ETag", name)
	}
	return data, string(*resp.ETag), nil
}

// Put implements Store.
func (s *BlobStore) Put(ctx context.Context, name string, data []byte, cond Cond) (string, error) {
	if err := checkSize(name, data); err != nil {
		return "", err
	}
	opts := &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType(name))},
	}
	switch {
	case cond.IfMatch != "":
		et := azcore.ETag(cond.IfMatch)
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &et}}
	case cond.IfNoneMatch:
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}
	}
	bb := s.client.ServiceClient().NewContainerClient(s.container).NewBlockBlobClient(name)
	resp, err := bb.Upload(ctx, nopSeekCloser{bytes.NewReader(data)}, opts)
	if err != nil && errors.Is(account.Sentinel(err), storage.ErrNotFound) {
		if cerr := s.createContainer(ctx); cerr != nil {
			return "", cerr
		}
		resp, err = bb.Upload(ctx, nopSeekCloser{bytes.NewReader(data)}, opts)
	}
	if err != nil {
		return "", account.Error(ctx, "put "+name, err)
	}
	if resp.ETag == nil {
		return "", fmt.Errorf("put %s: storage returned no ETag", name)
	}
	return string(*resp.ETag), nil
}

func (s *BlobStore) createContainer(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created {
		return nil
	}
	_, err := s.client.CreateContainer(ctx, s.container, nil)
	if err != nil && !errors.Is(account.Sentinel(err), storage.ErrConflict) {
		return account.Error(ctx, "create container "+s.container, err)
	}
	s.created = true
	return nil
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, ".csv"):
		return "text/csv; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

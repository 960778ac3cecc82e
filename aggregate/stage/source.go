package stage

import (
	"context"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/funnelpipe/funnel/transport/account"
)

// BlobSource reads input ranges from Azure Blob Storage.
type BlobSource struct {
	Client *azblob.Client
}

var _ Source = (*BlobSource)(nil)

// ReadRange implements Source with one ranged GET pinned by If-Match.
func (s *BlobSource) ReadRange(ctx context.Context, container, name, etag string, offset, count int64) (io.ReadCloser, error) {
	et := azcore.ETag(etag)
	resp, err := s.Client.DownloadStream(ctx, container, name, &azblob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: count},
		AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &et},
		},
	})
	if err != nil {
		return nil, account.Error(ctx, fmt.Sprintf("read %s/%s [%d, +%d)", container, name, offset, count), err)
	}
	if resp.Body == nil {
		// The SDK answers a 304 with no error and no body.
		return nil, fmt.Errorf("read %s/%s: storage returned no body", container, name)
	}
	return resp.Body, nil
}

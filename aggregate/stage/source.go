package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// BlobSource reads input ranges from Azure Blob Storage.
type BlobSource struct {
	Client *azblob.Client
}

var _ Source = (*BlobSource)(nil)

// ReadRange implements Source with one ranged GET pinned by If-Match. Only
// a failed If-Match (412 ConditionNotMet) means the blob changed and gives
// transport.ErrConflict; other 409s do not.
func (s *BlobSource) ReadRange(ctx context.Context, container, name, etag string, offset, count int64) (io.ReadCloser, error) {
	et := azcore.ETag(etag)
	resp, err := s.Client.DownloadStream(ctx, container, name, &azblob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: count},
		AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &et},
		},
	})
	if err != nil {
		op := fmt.Sprintf("read %s/%s [%d, +%d)", container, name, offset, count)
		if changed(err) || !errors.Is(account.Sentinel(err), transport.ErrConflict) {
			return nil, account.Error(ctx, op, err)
		}
		// Any other conflict (409: a lease, a blob being rehydrated or
		// copied) says nothing about the version: worth a retry, not a
		// failed job.
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.Body == nil {
		// The SDK answers a 304 with no error and no body.
		return nil, fmt.Errorf("read %s/%s: storage returned no body", container, name)
	}
	return resp.Body, nil
}

// changed reports whether a read failed because the blob's ETag is no
// longer the one asked for: 412 ConditionNotMet.
func changed(err error) bool {
	if bloberror.HasCode(err, bloberror.ConditionNotMet) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed
}

package account

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/funnelpipe/funnel/storage"
)

// BlockUploadThreshold is the body size above which PutBlob uploads in
// blocks (BlockSize each, BlockConcurrency at a time) instead of one Put
// Blob request: a failed block is retried alone, and blocks travel in
// parallel.
const (
	BlockUploadThreshold = 8 << 20
	BlockSize            = 4 << 20
	BlockConcurrency     = 4
)

// PutBlob writes body to the block blob container/name, replacing any
// blob of that name, and creates the container if it does not exist.
// Errors are classified with Error.
func (a *Account) PutBlob(ctx context.Context, container, name string, body []byte, metadata map[string]*string) error {
	put := func() error {
		var err error
		if len(body) <= BlockUploadThreshold {
			_, err = a.blob.UploadBuffer(ctx, container, name, body, &azblob.UploadBufferOptions{Metadata: metadata})
		} else {
			_, err = a.blob.UploadStream(ctx, container, name, bytes.NewReader(body), &blockblob.UploadStreamOptions{
				BlockSize: BlockSize, Concurrency: BlockConcurrency, Metadata: metadata})
		}
		return err
	}
	err := put()
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if err = a.CreateContainer(ctx, container); err == nil {
			err = put()
		}
	}
	return Error(ctx, fmt.Sprintf("put blob %s/%s", container, name), err)
}

// CreateContainer creates container; one that exists already is not an
// error.
func (a *Account) CreateContainer(ctx context.Context, container string) error {
	_, err := a.blob.CreateContainer(ctx, container, nil)
	if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		err = nil
	}
	return Error(ctx, "create container "+container, err)
}

// GetBlob reads the whole blob container/name. A blob over max bytes gives
// storage.ErrTooLarge without reading it; a missing one,
// storage.ErrNotFound.
func (a *Account) GetBlob(ctx context.Context, container, name string, max int64) ([]byte, error) {
	op := fmt.Sprintf("get blob %s/%s", container, name)
	resp, err := a.blob.DownloadStream(ctx, container, name, nil)
	if err != nil {
		return nil, Error(ctx, op, err)
	}
	if resp.Body == nil { // a 304, which an unconditional GET never gets
		return nil, fmt.Errorf("%s: no body in the response", op)
	}
	r := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	defer r.Close()
	size := int64(-1)
	if resp.ContentLength != nil {
		size = *resp.ContentLength
	}
	if size > max {
		return nil, fmt.Errorf("%s: %d bytes over %d: %w", op, size, max, storage.ErrTooLarge)
	}
	var buf bytes.Buffer
	if size >= 0 {
		buf.Grow(int(size))
	}
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, Error(ctx, op, err)
	}
	if n > max {
		return nil, fmt.Errorf("%s: over %d bytes: %w", op, max, storage.ErrTooLarge)
	}
	if size >= 0 && n != size {
		return nil, fmt.Errorf("%s: read %d of %d bytes: %w", op, n, size, storage.ErrUnavailable)
	}
	return buf.Bytes(), nil
}

// DeleteBlob deletes container/name; a blob or container that is gone
// already is not an error.
func (a *Account) DeleteBlob(ctx context.Context, container, name string) error {
	_, err := a.blob.DeleteBlob(ctx, container, name, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		err = nil
	}
	return Error(ctx, fmt.Sprintf("delete blob %s/%s", container, name), err)
}

// Enqueue puts text on queue as is, with the given time to live in seconds
// (-1: never expires; 0: the service's default of 7 days), and creates the
// queue if it does not exist. Errors are classified with Error.
func (a *Account) Enqueue(ctx context.Context, queue, text string, ttl int32) error {
	q := a.queue.NewQueueClient(queue)
	var opts *azqueue.EnqueueMessageOptions
	if ttl != 0 {
		opts = &azqueue.EnqueueMessageOptions{TimeToLive: &ttl}
	}
	_, err := q.EnqueueMessage(ctx, text, opts)
	if queueerror.HasCode(err, queueerror.QueueNotFound) {
		if err = a.CreateQueue(ctx, queue); err == nil {
			_, err = q.EnqueueMessage(ctx, text, opts)
		}
	}
	return Error(ctx, "enqueue on "+queue, err)
}

// CreateQueue creates queue; one that exists already is not an error.
func (a *Account) CreateQueue(ctx context.Context, queue string) error {
	_, err := a.queue.CreateQueue(ctx, queue, nil)
	if queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
		err = nil
	}
	return Error(ctx, "create queue "+queue, err)
}

package account

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"golang.org/x/sync/errgroup"
)

// Local file uploads: a file up to SinglePutMax goes up in one Put Blob; a
// larger one in blocks of FileBlockSize, BlockConcurrency at a time, so
// that no single request carries more than a block (Options.TryTimeout is
// sized for 64 MiB).
const (
	SinglePutMax  = 32 << 20
	FileBlockSize = 8 << 20
)

// FileUpload is one local file and the blob it becomes.
type FileUpload struct {
	Path string
	Blob string
	Size int64 // the file's size, for progress
}

// UploadFiles creates container if needed and uploads files, parallel at a
// time, replacing blobs of the same name. progress, when not nil, is called
// with the bytes sent so far over all files (it may go back when a request
// is retried) from several goroutines, one call at a time. The first
// failure cancels the rest and is returned, classified with Error and
// naming the file.
func (a *Account) UploadFiles(ctx context.Context, container string, files []FileUpload, parallel int, progress func(sent int64)) error {
	if err := a.CreateContainer(ctx, container); err != nil {
		return err
	}
	var mu sync.Mutex
	sent := make([]int64, len(files))
	var sum int64
	report := func(i int, n int64) {
		mu.Lock()
		defer mu.Unlock()
		sum += n - sent[i]
		sent[i] = n
		if progress != nil {
			progress(sum)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i, f := range files {
		g.Go(func() error {
			bb := a.blob.ServiceClient().NewContainerClient(container).NewBlockBlobClient(f.Blob)
			if err := uploadFile(gctx, bb, f, func(n int64) { report(i, n) }); err != nil {
				return Error(gctx, fmt.Sprintf("upload %s to %s/%s", f.Path, container, f.Blob), err)
			}
			return nil
		})
	}
	return g.Wait()
}

func uploadFile(ctx context.Context, bb *blockblob.Client, f FileUpload, progress func(int64)) error {
	r, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	if f.Size <= SinglePutMax {
		_, err = bb.UploadFile(ctx, r, &blockblob.UploadFileOptions{Progress: progress})
		return err
	}
	cr := &countingReader{r: r, progress: progress}
	_, err = bb.UploadStream(ctx, cr, &blockblob.UploadStreamOptions{BlockSize: FileBlockSize, Concurrency: BlockConcurrency})
	return err
}

// countingReader reports how many bytes have been read so far (the blocks
// read are in flight or sent).
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.progress(c.n)
	return n, err
}

package partition

import (
	"context"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport/account"
)

// BlobInputs looks at input blobs in Azure Blob Storage.
type BlobInputs struct {
	Client *azblob.Client
	// Parallel bounds concurrent property reads in Stat (default 16).
	Parallel int
}

var _ Inputs = (*BlobInputs)(nil)

// List implements Inputs with one listing (pages of up to 5,000 blobs).
func (b *BlobInputs) List(ctx context.Context, cont, prefix string) ([]job.File, error) {
	opts := &container.ListBlobsFlatOptions{}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	pager := b.Client.NewListBlobsFlatPager(cont, opts)
	var files []job.File
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, account.Error(ctx, fmt.Sprintf("list container %q", cont), err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil || it.Properties == nil || it.Properties.ContentLength == nil || it.Properties.ETag == nil {
				continue
			}
			files = append(files, job.File{Name: *it.Name, Size: *it.Properties.ContentLength, ETag: string(*it.Properties.ETag)})
			if len(files) > job.MaxBlobs {
				return nil, fmt.Errorf("%w: more than %d blobs match prefix %q", job.ErrInvalid, job.MaxBlobs, prefix)
			}
		}
	}
	return files, nil
}

// Stat implements Inputs with one property read per blob, Parallel at once.
func (b *BlobInputs) Stat(ctx context.Context, cont string, names []string) ([]job.File, error) {
	par := b.Parallel
	if par <= 0 {
		par = 16
	}
	files := make([]job.File, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	cc := b.Client.ServiceClient().NewContainerClient(cont)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := cc.NewBlobClient(name).GetProperties(ctx, nil)
			if err != nil {
				errs[i] = account.Error(ctx, fmt.Sprintf("blob %s/%s", cont, name), err)
				return
			}
			if p.ContentLength == nil || p.ETag == nil {
				errs[i] = fmt.Errorf("blob %s/%s: storage returned no size or ETag", cont, name)
				return
			}
			files[i] = job.File{Name: name, Size: *p.ContentLength, ETag: string(*p.ETag)}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport/account"
)

// JobLister lists the IDs of the jobs a store holds, for the reconciler
// that looks after every job. BlobStore and MemStore implement it.
type JobLister interface {
	// JobIDs returns the ID of every job with a record, in name order; an
	// empty or missing store has none.
	JobIDs(ctx context.Context) ([]string, error)
}

var (
	_ JobLister = (*BlobStore)(nil)
	_ JobLister = (*MemStore)(nil)
)

// JobIDs implements JobLister with one hierarchical listing of "jobs/"
// (pages of up to 5,000 job folders), so the cost grows with the number of
// jobs, not with their shards and error records.
func (s *BlobStore) JobIDs(ctx context.Context) ([]string, error) {
	cc := s.client.ServiceClient().NewContainerClient(s.container)
	prefix := "jobs/"
	pager := cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	var ids []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if errors.Is(account.Sentinel(err), storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, account.Error(ctx, "list jobs", err)
		}
		for _, p := range page.Segment.BlobPrefixes {
			if p.Name == nil {
				continue
			}
			id := strings.TrimSuffix(strings.TrimPrefix(*p.Name, prefix), "/")
			if CheckID(id) == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// JobIDs implements JobLister.
func (m *MemStore) JobIDs(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var ids []string
	for _, n := range m.Names() {
		if id, ok := strings.CutPrefix(n, "jobs/"); ok {
			if id, ok = strings.CutSuffix(id, "/job.json"); ok && CheckID(id) == nil {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}

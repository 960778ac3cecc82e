package blob_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
	"github.com/funnelpipe/funnel/transport/blob"
	"github.com/funnelpipe/funnel/transport/transporttest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// harness receives as the Functions blob trigger does: list the container,
// and deliver each blob that is new or changed (by ETag, the host's
// receipts) with its name and content.
type harness struct {
	tb   testing.TB
	acct *account.Account
	reg  *prometheus.Registry
	tr   *blob.Transport
	mu   sync.Mutex
	seen map[string]azcore.ETag // container/name → ETag delivered
}

func newHarness(_ context.Context, tb testing.TB) (transporttest.Harness, error) {
	acct, reg := azuritetest.OpenAccount(tb)
	tr, err := blob.New(acct, blob.Options{})
	if err != nil {
		return nil, err
	}
	return &harness{tb: tb, acct: acct, reg: reg, tr: tr, seen: map[string]azcore.ETag{}}, nil
}

func (h *harness) MakeTransport(context.Context) (transport.Transport, error) { return h.tr, nil }

func (h *harness) MakeUnreachable(context.Context) (transport.Transport, error) {
	acct, err := account.Open(account.Config{ConnectionString: azuritetest.Unreachable(h.tb)}, account.Options{})
	if err != nil {
		return nil, err
	}
	return blob.New(acct, blob.Options{})
}

func (h *harness) Receive(ctx context.Context, topic string) ([]transport.Delivery, error) {
	container, err := h.tr.ContainerName(topic)
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		out []transport.Delivery
	)
	// The host downloads and invokes for several blobs in parallel.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	pager := h.acct.Blob().NewListBlobsFlatPager(container, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		for _, item := range page.Segment.BlobItems {
			key := container + "/" + *item.Name
			etag := *item.Properties.ETag
			h.mu.Lock()
			seen := h.seen[key] == etag
			h.mu.Unlock()
			if seen {
				continue
			}
			g.Go(func() error {
				content, err := h.acct.GetBlob(gctx, container, *item.Name, transport.MaxBody)
				if errors.Is(err, transport.ErrNotFound) {
					return nil // deleted since the listing
				}
				if err != nil {
					return err
				}
				if content == nil {
					content = []byte{}
				}
				h.mu.Lock()
				h.seen[key] = etag
				h.mu.Unlock()
				mu.Lock()
				out = append(out, transport.Delivery{Name: *item.Name, Content: content})
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Refetch drops the content, as a trigger that passes only the name would.
func (h *harness) Refetch(d transport.Delivery) transport.Delivery {
	d.Content = nil
	return d
}

// StorageRequests counts every request of the harness's account.
func (h *harness) StorageRequests() float64 { return azuritetest.Requests(h.tb, h.reg) }

func (h *harness) Close() { h.acct.Close() }

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Azurite")
	}
	transporttest.RunConformanceTests(t, newHarness)
}

func BenchmarkBlob(b *testing.B) { transporttest.RunBenchmarks(b, newHarness) }

func TestBlobLayout(t *testing.T) {
	conn := azuritetest.ForTest(t)
	reg := prometheus.NewRegistry()
	acct, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg})
	require.NoError(t, err)
	tr, err := blob.New(acct, blob.Options{Prefix: "lay-"})
	require.NoError(t, err)
	ctx := context.Background()
	topic := transporttest.Topic()
	container, err := tr.ContainerName(topic)
	require.NoError(t, err)
	assert.Equal(t, "lay-"+topic, container)

	body := []byte("raw body, not wrapped")
	require.NoError(t, tr.Send(ctx, topic, transport.Message{ID: "job/p/000001", Body: body}))
	got, err := acct.GetBlob(ctx, container, "job/p/000001", 1<<20)
	require.NoError(t, err)
	assert.Equal(t, body, got, "the blob's content is the body itself")

	big := make([]byte, account.BlockUploadThreshold+1)
	require.NoError(t, tr.Send(ctx, topic, transport.Message{ID: "big", Body: big}))
	blocks := testutil.ToFloat64(acct.Metrics().Requests().WithLabelValues("blob", "blob", "PutBlock", account.ClassWrite, "2xx"))
	assert.Equal(t, 3.0, blocks, "a body over the threshold goes in 4 MiB blocks")
	assert.Equal(t, 1.0, testutil.ToFloat64(acct.Metrics().Requests().WithLabelValues("blob", "blob", "PutBlockList", account.ClassWrite, "2xx")))
	m, err := tr.Open(ctx, topic, transport.Delivery{Name: "big"})
	require.NoError(t, err)
	assert.Len(t, m.Body, len(big))
}

package funchost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/funnelpipe/funnel/storage"
)

// Blob trigger timings. The container scan source lists every 10 s
// (ScanBlobScanLogHybridPollingStrategy). The Event Grid stand-in lists
// every 100 ms while blobs keep arriving and backs off to 1 s when idle.
const (
	scanInterval      = 10 * time.Second
	eventGridMin      = 100 * time.Millisecond
	eventGridMax      = time.Second
	receiptLease      = 30 * time.Second
	blobListPageLimit = 5000
	// claimParallelism bounds the receipts claimed at once by one scan.
	claimParallelism = 16
)

// blobTriggerMessage is the message the host queues for each blob version
// to process (BlobTriggerMessage), and writes to webjobs-blobtrigger-poison
// when the function keeps failing.
type blobTriggerMessage struct {
	Type          string `json:"Type"`
	FunctionID    string `json:"FunctionId"`
	BlobType      string `json:"BlobType"`
	ContainerName string `json:"ContainerName"`
	BlobName      string `json:"BlobName"`
	ETag          string `json:"ETag"`
}

// functionID is the host's ID of a function, used in receipts and
// messages.
func functionID(fn *function) string { return "Host.Functions." + fn.Name }

// blobQueueOptions are the internal blob queue's listener options
// (SharedBlobQueueListenerFactory.BlobsOptionsToQueuesOptions): batch and
// threshold split maxDegreeOfParallelism; poisonBlobThreshold tries.
func (h *Host) blobQueueOptions() queueOptions {
	mdp := h.app.Host.Blobs.MaxDegreeOfParallelism
	batch := min(maxBatchSize, mdp/2+1)
	return queueOptions{
		BatchSize:          batch,
		NewBatchThreshold:  mdp - batch,
		MaxPollingInterval: defaultMaxPollingInterval,
		MaxDequeueCount:    h.app.Host.Blobs.PoisonBlobThreshold,
		// The host's queue clients all use the app's messageEncoding.
		Base64: h.app.Host.Queues.Base64,
	}
}

// blobScanner finds new blob versions for one blob-triggered function and
// queues them, once per app (BlobTriggerExecutor with BlobReceiptManager).
type blobScanner struct {
	h       *Host
	fn      *function
	sa      *storageAccount
	hostSA  *storageAccount
	pattern *blobPattern
	source  string
	log     *slog.Logger
	seen    map[string]string // blob name → last ETag handled
}

// blobScanners returns one scanner per enabled blob-triggered function.
// They run once per app (not per instance), as Event Grid delivers each
// event to one instance and as the receipts make the scan idempotent.
func (h *Host) blobScanners() []*blobScanner {
	var out []*blobScanner
	for _, f := range h.app.Functions {
		if f.Disabled || f.Trigger.Type != typeBlobTrigger {
			continue
		}
		out = append(out, &blobScanner{
			h: h, fn: f, sa: h.account(f.Trigger.Connection), hostSA: h.storage[defaultConnectionName],
			pattern: f.Trigger.blobPath, source: f.Trigger.Source,
			log:  h.log.With("function", f.Name, "blob_source", f.Trigger.Source),
			seen: map[string]string{},
		})
	}
	return out
}

func (s *blobScanner) run(ctx context.Context) {
	var bo *backoff
	if s.source == "eventgrid" {
		bo = newBackoff(eventGridMin, eventGridMax)
	}
	for ctx.Err() == nil {
		n, err := s.scan(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blob scan failed", "err", err)
		}
		wait := scanInterval
		if bo != nil {
			wait = bo.next(n > 0)
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// scan lists the container once and claims every new blob version, up to
// claimParallelism at a time. It returns how many versions it queued.
func (s *blobScanner) scan(ctx context.Context) (int, error) {
	s.h.metrics.blobScans.WithLabelValues(s.fn.Name).Inc()
	cont := s.pattern.containerName()
	pager := s.sa.blob.NewListBlobsFlatPager(cont, &azblob.ListBlobsFlatOptions{
		Prefix: to.Ptr(s.pattern.prefix()), MaxResults: to.Ptr(int32(blobListPageLimit)),
	})
	type version struct{ name, etag, blobType string }
	var todo []version
	present := map[string]bool{}
	for pager.More() {
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		page, err := pager.NextPage(pctx)
		cancel()
		if err != nil {
			if storageSentinel(err) == storage.ErrNotFound {
				return 0, nil
			}
			return 0, err
		}
		for _, it := range page.Segment.BlobItems {
			if it == nil || it.Name == nil || it.Properties == nil || it.Properties.ETag == nil {
				continue
			}
			name, etag := *it.Name, quoteETag(string(*it.Properties.ETag))
			present[name] = true
			if s.seen[name] == etag {
				continue
			}
			if _, ok := s.pattern.matchBlob(name); !ok {
				s.seen[name] = etag
				continue
			}
			blobType := "BlockBlob"
			if it.Properties.BlobType != nil {
				blobType = string(*it.Properties.BlobType)
			}
			todo = append(todo, version{name, etag, blobType})
		}
	}
	for name := range s.seen {
		if !present[name] {
			delete(s.seen, name)
		}
	}

	var (
		mu     sync.Mutex
		queued int
		wg     sync.WaitGroup
		sem    = make(chan struct{}, claimParallelism)
	)
	for _, v := range todo {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := s.claim(ctx, v.name, v.etag, v.blobType)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("blob trigger claim failed; will retry", "blob", v.name, "err", err)
				}
				return
			}
			s.seen[v.name] = v.etag
			if ok {
				queued++
			}
		}()
	}
	wg.Wait()
	if queued > 0 {
		s.h.watchers.notifyAll(s.h.blobQueue)
	}
	return queued, ctx.Err()
}

// receiptName is "blobreceipts/<hostId>/<functionId>/<etag>/<container>/<blob>"
// (BlobReceiptManager.CreateReference); the ETag keeps its quotes.
func (s *blobScanner) receiptName(blobName, etag string) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s/%s", blobReceiptsDir, s.h.hostID, functionID(s.fn), etag, s.pattern.containerName(), blobName)
}

// claim records that this app handles blob version (name, etag) and queues
// it, unless a receipt says it is already done. It is safe against other
// hosts of the same app: the receipt is created with If-None-Match: * and
// completed under a lease. It reports whether it queued the blob.
func (s *blobScanner) claim(ctx context.Context, name, etag, blobType string) (bool, error) {
	// A claim runs to its end even when the host stops: stopping between
	// queueing the message and completing the receipt would queue the
	// version twice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*opTimeout)
	defer cancel()
	rb := s.hostSA.blob.ServiceClient().NewContainerClient(hostsContainer).NewBlockBlobClient(s.receiptName(name, etag))

	props, err := rb.GetProperties(ctx, nil)
	switch {
	case err == nil:
		if _, incomplete := metaValue(props.Metadata, "Incomplete"); !incomplete {
			return false, nil // already processed
		}
	case storageSentinel(err) == storage.ErrNotFound:
		_, err := rb.Upload(ctx, nopSeekCloser{bytes.NewReader(nil)}, &blockblob.UploadOptions{
			Metadata:         map[string]*string{"Incomplete": to.Ptr("Incomplete")},
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
		})
		if err != nil {
			switch storageSentinel(err) {
			case storage.ErrConflict:
				return false, nil // someone else is on it; try again later
			case storage.ErrNotFound: // the container
				if cerr := s.hostSA.acct.CreateContainer(ctx, hostsContainer); cerr != nil {
					return false, cerr
				}
				return false, errors.New("receipt container was missing; created")
			}
			return false, fmt.Errorf("create receipt: %w", err)
		}
	default:
		return false, fmt.Errorf("read receipt: %w", err)
	}

	lc, err := lease.NewBlobClient(rb, nil)
	if err != nil {
		return false, err
	}
	acq, err := lc.AcquireLease(ctx, int32(receiptLease/time.Second), nil)
	if err != nil {
		if kind := storageSentinel(err); kind == storage.ErrConflict || kind == storage.ErrNotFound {
			return false, nil // leased by someone else, or gone
		}
		return false, fmt.Errorf("lease receipt: %w", err)
	}
	leaseID := *acq.LeaseID
	defer func() {
		rctx, rcancel := context.WithTimeout(context.Background(), opTimeout)
		defer rcancel()
		if _, err := lc.ReleaseLease(rctx, nil); err != nil && storageSentinel(err) != storage.ErrNotFound && storageSentinel(err) != storage.ErrConflict {
			s.log.Debug("release receipt lease", "err", err)
		}
	}()
	props, err = rb.GetProperties(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("reread receipt: %w", err)
	}
	if _, incomplete := metaValue(props.Metadata, "Incomplete"); !incomplete {
		return false, nil
	}
	msg, err := json.Marshal(blobTriggerMessage{
		Type: "BlobTrigger", FunctionID: functionID(s.fn), BlobType: blobTypeName(blobType),
		ContainerName: s.pattern.containerName(), BlobName: name, ETag: etag,
	})
	if err != nil {
		return false, err
	}
	text := string(msg)
	if s.h.app.Host.Queues.Base64 {
		text = base64.StdEncoding.EncodeToString(msg)
	}
	if err := s.hostSA.acct.Enqueue(ctx, s.h.blobQueue, text, 0); err != nil {
		return false, fmt.Errorf("queue blob trigger message: %w", err)
	}
	meta := map[string]*string{}
	for k, v := range props.Metadata {
		if !strings.EqualFold(k, "Incomplete") {
			meta[k] = v
		}
	}
	if _, err := rb.SetMetadata(ctx, meta, &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &leaseID}}}); err != nil {
		// Gone, or the lease lost: someone else completes it.
		if kind := storageSentinel(err); kind != storage.ErrNotFound && kind != storage.ErrConflict {
			return true, fmt.Errorf("complete receipt: %w", err)
		}
	}
	return true, nil
}

// quoteETag gives an ETag the quotes it has in the ETag header: listings
// return it bare, and the real host keys receipts with the header form.
func quoteETag(e string) string {
	if strings.HasPrefix(e, `"`) || strings.HasPrefix(e, "W/") {
		return e
	}
	return `"` + e + `"`
}

// blobTypeName is the track-1 spelling the message uses: BlockBlob,
// PageBlob, AppendBlob.
func blobTypeName(t string) string {
	if strings.HasSuffix(t, "Blob") {
		return t
	}
	return t + "Blob"
}

func metaValue(m map[string]*string, key string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			if v == nil {
				return "", true
			}
			return *v, true
		}
	}
	return "", false
}

// blobExec returns the executor of the internal blob queue on an instance
// (BlobQueueTriggerExecutor): it finds the function, checks that the blob
// still exists (and, for the scan source, still has the queued ETag),
// downloads it and invokes the function.
func (h *Host) blobExec(in *instance) func(*queueMessage) error {
	return func(m *queueMessage) error {
		var msg blobTriggerMessage
		if err := json.Unmarshal(m.body, &msg); err != nil {
			return fmt.Errorf("invalid blob trigger message: %w", err)
		}
		var fn *function
		for _, f := range h.app.Functions {
			if !f.Disabled && f.Trigger.Type == typeBlobTrigger && functionID(f) == msg.FunctionID {
				fn = f
			}
		}
		if fn == nil {
			in.log.Info("blob trigger message for an unknown function; dropped", "function_id", msg.FunctionID, "blob", msg.BlobName)
			return nil
		}
		sa := h.account(fn.Trigger.Connection)
		ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
		defer cancel()
		bc := sa.blob.ServiceClient().NewContainerClient(msg.ContainerName).NewBlobClient(msg.BlobName)
		props, err := bc.GetProperties(ctx, nil)
		if err != nil {
			if storageSentinel(err) == storage.ErrNotFound {
				in.log.Info("blob trigger: blob is gone; nothing to do", "blob", msg.BlobName)
				return nil
			}
			return fmt.Errorf("blob trigger: read %s/%s: %w", msg.ContainerName, msg.BlobName, err)
		}
		etag := ""
		if props.ETag != nil {
			etag = quoteETag(string(*props.ETag))
		}
		if fn.Trigger.Source != "eventgrid" && etag != msg.ETag {
			// A newer version exists; the next scan queues that one.
			return nil
		}
		resp, err := bc.DownloadStream(ctx, nil)
		if err != nil {
			if storageSentinel(err) == storage.ErrNotFound {
				return nil
			}
			return fmt.Errorf("blob trigger: download %s/%s: %w", msg.ContainerName, msg.BlobName, err)
		}
		if resp.Body == nil {
			return fmt.Errorf("blob trigger: download %s/%s: empty response", msg.ContainerName, msg.BlobName)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		drain(resp.Body)
		if err != nil {
			return fmt.Errorf("blob trigger: download %s/%s: %w", msg.ContainerName, msg.BlobName, err)
		}
		content := buf.Bytes()

		bd := newBindingData(fn.Name, time.Now())
		bd.set("BlobTrigger", msg.ContainerName+"/"+msg.BlobName)
		bd.set("Uri", blobURI(sa.blob.URL(), msg.ContainerName, msg.BlobName))
		bd.set("Properties", blobPropertiesJSON(props, msg.BlobType))
		bd.set("Metadata", metadataMap(props.Metadata))
		if vals, ok := fn.Trigger.blobPath.matchBlob(msg.BlobName); ok {
			for i, p := range fn.Trigger.blobPath.params {
				bd.set(p, vals[i])
			}
		}
		var value json.RawMessage
		if fn.Trigger.Binary {
			value = jsonBytesValue(content)
		} else {
			text := string(content)
			value = jsonStringValue(text)
			bd.applyJSON(text)
		}
		inv := &invocation{id: newUUID(), fn: fn, meta: bd, dequeueCount: m.dequeueCount,
			data: []dataEntry{{fn.Trigger.Name, value}}}
		return h.invoke(in, inv, nil)
	}
}

// blobURI is the blob's URI as BlobClient.Uri has it: path segments
// escaped, slashes kept.
func blobURI(serviceURL, container, name string) string {
	segs := strings.Split(name, "/")
	for i, sg := range segs {
		segs[i] = url.PathEscape(sg)
	}
	return strings.TrimSuffix(serviceURL, "/") + "/" + container + "/" + strings.Join(segs, "/")
}

func metadataMap(m map[string]*string) stringMap {
	var out stringMap
	for _, k := range sortedKeys(m) {
		v := ""
		if m[k] != nil {
			v = *m[k]
		}
		out = append(out, kv{k, v})
	}
	return out
}

// blobPropertiesJSON renders the main BlobProperties fields under their
// .NET names, as the host's Metadata.Properties object has them.
func blobPropertiesJSON(p blob.GetPropertiesResponse, blobType string) json.RawMessage {
	type props struct {
		LastModified       string            `json:"LastModified"`
		CreatedOn          string            `json:"CreatedOn"`
		Metadata           map[string]string `json:"Metadata"`
		BlobType           string            `json:"BlobType"`
		ContentLength      int64             `json:"ContentLength"`
		ContentType        *string           `json:"ContentType"`
		ETag               string            `json:"ETag"`
		ContentHash        *string           `json:"ContentHash"`
		ContentEncoding    *string           `json:"ContentEncoding"`
		ContentDisposition *string           `json:"ContentDisposition"`
		ContentLanguage    *string           `json:"ContentLanguage"`
		CacheControl       *string           `json:"CacheControl"`
		AccessTier         *string           `json:"AccessTier"`
		IsServerEncrypted  bool              `json:"IsServerEncrypted"`
	}
	out := props{Metadata: map[string]string{}, BlobType: strings.TrimSuffix(blobType, "Blob"),
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, ContentDisposition: p.ContentDisposition,
		ContentLanguage: p.ContentLanguage, CacheControl: p.CacheControl, AccessTier: p.AccessTier}
	if p.LastModified != nil {
		out.LastModified = dateTimeOffset(*p.LastModified)
	}
	if p.CreationTime != nil {
		out.CreatedOn = dateTimeOffset(*p.CreationTime)
	}
	for k, v := range p.Metadata {
		if v != nil {
			out.Metadata[k] = *v
		}
	}
	if p.ContentLength != nil {
		out.ContentLength = *p.ContentLength
	}
	if p.ETag != nil {
		out.ETag = string(*p.ETag)
	}
	if len(p.ContentMD5) > 0 {
		out.ContentHash = to.Ptr(base64.StdEncoding.EncodeToString(p.ContentMD5))
	}
	if p.IsServerEncrypted != nil {
		out.IsServerEncrypted = *p.IsServerEncrypted
	}
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// nopSeekCloser adapts a bytes.Reader to io.ReadSeekCloser.
type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

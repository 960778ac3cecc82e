// Package blob is the transport.Transport over Azure Blob Storage, for
// stages started by a blob trigger.
//
// Topic T travels through the container <prefix>T (prefix
// transport.DefaultPrefix, "funnel-", unless Options says otherwise), which
// Send creates when it is missing; a trigger watches it with the path
// "<prefix>T/{name}". Each message is one block blob named by the message
// ID (IDs may contain '/', which reads as folders) whose content is the raw
// body, so the trigger hands the body over as is and the ID is the blob's
// name. Sending an ID again overwrites its blob with the same body: the
// trigger sees a change and delivers it again, a redelivery with the same
// ID.
//
// Open takes the trigger's Delivery{Name, Content}; when Content is nil
// (a trigger that passes only the name) it downloads the blob, and a blob
// that Done has deleted gives the ID and transport.ErrNotFound. An empty
// but non-nil Content is an empty body. Done deletes the blob.
//
// Bodies up to account.BlockUploadThreshold go in one Put Blob request,
// larger ones in blocks. Send writes up to Options.Concurrency messages at
// a time.
package blob

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// Name is the transport's name, "blob".
const Name = "blob"

// Options configures New.
type Options struct {
	// Prefix starts every container name; default transport.DefaultPrefix.
	Prefix string
	// Concurrency is how many messages Send writes at a time; default 16.
	Concurrency int
}

// Transport sends messages as blobs. It is safe for concurrent use.
type Transport struct {
	acct   *account.Account
	prefix string
	conc   int
}

var _ transport.Transport = (*Transport)(nil)

// New returns a blob transport on acct.
func New(acct *account.Account, opts Options) (*Transport, error) {
	if opts.Prefix == "" {
		opts.Prefix = transport.DefaultPrefix
	}
	if err := transport.ValidatePrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("blob transport: %w", err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	return &Transport{acct: acct, prefix: opts.Prefix, conc: opts.Concurrency}, nil
}

// Name is "blob".
func (t *Transport) Name() string { return Name }

// ContainerName is the container that carries topic, or an error wrapping
// transport.ErrBadName.
func (t *Transport) ContainerName(topic string) (string, error) {
	return transport.StorageName(t.prefix, topic)
}

// Send writes one blob per message. Every message is checked before
// anything is written.
func (t *Transport) Send(ctx context.Context, topic string, msgs ...transport.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob send %s: %w", topic, err)
	}
	container, err := t.ContainerName(topic)
	if err != nil {
		return fmt.Errorf("blob send: %w", err)
	}
	if err := transport.ValidateMessages(msgs); err != nil {
		return fmt.Errorf("blob send %s: %w", topic, err)
	}
	ctx = account.WithComponent(ctx, Name)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.conc)
	for _, m := range msgs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return t.acct.PutBlob(gctx, container, m.ID, m.Body, nil) })
	}
	err = g.Wait()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("blob send %s: %w", topic, ctxErr)
	}
	if err != nil {
		return fmt.Errorf("blob send %s: %w", topic, err)
	}
	return nil
}

// Open returns the message whose blob the trigger delivered: the ID is
// d.Name, the body d.Content, or the blob's content when d.Content is nil.
// A name that is not a message ID gives transport.ErrMalformed.
func (t *Transport) Open(ctx context.Context, topic string, d transport.Delivery) (transport.Message, error) {
	container, err := t.ContainerName(topic)
	if err != nil {
		return transport.Message{}, fmt.Errorf("blob open: %w", err)
	}
	if d.Name == "" {
		return transport.Message{}, fmt.Errorf("blob open %s: delivery has no blob name: %w", topic, transport.ErrMalformed)
	}
	if err := transport.ValidateID(d.Name); err != nil {
		return transport.Message{}, fmt.Errorf("blob open %s: blob name is not a message ID: %w: %w", topic, transport.ErrMalformed, err)
	}
	if d.Content != nil {
		if len(d.Content) > transport.MaxBody {
			return transport.Message{}, fmt.Errorf("blob open %s: message %s: %d bytes over %d: %w", topic, d.Name, len(d.Content), transport.MaxBody, transport.ErrTooLarge)
		}
		return transport.Message{ID: d.Name, Body: d.Content}, nil
	}
	body, err := t.acct.GetBlob(account.WithComponent(ctx, Name), container, d.Name, transport.MaxBody)
	if err != nil {
		m := transport.Message{}
		if errors.Is(err, transport.ErrNotFound) {
			m.ID = d.Name
		}
		return m, fmt.Errorf("blob open %s: %w", topic, err)
	}
	return transport.Message{ID: d.Name, Body: body}, nil
}

// Done deletes m's blob. It is idempotent.
func (t *Transport) Done(ctx context.Context, topic string, m transport.Message) error {
	container, err := t.ContainerName(topic)
	if err != nil {
		return fmt.Errorf("blob done: %w", err)
	}
	if err := transport.ValidateID(m.ID); err != nil {
		return fmt.Errorf("blob done %s: %w", topic, err)
	}
	if err := t.acct.DeleteBlob(account.WithComponent(ctx, Name), container, m.ID); err != nil {
		return fmt.Errorf("blob done %s: %w", topic, err)
	}
	return nil
}

// Package queue is the transport.Transport over Azure Queue Storage, for
// stages started by a queue trigger.
//
// # Names
//
// Topic T travels through the queue <prefix>T (prefix
// transport.DefaultPrefix, "funnel-", unless Options says otherwise), which
// Send creates when it is missing. The resulting name must be a valid queue
// name; New checks the prefix and Send, Open and Done check the topic, with
// transport.ErrBadName.
//
// # Message format
//
// The queue message text is the base64 encoding of a small JSON envelope,
// because the Functions queue trigger decodes base64 by default
// (host.json messageEncoding "base64"); the Delivery.Text that Open takes is
// the decoded envelope (Open also accepts the still-encoded text, for a
// trigger configured with messageEncoding "none"). The envelope is one of
//
//	{"funnel":1,"id":"<ID>","json":<body>}       body is compact JSON text
//	{"funnel":1,"id":"<ID>","b64":"<base64>"}    any other body
//	{"funnel":1,"id":"<ID>","blob":<size>}       body in the overflow blob
//
// A JSON body is embedded verbatim (so a handler can read it without
// another decoding step); other bodies are base64-encoded. A queue message
// holds at most 64 KiB of text, so an envelope of more than 48 KiB
// (InlineMax; about 36 KiB of non-JSON body, 48 KiB of JSON) does not fit:
// its body goes to the blob <prefix>overflow/<topic>/<ID> first, and the
// message carries only the size. Open reads the blob back; Done deletes it.
// A message sent twice overwrites its blob with the same body. After Done,
// a redelivered overflow message opens with its ID and
// transport.ErrNotFound; an inline one opens normally.
//
// Messages never expire (time to live -1): a stage that is down for a week
// loses nothing. Send writes up to Options.Concurrency messages at a time.
package queue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// InlineMax is the longest envelope that travels in the queue message: its
// base64 encoding is then at most 64 KiB, the queue's limit.
const InlineMax = 64 << 10 / 4 * 3

// OverflowContainer is the container, after the prefix, that holds bodies
// too large for a queue message.
const OverflowContainer = "overflow"

// Options configures New.
type Options struct {
	// Prefix starts every queue and container name; default
	// transport.DefaultPrefix.
	Prefix string
	// Concurrency is how many messages Send writes at a time; default 16.
	Concurrency int
}

// Transport sends messages through Azure queues. It is safe for concurrent
// use.
type Transport struct {
	acct     *account.Account
	prefix   string
	overflow string
	conc     int
}

var _ transport.Transport = (*Transport)(nil)

// Name is "queue".
const Name = "queue"

// New returns a queue transport on acct.
func New(acct *account.Account, opts Options) (*Transport, error) {
	if opts.Prefix == "" {
		opts.Prefix = transport.DefaultPrefix
	}
	if err := transport.ValidatePrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("queue transport: %w", err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	return &Transport{
		acct:     acct,
		prefix:   opts.Prefix,
		overflow: opts.Prefix + OverflowContainer,
		conc:     opts.Concurrency,
	}, nil
}

// Name is "queue".
func (t *Transport) Name() string { return Name }

// QueueName is the queue that carries topic, or an error wrapping
// transport.ErrBadName.
func (t *Transport) QueueName(topic string) (string, error) {
	return transport.StorageName(t.prefix, topic)
}

// OverflowBlob is where a body too large for a message on topic with ID id
// is kept: the container and the blob name.
func (t *Transport) OverflowBlob(topic, id string) (container, name string) {
	return t.overflow, topic + "/" + id
}

type outgoing struct {
	id       string
	text     string // the envelope
	overflow []byte // the body, when it travels in a blob
}

// Send puts one queue message per message on topic's queue; see the
// package doc for the format. Every message is checked and encoded before
// anything is written.
func (t *Transport) Send(ctx context.Context, topic string, msgs ...transport.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue send %s: %w", topic, err)
	}
	queue, err := t.QueueName(topic)
	if err != nil {
		return fmt.Errorf("queue send: %w", err)
	}
	if err := transport.ValidateMessages(msgs); err != nil {
		return fmt.Errorf("queue send %s: %w", topic, err)
	}
	out := make([]outgoing, len(msgs))
	for i, m := range msgs {
		text, inline := encode(m)
		out[i] = outgoing{id: m.ID, text: text}
		if !inline {
			out[i].overflow = m.Body
		}
	}

	ctx = account.WithComponent(ctx, Name)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.conc)
	for _, o := range out {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if o.overflow != nil {
				container, name := t.OverflowBlob(topic, o.id)
				if err := t.acct.PutBlob(gctx, container, name, o.overflow, nil); err != nil {
					return err
				}
			}
			return t.acct.Enqueue(gctx, queue, base64.StdEncoding.EncodeToString([]byte(o.text)), -1)
		})
	}
	err = g.Wait()
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Cancelled: the context's error, whatever the writes in flight
		// reported.
		return fmt.Errorf("queue send %s: %w", topic, ctxErr)
	}
	if err != nil {
		return fmt.Errorf("queue send %s: %w", topic, err)
	}
	return nil
}

// encode builds m's envelope; inline reports whether it fits in a message
// (if not, the text names the overflow blob instead).
func encode(m transport.Message) (text string, inline bool) {
	head := `{"funnel":1,"id":"` + m.ID + `",` // IDs need no JSON escaping
	asJSON := jsonBody(m.Body)
	if inlineLen(head, m.Body, asJSON) > InlineMax {
		return head + `"blob":` + strconv.Itoa(len(m.Body)) + "}", false
	}
	var b strings.Builder
	b.Grow(InlineMax)
	b.WriteString(head)
	if asJSON {
		b.WriteString(`"json":`)
		b.Write(m.Body)
	} else {
		b.WriteString(`"b64":"`)
		b.WriteString(base64.StdEncoding.EncodeToString(m.Body))
		b.WriteString(`"`)
	}
	b.WriteString("}")
	return b.String(), true
}

// inlineLen is the length of the inline envelope encode would build.
func inlineLen(head string, body []byte, asJSON bool) int {
	if asJSON {
		return len(head) + len(`"json":`) + len(body) + len("}")
	}
	return len(head) + len(`"b64":""`) + base64.StdEncoding.EncodedLen(len(body)) + len("}")
}

// jsonBody reports whether body can be embedded verbatim: valid JSON
// without surrounding white space (which decoding would drop), in valid
// UTF-8 (the host turns message bytes into a string).
func jsonBody(body []byte) bool {
	if len(body) == 0 || len(bytes.TrimSpace(body)) != len(body) || len(body) > InlineMax {
		return false
	}
	return utf8.Valid(body) && json.Valid(body)
}

// overflows reports whether a message with this body travels in a blob.
func overflows(m transport.Message) bool {
	head := `{"funnel":1,"id":"` + m.ID + `",`
	return inlineLen(head, m.Body, jsonBody(m.Body)) > InlineMax
}

type envelope struct {
	Version int              `json:"funnel"`
	ID      string           `json:"id"`
	JSON    json.RawMessage  `json:"json"`
	B64     *string          `json:"b64"`
	Blob    *json.RawMessage `json:"blob"`
}

// Open decodes the envelope in d.Text and, for an overflow message, reads
// the body from its blob. Anything that is not an envelope from this
// transport gives transport.ErrMalformed; an overflow blob that Done has
// deleted gives the message's ID and transport.ErrNotFound.
func (t *Transport) Open(ctx context.Context, topic string, d transport.Delivery) (transport.Message, error) {
	if _, err := t.QueueName(topic); err != nil {
		return transport.Message{}, fmt.Errorf("queue open: %w", err)
	}
	env, err := decode(d.Text)
	if err != nil {
		return transport.Message{}, fmt.Errorf("queue open %s: %w", topic, err)
	}
	switch {
	case env.JSON != nil:
		return transport.Message{ID: env.ID, Body: []byte(env.JSON)}, nil
	case env.B64 != nil:
		body, err := base64.StdEncoding.DecodeString(*env.B64)
		if err != nil {
			return transport.Message{}, fmt.Errorf("queue open %s: message %s: body: %w: %v", topic, env.ID, transport.ErrMalformed, err)
		}
		return transport.Message{ID: env.ID, Body: body}, nil
	}
	size, err := strconv.ParseInt(string(*env.Blob), 10, 64)
	if err != nil || size < 0 || size > transport.MaxBody {
		return transport.Message{}, fmt.Errorf("queue open %s: message %s: blob size %s: %w", topic, env.ID, *env.Blob, transport.ErrMalformed)
	}
	container, name := t.OverflowBlob(topic, env.ID)
	body, err := t.acct.GetBlob(account.WithComponent(ctx, Name), container, name, transport.MaxBody)
	if err != nil {
		m := transport.Message{}
		if errors.Is(err, transport.ErrNotFound) {
			m.ID = env.ID
		}
		return m, fmt.Errorf("queue open %s: message %s: %w", topic, env.ID, err)
	}
	if int64(len(body)) != size {
		return transport.Message{}, fmt.Errorf("queue open %s: message %s: overflow blob has %d bytes, the message says %d (resent with another body?): %w",
			topic, env.ID, len(body), size, transport.ErrConflict)
	}
	return transport.Message{ID: env.ID, Body: body}, nil
}

// decode parses and checks an envelope.
func decode(text string) (envelope, error) {
	if text == "" {
		return envelope{}, fmt.Errorf("empty message text: %w", transport.ErrMalformed)
	}
	if text[0] != '{' {
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil || len(raw) == 0 || raw[0] != '{' {
			return envelope{}, fmt.Errorf("message text %.40q is neither an envelope nor base64 of one: %w", text, transport.ErrMalformed)
		}
		text = string(raw)
	}
	var env envelope
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return envelope{}, fmt.Errorf("message text %.40q: %w: %v", text, transport.ErrMalformed, err)
	}
	if dec.More() {
		return envelope{}, fmt.Errorf("message text %.40q: trailing data: %w", text, transport.ErrMalformed)
	}
	if env.Version != 1 {
		return envelope{}, fmt.Errorf("message text %.40q: not a funnel envelope (version %d): %w", text, env.Version, transport.ErrMalformed)
	}
	if err := transport.ValidateID(env.ID); err != nil {
		return envelope{}, fmt.Errorf("message text: %w: %w", transport.ErrMalformed, err)
	}
	n := 0
	for _, set := range []bool{env.JSON != nil, env.B64 != nil, env.Blob != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return envelope{}, fmt.Errorf("message %s: want exactly one of json, b64, blob: %w", env.ID, transport.ErrMalformed)
	}
	return env, nil
}

// Done deletes m's overflow blob, if it had one (or may have had one: a
// message whose body is unknown, as after an ErrNotFound from Open). The
// queue message itself is the trigger's to delete. Done is idempotent.
func (t *Transport) Done(ctx context.Context, topic string, m transport.Message) error {
	if _, err := t.QueueName(topic); err != nil {
		return fmt.Errorf("queue done: %w", err)
	}
	if err := transport.ValidateID(m.ID); err != nil {
		return fmt.Errorf("queue done %s: %w", topic, err)
	}
	if len(m.Body) > 0 && !overflows(m) {
		return nil
	}
	container, name := t.OverflowBlob(topic, m.ID)
	if err := t.acct.DeleteBlob(account.WithComponent(ctx, Name), container, name); err != nil {
		return fmt.Errorf("queue done %s: %w", topic, err)
	}
	return nil
}

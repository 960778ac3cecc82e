// Package transport carries messages from one funnel stage to the next.
//
// A stage hands a Message to the next stage with Send. The message travels
// through Azure Storage — a queue (package transport/queue) or a blob
// container (package transport/blob) — and the Azure Functions host starts
// the next stage with a trigger: a queue trigger hands the handler the
// message text, a blob trigger the blob's name and content. The receiving
// stage turns what the trigger delivered back into the Message with Open,
// whatever the medium, so stage code never depends on which transport a job
// uses. Package transport/mem is an in-memory implementation for unit tests,
// and transport/transporttest is the conformance suite every implementation
// passes.
//
// # Topics
//
// A topic is a stage's inbox ("units", "partials"). Each implementation maps
// it to a storage name (a queue, or a container) with a fixed prefix; the
// resulting name must follow Azure's naming rules (3–63 characters, lower
// case letters, digits and single hyphens, starting with a letter or digit),
// and an implementation rejects a bad topic with ErrBadName when it is
// constructed or first used, never with an SDK error.
//
// # Delivery guarantees
//
// Delivery is at least once and unordered. A message may be delivered twice
// (a retry after a failed invocation, a crash between two writes, a sender
// that retries Send), and messages may arrive in any order. Every message
// carries a deterministic ID chosen by the sender (for example
// "job42/u/3/0007-0100"): a redelivery has the same ID and the same body, so
// a receiver recognises it and applies it once.
package transport

import (
	"context"
	"errors"

	"github.com/funnelpipe/funnel/storage"
)

// Message is what one stage sends to the next.
type Message struct {
	// ID identifies the message deterministically: a retry or a redelivery of
	// the same logical message has the same ID. IDs are 1–512 characters of
	// [A-Za-z0-9._/-] and must not start or end with '/'; the '/'-separated
	// segments are non-empty and neither "." nor ".." (see ValidateID). Send
	// rejects an invalid ID with ErrBadName.
	ID string
	// Body is the payload; it may be empty. Implementations carry at least
	// MaxBody bytes.
	Body []byte
}

// MaxBody is the largest body every implementation carries. A larger body
// gets ErrTooLarge from Send.
const MaxBody = 64 << 20

// Delivery is what the Functions host handed a triggered function: for a
// queue trigger the message text (after the host's own base64 decoding), for
// a blob trigger the blob's name within its container and its content.
type Delivery struct {
	// Text is a queue message's text.
	Text string
	// Name is a blob trigger's blob name, relative to the container.
	Name string
	// Content is a blob trigger's blob content.
	Content []byte
	// DequeueCount is how many times the host has delivered this message,
	// 1 on first delivery (queue triggers only; 0 when unknown).
	DequeueCount int
}

// Transport sends messages to a topic and opens what a trigger delivered.
//
// Implementations are safe for concurrent use.
type Transport interface {
	// Name is the implementation's short name ("queue", "blob", "mem"),
	// used in job requests and metric labels.
	Name() string

	// Send delivers each message to topic at least once. It returns when
	// every message is durably stored, or with the first error; a failed
	// Send may have delivered some of the messages, so the caller retries
	// with the same IDs. Sending the same ID twice is allowed and is seen by
	// the receiver as a redelivery. A body over MaxBody (or over what the
	// medium can carry) gives ErrTooLarge before anything is written.
	// Cancelling ctx stops the send and returns ctx's error.
	Send(ctx context.Context, topic string, msgs ...Message) error

	// Open turns what a trigger on topic delivered back into the Message
	// that was sent, fetching any part of it that travelled out of band.
	// A Delivery that this transport did not produce gives ErrMalformed.
	// When an out-of-band body is gone (see Done) Open returns the Message
	// with its ID set and a nil Body, and an error wrapping ErrNotFound, so
	// the receiver can check whether it already applied that ID.
	Open(ctx context.Context, topic string, d Delivery) (Message, error)

	// Done tells the transport that the receiver has applied m, so it may
	// delete anything kept for it (an out-of-band body, a message blob).
	// Done is idempotent; after Done a redelivery of m may fail to Open
	// with ErrNotFound, which a receiver that has applied m ignores.
	Done(ctx context.Context, topic string, m Message) error
}

// Errors every implementation returns, wrapped with context; test them with
// errors.Is. The storage failures are package storage's sentinels under the
// transport's names (transport.ErrNotFound == storage.ErrNotFound), so a
// caller may test either; ErrMalformed is the transport's own.
var (
	ErrNotFound    = storage.ErrNotFound
	ErrConflict    = storage.ErrConflict
	ErrTooLarge    = storage.ErrTooLarge
	ErrBadName     = storage.ErrBadName
	ErrMalformed   = errors.New("transport: malformed delivery")
	ErrUnavailable = storage.ErrUnavailable
)

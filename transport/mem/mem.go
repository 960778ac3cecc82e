// Package mem is an in-memory transport.Transport for unit tests of stage
// code: no storage, no network, deterministic.
//
// It behaves like the storage-backed transports where it matters to a
// receiver: topics and IDs are validated the same way (topics as if they
// had transport.DefaultPrefix), bodies over transport.MaxBody are refused,
// a message sent twice is delivered twice, and every body travels out of
// band — the Delivery carries only the message's ID, and Done forgets the
// body — so a redelivery after Done opens with transport.ErrNotFound, the
// strictest case a receiver has to handle.
//
// Tests read what was sent with Deliveries or Take, replay a delivery (a
// duplicate, a retry) with Inject, and make operations fail with SetFault.
package mem

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/funnelpipe/funnel/transport"
)

// Transport is the in-memory transport. The zero value is not usable; call
// New.
type Transport struct {
	mu      sync.Mutex
	pending map[string][]transport.Delivery // topic → deliveries not yet taken
	bodies  map[string]map[string][]byte    // topic → ID → body
	fault   func(op, topic string) error
}

var _ transport.Transport = (*Transport)(nil)

// New returns an empty in-memory transport.
func New() *Transport {
	return &Transport{
		pending: map[string][]transport.Delivery{},
		bodies:  map[string]map[string][]byte{},
	}
}

// Name is "mem".
func (t *Transport) Name() string { return "mem" }

// SetFault makes every later Send, Open and Done first call f with the
// operation ("send", "open", "done") and topic; a non-nil result is
// returned as the operation's error, with nothing done. A nil f removes the
// fault.
func (t *Transport) SetFault(f func(op, topic string) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fault = f
}

func (t *Transport) check(ctx context.Context, op, topic string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem %s %s: %w", op, topic, err)
	}
	if _, err := transport.StorageName(transport.DefaultPrefix, topic); err != nil {
		return fmt.Errorf("mem %s: %w", op, err)
	}
	t.mu.Lock()
	fault := t.fault
	t.mu.Unlock()
	if fault != nil {
		if err := fault(op, topic); err != nil {
			return fmt.Errorf("mem %s %s: %w", op, topic, err)
		}
	}
	return nil
}

// envelope is a mem delivery's text.
type envelope struct {
	ID string `json:"mem"`
}

// Send stores each body and queues one delivery per message. All messages
// are validated before any is stored.
func (t *Transport) Send(ctx context.Context, topic string, msgs ...transport.Message) error {
	if err := t.check(ctx, "send", topic); err != nil {
		return err
	}
	if err := transport.ValidateMessages(msgs); err != nil {
		return fmt.Errorf("mem send %s: %w", topic, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	bodies := t.bodies[topic]
	if bodies == nil {
		bodies = map[string][]byte{}
		t.bodies[topic] = bodies
	}
	for _, m := range msgs {
		text, err := json.Marshal(envelope{ID: m.ID})
		if err != nil {
			return fmt.Errorf("mem send %s: %w", topic, err)
		}
		bodies[m.ID] = slices.Clone(m.Body)
		t.pending[topic] = append(t.pending[topic], transport.Delivery{Text: string(text), DequeueCount: 1})
	}
	return nil
}

// Open reads the ID from d.Text and returns the stored body. A delivery
// that mem did not produce gives transport.ErrMalformed; one whose body was
// forgotten by Done gives the ID and transport.ErrNotFound.
func (t *Transport) Open(ctx context.Context, topic string, d transport.Delivery) (transport.Message, error) {
	if err := t.check(ctx, "open", topic); err != nil {
		return transport.Message{}, err
	}
	var env envelope
	dec := json.NewDecoder(strings.NewReader(d.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || dec.More() {
		return transport.Message{}, fmt.Errorf("mem open %s: text %.40q is not a mem message: %w", topic, d.Text, transport.ErrMalformed)
	}
	if err := transport.ValidateID(env.ID); err != nil {
		return transport.Message{}, fmt.Errorf("mem open %s: %w: %w", topic, transport.ErrMalformed, err)
	}
	t.mu.Lock()
	body, ok := t.bodies[topic][env.ID]
	t.mu.Unlock()
	if !ok {
		return transport.Message{ID: env.ID}, fmt.Errorf("mem open %s: message %s: body gone: %w", topic, env.ID, transport.ErrNotFound)
	}
	return transport.Message{ID: env.ID, Body: slices.Clone(body)}, nil
}

// Done forgets m's body. It is idempotent.
func (t *Transport) Done(ctx context.Context, topic string, m transport.Message) error {
	if err := t.check(ctx, "done", topic); err != nil {
		return err
	}
	if err := transport.ValidateID(m.ID); err != nil {
		return fmt.Errorf("mem done %s: %w", topic, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.bodies[topic], m.ID)
	return nil
}

// Deliveries returns the deliveries sent (or injected) to topic that Take
// has not taken yet, in order, without removing them.
func (t *Transport) Deliveries(topic string) []transport.Delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.pending[topic])
}

// Take returns and removes the pending deliveries of topic, as a trigger
// that picks them up would.
func (t *Transport) Take(topic string) []transport.Delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	ds := t.pending[topic]
	delete(t.pending, topic)
	return ds
}

// Inject queues deliveries on topic as if they had been sent: to replay a
// delivery (a duplicate, a host retry — raise DequeueCount to model one) or
// to hand a receiver something mem never produced.
func (t *Transport) Inject(topic string, ds ...transport.Delivery) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[topic] = append(t.pending[topic], ds...)
}

// Stored reports how many bodies mem keeps for topic: sent and not yet
// Done.
func (t *Transport) Stored(topic string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.bodies[topic])
}

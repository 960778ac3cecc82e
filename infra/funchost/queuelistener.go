package funchost

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/funnelpipe/funnel/storage"
)

// messageLease is how long a received message stays invisible while its
// function runs; it is renewed halfway (QueueListener._visibilityTimeout).
const messageLease = 10 * time.Minute

// queueMessage is a received message.
type queueMessage struct {
	id           string
	popReceipt   string
	raw          string // text as stored (base64 when the encoding is base64)
	body         []byte // decoded content
	dequeueCount int64
	inserted     time.Time
	expires      time.Time
	nextVisible  time.Time
}

// queueListener is one queue trigger listener on one instance: the storage
// extension's QueueListener and QueueProcessor.
type queueListener struct {
	h          *Host
	in         *instance
	label      string // function name, or "blob trigger" for the internal queue
	sa         *storageAccount
	queue      *azqueue.QueueClient
	name       string
	poisonName string // "" when the queue has no poison queue
	opts       queueOptions
	// exec runs the function for a message; an error fails the invocation.
	exec   func(m *queueMessage) error
	notify chan struct{}
	log    *slog.Logger
}

// newQueueListener builds a listener; poison names the poison queue, ""
// for the usual "<queue>-poison" (none when that name is not valid).
func newQueueListener(h *Host, in *instance, label string, sa *storageAccount, queue, poison string, opts queueOptions, exec func(*queueMessage) error) *queueListener {
	l := &queueListener{
		h: h, in: in, label: label, sa: sa, name: queue,
		queue:  sa.queue.NewQueueClient(queue),
		opts:   opts,
		exec:   exec,
		notify: make(chan struct{}, 1),
		log:    in.log.With("listener", label, "queue", queue),
	}
	if poison == "" {
		poison = poisonQueueName(queue)
	}
	l.poisonName = poison
	return l
}

// wake makes a sleeping listener poll at once (SharedQueueWatcher.Notify).
func (l *queueListener) wake() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// run polls until ctx is done, then waits for the messages in flight.
//
// The loop is QueueListener.ExecuteAsync: receive up to batchSize messages
// invisible for 10 minutes; process each concurrently; poll again as soon
// as no more than newBatchThreshold are still running; when a poll finds
// nothing, sleep by the randomized exponential backoff (100 ms up to
// maxPollingInterval), waking early when an output binding of this
// instance writes to the queue.
func (l *queueListener) run(ctx context.Context) {
	bo := newBackoff(minPollingInterval, l.opts.MaxPollingInterval)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight int
		freed    = make(chan struct{}, 1)
	)
	found := false
	sleep := func() bool {
		d := bo.next(found)
		found = false
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.notify:
		case <-ctx.Done():
			return false
		}
		return true
	}
	for ctx.Err() == nil {
		msgs, err := l.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			l.h.metrics.polls.WithLabelValues(l.name, "error").Inc()
			l.log.Warn("queue poll failed", "err", err)
			if !sleep() {
				break
			}
			continue
		}
		if len(msgs) == 0 {
			l.h.metrics.polls.WithLabelValues(l.name, "empty").Inc()
			if !sleep() {
				break
			}
			continue
		}
		l.h.metrics.polls.WithLabelValues(l.name, "messages").Inc()
		found = true
		for _, m := range msgs {
			mu.Lock()
			inflight++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.process(m)
				mu.Lock()
				inflight--
				mu.Unlock()
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
		}
		// WaitForNewBatchThreshold.
		for {
			mu.Lock()
			n := inflight
			mu.Unlock()
			if n <= l.opts.NewBatchThreshold {
				break
			}
			select {
			case <-freed:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	wg.Wait()
}

// receive gets up to batchSize messages.
func (l *queueListener) receive(ctx context.Context) ([]*queueMessage, error) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n := int32(l.opts.BatchSize)
	vis := int32(messageLease / time.Second)
	resp, err := l.queue.DequeueMessages(rctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &n, VisibilityTimeout: &vis})
	if err != nil {
		if storageSentinel(err) == storage.ErrNotFound {
			// Deleted under us: the real listener backs off until it
			// exists again; funchost recreates it.
			if cerr := l.sa.acct.CreateQueue(rctx, l.name); cerr != nil {
				return nil, fmt.Errorf("queue %q missing and not creatable: %w", l.name, cerr)
			}
		}
		return nil, err
	}
	var out []*queueMessage
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil || m.PopReceipt == nil {
			continue
		}
		qm := &queueMessage{id: *m.MessageID, popReceipt: *m.PopReceipt}
		if m.MessageText != nil {
			qm.raw = *m.MessageText
		}
		if m.DequeueCount != nil {
			qm.dequeueCount = *m.DequeueCount
		}
		if m.InsertionTime != nil {
			qm.inserted = *m.InsertionTime
		} else {
			qm.inserted = time.Now()
		}
		qm.expires = farFuture
		if m.ExpirationTime != nil {
			qm.expires = *m.ExpirationTime
		}
		qm.nextVisible = farFuture
		if m.TimeNextVisible != nil {
			qm.nextVisible = *m.TimeNextVisible
		}
		out = append(out, qm)
	}
	return out, nil
}

// farFuture stands for DateTimeOffset.MaxValue.
var farFuture = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// process handles one message: QueueProcessor.BeginProcessingMessageAsync,
// the invocation with visibility renewal, CompleteProcessingMessageAsync.
func (l *queueListener) process(m *queueMessage) {
	if m.dequeueCount > int64(l.opts.MaxDequeueCount) {
		// A message whose earlier runs never completed (a crash, a lost
		// lease) is poisoned without running again.
		l.toPoison(m, "dequeue count above maxDequeueCount")
		return
	}
	if l.opts.Base64 {
		b, err := decodeBase64DotNet(m.raw)
		if err != nil {
			// The SDK's MessageDecodingFailed handler in the extension
			// moves the raw message to the poison queue at once.
			l.toPoison(m, "not valid base64 (messageEncoding is base64)")
			return
		}
		m.body = b
	} else {
		m.body = []byte(m.raw)
	}

	renewDone := make(chan struct{})
	stopRenew := make(chan struct{})
	var receiptMu sync.Mutex
	go func() {
		defer close(renewDone)
		l.renew(m, &receiptMu, stopRenew)
	}()
	err := l.exec(m)
	close(stopRenew)
	<-renewDone

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	switch {
	case err == nil:
		l.delete(ctx, m)
	case l.poisonName == "":
		// No poison queue (a -poison queue, or a name too long): leave the
		// message invisible so that it does not spin.
	case m.dequeueCount >= int64(l.opts.MaxDequeueCount):
		l.toPoison(m, "failed "+fmt.Sprint(m.dequeueCount)+" times")
	default:
		vis := int32(l.opts.VisibilityTimeout / time.Second)
		_, uerr := l.queue.UpdateMessage(ctx, m.id, m.popReceipt, m.raw, &azqueue.UpdateMessageOptions{VisibilityTimeout: &vis})
		if uerr != nil && !isGone(uerr) {
			l.log.Warn("could not release failed message", "id", m.id, "err", uerr)
		}
	}
}

// renew keeps m invisible while it runs: every half lease (with at least a
// minute between attempts after a failure), as UpdateQueueMessageVisibilityCommand.
func (l *queueListener) renew(m *queueMessage, mu *sync.Mutex, stop <-chan struct{}) {
	every := messageLease / 2
	for {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		vis := int32(messageLease / time.Second)
		mu.Lock()
		resp, err := l.queue.UpdateMessage(ctx, m.id, m.popReceipt, m.raw, &azqueue.UpdateMessageOptions{VisibilityTimeout: &vis})
		if err == nil && resp.PopReceipt != nil {
			m.popReceipt = *resp.PopReceipt
		}
		mu.Unlock()
		cancel()
		if err != nil {
			l.log.Warn("could not renew message visibility", "id", m.id, "err", err)
			if isGone(err) {
				return
			}
			every = time.Minute
		} else {
			every = messageLease / 2
		}
	}
}

func (l *queueListener) delete(ctx context.Context, m *queueMessage) {
	if _, err := l.queue.DeleteMessage(ctx, m.id, m.popReceipt, nil); err != nil && !isGone(err) {
		l.log.Warn("could not delete processed message", "id", m.id, "err", err)
	}
}

// toPoison copies the message's text to the poison queue and deletes it
// (QueueProcessor.HandlePoisonMessageAsync).
func (l *queueListener) toPoison(m *queueMessage, why string) {
	if l.poisonName == "" {
		l.log.Warn("message cannot be poisoned: the queue has no poison queue", "id", m.id, "reason", why)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	l.log.Warn(fmt.Sprintf("Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.", l.opts.MaxDequeueCount, l.poisonName), "id", m.id, "reason", why)
	if err := l.sa.acct.Enqueue(ctx, l.poisonName, m.raw, 0); err != nil {
		l.log.Error("could not write poison message; leaving it in the queue", "id", m.id, "err", err)
		return
	}
	l.h.notePoison(l.name)
	l.h.watchers.notify(l.in, l.poisonName)
	l.delete(ctx, m)
}

// isGone reports a conflict (a pop receipt mismatch: someone else owns the
// message) or a missing message or queue: nothing left to do.
func isGone(err error) bool {
	s := storageSentinel(err)
	return s == storage.ErrNotFound || s == storage.ErrConflict
}

// decodeBase64DotNet decodes like Convert.FromBase64String: white space is
// ignored, padding is required.
func decodeBase64DotNet(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("invalid base64")
	}
	return b, nil
}

// queueWatchers lets an output binding wake the listeners of the same
// instance that watch the queue it wrote to (SharedQueueWatcher).
type queueWatchers struct {
	mu sync.Mutex
	m  map[*instance]map[string][]*queueListener
}

func newQueueWatchers() *queueWatchers {
	return &queueWatchers{m: map[*instance]map[string][]*queueListener{}}
}

func (w *queueWatchers) register(l *queueListener) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[l.in] == nil {
		w.m[l.in] = map[string][]*queueListener{}
	}
	w.m[l.in][l.name] = append(w.m[l.in][l.name], l)
}

func (w *queueWatchers) notify(in *instance, queue string) {
	w.mu.Lock()
	ls := w.m[in][queue]
	w.mu.Unlock()
	for _, l := range ls {
		l.wake()
	}
}

// notifyAll wakes the listeners of every instance watching queue.
func (w *queueWatchers) notifyAll(queue string) {
	w.mu.Lock()
	var ls []*queueListener
	for _, byQ := range w.m {
		ls = append(ls, byQ[queue]...)
	}
	w.mu.Unlock()
	for _, l := range ls {
		l.wake()
	}
}

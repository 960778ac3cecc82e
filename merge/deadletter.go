package merge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// DeadLetter is what Poison keeps of a poison message that can never
// succeed, at DeadLetterName in the job store.
type DeadLetter struct {
	Medium string `json:"medium"`
	Topic  string `json:"topic"`
	// ID is the message ID when one could be read.
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
	// Text is the queue message's text (cut to maxDeadText bytes), Blob
	// the blob transport's message blob name.
	Text string    `json:"text,omitempty"`
	Blob string    `json:"blob,omitempty"`
	At   time.Time `json:"at"`
}

// maxDeadText bounds the message text a dead letter keeps: a queue message
// is at most 64 KiB.
const maxDeadText = 64 << 10

// DeadLetterName is where the dead letter of delivery d on topic is kept:
// deadletters/<topic>/<hash>.json, named by a hash of what was delivered so
// that a redelivery of the same message overwrites its own dead letter.
func DeadLetterName(topic string, d transport.Delivery) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", topic, d.Text, d.Name)
	return "deadletters/" + topic + "/" + hex.EncodeToString(h.Sum(nil)[:12]) + ".json"
}

// deadLetter records a poison message that no retry can fix and logs it;
// the caller then acknowledges the message. An error (the record could not
// be written) means "retry".
func (s *Stage) deadLetter(ctx context.Context, medium, topic string, d transport.Delivery, id, reason string) error {
	dl := DeadLetter{Medium: medium, Topic: topic, ID: id, Reason: reason, Blob: d.Name, At: s.now().UTC()}
	dl.Text = d.Text
	if len(dl.Text) > maxDeadText {
		dl.Text = dl.Text[:maxDeadText]
	}
	data, err := json.Marshal(&dl)
	if err != nil {
		return fmt.Errorf("merge: dead letter: %w", err)
	}
	name := DeadLetterName(topic, d)
	if _, err := s.Store.Put(ctx, name, data, job.Cond{}); err != nil {
		return fmt.Errorf("merge: keep dead letter %s: %w", name, err)
	}
	s.log().Warn("poison message kept as a dead letter", "topic", topic, "id", id, "reason", reason, "record", name)
	return nil
}

package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/transport"
)

// Register adds the stage's functions to app (their function.json files are
// in merge/functions):
//
//	PartialsQueue   queue trigger on <prefix>partials
//	PartialsBlob    blob trigger on <prefix>partials/{name}
//	UnitsPoison     queue trigger on <prefix>units-poison
//	PartialsPoison  queue trigger on <prefix>partials-poison
//	BlobPoison      queue trigger on webjobs-blobtrigger-poison, where the
//	                host reports blobs whose trigger failed every retry
//
// prefix is the transports' name prefix, used to tell which topic a
// poisoned blob belonged to.
func (s *Stage) Register(app *handlers.App, prefix string) {
	app.Handle("PartialsQueue", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := inv.QueueDelivery("msg")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "queue", d)
	})
	app.Handle("PartialsBlob", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := inv.BlobDelivery("blob")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "blob", d)
	})
	poison := func(topic string) handlers.HandlerFunc {
		return func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
			d, err := inv.QueueDelivery("msg")
			if err != nil {
				return nil, err
			}
			return nil, s.Poison(ctx, "queue", topic, d)
		}
	}
	app.Handle("UnitsPoison", poison(UnitsTopic))
	app.Handle("PartialsPoison", poison(InTopic))
	app.Handle("BlobPoison", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		text, err := inv.QueueMessage("msg")
		if err != nil {
			return nil, err
		}
		topic, d, ok, err := blobPoison(text, prefix)
		if err != nil || !ok {
			// Not one of ours (another app's blob trigger): nothing to do.
			if err != nil {
				inv.Log.Warn("unreadable blob poison message", "err", err)
			}
			return nil, nil
		}
		return nil, s.Poison(ctx, "blob", topic, d)
	})
}

// blobPoisonMessage is what the host writes to webjobs-blobtrigger-poison
// (azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.Storage.Blobs,
// BlobTriggerMessage / BlobQueueTriggerExecutor).
type blobPoisonMessage struct {
	FunctionID    string `json:"FunctionId"`
	BlobType      string `json:"BlobType"`
	ContainerName string `json:"ContainerName"`
	BlobName      string `json:"BlobName"`
	ETag          string `json:"ETag"`
}

// blobPoison reads a blob poison message; ok is false for a blob outside
// funnel's transport containers.
func blobPoison(text, prefix string) (topic string, d transport.Delivery, ok bool, err error) {
	var m blobPoisonMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return "", d, false, fmt.Errorf("blob poison message: %w", err)
	}
	t, found := strings.CutPrefix(m.ContainerName, prefix)
	if !found || (t != UnitsTopic && t != InTopic) || m.BlobName == "" {
		return "", d, false, nil
	}
	return t, transport.Delivery{Name: m.BlobName}, true, nil
}

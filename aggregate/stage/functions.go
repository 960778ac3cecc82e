package stage

import (
	"context"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/transport"
)

// Register adds the stage's functions to app (their function.json files are
// in aggregate/functions):
//
//	UnitsQueue  queue trigger on <prefix>units   (binding "msg")
//	UnitsBlob   blob trigger on <prefix>units/{name} (binding "blob")
func (s *Stage) Register(app *handlers.App) {
	app.Handle("UnitsQueue", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := QueueDelivery(inv, "msg")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "queue", d)
	})
	app.Handle("UnitsBlob", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := BlobDelivery(inv, "blob")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "blob", d)
	})
}

// QueueDelivery turns a queue trigger's invocation into a Delivery.
func QueueDelivery(inv *handlers.Invocation, binding string) (transport.Delivery, error) {
	text, err := inv.QueueMessage(binding)
	if err != nil {
		return transport.Delivery{}, err
	}
	d := transport.Delivery{Text: text}
	if n, err := inv.MetaInt("DequeueCount"); err == nil {
		d.DequeueCount = int(n)
	}
	return d, nil
}

// BlobDelivery turns a blob trigger's invocation into a Delivery.
func BlobDelivery(inv *handlers.Invocation, binding string) (transport.Delivery, error) {
	content, err := inv.Blob(binding)
	if err != nil {
		return transport.Delivery{}, err
	}
	name, err := inv.MetaString("name")
	if err != nil {
		return transport.Delivery{}, err
	}
	if content == nil {
		content = []byte{}
	}
	return transport.Delivery{Name: name, Content: content}, nil
}

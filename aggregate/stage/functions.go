package stage

import (
	"context"

	"github.com/funnelpipe/funnel/handlers"
)

// Register adds the stage's functions to app (their function.json files are
// in aggregate/functions):
//
//	UnitsQueue  queue trigger on <prefix>units   (binding "msg")
//	UnitsBlob   blob trigger on <prefix>units/{name} (binding "blob")
func (s *Stage) Register(app *handlers.App) {
	app.Handle("UnitsQueue", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := inv.QueueDelivery("msg")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "queue", d)
	})
	app.Handle("UnitsBlob", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		d, err := inv.BlobDelivery("blob")
		if err != nil {
			return nil, err
		}
		return nil, s.Handle(ctx, "blob", d)
	})
}

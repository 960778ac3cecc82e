// Command aggregate is funnel's second stage as an Azure Functions custom
// handler: it range-reads one work unit and sends its partial aggregate on.
// See package aggregate/stage and cmd/internal/stagerun for its settings;
// besides those it reads
//
//	FUNNEL_BATCH_WINDOW  how long a unit's partial may wait for the partials
//	                     of other units to travel in one message (a Go
//	                     duration, default stage.DefaultBatchWindow; 0 sends
//	                     each partial on its own)
package main

import (
	"os"

	"github.com/funnelpipe/funnel/aggregate/stage"
	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
)

func main() {
	os.Exit(stagerun.Main("aggregate", func(env *stagerun.Env) error {
		window, err := stagerun.Window("FUNNEL_BATCH_WINDOW", os.Getenv("FUNNEL_BATCH_WINDOW"), stage.DefaultBatchWindow)
		if err != nil {
			return err
		}
		s := &stage.Stage{
			Source:     &stage.BlobSource{Client: env.Account.Blob()},
			Store:      env.Store,
			Transports: env.Transports,
			Batcher:    stage.Batcher{Window: window},
			Log:        env.Log,
		}
		s.Register(env.App)
		return nil
	}))
}

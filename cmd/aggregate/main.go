// Command aggregate is funnel's second stage as an Azure Functions custom
// handler: it range-reads one work unit and sends its partial aggregate on.
// See package aggregate/stage and cmd/internal/stagerun for its settings.
package main

import (
	"os"

	"github.com/funnelpipe/funnel/aggregate/stage"
	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
)

func main() {
	os.Exit(stagerun.Main("aggregate", func(env *stagerun.Env) error {
		s := &stage.Stage{
			Source:     &stage.BlobSource{Client: env.Account.Blob()},
			Store:      env.Store,
			Transports: env.Transports,
			Log:        env.Log,
		}
		s.Register(env.App)
		return nil
	}))
}

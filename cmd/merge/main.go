// Command merge is funnel's third stage as an Azure Functions custom
// handler: it folds partials into the job exactly once and writes the
// result. See package merge and cmd/internal/stagerun for its settings.
package main

import (
	"os"

	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
	"github.com/funnelpipe/funnel/merge"
)

func main() {
	os.Exit(stagerun.Main("merge", func(env *stagerun.Env) error {
		s := &merge.Stage{Store: env.Store, Transports: env.Transports, Log: env.Log}
		s.Register(env.App, env.Prefix)
		return nil
	}))
}

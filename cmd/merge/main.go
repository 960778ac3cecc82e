// Command merge is funnel's third stage as an Azure Functions custom
// handler: it folds partials into the job exactly once and writes the
// result. See package merge and cmd/internal/stagerun for its settings;
// besides those it reads
//
//	FUNNEL_FOLD_WINDOW   how long a merge shard's write waits for more
//	                     partials (a Go duration, default merge.DefaultFoldWindow;
//	                     0 writes what is waiting at once)
package main

import (
	"os"

	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
)

func main() {
	os.Exit(stagerun.Main("merge", func(env *stagerun.Env) error {
		window, err := stagerun.Window("FUNNEL_FOLD_WINDOW", os.Getenv("FUNNEL_FOLD_WINDOW"), merge.DefaultFoldWindow)
		if err != nil {
			return err
		}
		s := &merge.Stage{Store: env.Store, Transports: env.Transports, Log: env.Log, Folder: job.Folder{Window: window}}
		s.Register(env.App, env.Prefix)
		return nil
	}))
}

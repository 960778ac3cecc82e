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
	"fmt"
	"os"
	"time"

	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
)

func main() {
	os.Exit(stagerun.Main("merge", func(env *stagerun.Env) error {
		window, err := foldWindow(os.Getenv("FUNNEL_FOLD_WINDOW"))
		if err != nil {
			return err
		}
		s := &merge.Stage{Store: env.Store, Transports: env.Transports, Log: env.Log, Folder: job.Folder{Window: window}}
		s.Register(env.App, env.Prefix)
		return nil
	}))
}

// foldWindow parses FUNNEL_FOLD_WINDOW; empty means the default.
func foldWindow(v string) (time.Duration, error) {
	if v == "" {
		return merge.DefaultFoldWindow, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > time.Minute {
		return 0, fmt.Errorf("FUNNEL_FOLD_WINDOW %q: want a duration from 0 to 1m, like 500ms", v)
	}
	return d, nil
}

// Command partition is funnel's first stage as an Azure Functions custom
// handler: the job API (submit, status, result) and the planner that cuts
// input blobs into work units. See package partition and
// cmd/internal/stagerun for its settings.
package main

import (
	"os"

	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
	"github.com/funnelpipe/funnel/partition"
)

func main() {
	os.Exit(stagerun.Main("partition", func(env *stagerun.Env) error {
		svc := &partition.Service{
			Store:      env.Store,
			Inputs:     &partition.BlobInputs{Client: env.Account.Blob()},
			Transports: env.Transports,
		}
		svc.Register(env.App)
		return nil
	}))
}

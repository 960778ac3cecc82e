// Command partition is funnel's first stage as an Azure Functions custom
// handler: the job API (submit, status, result) and the planner that cuts
// input blobs into work units. See package partition and
// cmd/internal/stagerun for its settings; FUNNEL_INPUT_CONTAINERS is the
// allow list of input containers (comma-separated names, or prefixes ending
// in '*'; default "input"). Containers of funnel's own (funnel*, the
// transports' prefix, the job records) and of the Functions host
// (azure-webjobs-*) are refused whatever it says.
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
			Policy: partition.InputPolicy{
				Allow:    partition.ParseInputContainers(os.Getenv("FUNNEL_INPUT_CONTAINERS")),
				Reserved: []string{env.Prefix, env.JobsContainer},
			},
		}
		svc.Register(env.App)
		return nil
	}))
}

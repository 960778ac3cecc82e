// Command partition is funnel's first stage as an Azure Functions custom
// handler: the job API (submit, status, result, retry), the plan function
// (a queue trigger on <prefix>plans) that cuts input blobs into work units
// and sends them, and the reconciler (a timer trigger) that looks after
// unfinished jobs. See package partition and
// cmd/internal/stagerun for its settings; besides those:
//
//	FUNNEL_INPUT_CONTAINERS  the input containers jobs may read: names, or
//	                         prefixes ending in '*', comma-separated
//	                         (default "input"); funnel's own containers and
//	                         the host's (azure-webjobs-*) are always refused
//	FUNNEL_RECONCILE_GRACE   how long a job may stay unplanned or unsent
//	                         (its plan message lost, its plan function
//	                         stopped) before the reconciler plans and
//	                         sends it (default 5m)
//	FUNNEL_JOB_DEADLINE      how long a job may run before the reconciler
//	                         fails it as stuck (default 1h)
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/funnelpipe/funnel/cmd/internal/stagerun"
	"github.com/funnelpipe/funnel/job"
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
		lister, ok := env.Store.(job.JobLister)
		if !ok {
			return fmt.Errorf("the job store %T cannot list jobs for the reconciler", env.Store)
		}
		grace, err := duration("FUNNEL_RECONCILE_GRACE", partition.DefaultSendGrace)
		if err != nil {
			return err
		}
		deadline, err := duration("FUNNEL_JOB_DEADLINE", partition.DefaultDeadline)
		if err != nil {
			return err
		}
		r := &partition.Reconciler{Service: svc, Jobs: lister, SendGrace: grace, Deadline: deadline}
		r.Register(env.App)
		return nil
	}))
}

// duration reads a Go duration setting ("90s", "2h"), def when unset.
func duration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 5m or 1h", name, v)
	}
	return d, nil
}

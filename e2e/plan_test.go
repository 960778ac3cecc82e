package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
)

// TestSubmitAnswersBeforePlanning holds the plan function's write of the
// plan (plan.json) and submits a job over each transport: the job API
// answers 202 while planning is still held, the job shows as planning with
// nothing sent, and once the write goes on the job ends with the exact
// answer and the plans queue is empty.
func TestSubmitAnswersBeforePlanning(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackConfig{proxy: true})
	chunks := generated(t, t.TempDir(), 0.02, 4)
	for _, medium := range job.Transports() {
		t.Run(medium, func(t *testing.T) {
			container, id := "early-"+medium, "early-"+medium
			files := s.upload(t, container, chunks)
			h := s.proxy.HoldFirst(func(r *http.Request) bool {
				c, name := blobPath(r)
				return r.Method == http.MethodPut && c == jobsContainer && name == "jobs/"+id+"/plan.json"
			}, false)
			plans := s.functionSummary("partition", "Plan").Invocations

			ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
			defer cancel()
			got, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}})
			require.NoError(t, err)
			assert.Equal(t, id, got)
			select {
			case <-h.Arrived:
			case <-time.After(jobTimeout):
				t.Fatalf("the plan write never came; status:\n%s", s.statusJSON(id))
			}
			st, err := s.client.Status(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, job.Planning, st.State, "answered, and still planning")
			assert.Zero(t, st.Units.Planned)
			assert.False(t, st.Sent)
			h.Release(true)

			st = s.waitJob(t, id, job.Done)
			assert.True(t, st.Sent)
			want := reference(t, files, aggregate.DefaultLayout())
			checkDone(t, st, st.Units.Planned, want)
			s.checkAnswer(t, id, want, nil)
			s.waitJobMessagesGone(t, medium, id)
			// The plan invocation is recorded when it returns, which may be
			// after merge has finished the job.
			eventually(t, jobTimeout, "the plan invocation recorded and the plans queue empty", func() bool {
				return s.functionSummary("partition", "Plan").Invocations > plans && s.queueLength(t, prefix+partition.PlanTopic) == 0
			}, func() string {
				return fmt.Sprint(s.queueLength(t, prefix+partition.PlanTopic), " plan messages left")
			})
			assert.Equal(t, plans+1, s.functionSummary("partition", "Plan").Invocations, "one plan invocation per job")
		})
	}
}

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
)

// reconcileWait bounds a wait for the reconciler: it runs once a minute
// (partition/functions/Reconcile), and these tests set its grace to 3 s.
const reconcileWait = 3 * time.Minute

// TestFaultCampaign runs the faults whose end is only reached through the
// recovery paths: the completion check re-run by a poisoned delivery and
// by the reconciler, the plan function resuming after its handler died,
// and the reconciler's planning of a job whose plan message was lost.
// Each ends with the exact answer.
//
//   - completion failing on every retry: the proxy fails every write of the
//     job's result, so the delivery that fills the job fails on every try
//     and is poisoned; the job stays running, never failed, and once the
//     fault is lifted it is finished (by the poisoned delivery's retry or
//     the reconciler) with the exact answer. Both transports.
//   - a partial that always fails: every write of the job's merge shards
//     is refused, so each partial fails on every try and is poisoned on
//     the partials topic; the job fails with merge's reason and its
//     messages are released. Both transports.
//   - partition killed mid-planning: the submit has been answered (202);
//     the handler is killed while the plan function's write of the plan's
//     summary is held, leaving a plan but no record of it; the plan
//     message is delivered again and the plan function carries on. Both
//     transports.
//   - partition killed mid-sending: likewise, while the first unit's
//     message (a queue message, or a message blob) is held; the
//     redelivered plan message sends the units from the last recorded
//     batch. Both transports.
//   - plan message lost (blob): a job record is stored as the job API
//     stores it, with no plan message; the reconciler plans and sends it.
func TestFaultCampaign(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackConfig{proxy: true, proxyQueues: true, retry: testBudget, settings: map[string]string{"FUNNEL_RECONCILE_GRACE": "3s"}})
	chunks := generated(t, t.TempDir(), 0.02, 4)
	tries := maxDequeueCount(t, s)
	checks := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"completion fails on every retry/queue", startCompletionFails(t, s, "queue", chunks, tries)},
		{"completion fails on every retry/blob", startCompletionFails(t, s, "blob", chunks, tries)},
		{"a partial always fails/queue", startPartialFails(t, s, "queue", chunks)},
		{"a partial always fails/blob", startPartialFails(t, s, "blob", chunks)},
	}
	for _, c := range checks {
		t.Run(c.name, c.check)
	}
	for _, medium := range []string{"queue", "blob"} {
		t.Run("partition killed mid-planning/"+medium, func(t *testing.T) { testPartitionKilled(t, s, medium, "planning", chunks, 2) })
		t.Run("partition killed mid-sending/"+medium, func(t *testing.T) { testPartitionKilled(t, s, medium, "sending", chunks, 0) })
	}
	t.Run("plan message lost/blob", func(t *testing.T) { testPlanMessageLost(t, s, "blob", chunks) })
}

// resultWrite matches writes of a job's result documents.
func resultWrite(id string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		c, n := blobPath(r)
		return r.Method == http.MethodPut && c == jobsContainer && strings.HasPrefix(n, "results/"+id+".")
	}
}

func startCompletionFails(t *testing.T, s *stack, medium string, chunks []string, tries int) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	container, id := "nocompletion-"+medium, "nocompletion-"+medium
	files := s.upload(t, container, chunks)
	rule := s.proxy.FailEvery(resultWrite(id), http.StatusServiceUnavailable, "ServerBusy")
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}})
	require.NoError(t, err)

	return func(t *testing.T) {
		eventually(t, 3*time.Minute, "the result write failing on every try of the filling delivery and on its poison delivery", func() bool {
			return int(rule.hits.Load()) > tries
		}, func() string {
			return fmt.Sprintf("%d result writes refused; status:\n%s", rule.hits.Load(), s.statusJSON(id))
		})
		st, err := s.client.Status(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, job.Running, st.State, "a job whose units are all in is not failed for its completion")
		assert.Equal(t, st.Units.Planned, st.Units.Done, "every unit folded")
		assert.Zero(t, st.Units.Failed)

		rule.off.Store(true)
		deadline := time.Now().Add(reconcileWait)
		for time.Now().Before(deadline) {
			if st, err = s.client.Status(context.Background(), id); err == nil && st.State != job.Running {
				break
			}
			time.Sleep(time.Second)
		}
		require.Equal(t, job.Done, st.State, "finished once the fault is lifted; status:\n%s", s.statusJSON(id))
		want := reference(t, files, aggregate.DefaultLayout())
		checkDone(t, st, st.Units.Planned, want)
		s.checkAnswer(t, id, want, nil)
	}
}

// testPartitionKilled kills the partition handler while the plan function
// holds the n-th write of the job record (n > 0: 1 is the job API's, which
// stores the spec, 2 records the plan) or, for n = 0, the first unit
// message (a message blob, or a message put on the units queue: no other
// job sends units while this case runs), and checks that the job,
// answered before planning, ends with the exact answer.
func testPartitionKilled(t *testing.T, s *stack, medium, phase string, chunks []string, n int) {
	container, id := "killed-"+phase+"-"+medium, "killed-"+phase+"-"+medium
	files := s.upload(t, container, chunks)
	var seen atomic.Int64
	proxy := s.proxy
	match := func(r *http.Request) bool {
		c, name := blobPath(r)
		if r.Method != http.MethodPut {
			return false
		}
		if n == 0 {
			return c == prefix+unitsTopic && strings.HasPrefix(name, id+"/u/")
		}
		return c == jobsContainer && name == "jobs/"+id+"/job.json" && seen.Add(1) == int64(n)
	}
	if n == 0 && medium == "queue" {
		proxy = s.queueProxy
		match = func(r *http.Request) bool {
			q, rest := blobPath(r)
			return r.Method == http.MethodPost && q == prefix+unitsTopic && rest == "messages"
		}
	}
	h := proxy.HoldFirst(match, false)
	planFailures := s.functionSummary("partition", "Plan").Failures
	a, _ := s.submitRaw(t, fmt.Sprintf(`{"id":%q,"transport":%q,"input":{"container":%q,"prefix":"customer."}}`, id, medium, container))
	require.Equal(t, http.StatusAccepted, a.status, "the submit is answered before planning: %s", a.body)
	select {
	case <-h.Arrived:
	case <-time.After(jobTimeout):
		t.Fatalf("the held write never came; status:\n%s", s.statusJSON(id))
	}
	pids := s.handlerPIDs(t, "partition")
	require.NotEmpty(t, pids)
	for _, pid := range pids {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	h.Release(false)

	st := s.waitJob(t, id, job.Done)
	assert.Greater(t, s.functionSummary("partition", "Plan").Failures, planFailures, "the killed invocation was the plan function's")
	assert.True(t, st.Sent)
	assert.Equal(t, st.Units.Planned, st.Units.Sent)
	want := reference(t, files, aggregate.DefaultLayout())
	checkDone(t, st, st.Units.Planned, want)
	s.checkAnswer(t, id, want, nil)
	s.waitJobMessagesGone(t, medium, id)
}

// testPlanMessageLost stores a job as the job API does but sends no plan
// message (as if the request died between the two): the reconciler, past
// its grace, plans and sends the job.
func testPlanMessageLost(t *testing.T, s *stack, medium string, chunks []string) {
	container, id := "lostplan-"+medium, "lostplan-"+medium
	files := s.upload(t, container, chunks)
	spec := job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}}
	require.NoError(t, spec.Normalize())
	_, err := job.Create(context.Background(), s.store, spec, time.Now())
	require.NoError(t, err)

	deadline := time.Now().Add(reconcileWait)
	var st *job.Status
	for time.Now().Before(deadline) {
		if st, err = s.client.Status(context.Background(), id); err == nil && st.State.Final() {
			break
		}
		time.Sleep(time.Second)
	}
	require.NoError(t, err)
	require.Equal(t, job.Done, st.State, "the reconciler plans the job; status:\n%s", s.statusJSON(id))
	want := reference(t, files, aggregate.DefaultLayout())
	checkDone(t, st, st.Units.Planned, want)
	s.checkAnswer(t, id, want, nil)
	s.waitJobMessagesGone(t, medium, id)
}

func startPartialFails(t *testing.T, s *stack, medium string, chunks []string) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	container, id := "badpartial-"+medium, "badpartial-"+medium
	s.upload(t, container, chunks)
	rule := s.proxy.FailEvery(shardWrite(jobsContainer, id), http.StatusForbidden, "AuthorizationFailure")
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}})
	require.NoError(t, err)
	return func(t *testing.T) {
		st := s.waitJob(t, id, job.Failed)
		assert.Contains(t, st.Failure, "failed in the merge stage on every retry")
		assert.Contains(t, st.Failure, "AuthorizationFailure")
		assert.Zero(t, st.Units.Done, "no shard was ever written")
		assert.GreaterOrEqual(t, st.Units.Failed, 1)
		assert.Positive(t, rule.hits.Load())
		s.waitJobMessagesGone(t, medium, id)
	}
}

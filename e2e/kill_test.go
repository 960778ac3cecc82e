package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/job"
)

// TestHandlerKilledMidInvocation SIGKILLs a handler process while it is
// inside an invocation, for each stage that does work (aggregate, merge)
// and each transport. The proxy in front of blob storage says when: it
// holds the stage's first storage request of the job, so the handler is
// certainly mid-invocation when it dies.
//
//   - aggregate: killed while its range read of an input blob is held,
//     before it has sent the unit's partial;
//   - merge: killed after its first shard write has reached storage but
//     before the answer came back — the fold is applied and the message
//     not yet completed, the crash between two writes that exactly-once
//     must survive.
//
// The host restarts the handler, the message is delivered again, and the
// answer is still exact with every unit counted once.
func TestHandlerKilledMidInvocation(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackConfig{proxy: true})
	files := s.upload(t, "killdata", generated(t, t.TempDir(), 0.3, 20))
	want := reference(t, files, aggregate.DefaultLayout())
	units := planUnits(t, files, 1)
	require.Greater(t, units, 5, "7 MB in 1 MiB units")
	for _, medium := range job.Transports() {
		for _, app := range []string{"aggregate", "merge"} {
			t.Run(app+"/"+medium, func(t *testing.T) { testKill(t, s, app, medium, units, want) })
		}
	}
}

func testKill(t *testing.T, s *stack, app, medium string, units int, want *aggregate.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	id := "kill-" + app + "-" + medium
	aggFn, mergeFn := triggerFunctions(medium)
	fn := aggFn
	var match func(*http.Request) bool
	afterStorage := false
	if app == "merge" {
		fn, match, afterStorage = mergeFn, shardWrite(jobsContainer, id), true
	} else {
		match = inputRead("killdata", "")
	}
	pids := s.handlerPIDs(t, app)
	require.Len(t, pids, 1, "one %s handler process", app)
	victim := pids[0]
	seen := len(s.host(app).Records())
	restarts := instanceRestarts(s.host(app).Summary())

	held := s.proxy.HoldFirst(match, afterStorage)
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: "killdata", Prefix: "customer."}, UnitMB: 1})
	require.NoError(t, err)
	select {
	case <-held.Arrived:
	case <-ctx.Done():
		t.Fatalf("the %s stage made no held storage request; status:\n%s", app, s.statusJSON(id))
	}
	// The handler is inside an invocation, waiting on storage: kill it.
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	held.Release(false)
	t.Logf("killed the %s handler (pid %d) in the middle of an invocation", app, victim)

	var now []int
	eventually(t, time.Minute, "the host restarts the "+app+" handler", func() bool {
		now = s.handlerPIDs(t, app)
		return len(now) == 1 && now[0] != victim
	}, func() string { return fmt.Sprintf("handler processes %v", now) })

	st := s.waitJob(t, id, job.Done)
	checkDone(t, st, units, want)
	s.checkAnswer(t, id, want, nil)
	s.waitDrained(t, medium)

	recs := s.host(app).Records()[seen:]
	var killed, redelivered int
	for _, r := range recs {
		if r.Function != fn {
			continue
		}
		if r.Outcome == funchost.OutcomeFailure && strings.Contains(r.Error, fmt.Sprintf("pid %d", victim)) {
			killed++
		}
		if r.Outcome == funchost.OutcomeSuccess && r.DequeueCount >= 2 {
			redelivered++
		}
	}
	t.Logf("%s: %d invocations failed with the process, %d succeeded on redelivery", fn, killed, redelivered)
	assert.GreaterOrEqual(t, killed, 1, "the host saw the invocation fail with the process")
	assert.GreaterOrEqual(t, redelivered, 1, "a message was delivered again and processed")
	assert.Greater(t, instanceRestarts(s.host(app).Summary()), restarts, "the host restarted the handler")
}

func instanceRestarts(sum funchost.Summary) int {
	n := 0
	for _, in := range sum.Instances {
		n += in.Restarts
	}
	return n
}

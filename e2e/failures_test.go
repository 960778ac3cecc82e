package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/merge"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/transport"
)

// TestFailuresEndTheJobWithTheReason breaks jobs in the ways that must end
// in a failed job with a reason, or in a poison queue, and never in a hang:
//
//   - an input blob overwritten (queue) or deleted (blob) after the job
//     was planned and before aggregate read it: its ETag no longer matches
//     the plan, and the job fails at once saying so;
//   - an input blob whose every read fails (the proxy answers 403): the
//     unit fails on every delivery, its message ends in the poison queue
//     after maxDequeueCount tries, and merge fails the job with the unit's
//     last error;
//   - a funnel message naming a unit of a running job whose body is not a
//     work unit: it fails every try, ends in the poison queue, and merge
//     fails the job with the reason aggregate gave (the job is kept
//     running meanwhile by holding the read of its first unit);
//   - a garbage message on the units queue: it names no job, so it fails
//     every try and moves to funnel-units-poison; merge's poison function
//     cannot pin it on a job either, and since a queue ending in "-poison"
//     has no poison queue of its own (failing would redeliver it forever),
//     it keeps the message as a dead letter in the job store and
//     acknowledges it: not lost, and no loop.
//
// The scenarios are all started first and checked afterwards, so that the
// host's retry delays overlap.
func TestFailuresEndTheJobWithTheReason(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackConfig{proxy: true, retry: testBudget})
	chunks := generated(t, t.TempDir(), 0.02, 4)
	tries := maxDequeueCount(t, s)

	checks := []struct {
		name  string
		check func(t *testing.T)
	}{
		// Checked first: it holds a unit's read until its job has failed,
		// and the queue checks wait for the units queue to empty.
		{"unreadable unit message/queue", startUnreadableUnit(t, s, chunks)},
		{"input overwritten/queue", startInputChanged(t, s, "queue", false, chunks)},
		{"input deleted/blob", startInputChanged(t, s, "blob", true, chunks)},
		{"unit keeps failing/queue", startFailingUnit(t, s, "queue", chunks, tries)},
		{"unit keeps failing/blob", startFailingUnit(t, s, "blob", chunks, tries)},
		{"garbage on the units queue", startGarbage(t, s, tries)},
	}
	for _, c := range checks {
		t.Run(c.name, c.check)
	}
}

// maxDequeueCount reads extensions.queues.maxDequeueCount from the apps'
// host.json: how many times the host delivers a failing queue message.
func maxDequeueCount(t *testing.T, s *stack) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.apps, "aggregate", "host.json"))
	require.NoError(t, err)
	var hj struct {
		Extensions struct {
			Queues struct {
				MaxDequeueCount int `json:"maxDequeueCount"`
			} `json:"queues"`
		} `json:"extensions"`
	}
	require.NoError(t, json.Unmarshal(data, &hj))
	if hj.Extensions.Queues.MaxDequeueCount == 0 {
		return 5 // the host's default
	}
	return hj.Extensions.Queues.MaxDequeueCount
}

// checkFailed waits for a job to fail and checks what it shows: the
// reason, one failed unit, no result (409).
func checkFailed(t *testing.T, s *stack, id string, wantReason ...string) *job.Status {
	t.Helper()
	st := s.waitJob(t, id, job.Failed)
	t.Logf("job %s failed: %s", id, st.Failure)
	for _, w := range wantReason {
		assert.Contains(t, st.Failure, w)
	}
	assert.Equal(t, 1, st.Units.Failed, "one failed unit")
	assert.False(t, st.Timings.Finished.IsZero(), "a failed job has finished")
	assert.Nil(t, st.Result)
	_, err := s.client.Result(context.Background(), id, "json")
	var apiErr *partition.APIError
	if assert.True(t, errors.As(err, &apiErr), "result of a failed job: %v", err) {
		assert.Equal(t, http.StatusConflict, apiErr.Status)
		assert.Contains(t, apiErr.Message, "failed")
	}
	return st
}

// unitOf is the index of the unit that reads the start of blob name.
func unitOf(t *testing.T, s *stack, id, name string) int {
	t.Helper()
	rec, err := job.Get(context.Background(), s.store, id)
	require.NoError(t, err)
	plan, err := job.GetPlan(context.Background(), s.store, id)
	require.NoError(t, err)
	for _, u := range plan.WorkUnits(&rec.Spec, aggregate.DefaultLayout()) {
		for _, p := range u.Parts {
			if p.File == name && p.Start == 0 {
				return u.Index
			}
		}
	}
	t.Fatalf("job %s has no file %s", id, name)
	return -1
}

// startInputChanged submits a job, holds aggregate's first read of one of
// its input blobs, overwrites or deletes that blob, and lets the read go
// on: it is pinned to the planned ETag, so storage refuses it.
func startInputChanged(t *testing.T, s *stack, medium string, del bool, chunks []string) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	container, id, victim := "changed-"+medium, "changed-"+medium, "customer.001.csv"
	files := s.upload(t, container, chunks)
	held := s.proxy.HoldFirst(inputRead(container, victim), false)
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}})
	require.NoError(t, err)
	select {
	case <-held.Arrived:
	case <-ctx.Done():
		t.Fatalf("aggregate never read %s; status:\n%s", victim, s.statusJSON(id))
	}
	if del {
		require.NoError(t, s.acct.DeleteBlob(ctx, container, victim))
	} else {
		changed := append(append([]byte{}, files[victim]...), "1|Customer#000000001|x|3|p|1.00|seg|late row|\n"...)
		_, err := s.acct.Blob().UploadBuffer(ctx, container, victim, changed, &azblob.UploadBufferOptions{})
		require.NoError(t, err)
	}
	held.Release(true)

	return func(t *testing.T) {
		unit := unitOf(t, s, id, victim)
		st := checkFailed(t, s, id, "input blob "+container+"/"+victim)
		assert.Less(t, st.Units.Done, st.Units.Planned)
		if del {
			// Azure answers a read pinned to an ETag of a deleted blob
			// with 404 ("deleted"); Azurite with 412 ("changed").
			assert.True(t, strings.Contains(st.Failure, "was deleted while the job ran") ||
				strings.Contains(st.Failure, "changed while the job ran"), st.Failure)
		} else {
			assert.Contains(t, st.Failure, "changed while the job ran (planned ETag ")
		}
		rec, err := job.Get(context.Background(), s.store, id)
		require.NoError(t, err)
		assert.Equal(t, []int{unit}, rec.FailedUnits)
		s.waitJobMessagesGone(t, medium, id)
	}
}

// startFailingUnit submits a job one of whose input blobs cannot be read
// at all: the proxy answers every read of it with 403.
func startFailingUnit(t *testing.T, s *stack, medium string, chunks []string, tries int) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	container, id, victim := "failing-"+medium, "failing-"+medium, "customer.002.csv"
	files := s.upload(t, container, chunks)
	rule := s.proxy.FailEvery(inputRead(container, victim), http.StatusForbidden, "AuthorizationFailure")
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: medium, Input: job.Input{Container: container, Prefix: "customer."}})
	require.NoError(t, err)

	return func(t *testing.T) {
		unit := unitOf(t, s, id, victim)
		st := checkFailed(t, s, id,
			fmt.Sprintf("unit %d failed in the aggregate stage on every retry", unit),
			container+"/"+victim, "AuthorizationFailure")
		assert.Less(t, st.Units.Done, st.Units.Planned)
		assert.GreaterOrEqual(t, int(rule.hits.Load()), tries, "the unit was tried maxDequeueCount times")
		if medium == "queue" {
			assert.GreaterOrEqual(t, s.host("aggregate").Summary().Poisoned[prefix+unitsTopic], 1,
				"the unit's message went to %s%s-poison", prefix, unitsTopic)
		}
		s.waitJobMessagesGone(t, medium, id)

		// The fault is lifted and the job retried: only the units that
		// never landed are sent again, and the answer is exact.
		rule.off.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
		defer cancel()
		ans, err := s.client.Retry(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, job.Running, ans.State)
		assert.Equal(t, st.Units.Planned-st.Units.Done, ans.Resent, "only the units no shard holds")
		assert.Equal(t, 1, ans.Attempts)
		done := s.waitJob(t, id, job.Done)
		checkDone(t, done, st.Units.Planned, reference(t, files, aggregate.DefaultLayout()))
		s.checkAnswer(t, id, reference(t, files, aggregate.DefaultLayout()), nil)
		_, err = s.client.Retry(ctx, id)
		var apiErr *partition.APIError
		if assert.True(t, errors.As(err, &apiErr), "retry of a done job: %v", err) {
			assert.Equal(t, http.StatusConflict, apiErr.Status)
		}
		s.waitJobMessagesGone(t, medium, id)
	}
}

// startUnreadableUnit submits a job, holds the read of its first unit so
// that the job cannot finish, and sends a message with that unit's ID whose
// body is not a work unit.
func startUnreadableUnit(t *testing.T, s *stack, chunks []string) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	container, id, held := "stray-queue", "stray-queue", "customer.000.csv"
	s.upload(t, container, chunks)
	h := s.proxy.HoldFirst(inputRead(container, held), false)
	_, err := s.client.Submit(ctx, job.Spec{ID: id, Transport: "queue", Input: job.Input{Container: container, Prefix: "customer."}})
	require.NoError(t, err)
	select {
	case <-h.Arrived:
	case <-ctx.Done():
		t.Fatalf("aggregate never read %s; status:\n%s", held, s.statusJSON(id))
	}
	bad := transport.Message{ID: job.UnitID(id, 0), Body: []byte(`{"job":"stray-queue","index":"zero"}`)}
	require.NoError(t, s.tr["queue"].Send(ctx, unitsTopic, bad))

	return func(t *testing.T) {
		checkFailed(t, s, id, "unit 0 failed in the aggregate stage on every retry",
			"message stray-queue/u/000000: bad work unit")
		h.Release(true)
		s.waitJobMessagesGone(t, "queue", id)
	}
}

// startGarbage puts a message that is not a funnel envelope on the units
// queue.
func startGarbage(t *testing.T, s *stack, tries int) func(*testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	garbage := "garbage, not a funnel message " + time.Now().Format(time.RFC3339Nano)
	encoded := base64.StdEncoding.EncodeToString([]byte(garbage))
	require.NoError(t, s.acct.Enqueue(ctx, prefix+unitsTopic, encoded, -1))

	return func(t *testing.T) {
		poison := prefix + unitsTopic + "-poison"
		dead := merge.DeadLetterName(unitsTopic, transport.Delivery{Text: garbage})
		eventually(t, 2*time.Minute, "merge keeps the garbage message as a dead letter", func() bool {
			_, _, err := s.store.Get(context.Background(), dead)
			return err == nil
		}, func() string {
			return fmt.Sprintf("aggregate poisoned %v; %s holds %d messages", s.host("aggregate").Summary().Poisoned, poison, s.queueLength(t, poison))
		})
		data, _, err := s.store.Get(context.Background(), dead)
		require.NoError(t, err)
		var dl merge.DeadLetter
		require.NoError(t, json.Unmarshal(data, &dl))
		assert.Equal(t, garbage, dl.Text, "the dead letter keeps the message")
		assert.Contains(t, dl.Reason, "unreadable message")
		assert.GreaterOrEqual(t, s.host("aggregate").Summary().Poisoned[prefix+unitsTopic], 1, "moved to %s", poison)
		assert.GreaterOrEqual(t, failuresMentioning(s.host("aggregate"), "UnitsQueue", "garbage, not a funnel message"), tries,
			"aggregate tried it maxDequeueCount times and said why it failed")
		assert.Zero(t, failuresMentioning(s.host("merge"), "UnitsPoison", "garbage"),
			"merge acknowledges it at once: a -poison queue has no poison queue, so failing would loop")
		eventually(t, 30*time.Second, "the poison queue empties", func() bool { return s.queueLength(t, poison) == 0 },
			func() string { return fmt.Sprintf("%s holds %d messages", poison, s.queueLength(t, poison)) })
		assert.Zero(t, s.queueLength(t, poison+"-poison"))
	}
}

// failuresMentioning counts the failed invocations of fn whose error
// mentions text.
func failuresMentioning(h *funchost.Host, fn, text string) int {
	n := 0
	for _, r := range h.Records() {
		if r.Function == fn && r.Outcome == funchost.OutcomeFailure && strings.Contains(r.Error, text) {
			n++
		}
	}
	return n
}

package funchost

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTimerTrigger(t *testing.T) {
	ok := `{"bindings":[{"type":"timerTrigger","name":"timer","schedule":"*/5 * * * * *","runOnStartup":true,"useMonitor":false}]}`
	f, err := parseFunctionJSON("T", "T/function.json", []byte(ok))
	require.NoError(t, err)
	assert.Equal(t, typeTimerTrigger, f.Trigger.Type)
	assert.True(t, f.Trigger.RunOnStartup)
	at := time.Date(2026, 12, 2, 1, 0, 2, 0, time.UTC)
	assert.Equal(t, at.Add(3*time.Second), f.Trigger.schedule.Next(at), "six fields, seconds first")

	for sched, says := range map[string]string{
		"0 */5 * * *":   "six fields",
		"00:05:00":      "TimeSpan form",
		"0 */5 * * * x": "x",
		"61 * * * * *":  "61",
	} {
		_, err := parseFunctionJSON("T", "T/function.json", []byte(`{"bindings":[{"type":"timerTrigger","name":"timer","schedule":"`+sched+`"}]}`))
		require.ErrorIs(t, err, ErrConfig, sched)
		assert.ErrorContains(t, err, says, sched)
	}
	_, err = parseFunctionJSON("T", "T/function.json", []byte(`{"bindings":[{"type":"timerTrigger","name":"timer"}]}`))
	assert.ErrorContains(t, err, "schedule")
	_, err = parseFunctionJSON("T", "T/function.json", []byte(`{"bindings":[{"type":"timerTrigger","name":"timer","schedule":"* * * * * *","direction":"out"}]}`))
	assert.ErrorIs(t, err, ErrConfig)

	// %Setting% in the schedule is resolved from the app settings.
	f, err = parseFunctionJSON("T", "T/function.json", []byte(`{"bindings":[{"type":"timerTrigger","name":"timer","schedule":"%Every%"}]}`))
	require.NoError(t, err)
	a := &app{Functions: []*function{f}}
	require.NoError(t, resolveSettingRefs(a, map[string]string{"Every": "0 0 * * * *"}))
	assert.Equal(t, at.Truncate(time.Hour).Add(time.Hour), f.Trigger.schedule.Next(at))
	f, _ = parseFunctionJSON("T", "T/function.json", []byte(`{"bindings":[{"type":"timerTrigger","name":"timer","schedule":"%Every%"}]}`))
	assert.ErrorContains(t, resolveSettingRefs(&app{Functions: []*function{f}}, map[string]string{"Every": "nope"}), "six fields")
}

// A timer function runs on startup and then on its schedule, on one host
// at a time: a second host of the same app (same host ID) does not fire
// while the first holds the listener lock blob's lease, and the lease is
// released when the first stops.
func TestTimerTriggerRunsOnScheduleAsASingleton(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, nil)
	for k, v := range env.settings() {
		s[k] = v
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "T"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "T", "function.json"),
		[]byte(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"*/2 * * * * *","runOnStartup":true}]}`), 0o644))

	first := startHost(t, Config{AppDir: dir, Settings: s})
	timerCalls := func(path string) []capturedRequest {
		var out []capturedRequest
		for _, c := range readCaptured(t, path) {
			if c.Path == "/T" {
				out = append(out, c)
			}
		}
		return out
	}
	eventually(t, waitLong, func() bool { return len(timerCalls(capFile)) >= 1 }, "the startup run")
	start := time.Now()

	// The second host: same app, same host ID, its own capture file.
	s2 := map[string]string{}
	for k, v := range s {
		s2[k] = v
	}
	cap2 := filepath.Join(t.TempDir(), "second.jsonl")
	s2[envCaptureFile] = cap2
	second := startHost(t, Config{AppDir: dir, Settings: s2})

	eventually(t, waitLong, func() bool { return len(timerCalls(capFile)) >= 4 }, "three scheduled runs")
	elapsed := time.Since(start)
	calls := timerCalls(capFile)
	assert.LessOrEqual(t, len(calls)-1, int(elapsed/(2*time.Second))+1, "no more runs than the schedule has occurrences")
	assert.Empty(t, timerCalls(cap2), "the second host never fires while the first holds the lock")

	var body struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(calls[len(calls)-1].Body, &body))
	var info struct {
		Schedule       struct{ AdjustForDST bool }
		ScheduleStatus struct{ Last, Next, LastUpdated time.Time }
		IsPastDue      bool
	}
	require.NoError(t, json.Unmarshal(body.Data["timer"], &info), "%s", body.Data["timer"])
	assert.True(t, info.Schedule.AdjustForDST)
	assert.Equal(t, 0, info.ScheduleStatus.Next.Second()%2, "the next occurrence is on the schedule")
	assert.True(t, info.ScheduleStatus.Next.After(info.ScheduleStatus.Last))
	assert.False(t, info.IsPastDue)
	assert.Contains(t, string(body.Metadata["sys"]), `"MethodName":"T"`)

	lockName := "locks/" + first.h.HostID() + "/Host.Functions.T.Listener"
	lc, err := lease.NewBlobClient(env.acct.Blob().ServiceClient().NewContainerClient(hostsContainer).NewBlobClient(lockName), nil)
	require.NoError(t, err)
	props, err := env.acct.Blob().ServiceClient().NewContainerClient(hostsContainer).NewBlobClient(lockName).GetProperties(context.Background(), nil)
	require.NoError(t, err, "the lock blob %s", lockName)
	require.NotNil(t, props.LeaseState)
	assert.Equal(t, "leased", strings.ToLower(string(*props.LeaseState)))
	_, err = lc.AcquireLease(context.Background(), 15, nil)
	assert.Error(t, err, "nobody else can take the lease")

	first.stop(t)
	props, err = env.acct.Blob().ServiceClient().NewContainerClient(hostsContainer).NewBlobClient(lockName).GetProperties(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "available", strings.ToLower(string(*props.LeaseState)), "a stopping host releases the lock")
	second.stop(t)
}

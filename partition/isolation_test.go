package partition

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
)

func TestInputPolicy(t *testing.T) {
	def := InputPolicy{}
	custom := InputPolicy{Allow: ParseInputContainers(" input, data-* ,"), Reserved: []string{"jobs-store", "pipe-"}}
	any := InputPolicy{Allow: ParseInputContainers("*")}
	for _, tc := range []struct {
		policy    InputPolicy
		container string
		ok        bool
		says      string
	}{
		{def, "input", true, ""},
		{def, "other", false, "not an input container of this deployment (allowed: input"},
		{def, "funnel", false, "funnel's or the Functions host's own data"},
		{custom, "data-2026", true, ""},
		{custom, "input", true, ""},
		{custom, "datum", false, "allowed: input, data-*"},
		{custom, "jobs-store", false, "funnel's own data"},
		{custom, "pipe-units", false, "funnel's own data"},
		{any, "anything", true, ""},
		{any, "funnel", false, "own data"},
		{any, "funnel-units", false, "own data"},
		{any, "funnel-partials", false, "own data"},
		{any, "azure-webjobs-hosts", false, "own data"},
		{any, "azure-webjobs-secrets", false, "own data"},
	} {
		err := tc.policy.Check(tc.container)
		if tc.ok {
			assert.NoError(t, err, tc.container)
			continue
		}
		assert.ErrorIs(t, err, ErrInputRefused, tc.container)
		assert.ErrorContains(t, err, tc.says, tc.container)
	}
	assert.Equal(t, []string{"input"}, ParseInputContainers(""))
}

// A refused container is refused before anything is looked at or written.
func TestSubmitRefusesReservedAndUnlistedContainers(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{
		"funnel":              {{Name: "jobs/x/job.json", Size: 10, ETag: "e"}},
		"azure-webjobs-hosts": {{Name: "locks/x", Size: 10, ETag: "e"}},
		"elsewhere":           {{Name: "a", Size: 10, ETag: "e"}},
	}}
	tr := &sink{}
	svc, st := newService(in, tr)
	for _, c := range []string{"funnel", "azure-webjobs-hosts", "elsewhere"} {
		_, err := svc.Submit(context.Background(), job.Spec{Transport: "queue", Input: job.Input{Container: c}})
		require.ErrorIs(t, err, ErrInputRefused, c)
	}
	assert.Empty(t, st.Names())
	assert.Empty(t, tr.sent)
}

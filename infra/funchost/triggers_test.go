package funchost

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTriggers(t *testing.T) {
	settings := map[string]string{"BlobContainer": "uploads", "OutQueue": "out", "WorkQueue": "work", "OutContainer": "results"}
	got, err := Triggers("testdata/apps/basic", settings)
	require.NoError(t, err)
	assert.Equal(t, []Trigger{
		{Function: "Echo", Type: "httpTrigger", Route: "echo/{id:alpha}/{tail?}"},
		{Function: "OnBlob", Type: "blobTrigger", Container: "uploads", Path: "uploads/in/{name}", Source: "EventGrid", OutputQueues: []string{"out"}},
		{Function: "Work", Type: "queueTrigger", Queue: "work", OutputQueues: []string{"out"}},
	}, got)

	delete(settings, "BlobContainer")
	_, err = Triggers("testdata/apps/basic", settings)
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), `"BlobContainer"`)
}

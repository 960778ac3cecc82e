package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/transport"
)

func TestQueueDelivery(t *testing.T) {
	inv := &handlers.Invocation{
		Data:     map[string]json.RawMessage{"msg": hostString(`{"job":"j"}`)},
		Metadata: map[string]json.RawMessage{"DequeueCount": json.RawMessage(`3`)},
	}
	d, err := inv.QueueDelivery("msg")
	require.NoError(t, err)
	assert.Equal(t, transport.Delivery{Text: `{"job":"j"}`, DequeueCount: 3}, d)

	_, err = inv.QueueDelivery("other")
	require.ErrorIs(t, err, handlers.ErrMissing)
}

func TestBlobDelivery(t *testing.T) {
	raw, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte("a|b\n")))
	inv := &handlers.Invocation{
		Data:     map[string]json.RawMessage{"blob": raw},
		Metadata: map[string]json.RawMessage{"name": json.RawMessage(`"j/0/1"`)},
	}
	d, err := inv.BlobDelivery("blob")
	require.NoError(t, err)
	assert.Equal(t, transport.Delivery{Name: "j/0/1", Content: []byte("a|b\n")}, d)

	inv.Data["blob"] = json.RawMessage(`""`)
	d, err = inv.BlobDelivery("blob")
	require.NoError(t, err)
	assert.NotNil(t, d.Content, "an empty blob is empty content, not none")
	assert.Empty(t, d.Content)

	delete(inv.Metadata, "name")
	_, err = inv.BlobDelivery("blob")
	require.Error(t, err, "a blob trigger without {name} metadata")
}

package funchost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// transferTimeout bounds one blob upload or download of a binding.
const transferTimeout = 5 * time.Minute

// queueListeners builds this instance's listeners: one per queue-triggered
// function, plus one on the app's internal blob trigger queue when the app
// has blob triggers.
func (h *Host) queueListeners(in *instance) []*queueListener {
	var ls []*queueListener
	blobs := false
	for _, f := range h.app.Functions {
		if f.Disabled {
			continue
		}
		switch f.Trigger.Type {
		case typeQueueTrigger:
			l := newQueueListener(h, in, f.Name, h.account(f.Trigger.Connection), f.Trigger.QueueName, "", h.app.Host.Queues, h.queueExec(in, f))
			h.watchers.register(l)
			ls = append(ls, l)
		case typeBlobTrigger:
			blobs = true
		}
	}
	if blobs {
		l := newQueueListener(h, in, "blob trigger", h.storage[defaultConnectionName], h.blobQueue, blobTriggerPoison, h.blobQueueOptions(), h.blobExec(in))
		h.watchers.register(l)
		ls = append(ls, l)
	}
	return ls
}

// queueExec returns the executor of a queue-triggered function.
func (h *Host) queueExec(in *instance, fn *function) func(*queueMessage) error {
	return func(m *queueMessage) error {
		bd := newBindingData(fn.Name, time.Now())
		text := string(m.body)
		bd.set("QueueTrigger", text)
		bd.set("DequeueCount", m.dequeueCount)
		bd.set("ExpirationTime", m.expires)
		bd.set("Id", m.id)
		bd.set("InsertionTime", m.inserted)
		bd.set("NextVisibleTime", m.nextVisible)
		bd.set("PopReceipt", m.popReceipt)
		var value json.RawMessage
		if fn.Trigger.Binary {
			value = jsonBytesValue(m.body)
		} else {
			value = jsonStringValue(text)
			bd.applyJSON(text)
		}
		inv := &invocation{id: newUUID(), fn: fn, meta: bd, dequeueCount: m.dequeueCount,
			data: []dataEntry{{fn.Trigger.Name, value}}}
		return h.invoke(in, inv, nil)
	}
}

// invoke reads the function's inputs, calls the handler and applies its
// outputs. respond, when set, receives the result of an HTTP trigger.
func (h *Host) invoke(in *instance, inv *invocation, respond func(*invocationResult) error) error {
	inputs, err := h.readInputs(inv.fn, inv.meta)
	if err != nil {
		now := time.Now()
		h.record(in, inv, now, now, 0, 0, fmt.Errorf("input bindings: %w", err))
		return err
	}
	inv.data = append(inv.data, inputs...)
	_, err = in.call(inv, func(res *invocationResult) error {
		if err := h.bindOutputs(in, inv.fn, inv.meta, res); err != nil {
			return err
		}
		if respond != nil {
			return respond(res)
		}
		return nil
	})
	return err
}

// jsonStringValue is a string input as the host puts it in Data:
// SerializeObject(text), itself a JSON string.
func jsonStringValue(text string) json.RawMessage {
	var b bytes.Buffer
	writeJSONString(&b, serializeObject(text))
	return b.Bytes()
}

// jsonBytesValue is a byte[] input with dataType binary: base64.
func jsonBytesValue(p []byte) json.RawMessage {
	return json.RawMessage(`"` + base64.StdEncoding.EncodeToString(p) + `"`)
}

// readInputs binds the blob input bindings.
func (h *Host) readInputs(fn *function, bd *bindingData) ([]dataEntry, error) {
	var out []dataEntry
	for _, b := range fn.Inputs {
		if b.Type != typeBlob {
			continue
		}
		container, name, err := b.blobPath.expand(bd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
		content, err := downloadBlob(ctx, h.account(b.Connection), container, name)
		cancel()
		switch {
		case storageSentinel(err) == storage.ErrNotFound:
			// A missing input blob is null, which the host serialises to
			// the string "null".
			out = append(out, dataEntry{b.Name, json.RawMessage(`"null"`)})
		case err != nil:
			return nil, fmt.Errorf("%s: read %s/%s: %w", b.Name, container, name, err)
		case b.Binary:
			out = append(out, dataEntry{b.Name, jsonBytesValue(content)})
		default:
			out = append(out, dataEntry{b.Name, jsonStringValue(string(content))})
		}
	}
	return out, nil
}

func downloadBlob(ctx context.Context, sa *storageAccount, container, name string) ([]byte, error) {
	resp, err := sa.blob.DownloadStream(ctx, container, name, nil)
	if err != nil {
		return nil, err
	}
	if resp.Body == nil {
		return nil, errors.New("empty download response")
	}
	defer drain(resp.Body)
	return io.ReadAll(resp.Body)
}

// outputValue returns the value the handler gave output binding b: the
// ReturnValue for "$return", else Outputs[name] (names match exactly, as
// in the host's dictionary). nil when absent or null.
func outputValue(b *binding, res *invocationResult) json.RawMessage {
	var v json.RawMessage
	if b.Name == "$return" {
		v = res.ReturnValue
		if isNull(v) {
			v = res.Outputs[b.Name]
		}
	} else {
		v = res.Outputs[b.Name]
	}
	if isNull(v) {
		return nil
	}
	return v
}

func isNull(v json.RawMessage) bool {
	t := bytes.TrimSpace(v)
	return len(t) == 0 || string(t) == "null"
}

// bindOutputs writes the queue and blob outputs of a successful
// invocation. HTTP outputs are answered by the HTTP trigger.
func (h *Host) bindOutputs(in *instance, fn *function, bd *bindingData, res *invocationResult) error {
	var errs []error
	for _, b := range fn.Outputs {
		v := outputValue(b, res)
		if v == nil {
			continue
		}
		var err error
		switch b.Type {
		case typeQueue:
			err = h.writeQueueOutput(in, b, bd, v)
		case typeBlob:
			err = h.writeBlobOutput(b, bd, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (h *Host) writeQueueOutput(in *instance, b *binding, bd *bindingData, v json.RawMessage) error {
	msgs, err := queueOutputMessages(v, b.Binary)
	if err != nil {
		return err
	}
	name := b.QueueName
	if strings.Contains(name, "{") {
		t, err := parseTemplate(name)
		if err != nil {
			return err
		}
		if name, err = t.expand(bd); err != nil {
			return err
		}
		name = strings.ToLower(name)
		if err := transport.ValidateStorageName(name); err != nil {
			return err
		}
	}
	sa := h.account(b.Connection)
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	for _, m := range msgs {
		text := string(m)
		if h.app.Host.Queues.Base64 {
			text = base64.StdEncoding.EncodeToString(m)
		}
		if len(text) > 64<<10 {
			return fmt.Errorf("queue %q: message of %d bytes is over the 64 KiB limit", name, len(text))
		}
		if err := sa.acct.Enqueue(ctx, name, text, 0); err != nil {
			return err
		}
	}
	h.watchers.notify(in, name)
	return nil
}

func (h *Host) writeBlobOutput(b *binding, bd *bindingData, v json.RawMessage) error {
	content, err := blobOutputBytes(v, b.Binary)
	if err != nil {
		return err
	}
	container, name, err := b.blobPath.expand(bd)
	if err != nil {
		return err
	}
	sa := h.account(b.Connection)
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	_, err = sa.blob.UploadBuffer(ctx, container, name, content, nil)
	if storageSentinel(err) == storage.ErrNotFound { // the container: an upload replaces a missing blob
		if cerr := sa.acct.CreateContainer(ctx, container); cerr != nil {
			return fmt.Errorf("blob %s/%s: %w", container, name, cerr)
		}
		_, err = sa.blob.UploadBuffer(ctx, container, name, content, nil)
	}
	return account.Error(ctx, fmt.Sprintf("blob %s/%s", container, name), err)
}

// hostBindingValue is HttpScriptInvocationResultExtensions.GetBindingValue
// on a decoded JSON value: for a binding that is not binary, a string that
// is valid base64 becomes its bytes; anything else stays as it is.
func hostBindingValue(v json.RawMessage, binaryType bool) (decoded []byte, isBytes bool) {
	t := bytes.TrimSpace(v)
	if binaryType || len(t) == 0 || t[0] != '"' {
		return nil, false
	}
	var s string
	if json.Unmarshal(t, &s) != nil {
		return nil, false
	}
	b, err := decodeBase64DotNet(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

// queueOutputMessages turns a queue output value into messages the way
// the host's IAsyncCollector<byte[]> binding does (FunctionBinding
// .ReadAsEnumerable): a base64 string (non-binary binding) is one message
// of its bytes; a JSON array gives one message per element; a string
// holding a JSON object or array is parsed the same way; objects become
// their indented JSON text (JToken.ToString()); other strings are one
// message.
func queueOutputMessages(v json.RawMessage, binaryType bool) ([][]byte, error) {
	if b, ok := hostBindingValue(v, binaryType); ok {
		return [][]byte{b}, nil
	}
	t := bytes.TrimSpace(v)
	switch t[0] {
	case '[':
		return jsonArrayMessages(t)
	case '{':
		s, err := jtokenString(t)
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(s)}, nil
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, err
		}
		st := strings.TrimSpace(s)
		if len(st) >= 2 && (st[0] == '{' && st[len(st)-1] == '}' || st[0] == '[' && st[len(st)-1] == ']') {
			if !json.Valid([]byte(st)) {
				return nil, fmt.Errorf("queue output looks like JSON but does not parse: %s", snippet([]byte(st)))
			}
			if st[0] == '[' {
				return jsonArrayMessages([]byte(st))
			}
			s2, err := jtokenString([]byte(st))
			if err != nil {
				return nil, err
			}
			return [][]byte{[]byte(s2)}, nil
		}
		return [][]byte{[]byte(s)}, nil
	default:
		s, err := jtokenString(t)
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(s)}, nil
	}
}

func jsonArrayMessages(t []byte) ([][]byte, error) {
	var els []json.RawMessage
	if err := json.Unmarshal(t, &els); err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(els))
	for _, e := range els {
		s, err := jtokenString(e)
		if err != nil {
			return nil, err
		}
		out = append(out, []byte(s))
	}
	return out, nil
}

// jtokenString is JToken.ToString(): a string's content, a number's text,
// True/False, "" for null, and indented JSON for objects and arrays.
func jtokenString(v json.RawMessage) (string, error) {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return "", nil
	}
	switch t[0] {
	case '{', '[':
		var b bytes.Buffer
		if err := json.Indent(&b, t, "", "  "); err != nil {
			return "", err
		}
		return b.String(), nil
	case 'n':
		return "", nil
	}
	return jvalueString(t), nil
}

// blobOutputBytes turns a blob output value into the blob's content the
// way the host's Stream binding does (FunctionBinding.ConvertValueToStream):
// base64 strings of a non-binary binding are decoded; other strings are
// their UTF-8 text (a "binary" binding's base64 string included); objects
// and arrays are compact JSON; an integer is written as a 4-byte
// little-endian int32, a float as 8 bytes, a boolean as one byte.
func blobOutputBytes(v json.RawMessage, binaryType bool) ([]byte, error) {
	if b, ok := hostBindingValue(v, binaryType); ok {
		return b, nil
	}
	t := bytes.TrimSpace(v)
	switch t[0] {
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, t); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	case 't', 'f':
		if string(t) == "true" {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	default:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return binary.LittleEndian.AppendUint32(nil, uint32(int32(n))), nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("unsupported blob output value %s", snippet(t))
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), nil
	}
}

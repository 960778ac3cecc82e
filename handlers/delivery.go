package handlers

import "github.com/funnelpipe/funnel/transport"

// QueueDelivery turns a queue trigger's invocation into the Delivery a
// transport consumer takes: the message text of binding and the host's
// DequeueCount (0 when the host sent none).
func (inv *Invocation) QueueDelivery(binding string) (transport.Delivery, error) {
	text, err := inv.QueueMessage(binding)
	if err != nil {
		return transport.Delivery{}, err
	}
	d := transport.Delivery{Text: text}
	if n, err := inv.MetaInt("DequeueCount"); err == nil {
		d.DequeueCount = int(n)
	}
	return d, nil
}

// BlobDelivery turns a blob trigger's invocation into a Delivery: the
// blob's content (empty, never nil, for an empty blob) and its name from
// the trigger's {name} metadata.
func (inv *Invocation) BlobDelivery(binding string) (transport.Delivery, error) {
	content, err := inv.Blob(binding)
	if err != nil {
		return transport.Delivery{}, err
	}
	name, err := inv.MetaString("name")
	if err != nil {
		return transport.Delivery{}, err
	}
	if content == nil {
		content = []byte{}
	}
	return transport.Delivery{Name: name, Content: content}, nil
}

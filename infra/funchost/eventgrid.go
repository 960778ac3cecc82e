package funchost

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// blobWebhookPath is where the blobs extension takes Event Grid deliveries
// for blob triggers with "source": "EventGrid":
// /runtime/webhooks/blobs?functionName=Host.Functions.<Function>.
const blobWebhookPath = "/runtime/webhooks/blobs"

// maxWebhookBody bounds an Event Grid delivery (Event Grid posts at most
// 1 MB per batch).
const maxWebhookBody = 1 << 20

// BlobWebhook is an Event Grid subscription the host wants for one blob
// trigger with "source": "EventGrid": events for blobs whose subject
// begins with SubjectBeginsWith are to be POSTed to URL.
type BlobWebhook struct {
	Function          string
	URL               string
	SubjectBeginsWith string
}

// BlobWebhooks lists the webhook subscriptions the app's Event Grid blob
// triggers need, as `az eventgrid system-topic event-subscription create`
// would be given them in Azure. It is empty unless Config.EventGrid is set.
func (h *Host) BlobWebhooks() []BlobWebhook {
	if !h.cfg.EventGrid {
		return nil
	}
	var out []BlobWebhook
	for _, f := range h.app.Functions {
		if f.Disabled || f.Trigger.Type != typeBlobTrigger || f.Trigger.Source != "eventgrid" {
			continue
		}
		out = append(out, BlobWebhook{
			Function:          f.Name,
			URL:               h.httpURL + blobWebhookPath + "?functionName=" + functionID(f),
			SubjectBeginsWith: "/blobServices/default/containers/" + f.Trigger.blobPath.containerName() + "/blobs/" + f.Trigger.blobPath.prefix(),
		})
	}
	return out
}

// gridEvent is the part of an Event Grid schema event the webhook reads.
type gridEvent struct {
	ID        string          `json:"id"`
	Subject   string          `json:"subject"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
}

// serveBlobWebhook answers Event Grid: a SubscriptionValidation event with
// its code, a Notification by queueing one blob trigger message per
// BlobCreated event on the app's internal blob trigger queue (as the
// extension's HTTP request processor does; no receipts, no listing), 202.
func (h *Host) serveBlobWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	fnID := r.URL.Query().Get("functionName")
	var fn *function
	for _, f := range h.app.Functions {
		if !f.Disabled && f.Trigger.Type == typeBlobTrigger && f.Trigger.Source == "eventgrid" && strings.EqualFold(functionID(f), fnID) {
			fn = f
		}
	}
	if fn == nil {
		http.Error(w, fmt.Sprintf("no Event Grid blob trigger function %q", fnID), http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "unreadable or oversized event batch", http.StatusBadRequest)
		return
	}
	var events []gridEvent
	if err := json.Unmarshal(body, &events); err != nil {
		http.Error(w, "not an Event Grid event array: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch r.Header.Get("aeg-event-type") {
	case "SubscriptionValidation":
		for _, ev := range events {
			var d struct {
				ValidationCode string `json:"validationCode"`
			}
			if json.Unmarshal(ev.Data, &d) == nil && d.ValidationCode != "" {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				json.NewEncoder(w).Encode(map[string]string{"validationResponse": d.ValidationCode})
				return
			}
		}
		http.Error(w, "no validation code", http.StatusBadRequest)
		return
	case "Notification":
	default:
		http.Error(w, "unknown aeg-event-type", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	queued := 0
	for _, ev := range events {
		if ev.EventType != "Microsoft.Storage.BlobCreated" {
			continue
		}
		var d struct {
			ETag     string `json:"eTag"`
			BlobType string `json:"blobType"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			http.Error(w, "event "+ev.ID+": bad data: "+err.Error(), http.StatusBadRequest)
			return
		}
		rest, ok := strings.CutPrefix(ev.Subject, "/blobServices/default/containers/")
		container, name, ok2 := strings.Cut(rest, "/blobs/")
		if !ok || !ok2 || container != fn.Trigger.blobPath.containerName() {
			continue
		}
		if _, match := fn.Trigger.blobPath.matchBlob(name); !match {
			continue
		}
		msg, err := json.Marshal(blobTriggerMessage{
			Type: "BlobTrigger", FunctionID: functionID(fn), BlobType: blobTypeName(cmp.Or(d.BlobType, "BlockBlob")),
			ContainerName: container, BlobName: name, ETag: quoteETag(d.ETag),
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		text := string(msg)
		if h.app.Host.Queues.Base64 {
			text = base64.StdEncoding.EncodeToString(msg)
		}
		if err := h.storage[defaultConnectionName].acct.Enqueue(ctx, h.blobQueue, text, 0); err != nil {
			// Event Grid retries what was not accepted.
			h.log.Warn("blob webhook: could not queue the blob trigger message", "blob", name, "err", err)
			http.Error(w, "could not queue: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		queued++
	}
	if queued > 0 {
		h.metrics.blobEvents.WithLabelValues(fn.Name).Add(float64(queued))
		h.watchers.notifyAll(h.blobQueue)
	}
	w.WriteHeader(http.StatusAccepted)
}

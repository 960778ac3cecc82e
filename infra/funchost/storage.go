package funchost

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

// Names of the host's own storage entities (HostContainerNames,
// HostQueueNames in the storage extensions).
const (
	hostsContainer        = "azure-webjobs-hosts"
	blobReceiptsDir       = "blobreceipts"
	blobTriggerPoison     = "webjobs-blobtrigger-poison"
	blobTriggerQueuePrfx  = "azure-webjobs-blobtrigger-"
	poisonSuffix          = "-poison"
	defaultConnectionName = "AzureWebJobsStorage"
)

// storageAccount is one opened account, named by a connection setting.
type storageAccount struct {
	setting string
	acct    *account.Account
	blob    *azblob.Client
	queue   *azqueue.ServiceClient
}

// opTimeout bounds one storage operation of the host's own (polls,
// deletes, receipts); transfers use longer limits.
const opTimeout = 30 * time.Second

// connectionName returns the setting name a binding's connection refers to.
func connectionName(c string) string {
	if c == "" {
		return defaultConnectionName
	}
	return c
}

// openStorage opens one account per distinct connection setting used by
// the enabled functions, plus AzureWebJobsStorage when a blob trigger needs
// the host's receipts and internal queue.
func (h *Host) openStorage() error {
	need := map[string]*function{}
	for _, f := range h.app.Functions {
		if f.Disabled {
			continue
		}
		for _, b := range f.Bindings {
			switch b.Type {
			case typeQueueTrigger, typeQueue, typeBlobTrigger, typeBlob:
				name := connectionName(b.Connection)
				if need[name] == nil {
					need[name] = f
				}
				if b.Type == typeBlobTrigger && need[defaultConnectionName] == nil {
					need[defaultConnectionName] = f
				}
			case typeTimerTrigger:
				// The singleton lock lives in the host's storage.
				if need[defaultConnectionName] == nil {
					need[defaultConnectionName] = f
				}
			}
		}
	}
	getenv := func(k string) string {
		if v, ok := h.settings[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	for _, name := range sortedKeys(need) {
		cfg, err := account.FromEnv(getenv, name)
		if err != nil {
			return &ConfigError{File: need[name].File, Field: "connection", Msg: fmt.Sprintf("storage connection %q: %v", name, err)}
		}
		a, err := account.Open(cfg, hostStorageOptions(h.cfg.Registerer))
		if err != nil {
			return &ConfigError{File: need[name].File, Field: "connection", Msg: fmt.Sprintf("storage connection %q: %v", name, err)}
		}
		h.storage[name] = &storageAccount{setting: name, acct: a, blob: a.Blob(), queue: a.Queue()}
	}
	return nil
}

// The host's storage clients retry as the real host's do: the Azure SDK
// for .NET's defaults (Azure.Core RetryOptions: 3 retries, exponential
// from 0.8 s, about 5.6 s of waiting). The Go SDK grows its delays
// differently ((2^n-1) × RetryDelay), so a cap of 3.2 s gives 0.8, 2.4 and
// 3.2 s, about 6.4 s. The account's own default (about 2 s) made the
// host give up on deleting or releasing a message during a storage
// restart that the real host rides through, leaving the message invisible
// for the rest of its 10-minute lease.
const (
	hostStorageRetries       = 3
	hostStorageRetryDelay    = 800 * time.Millisecond
	hostStorageMaxRetryDelay = 3200 * time.Millisecond
)

func hostStorageOptions(reg prometheus.Registerer) account.Options {
	return account.Options{Registerer: reg, Component: "funchost", MaxRetries: hostStorageRetries,
		RetryDelay: hostStorageRetryDelay, MaxRetryDelay: hostStorageMaxRetryDelay}
}

// account returns the opened account for a binding's connection.
func (h *Host) account(conn string) *storageAccount { return h.storage[connectionName(conn)] }

// prepareStorage creates what the triggers listen on: trigger queues,
// trigger containers, the host container and the blob trigger queue. The
// real host does not create a trigger's queue (its listener backs off
// while the queue is missing); funchost creates it so that an app can be
// started against an empty Azurite.
func (h *Host) prepareStorage(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*opTimeout)
	defer cancel()
	blobTriggers, timers := false, false
	for _, f := range h.app.Functions {
		if f.Disabled {
			continue
		}
		b := f.Trigger
		sa := h.account(b.Connection)
		switch b.Type {
		case typeQueueTrigger:
			if err := sa.acct.CreateQueue(ctx, b.QueueName); err != nil {
				return fmt.Errorf("funchost: %s: %w", f.Name, err)
			}
		case typeTimerTrigger:
			timers = true
		case typeBlobTrigger:
			blobTriggers = true
			if err := sa.acct.CreateContainer(ctx, b.blobPath.containerName()); err != nil {
				return fmt.Errorf("funchost: %s: %w", f.Name, err)
			}
		}
	}
	if timers {
		if err := h.storage[defaultConnectionName].acct.CreateContainer(ctx, hostsContainer); err != nil {
			return fmt.Errorf("funchost: %w", err)
		}
	}
	if blobTriggers {
		sa := h.storage[defaultConnectionName]
		if err := sa.acct.CreateContainer(ctx, hostsContainer); err != nil {
			return fmt.Errorf("funchost: %w", err)
		}
		if err := sa.acct.CreateQueue(ctx, h.blobQueue); err != nil {
			return fmt.Errorf("funchost: %w", err)
		}
	}
	return nil
}

// storageSentinel is the storage sentinel a storage error means, from
// the account layer's one classifier (account.Sentinel): funchost decides
// on not-found, conflict and the like without reading Azure error codes.
func storageSentinel(err error) error {
	if err == nil {
		return nil
	}
	return account.Sentinel(err)
}

// poisonQueueName is queue's poison queue, "<queue>-poison", or "" when
// queue is a poison queue itself or the name would not be a valid queue
// name (QueueListenerFactory.CreatePoisonQueueReference).
func poisonQueueName(q string) string {
	if strings.HasSuffix(q, poisonSuffix) {
		return ""
	}
	p := q + poisonSuffix
	if transport.ValidateStorageName(p) != nil {
		return ""
	}
	return p
}

// blobTriggerQueueName is the app's internal blob trigger queue
// (HostQueueNames.GetHostBlobTriggerQueueName).
func blobTriggerQueueName(hostID string) string {
	n := blobTriggerQueuePrfx + hostID
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

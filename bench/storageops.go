package bench

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrUnknownOperation marks a storage operation name this package cannot put
// in a billing class.
var ErrUnknownOperation = errors.New("bench: unknown storage operation")

// Service is an Azure Storage service.
type Service string

// The services funnel uses.
const (
	ServiceBlob  Service = "blob"
	ServiceQueue Service = "queue"
)

// BillingClass is the class a storage operation is billed in.
type BillingClass string

// Billing classes: blob operations on a general purpose v2 account are
// write, read, list (list and create container), other or free; queue
// operations are class 1 or class 2.
const (
	ClassWrite  BillingClass = "write"
	ClassRead   BillingClass = "read"
	ClassList   BillingClass = "list"
	ClassOther  BillingClass = "other"
	ClassFree   BillingClass = "free"
	ClassQueue1 BillingClass = "class1"
	ClassQueue2 BillingClass = "class2"
)

// StorageOp counts one storage REST operation during a run.
type StorageOp struct {
	Service Service `json:"service"`
	// Operation is the REST operation as Azure Storage logs it
	// ("PutBlob", "GetBlob", "PutMessage", "GetMessages", ...).
	Operation string       `json:"operation"`
	Class     BillingClass `json:"class"`
	// Count is how many requests were made, failed ones included (Azure
	// bills an authenticated request whatever its answer).
	Count int64 `json:"count"`
	// Bytes is the body bytes moved, both directions.
	Bytes int64 `json:"bytes"`
}

// NewStorageOp builds a StorageOp from a counter, filling in its billing
// class; an operation ClassifyOperation does not know is an error.
func NewStorageOp(service Service, operation string, count, bytes int64) (StorageOp, error) {
	class, err := ClassifyOperation(service, operation)
	if err != nil {
		return StorageOp{}, err
	}
	if count < 0 || bytes < 0 {
		return StorageOp{}, fmt.Errorf("%w: %s %s has a negative count", ErrBadMeasurement, service, operation)
	}
	return StorageOp{Service: service, Operation: canonicalOperation(service, operation), Class: class, Count: count, Bytes: bytes}, nil
}

// blobClassNames lists blob operation classes on a standard general purpose
// v2 account, from learn.microsoft.com "Map each REST operation to a price"
// (2025-05-14).
func blobClassNames() map[BillingClass][]string {
	return map[BillingClass][]string{
		ClassWrite: {"PutBlob", "PutBlock", "PutBlockList", "PutBlobFromURL", "PutBlockFromURL",
			"AppendBlock", "AppendBlockThroughCopy", "SealBlob", "CopyBlob", "CopyBlobFromURL", "UndeleteBlob"},
		ClassRead: {"GetBlob", "QueryBlobContents"},
		ClassList: {"ListBlobs", "ListContainers", "CreateContainer", "FindBlobsByTags", "RestoreContainer"},
		ClassFree: {"DeleteBlob", "DeleteContainer"},
		ClassOther: {"GetBlobProperties", "GetBlobMetadata", "GetBlobTags", "GetBlockList",
			"GetContainerProperties", "GetContainerMetadata", "GetContainerACL",
			"GetAccountInformation", "GetBlobServiceProperties", "GetBlobServiceStats", "GetUserDelegationKey",
			"SetBlobMetadata", "SetBlobProperties", "SetBlobTags", "SetBlobExpiry", "SetBlobServiceProperties",
			"SetContainerMetadata", "SetContainerACL", "SetContainerServiceMetadata",
			"AcquireBlobLease", "RenewBlobLease", "ReleaseBlobLease", "BreakBlobLease", "ChangeBlobLease",
			"AcquireContainerLease", "RenewContainerLease", "ReleaseContainerLease", "BreakContainerLease", "ChangeContainerLease",
			"AbortCopyBlob", "IncrementalCopyBlob", "SnapshotBlob", "BlobPreflightRequest"},
	}
}

// queueClassNames lists queue operation classes. The pricing page splits queue operations into
// class 1 (writes: creating, changing and deleting queues and messages) and
// class 2 (reads); this split follows that rule and is not taken from a
// per-operation table, which Microsoft does not publish for queues. Both
// classes cost the same in the price table, so a misclassed operation does
// not change a total.
func queueClassNames() map[BillingClass][]string {
	return map[BillingClass][]string{
		ClassQueue1: {"PutMessage", "UpdateMessage", "DeleteMessage", "ClearMessages",
			"CreateQueue", "DeleteQueue", "SetQueueMetadata", "SetQueueACL", "SetQueueServiceProperties"},
		ClassQueue2: {"GetMessages", "PeekMessages", "GetQueueMetadata", "GetQueueACL",
			"GetQueueServiceProperties", "GetQueueServiceStats", "ListQueues"},
	}
}

func classNames(service Service) map[BillingClass][]string {
	switch service {
	case ServiceBlob:
		return blobClassNames()
	case ServiceQueue:
		return queueClassNames()
	}
	return nil
}

// ClassifyOperation returns the billing class of a REST operation, named as
// Azure Storage logs it; case is ignored. An unknown service or operation is
// an error wrapping ErrUnknownOperation.
func ClassifyOperation(service Service, operation string) (BillingClass, error) {
	names := classNames(service)
	if names == nil {
		return "", fmt.Errorf("%w: unknown service %q (want %q or %q)", ErrUnknownOperation, service, ServiceBlob, ServiceQueue)
	}
	for class, ops := range names {
		for _, op := range ops {
			if strings.EqualFold(op, operation) {
				return class, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %s operation %q", ErrUnknownOperation, service, operation)
}

func canonicalOperation(service Service, operation string) string {
	for _, ops := range classNames(service) {
		for _, op := range ops {
			if strings.EqualFold(op, operation) {
				return op
			}
		}
	}
	return operation
}

// RequestOperation names the REST operation an HTTP request to a storage
// service performs, so that a transport policy or a proxy can count requests
// in billing terms. path is the URL path below the account: for Azure
// "/container/blob" or "/queue/messages"; for Azurite's path-style URLs
// strip the leading "/devstoreaccount1" first. A request it cannot name is
// an error wrapping ErrUnknownOperation.
func RequestOperation(service Service, method, path string, query map[string][]string, header http.Header) (string, error) {
	q := func(k string) string {
		if v := query[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	method = strings.ToUpper(method)
	unknown := func() (string, error) {
		return "", fmt.Errorf("%w: %s %s %s?%v", ErrUnknownOperation, service, method, path, query)
	}
	switch service {
	case ServiceBlob:
		return blobRequestOperation(method, segs, q, header, unknown)
	case ServiceQueue:
		return queueRequestOperation(method, segs, q, unknown)
	}
	return "", fmt.Errorf("%w: unknown service %q", ErrUnknownOperation, service)
}

func blobRequestOperation(method string, segs []string, q func(string) string, h http.Header, unknown func() (string, error)) (string, error) {
	comp := q("comp")
	switch {
	case len(segs) == 0: // account
		switch {
		case method == http.MethodGet && comp == "list":
			return "ListContainers", nil
		case comp == "properties" && method == http.MethodGet:
			return "GetBlobServiceProperties", nil
		case comp == "properties" && method == http.MethodPut:
			return "SetBlobServiceProperties", nil
		case comp == "stats":
			return "GetBlobServiceStats", nil
		case comp == "userdelegationkey":
			return "GetUserDelegationKey", nil
		case comp == "blobs":
			return "FindBlobsByTags", nil
		case q("restype") == "account":
			return "GetAccountInformation", nil
		}
	case len(segs) == 1 || q("restype") == "container": // container
		switch {
		case comp == "list":
			return "ListBlobs", nil
		case comp == "blobs":
			return "FindBlobsByTags", nil
		case comp == "metadata" && method == http.MethodPut:
			return "SetContainerMetadata", nil
		case comp == "metadata":
			return "GetContainerMetadata", nil
		case comp == "acl" && method == http.MethodPut:
			return "SetContainerACL", nil
		case comp == "acl":
			return "GetContainerACL", nil
		case comp == "lease":
			return leaseOperation(h.Get("x-ms-lease-action"), "Container")
		case comp == "undelete":
			return "RestoreContainer", nil
		case comp == "":
			switch method {
			case http.MethodPut:
				return "CreateContainer", nil
			case http.MethodDelete:
				return "DeleteContainer", nil
			case http.MethodGet, http.MethodHead:
				return "GetContainerProperties", nil
			}
		}
	default: // blob
		switch comp {
		case "":
			switch method {
			case http.MethodGet:
				return "GetBlob", nil
			case http.MethodHead:
				return "GetBlobProperties", nil
			case http.MethodDelete:
				return "DeleteBlob", nil
			case http.MethodPut:
				if h.Get("x-ms-copy-source") != "" {
					if h.Get("x-ms-requires-sync") == "true" {
						return "CopyBlobFromURL", nil
					}
					if h.Get("x-ms-blob-type") == "BlockBlob" {
						return "PutBlobFromURL", nil
					}
					return "CopyBlob", nil
				}
				return "PutBlob", nil
			}
		case "block":
			if h.Get("x-ms-copy-source") != "" {
				return "PutBlockFromURL", nil
			}
			return "PutBlock", nil
		case "blocklist":
			if method == http.MethodGet {
				return "GetBlockList", nil
			}
			return "PutBlockList", nil
		case "appendblock":
			if h.Get("x-ms-copy-source") != "" {
				return "AppendBlockThroughCopy", nil
			}
			return "AppendBlock", nil
		case "seal":
			return "SealBlob", nil
		case "metadata":
			if method == http.MethodPut {
				return "SetBlobMetadata", nil
			}
			return "GetBlobMetadata", nil
		case "properties":
			return "SetBlobProperties", nil
		case "tags":
			if method == http.MethodPut {
				return "SetBlobTags", nil
			}
			return "GetBlobTags", nil
		case "lease":
			return leaseOperation(h.Get("x-ms-lease-action"), "Blob")
		case "snapshot":
			return "SnapshotBlob", nil
		case "copy":
			return "AbortCopyBlob", nil
		case "incrementalcopy":
			return "IncrementalCopyBlob", nil
		case "expiry":
			return "SetBlobExpiry", nil
		case "undelete":
			return "UndeleteBlob", nil
		case "query":
			return "QueryBlobContents", nil
		}
	}
	return unknown()
}

func leaseOperation(action, what string) (string, error) {
	switch strings.ToLower(action) {
	case "acquire":
		return "Acquire" + what + "Lease", nil
	case "renew":
		return "Renew" + what + "Lease", nil
	case "release":
		return "Release" + what + "Lease", nil
	case "break":
		return "Break" + what + "Lease", nil
	case "change":
		return "Change" + what + "Lease", nil
	}
	return "", fmt.Errorf("%w: %s lease action %q", ErrUnknownOperation, strings.ToLower(what), action)
}

func queueRequestOperation(method string, segs []string, q func(string) string, unknown func() (string, error)) (string, error) {
	comp := q("comp")
	switch {
	case len(segs) == 0: // account
		switch {
		case comp == "list":
			return "ListQueues", nil
		case comp == "properties" && method == http.MethodPut:
			return "SetQueueServiceProperties", nil
		case comp == "properties":
			return "GetQueueServiceProperties", nil
		case comp == "stats":
			return "GetQueueServiceStats", nil
		}
	case len(segs) == 1: // queue
		switch {
		case comp == "metadata" && method == http.MethodPut:
			return "SetQueueMetadata", nil
		case comp == "metadata":
			return "GetQueueMetadata", nil
		case comp == "acl" && method == http.MethodPut:
			return "SetQueueACL", nil
		case comp == "acl":
			return "GetQueueACL", nil
		case comp == "" && method == http.MethodPut:
			return "CreateQueue", nil
		case comp == "" && method == http.MethodDelete:
			return "DeleteQueue", nil
		}
	case len(segs) == 2 && segs[1] == "messages":
		switch method {
		case http.MethodPost:
			return "PutMessage", nil
		case http.MethodGet:
			if strings.EqualFold(q("peekonly"), "true") {
				return "PeekMessages", nil
			}
			return "GetMessages", nil
		case http.MethodDelete:
			return "ClearMessages", nil
		}
	case len(segs) == 3 && segs[1] == "messages":
		switch method {
		case http.MethodDelete:
			return "DeleteMessage", nil
		case http.MethodPut:
			return "UpdateMessage", nil
		}
	}
	return unknown()
}

package bench

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/funnelpipe/funnel/transport/account"
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
	Operation string `json:"operation"`
	// Class may be left empty for an operation ClassifyOperation knows;
	// for one it does not know it must be a class of Service.
	Class BillingClass `json:"class"`
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
			"AppendBlock", "AppendBlockThroughCopy", "SealBlob", "CopyBlob", "CopyBlobFromURL", "UndeleteBlob", "PutPage"},
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

// resolveClass returns op's billing class: the one ClassifyOperation gives
// (op.Class, if set, must agree), or, for an operation ClassifyOperation
// does not know, op.Class when it is a class of op.Service.
func resolveClass(op StorageOp) (BillingClass, error) {
	class, err := ClassifyOperation(op.Service, op.Operation)
	switch {
	case err == nil && op.Class != "" && op.Class != class:
		return "", fmt.Errorf("%w: %s %s is class %q, not %q", ErrBadMeasurement, op.Service, op.Operation, class, op.Class)
	case err == nil:
		return class, nil
	case op.Class == "":
		return "", err
	}
	if _, perr := classPrice(op.Service, op.Class); perr != nil {
		return "", fmt.Errorf("%w (and class %q is not one of %s)", err, op.Class, op.Service)
	}
	return op.Class, nil
}

// StorageOpsFromUsage turns the storage counters of package
// transport/account (read with account.ReadUsage) into StorageOps: one per
// service and operation, summed over components, every request counted
// whatever its status (Azure bills failed requests too), bytes both ways.
// Operations are classed by ClassifyOperation; one it does not know keeps
// the counters' class when that is a blob billing class, and an unknown
// queue operation is priced as class 1 (both queue classes cost the same in
// the price table). An unknown service or an impossible count is an error.
func StorageOpsFromUsage(us []account.Usage) ([]StorageOp, error) {
	type key struct {
		s  Service
		op string
	}
	sums := map[key]*StorageOp{}
	for _, u := range us {
		svc := Service(u.Service)
		if svc != ServiceBlob && svc != ServiceQueue {
			return nil, fmt.Errorf("%w: unknown service %q in storage counters", ErrUnknownOperation, u.Service)
		}
		for _, v := range []float64{u.Requests, u.RequestBytes, u.ResponseBytes} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > math.MaxInt64/4 {
				return nil, fmt.Errorf("%w: %s %s counter %v", ErrBadMeasurement, u.Service, u.Operation, v)
			}
		}
		k := key{svc, canonicalOperation(svc, u.Operation)}
		op := sums[k]
		if op == nil {
			class, err := ClassifyOperation(svc, u.Operation)
			switch {
			case err == nil:
			case svc == ServiceQueue:
				class = ClassQueue1
			default:
				class = BillingClass(u.Class)
				if _, perr := classPrice(svc, class); perr != nil {
					return nil, fmt.Errorf("%w (counters class it %q)", err, u.Class)
				}
			}
			op = &StorageOp{Service: svc, Operation: k.op, Class: class}
			sums[k] = op
		}
		op.Count += int64(math.Round(u.Requests))
		op.Bytes += int64(math.Round(u.RequestBytes + u.ResponseBytes))
	}
	out := make([]StorageOp, 0, len(sums))
	for _, op := range sums {
		out = append(out, *op)
	}
	slices.SortFunc(out, func(a, b StorageOp) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	return out, nil
}

package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport"
)

// Error wraps err, returned by a storage call made for op (a short phrase
// such as "send units"), with the storage sentinel it means, once:
//
//   - ctx ended: ctx's error (context.Canceled or DeadlineExceeded), so
//     errors.Is(err, ctx.Err()) holds, without a sentinel;
//   - not found (blob, container, queue, message): storage.ErrNotFound;
//   - already exists, condition not met, lease or pop-receipt mismatch,
//     HTTP 409 and 412: storage.ErrConflict;
//   - body too large, HTTP 413: storage.ErrTooLarge;
//   - invalid resource name: storage.ErrBadName;
//   - server busy or failing (HTTP 408, 429, 5xx), a container or queue
//     being deleted (transient), network errors,
//     connections refused or reset, and per-try timeouts while ctx is still
//     live: storage.ErrUnavailable;
//   - anything else (authentication, a bad request) is wrapped without a
//     sentinel.
//
// The SDK's error stays in the chain (errors.As to *azcore.ResponseError
// works). Error returns nil for a nil err, and an err that already carries
// a storage (or transport) sentinel gets only the op prefix.
func Error(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if sentinel := Sentinel(err); sentinel != nil && !errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Sentinel is the storage sentinel err means (see Error), or nil. A
// context error is treated as a per-try timeout (ErrUnavailable) only when
// it is a deadline the SDK set; callers check their own ctx first, as Error
// does.
func Sentinel(err error) error {
	for _, s := range []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrTooLarge,
		storage.ErrBadName, transport.ErrMalformed, storage.ErrUnavailable} {
		if errors.Is(err, s) {
			return s
		}
	}
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound):
		return storage.ErrNotFound
	case queueerror.HasCode(err, queueerror.QueueNotFound, queueerror.MessageNotFound, queueerror.ResourceNotFound):
		return storage.ErrNotFound
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ContainerAlreadyExists, bloberror.ConditionNotMet,
		bloberror.LeaseIDMismatchWithBlobOperation, bloberror.LeaseAlreadyPresent, bloberror.LeaseNotPresentWithBlobOperation,
		bloberror.TargetConditionNotMet, bloberror.SourceConditionNotMet):
		return storage.ErrConflict
	case queueerror.HasCode(err, queueerror.QueueAlreadyExists, queueerror.ResourceAlreadyExists,
		queueerror.PopReceiptMismatch, queueerror.ConditionNotMet):
		return storage.ErrConflict
	case bloberror.HasCode(err, bloberror.RequestBodyTooLarge, bloberror.BlockCountExceedsLimit) ||
		queueerror.HasCode(err, queueerror.RequestBodyTooLarge, queueerror.MessageTooLarge):
		return storage.ErrTooLarge
	case bloberror.HasCode(err, bloberror.InvalidResourceName) || queueerror.HasCode(err, queueerror.InvalidResourceName):
		return storage.ErrBadName
	case bloberror.HasCode(err, bloberror.ServerBusy, bloberror.InternalError, bloberror.OperationTimedOut,
		bloberror.ContainerBeingDeleted) ||
		queueerror.HasCode(err, queueerror.ServerBusy, queueerror.InternalError, queueerror.OperationTimedOut,
			queueerror.QueueBeingDeleted):
		return storage.ErrUnavailable
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch code := re.StatusCode; {
		case code == http.StatusNotFound:
			return storage.ErrNotFound
		case code == http.StatusConflict || code == http.StatusPreconditionFailed:
			return storage.ErrConflict
		case code == http.StatusRequestEntityTooLarge:
			return storage.ErrTooLarge
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
			return storage.ErrUnavailable
		}
		return nil
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded):
		return storage.ErrUnavailable
	}
	return nil
}

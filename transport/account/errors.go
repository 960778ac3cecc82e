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

	"github.com/funnelpipe/funnel/transport"
)

// Error wraps err, returned by a storage call made for op (a short phrase
// such as "send units"), with the transport sentinel it means, once:
//
//   - ctx ended: ctx's error (context.Canceled or DeadlineExceeded), so
//     errors.Is(err, ctx.Err()) holds, without a sentinel;
//   - not found (blob, container, queue, message): transport.ErrNotFound;
//   - already exists, condition not met, lease or pop-receipt mismatch,
//     HTTP 409 and 412: transport.ErrConflict;
//   - body too large, HTTP 413: transport.ErrTooLarge;
//   - invalid resource name: transport.ErrBadName;
//   - server busy or failing (HTTP 408, 429, 5xx), a container or queue
//     being deleted (transient), network errors,
//     connections refused or reset, and per-try timeouts while ctx is still
//     live: transport.ErrUnavailable;
//   - anything else (authentication, a bad request) is wrapped without a
//     sentinel.
//
// The SDK's error stays in the chain (errors.As to *azcore.ResponseError
// works). Error returns nil for a nil err, and an err that already carries
// a transport sentinel gets only the op prefix.
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

// Sentinel is the transport sentinel err means (see Error), or nil. A
// context error is treated as a per-try timeout (ErrUnavailable) only when
// it is a deadline the SDK set; callers check their own ctx first, as Error
// does.
func Sentinel(err error) error {
	for _, s := range []error{transport.ErrNotFound, transport.ErrConflict, transport.ErrTooLarge,
		transport.ErrBadName, transport.ErrMalformed, transport.ErrUnavailable} {
		if errors.Is(err, s) {
			return s
		}
	}
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound):
		return transport.ErrNotFound
	case queueerror.HasCode(err, queueerror.QueueNotFound, queueerror.MessageNotFound, queueerror.ResourceNotFound):
		return transport.ErrNotFound
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ContainerAlreadyExists, bloberror.ConditionNotMet,
		bloberror.LeaseIDMismatchWithBlobOperation, bloberror.LeaseAlreadyPresent, bloberror.LeaseNotPresentWithBlobOperation,
		bloberror.TargetConditionNotMet, bloberror.SourceConditionNotMet):
		return transport.ErrConflict
	case queueerror.HasCode(err, queueerror.QueueAlreadyExists, queueerror.ResourceAlreadyExists,
		queueerror.PopReceiptMismatch, queueerror.ConditionNotMet):
		return transport.ErrConflict
	case bloberror.HasCode(err, bloberror.RequestBodyTooLarge, bloberror.BlockCountExceedsLimit) ||
		queueerror.HasCode(err, queueerror.RequestBodyTooLarge, queueerror.MessageTooLarge):
		return transport.ErrTooLarge
	case bloberror.HasCode(err, bloberror.InvalidResourceName) || queueerror.HasCode(err, queueerror.InvalidResourceName):
		return transport.ErrBadName
	case bloberror.HasCode(err, bloberror.ServerBusy, bloberror.InternalError, bloberror.OperationTimedOut,
		bloberror.ContainerBeingDeleted) ||
		queueerror.HasCode(err, queueerror.ServerBusy, queueerror.InternalError, queueerror.OperationTimedOut,
			queueerror.QueueBeingDeleted):
		return transport.ErrUnavailable
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch code := re.StatusCode; {
		case code == http.StatusNotFound:
			return transport.ErrNotFound
		case code == http.StatusConflict || code == http.StatusPreconditionFailed:
			return transport.ErrConflict
		case code == http.StatusRequestEntityTooLarge:
			return transport.ErrTooLarge
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
			return transport.ErrUnavailable
		}
		return nil
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded):
		return transport.ErrUnavailable
	}
	return nil
}

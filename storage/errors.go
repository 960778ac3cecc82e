// Package storage names the ways a request to durable storage can fail
// that every layer of funnel tells apart: the transports, the job store,
// the partition and aggregate stages and the local Functions host. It holds
// only these sentinel errors, so that a layer which stores state but sends
// no messages (job, partition) need not speak in the transport's terms.
//
// transport/account.Sentinel is the one place where Azure error codes are
// translated into these; package transport re-exports them under its own
// names (transport.ErrNotFound is storage.ErrNotFound). Test them with
// errors.Is.
package storage

import "errors"

var (
	// ErrNotFound: the blob, container, queue or message does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: it exists already, a condition (ETag, lease, pop
	// receipt) did not hold, or another writer won.
	ErrConflict = errors.New("storage: conflict")
	// ErrTooLarge: a body over the service's or the caller's limit.
	ErrTooLarge = errors.New("storage: payload too large")
	// ErrBadName: not a valid container, queue, blob or message name.
	ErrBadName = errors.New("storage: invalid name")
	// ErrUnavailable: the service is busy, failing or unreachable; the
	// request may succeed if retried.
	ErrUnavailable = errors.New("storage: unavailable")
)

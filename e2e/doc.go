// Package e2e holds the end-to-end tests of the funnel pipeline: the three
// handler binaries built from this tree, assembled into app folders and run
// under the local Functions host (infra/funchost) against a real Azurite,
// all started by infra/localstack. The tests drive jobs through the job API
// (partition.Client) over both transports, queue and blob, and check what a
// user would: exact answers, status counts, rejected-row samples, clear 4xx
// answers to bad requests, and failed jobs that say why.
//
// They also break things on purpose: duplicate messages injected through
// the transports, handler processes killed in the middle of an invocation,
// input blobs changed under a running job, messages that can never be
// processed, storage requests failed (always, or 10 % at random) or held by
// a proxy that stands between the apps and Azurite's blob (and queue)
// service, Azurite killed mid-job, handlers killed at random moments. The
// random cases take their seed from FUNNEL_E2E_SEED (see chaos_test.go).
//
// Every wait is bounded polling of job status or storage state; a wait that
// runs out fails the test and prints the job's status. The tests skip under
// -short. Run them with
//
//	go test -count=1 -v ./e2e/
//
// The package has no non-test code.
package e2e

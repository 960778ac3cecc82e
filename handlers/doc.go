// Package handlers is the Azure Functions custom-handler runtime shared by
// funnel's binaries (partition, aggregate, merge): it decodes the host's
// invocation requests, routes them to plain Go functions, encodes their
// answers, and runs the HTTP server the host talks to.
//
// # Protocol
//
// The Functions host (azure-functions-host, src/WebJobs.Script/Workers/Http/)
// starts the handler with FUNCTIONS_CUSTOMHANDLER_PORT set, sends GET / until
// any HTTP answer comes back, then for each invocation of a function sends
//
//	POST http://127.0.0.1:<port>/<FunctionName>
//	X-Azure-Functions-InvocationId: <guid>
//	{"Data": {<binding name>: value, ...}, "Metadata": {<key>: value, ...}}
//
// and expects 200 with
//
//	{"Outputs": {<output binding name>: value}, "Logs": ["..."], "ReturnValue": ...}
//
// Any other status fails the invocation (so the host retries a queue
// message and finally moves it to the poison queue). Invocation holds a
// request and decodes its values (QueueMessage, Blob, HTTPRequest, MetaString,
// MetaInt), undoing the host's encodings; Response builds an answer (SetHTTP,
// AddQueue, SetBlob, Log).
//
// # Routing and errors
//
// An App maps each function name to a HandlerFunc. A returned error answers
// 500; an *HTTPError returned by an HTTP-triggered function answers 200 with
// that status in the function's HTTP output; a panic is recovered and
// answers 500; a request that is not a JSON envelope answers 400. Every log
// line of an invocation carries its invocation_id and function.
//
// # Running
//
// A stage registers its functions on an App and serves it; funnel's
// binaries do this through cmd/internal/stagerun, which amounts to:
//
//	cfg, err := handlers.ConfigFromEnv(os.Getenv)
//	app := handlers.NewApp(handlers.Options{Name: "merge", Logger: log, Registerer: reg})
//	stage.Register(app, prefix) // app.Handle("PartialsQueue", ...) for each function
//	err = handlers.Serve(ctx, app, cfg) // ctx cancelled on SIGTERM/SIGINT
//
// A queue or blob trigger's invocation becomes a transport.Delivery with
// Invocation.QueueDelivery or Invocation.BlobDelivery.
//
// Environment: FUNCTIONS_CUSTOMHANDLER_PORT (required),
// FUNCTIONS_CUSTOMHANDLER_WORKER_ID, FUNNEL_METRICS_ADDR (host:port of an
// optional /metrics listener), FUNNEL_SHUTDOWN_TIMEOUT (Go duration, default
// 30s).
//
// # Metrics
//
// Through the Registerer given to NewApp, with constant label app:
// funnel_handler_invocations_total{function,outcome} (outcome ok,
// http_error, error, panic, bad_request),
// funnel_handler_invocation_duration_seconds{function} and
// funnel_handler_invocations_in_flight{function}.
package handlers

// Package funchost is funnel's local Azure Functions host: it runs a
// custom-handler function app (a folder with host.json and one
// <function>/function.json per function) the way the Functions host 4.x
// does, against Azurite or any storage account, so that the three funnel
// binaries are tested and benchmarked under the protocol and the trigger
// semantics they meet in Azure.
//
// # What it does
//
//   - Reads host.json (version "2.0", customHandler, extensions.queues,
//     extensions.blobs, extensions.http.routePrefix, functionTimeout,
//     functions) and every function.json, and refuses a malformed or
//     unsupported file with an error wrapping ErrConfig that names the file
//     and the field.
//   - Starts Config.Instances processes of the handler executable, each
//     with FUNCTIONS_CUSTOMHANDLER_PORT, FUNCTIONS_CUSTOMHANDLER_WORKER_ID,
//     FUNCTIONS_APP_ROOT_PATH and the app settings in its environment; waits
//     until each answers HTTP; restarts a handler that exits; on shutdown
//     sends SIGTERM, then SIGKILL after a grace period. Each process models
//     one scaled-out instance of the app: it has its own queue listeners,
//     while HTTP requests are spread round-robin.
//   - Invokes functions exactly as the real host does: POST
//     http://127.0.0.1:<port>/<FunctionName> with {"Data", "Metadata"} and
//     the headers X-Azure-Functions-InvocationId,
//     X-Azure-Functions-HostVersion and User-Agent; reads {"Outputs",
//     "Logs", "ReturnValue"}; any non-2xx answer fails the invocation.
//   - Bindings: httpTrigger and http output (routes under
//     /<routePrefix>/<route>, request forwarding), queueTrigger (the
//     storage extension's polling, batching, visibility, retry and poison
//     rules), blobTrigger (receipts, retries, poison queue; container scan
//     or an Event Grid stand-in), timerTrigger (NCRONTAB schedules,
//     runOnStartup, one listener per app through the host's blob lease
//     under azure-webjobs-hosts/locks; see timer.go), queue and blob
//     outputs, blob inputs.
//   - Records every invocation (Records, RecordsPath as JSON lines),
//     samples each handler's CPU time and peak RSS from /proc, exports
//     Prometheus metrics, and prices a run as Consumption and Flex
//     Consumption would bill it (Summary).
//
// # Encodings the real host applies, reproduced here
//
// The host serialises every string it hands a handler once more with
// Newtonsoft's JsonConvert.SerializeObject: a queue message `hello` arrives
// as Data {"item": "\"hello\""}, Metadata Id as "\"<guid>\"" and
// DequeueCount as "1" (azure-functions-host,
// Workers/MessageExtensions/ScriptInvocationContextExtensions.cs). A blob or
// input declared "dataType": "binary" arrives base64-encoded. For an output
// that is not "binary", a string that is valid base64 is decoded and the
// bytes are written; a "binary" output's string is written as its UTF-8
// text (Workers/Http/HttpScriptInvocationResultExtensions.cs). A JSON
// object queue message also lends its top-level properties to Metadata and
// to binding expressions (Utility.ApplyBindingData).
//
// # Known differences from the real host
//
// See the Differences constant: it lists every deviation this package
// knows of, and "funnel host --differences" prints it.
//
// # Settings
//
// App settings come from Config.Settings, falling back to the "Values" of
// <app>/local.settings.json. A binding's "connection" names the setting
// holding the storage connection (AzureWebJobsStorage by default; the name
// with the AzureWebJobs prefix is tried too, as the real host does).
// AzureFunctionsWebHost__hostid sets the host ID that keys blob receipts
// (default: the app folder's name, lower-cased).
package funchost

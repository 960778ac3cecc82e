package funchost

// Differences lists every way funchost knowingly differs from the Azure
// Functions host 4.x running the same app (func start locally, or Azure).
// "funnel host --differences" prints it.
const Differences = `Known differences between funchost and the real Functions host:

Process model
- One handler process per instance, each instance modelling one scaled-out
  host; the number of instances is fixed (Config.Instances), there is no
  scale controller.
- A crashed handler is restarted without limit (with a 200 ms..5 s pause);
  the real host gives up after 3 errors within 30 minutes and restarts the
  whole host.
- Handlers are stopped with SIGTERM, then SIGKILL after 5 s; the real host
  kills the process.
- The queue extension's default newBatchThreshold scales with this
  machine's processor count (Config.Processors), not the Azure instance's.

HTTP
- authLevel is accepted and not enforced (as under func start; Azure checks
  function keys). Identities is always the local admin identity func start
  reports.
- Route templates: literal segments and whole-segment parameters
  ({id}, {id?}, {id=x}, {*rest}) with the inline constraints int, long,
  bool, alpha, guid, min, max, range, length, minlength, maxlength, regex
  and required; decimal, double, float and datetime (which parse by .NET
  culture rules) are refused, as are a segment mixing text and a parameter
  (file.{ext}), a regex RE2 cannot compile, and the X format of a guid.
  Route precedence approximates ASP.NET Core's.
- Only /, /admin/host/status, the blob webhook and the function routes are
  served (no admin API, no proxies, no warm-up route). Request and response headers pass
  through Go's net/http (canonical header names).
- A handler answering 2xx with an empty body fails the invocation at once;
  the real host leaves it hanging until functionTimeout.
- JSON written back from objects (HTTP bodies given as objects, queue
  messages from JSON objects) is indented with Go's encoding/json: the
  same layout as Newtonsoft's, but numbers and string escapes keep the
  handler's spelling instead of Newtonsoft's re-serialisation.

Queue trigger
- The trigger's queue (and a blob trigger's container) is created at start
  when missing; the real listener waits for it to exist.
- Visibility renewal happens every 5 minutes (1 minute after a failed
  renewal), not with the extension's linear speed-up timer.
- Dynamic concurrency and retry policies are refused, not implemented.

Blob trigger
- Scanning is done once per app (one scanner per blob-triggered function
  in each Host), not in every instance; receipts in azure-webjobs-hosts
  still make it once-per-version across hosts of the same app.
- Container scan (default source) lists the container every 10 s and
  tracks versions in memory plus receipts; the real scan also reads the
  storage analytics logs and keeps a scan cursor blob.
- "source": "EventGrid": with Config.EventGrid (what funnel up, funnel run
  and the benchmarks use) events arrive as in Azure, POSTed to
  /runtime/webhooks/blobs?functionName=Host.Functions.<Name> by the local
  Event Grid (package infra/eventgrid, a proxy in front of the blob
  endpoint), and each BlobCreated event is queued on the internal blob
  trigger queue without receipts or listings. The webhook takes no system
  key (as under func start). Without Config.EventGrid the events are stood
  in for by listing the container every 100 ms while blobs arrive, backing
  off to 1 s when idle, with receipts; versions overwritten between two
  listings then fire once.
- The host ID (receipt key and internal queue name) comes from
  AzureFunctionsWebHost__hostid or the app folder name, not the site name.
- Blob trigger messages are dispatched to the internal queue listeners of
  every instance, which all get woken, not just the scanning instance's.
- Metadata.Properties carries the main BlobProperties fields only.

Outputs and metadata
- Binding expressions: binding-data keys (case-insensitive, dotted paths
  into JSON objects), {rand-guid}, {DateTime[:format]} and sys.*; .NET
  format strings are supported for yyyy, yy, MM, dd, HH, hh, mm, ss, fff, tt.
- Output bindings of one invocation are written one after the other, not in
  parallel.
- HTTP trigger Metadata holds the JSON body's properties, the query and
  route parameters, Params, Query, Headers and sys; its key order may
  differ from the real host's.
- No Application Insights.

Timer trigger
- NCRONTAB schedules of six fields in UTC (WEBSITE_TIME_ZONE is not read);
  the TimeSpan form of App Service plans is refused.
- useMonitor is accepted and not modelled: no schedule status blob under
  azure-webjobs-hosts/timers, so an occurrence missed while no host ran is
  not run late (IsPastDue is always false); ScheduleStatus is what this
  host saw itself.
- The listener singleton is the real host's blob lease
  (azure-webjobs-hosts/locks/<hostId>/Host.Functions.<Name>.Listener, 60 s,
  renewed halfway, retried every 60 s); no other singleton (the
  [Singleton] attribute, host-level locks) is modelled.

Billing
- GB-s follow package bench/billing. Consumption bills each execution at
  the instance's observed peak RSS shared among the executions in flight
  (rounded up to 128 MB); Azure samples memory during each execution. Flex
  Consumption bills each instance's activity periods, each at least 1 s;
  always-ready instances and scale-in delays are not modelled.
`

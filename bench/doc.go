// Package bench turns measured funnel runs into a benchmark report: per-stage
// invocation statistics, GB-seconds and money as Azure would bill them, a
// comparison of the queue and blob transports with a recommendation derived
// from the figures, plots, and a model that extrapolates a run to many
// instances and large inputs.
//
// The package is pure: it starts nothing and reads no process. The runner
// (package bench/runner) starts a fresh Azurite and the local Functions host
// per configuration, runs the jobs, and records what happened as a
// Measurement; this package does the arithmetic and the writing:
//
//	prices, err := bench.LoadPrices("bench/prices.json") // or bench.DefaultPrices()
//	run, err := bench.NewRun(measurement, prices, bench.DefaultBilling())
//	rep, err := bench.NewReport(bench.ReportOptions{Label: "queue", Created: now, Machine: m, Prices: prices, Runs: runs})
//	err = bench.WriteReport(bench.ReportDir("bench/results", now, "queue"), rep)
//
// # Inputs
//
// A Measurement holds, for one run: the configuration (transport, arch,
// scale factor, chunks, unit size, instances per app), the submit and result
// times, one InvocationRecord per function invocation (function, instance,
// start, duration, outcome, dequeue count, bytes in and out), storage
// operation counts by service and REST operation (StorageOpsFromUsage
// converts transport/account's meters), CPU seconds and peak RSS per handler
// instance (the runner reads them with infra/procstat; a peak that could
// not be reset before the run is flagged as the lifetime peak), the
// per-instance concurrency host.json allowed, whether the answer was exact,
// and the
// single-machine baseline (the kernel over the same chunks read from local
// disk) and raw download times. Emulated(arch) tells whether handlers of an
// architecture run under emulation on this machine.
//
// # Money
//
// Prices come from bench/prices.json, a dated table in which every figure
// names its unit, region, currency, when and where it was seen, and whether
// it was verified at its source. Costs are computed without the monthly free
// grants (a benchmark run should show what the work costs, not whether this
// month's grant happens to be used up); the report says so.
//
// GB-seconds are billed by package billing, the one place that states the
// plans' rules with their sources: Consumption per execution (at least
// 100 ms and 128 MB, memory the instance's peak RSS shared among the
// executions in flight), Flex Consumption per instance activity period (at
// least 1 s, instance memory 2,048 MB by default). The local Functions
// host's run summary bills through the same package.
//
// # Output
//
// WriteReport writes results.json (every raw figure), report.md and plots,
// each as SVG and PNG, into bench/results/<date>-<label>/; WriteIndex keeps
// bench/results/README.md pointing at the newest report.
//
// # Scale model
//
// ModelInputsFromRuns fits the model on the wall-clock phases of one
// results file's runs (dispatch, aggregate phase, merge tail), with the
// per-instance concurrency host.json gave; there are no default inputs.
// Model extrapolates them to 10–1,000 instances and 1–100 GB, bounded by
// the queue, account and instance limits and the scale-out ramp
// (DefaultModelLimits, ModelLimitSources), with the assumptions it makes
// stated by ModelAssumptions; see the comment above ModelLimits for the
// formulas. Backtest predicts every measured configuration the model was
// fitted on and compares it with the median measured time
// (BacktestTolerance). RecomputeReport rebuilds a report from its raw
// measurements. "funnel bench --model -from F [--backtest]" prints the
// model or its back-test; "funnel bench --recompute DIR" rewrites a report.
package bench

package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// emulatedMark flags a figure measured under emulation.
const emulatedMark = "†"

// writeMarkdown renders report.md.
func writeMarkdown(w io.Writer, r Report, plots []plotFile) error {
	var b strings.Builder
	cur := r.Prices.Currency
	verified, total := r.Prices.Verified()

	fmt.Fprintf(&b, "# funnel benchmark: %s\n\n", r.Label)
	dirty := ""
	if r.Machine.FunnelDirty {
		dirty = " (uncommitted changes)"
	}
	fmt.Fprintf(&b, "Created %s · funnel commit `%s`%s · price table of %s (%d of %d prices verified at source)\n\n",
		r.Created.UTC().Format(time.RFC3339), r.Machine.FunnelCommit, dirty, r.Prices.Date, verified, total)

	writeSummary(&b, r)
	writeMachine(&b, r.Machine)
	writeHeadline(&b, r, cur)
	writeStages(&b, r)
	writeResources(&b, r, cur)
	writeComparison(&b, r, cur)
	writeRecommendations(&b, r, cur)
	writePlotSection(&b, plots)

	b.WriteString("## Scale model\n\n")
	if err := r.Model.WriteMarkdown(&b); err != nil {
		return err
	}
	b.WriteString("\n")

	writeInvalid(&b, r)
	writeMethod(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSummary(b *strings.Builder, r Report) {
	measured, warm, invalid, emulated := 0, 0, 0, 0
	for _, run := range r.Runs {
		switch {
		case run.WarmUp:
			warm++
		case !run.Correct:
			invalid++
		default:
			measured++
		}
		if run.Config.Emulated {
			emulated++
		}
	}
	b.WriteString("## Summary\n\n")
	fmt.Fprintf(b, "- %d configuration(s); %d counted run(s), %d warm-up run(s) left out", len(r.Aggregates), measured, warm)
	if invalid > 0 {
		fmt.Fprintf(b, ", **%d run(s) invalidated by a wrong answer** (see Invalid runs)", invalid)
	}
	b.WriteString(".\n")
	if emulated > 0 {
		fmt.Fprintf(b, "- %d run(s) ran emulated (marked %s): their timings are not figures for their architecture; only their answers count.\n", emulated, emulatedMark)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	b.WriteString("\n")
}

func writeMachine(b *strings.Builder, m Machine) {
	b.WriteString("## Machine\n\n")
	b.WriteString("| CPU | cores | memory | OS | kernel | Go | Azurite |\n|---|---:|---:|---|---|---|---|\n")
	fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s %s/%s | %s |\n\n",
		mdEscape(m.CPUModel), m.Cores, FormatBytes(m.MemoryBytes), mdEscape(m.OS), mdEscape(m.Kernel),
		m.GoVersion, m.GOOS, m.GOARCH, mdEscape(m.AzuriteVersion))
}

// archCell marks emulated configurations.
func archCell(c Config) string {
	if c.Emulated {
		return c.Arch + " (emulated) " + emulatedMark
	}
	return c.Arch
}

// timeCell prints a timing, or a figure derived from timings, marked when
// it was measured under emulation.
func timeCell(c Config, s string) string {
	if c.Emulated {
		return s + " " + emulatedMark
	}
	return s
}

func ratioCell(s Stat) string {
	if s.N == 0 {
		return "—"
	}
	return s.String() + "×"
}

func writeHeadline(b *strings.Builder, r Report, cur string) {
	b.WriteString("## Results per configuration\n\n")
	few := 0
	for _, a := range r.Aggregates {
		if a.Repetitions > 0 && a.Repetitions < MinHeadlineRuns {
			few++
		}
	}
	if few > 0 {
		fmt.Fprintf(b, "**%d configuration(s) have fewer than %d counted runs: their median and range are not a reliable spread.**\n\n", few, MinHeadlineRuns)
	}
	fmt.Fprintf(b, "Figures are the median over counted repetitions with (min–max). Times in seconds, throughput in MB/s of input (10^6 bytes), "+
		"cost per run and per GB of input in %s at list prices without free grants.\n\n", cur)
	b.WriteString("| transport | arch | SF | chunks | unit | instances | runs | end-to-end s | throughput MB/s | × baseline | × raw download | invocations | aggregate p50 / p95 ms | storage ops | cost/run Flex | cost/run Consumption | cost/GB Flex | cost/GB Consumption |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Aggregates {
		c := a.Config
		runs := fmt.Sprint(a.Repetitions)
		if a.Invalid > 0 {
			runs += fmt.Sprintf(" (+%d invalid)", a.Invalid)
		}
		if a.Repetitions == 0 {
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %d | %s | — | — | — | — | — | — | — | — | — | — | — |\n",
				c.Transport, archCell(c), FormatFloat(c.ScaleFactor), c.Chunks, FormatBytes(c.UnitSizeBytes), c.InstancesPerApp, runs)
			continue
		}
		pcts := "—"
		if s, ok := a.Stage(r.aggregateFunction()); ok {
			pcts = fmt.Sprintf("%s / %s", Sig(s.P50MS, 3), Sig(s.P95MS, 3))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.Transport, archCell(c), FormatFloat(c.ScaleFactor), c.Chunks, FormatBytes(c.UnitSizeBytes), c.InstancesPerApp, runs,
			timeCell(c, a.EndToEndSeconds.String()), timeCell(c, a.ThroughputMBps.String()),
			timeCell(c, ratioCell(a.RatioToBaseline)), timeCell(c, ratioCell(a.RatioToRawDownload)),
			a.Executions.String(), timeCell(c, pcts), a.StorageOps.String(),
			timeCell(c, a.CostFlex.String()), timeCell(c, a.CostConsumption.String()),
			timeCell(c, a.CostPerGBFlex.String()), timeCell(c, a.CostPerGBConsumption.String()))
	}
	b.WriteString("\n")
	b.WriteString("× baseline is the end-to-end time divided by the single-machine baseline (the same kernel over the same chunks read from local disk); " +
		"× raw download divides it by the time to download the chunks from storage without parsing them.")
	if hasEmulated(r) {
		fmt.Fprintf(b, " %s emulated under qemu: timings, and the costs derived from them, are not figures for that architecture.", emulatedMark)
	}
	b.WriteString("\n\n")
}

func hasEmulated(r Report) bool {
	for _, a := range r.Aggregates {
		if a.Config.Emulated {
			return true
		}
	}
	return false
}

// aggregateFunction is the aggregate stage's function name in this report.
func (r Report) aggregateFunction() string {
	if len(r.Runs) > 0 {
		return r.Runs[0].Roles.withDefaults().Aggregate
	}
	return DefaultRoles().Aggregate
}

func writeStages(b *strings.Builder, r Report) {
	b.WriteString("## Invocations by stage\n\n")
	b.WriteString("Pooled over the counted repetitions of each configuration; durations in ms, nearest-rank percentiles, failed invocations included.\n\n")
	b.WriteString("| configuration | function | invocations | failures | redeliveries | instances | p50 | p95 | max | mean |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Aggregates {
		for _, s := range a.Stages {
			fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %d | %s | %s | %s | %s |\n",
				mdEscape(a.Config.String()), mdEscape(s.Function), s.Invocations, s.Failures, s.Redeliveries, s.Instances,
				timeCell(a.Config, Sig(s.P50MS, 3)), timeCell(a.Config, Sig(s.P95MS, 3)),
				timeCell(a.Config, Sig(s.MaxMS, 3)), timeCell(a.Config, Sig(s.MeanMS, 3)))
		}
	}
	b.WriteString("\n")
}

func writeResources(b *strings.Builder, r Report, cur string) {
	b.WriteString("## Resources, billing and storage operations\n\n")
	fmt.Fprintf(b, "Per run, median (min–max). GB-s as each plan would bill them (Flex Consumption at %d MB instances). "+
		"CPU seconds are summed over an app's instances; peak RSS is its largest instance's.\n\n", r.Billing.FlexInstanceMemoryMB)
	b.WriteString("| configuration | last aggregate → result s | GB-s Consumption | GB-s Flex | storage ops cost | bytes moved | app | instances | CPU s | peak RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n")
	for _, a := range r.Aggregates {
		if a.Repetitions == 0 {
			continue
		}
		head := fmt.Sprintf("| %s | %s | %s | %s | %s | %s ",
			mdEscape(a.Config.String()), timeCell(a.Config, a.LastAggregateToResultSeconds.String()),
			a.GBSecondsConsumption.String(), a.GBSecondsFlex.String(), a.CostStorage.String(),
			formatDecimalBytes(a.StorageBytes.Median))
		if len(a.Apps) == 0 {
			b.WriteString(head + "| — | — | — | — |\n")
			continue
		}
		for i, app := range a.Apps {
			if i > 0 {
				head = "| ″ | | | | | "
			}
			fmt.Fprintf(b, "%s| %s | %d | %s | %s |\n", head, mdEscape(app.App), app.Instances,
				timeCell(a.Config, app.CPUSeconds.String()), FormatBytes(int64(app.PeakRSSBytes.Max)))
		}
	}
	b.WriteString("\n")

	b.WriteString("Storage operations per run by billing class (median):\n\n")
	classes := []struct {
		s Service
		c BillingClass
	}{{ServiceBlob, ClassWrite}, {ServiceBlob, ClassRead}, {ServiceBlob, ClassList}, {ServiceBlob, ClassOther}, {ServiceBlob, ClassFree},
		{ServiceQueue, ClassQueue1}, {ServiceQueue, ClassQueue2}}
	grid := slices.ContainsFunc(r.Aggregates, func(a Aggregate) bool { return a.EventGrid != nil })
	b.WriteString("| configuration |")
	for _, k := range classes {
		fmt.Fprintf(b, " %s %s |", k.s, k.c)
	}
	cols := len(classes)
	if grid {
		b.WriteString(" Event Grid ingress | Event Grid deliveries | Event Grid cost |")
		cols += 3
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", cols) + "\n")
	for _, a := range r.Aggregates {
		if a.Repetitions == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |", mdEscape(a.Config.String()))
		for _, k := range classes {
			v := "0"
			for _, cs := range a.OpsByClass {
				if cs.Service == k.s && cs.Class == k.c {
					v = Sig(cs.Count.Median, 4)
				}
			}
			fmt.Fprintf(b, " %s |", v)
		}
		switch {
		case a.EventGrid != nil:
			fmt.Fprintf(b, " %s | %s | %s |", Sig(a.EventGrid.Ingress.Median, 4), Sig(a.EventGrid.Deliveries.Median, 4), Sig(a.EventGrid.Cost.Median, 3))
		case grid:
			b.WriteString(" — | — | — |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if grid {
		fmt.Fprintf(b, "Event Grid operations are the blob events the storage account's system topic takes in (one per committed blob write of the job, "+
			"whether a subscription takes it or not) and the webhook delivery attempts; Event Grid bills each at %s, and the costs above include them.\n\n",
			priceText(r.Prices, PriceEventGridOperations))
	}
}

// priceText states a price of the table: "0.06 USD per 100,000 operations".
func priceText(t PriceTable, id PriceID) string {
	p, ok := t.Lookup(id)
	if !ok {
		return "no price in this table"
	}
	return p.String()
}

func writeComparison(b *strings.Builder, r Report, cur string) {
	b.WriteString("## Queue vs blob\n\n")
	pairs := Pairs(r.Aggregates)
	if len(pairs) == 0 {
		b.WriteString("No configuration was run with both transports (non-emulated, with at least one correct run), so this report cannot compare them; " +
			"run `make bench` for the comparison.\n\n")
		return
	}
	fmt.Fprintf(b, "Configurations run with both transports. Ratios are blob ÷ queue: above 1 the queue transport is faster or cheaper. Times and costs are medians; "+
		"the paired time ratio is the median (min–max) of blob ÷ queue, repetition i against repetition i (run back to back on one stack when the transports shared one, as the runner does now). Costs in %s, Flex Consumption.\n\n", cur)
	b.WriteString("| SF | chunks | unit | instances | arch | queue s | blob s | blob/queue time | paired blob/queue time | queue cost | blob cost | blob/queue cost | queue ops | blob ops | queue agg p95 ms | blob agg p95 ms |\n")
	b.WriteString("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fn := r.aggregateFunction()
	for _, p := range pairs {
		c := p.Queue.Config
		qp, bp := "—", "—"
		if s, ok := p.Queue.Stage(fn); ok {
			qp = Sig(s.P95MS, 3)
		}
		if s, ok := p.Blob.Stage(fn); ok {
			bp = Sig(s.P95MS, 3)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			FormatFloat(c.ScaleFactor), c.Chunks, p.Units(), c.InstancesPerApp, c.Arch,
			Sig(p.Queue.EndToEndSeconds.Median, 3), Sig(p.Blob.EndToEndSeconds.Median, 3),
			ratioText(p.Blob.EndToEndSeconds.Median, p.Queue.EndToEndSeconds.Median),
			ratioCell(PairedRatio(r.Runs, p.Queue.Config, p.Blob.Config)),
			Sig(p.Queue.CostFlex.Median, 3), Sig(p.Blob.CostFlex.Median, 3),
			ratioText(p.Blob.CostFlex.Median, p.Queue.CostFlex.Median),
			Sig(p.Queue.StorageOps.Median, 4), Sig(p.Blob.StorageOps.Median, 4), qp, bp)
	}
	b.WriteString("\n")
}

// PairedRatio is blob ÷ queue end-to-end time over the repetitions both
// configurations counted, repetition i against repetition i (run back to
// back when the transports shared a stack).
func PairedRatio(runs []Run, queue, blob Config) Stat {
	q, b := map[int]float64{}, map[int]float64{}
	for _, r := range runs {
		if !r.Valid() {
			continue
		}
		switch r.Config {
		case queue:
			q[r.Repetition] = r.EndToEndSeconds
		case blob:
			b[r.Repetition] = r.EndToEndSeconds
		}
	}
	var ratios []float64
	for rep, qs := range q {
		if bs, ok := b[rep]; ok && qs > 0 {
			ratios = append(ratios, bs/qs)
		}
	}
	return NewStat(ratios)
}

func ratioText(num, den float64) string {
	if den == 0 {
		return "—"
	}
	return Sig(num/den, 3) + "×"
}

func writeRecommendations(b *strings.Builder, r Report, cur string) {
	b.WriteString("## Recommendation by use case\n\n")
	b.WriteString("Derived from the figures above (differences under 5 % count as a tie); re-running the benchmark re-derives them.\n\n")
	b.WriteString("| use case | choose | because |\n|---|---|---|\n")
	for _, rec := range Recommend(r.Aggregates, cur) {
		choice := rec.Choice
		if choice == "" {
			choice = "cannot tell"
		}
		fmt.Fprintf(b, "| %s | **%s** | %s |\n", mdEscape(rec.UseCase), choice, mdEscape(rec.Because))
	}
	b.WriteString("\n")
}

func writePlotSection(b *strings.Builder, plots []plotFile) {
	b.WriteString("## Plots\n\n")
	if len(plots) == 0 {
		b.WriteString("No configuration has counted, non-emulated runs, so there is nothing to plot.\n\n")
		return
	}
	for _, p := range plots {
		fmt.Fprintf(b, "### %s\n\n![%s](%s.svg)\n\n%s ([PNG](%s.png))\n\n", p.Title, p.Title, p.Base, p.Caption, p.Base)
	}
}

func writeInvalid(b *strings.Builder, r Report) {
	var lines []string
	for _, run := range r.Runs {
		if !run.Correct {
			warm := ""
			if run.WarmUp {
				warm = " (warm-up)"
			}
			lines = append(lines, fmt.Sprintf("- %s, repetition %d%s: %s", run.Config, run.Repetition, warm, run.Mismatch))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("## Invalid runs\n\nEvery run's result is checked against the exact answer; a wrong answer invalidates the run and it is left out of every figure.\n\n")
	b.WriteString(strings.Join(lines, "\n") + "\n\n")
}

func writeMethod(b *strings.Builder, r Report) {
	cur := r.Prices.Currency
	b.WriteString("## Method and caveats\n\n")
	b.WriteString("- Each stack configuration starts a fresh Azurite and hosts; the data is generated and uploaded before the clock starts; a run is timed from the job's submission to its published result. " +
		"Warm-up runs are left out. Headline figures are medians with their range.\n")
	b.WriteString("- Storage is Azurite on this machine, a single Node.js process: timings are bound by the emulator, not by Azure Storage. The scale model below extrapolates to Azure's limits.\n")
	fmt.Fprintf(b, "- Costs are %s at list prices from the repository's price table of %s, **without the monthly free grants**, for Functions (executions plus GB-s), storage operations by class and, where the runs counted them, Event Grid operations; both plans pay the same storage and Event Grid operations.\n",
		cur, r.Prices.Date)
	fmt.Fprintf(b, "- GB-s by package bench/billing: Consumption per execution (at least 100 ms, rounded up to 1 ms; memory the instance's peak RSS shared among the executions in flight, rounded up to 128 MB, 128–1,536 MB). "+
		"Flex Consumption per instance activity period at the %d MB instance size (at least 1 s, rounded up to 100 ms; an invocation joins a period while it is billed or within 100 ms of its end).\n", r.Billing.FlexInstanceMemoryMB)
	b.WriteString("- **No Azure Functions hosting plan runs on arm64 today** (azure-functions-host issue 8437): arm64 figures are for self-hosted or local hosts, " +
		"and arm64 runs emulated under qemu on an amd64 machine check correctness only.\n\n")
	b.WriteString("Prices used:\n\n| price | amount | region | seen | verified | source |\n|---|---:|---|---|---|---|\n")
	for _, p := range r.Prices.Prices {
		v := "no"
		if p.Verified {
			v = "yes"
		}
		free := ""
		if p.FreePerMonth > 0 {
			free = fmt.Sprintf(" (free grant %s %s/month, not applied)", grouped(p.FreePerMonth), p.Unit)
		}
		fmt.Fprintf(b, "| %s | %s%s | %s | %s | %s | %s |\n",
			p.ID, p, free, p.Region, p.Seen, v, mdEscape(p.Source))
	}
	b.WriteString("\n")
	if r.Prices.Note != "" {
		fmt.Fprintf(b, "%s\n", r.Prices.Note)
	}
}

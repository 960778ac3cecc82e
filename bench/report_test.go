package bench

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMachine = Machine{CPUModel: "AMD EPYC", Cores: 2, MemoryBytes: 24 << 30, OS: "Debian GNU/Linux 13", Kernel: "6.1.0",
	GOOS: "linux", GOARCH: "amd64", GoVersion: "go1.26.8", AzuriteVersion: "3.35.0", FunnelCommit: "0123abcd"}

// comparisonRuns is a batch sweep over both transports, plus an emulated
// arm64 run and a run with a wrong answer.
func comparisonRuns(t *testing.T) []Run {
	var runs []Run
	for _, chunks := range []int{1, 10, 50} {
		runs = append(runs, synthRuns(t, testConfig(TransportQueue, chunks), 2, defaultSynth(TransportQueue))...)
		runs = append(runs, synthRuns(t, testConfig(TransportBlob, chunks), 2, defaultSynth(TransportBlob))...)
	}
	emu := testConfig(TransportQueue, 10)
	emu.Arch, emu.Emulated = "arm64", true
	slow := defaultSynth(TransportQueue)
	slow.aggMS *= 8
	runs = append(runs, synthRuns(t, emu, 1, slow)...)
	wrong := defaultSynth(TransportBlob)
	wrong.wrong = true
	bad, err := NewRun(synthMeasurement(testConfig(TransportBlob, 10), 3, false, wrong), testPrices(), DefaultBilling())
	require.NoError(t, err)
	return append(runs, bad)
}

func comparisonReport(t *testing.T) Report {
	rep, err := NewReport(ReportOptions{
		Label: "comparison", Created: time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC),
		Machine: testMachine, Prices: testPrices(), Runs: comparisonRuns(t),
		Notes: []string{"synthetic figures for a test"},
	})
	require.NoError(t, err)
	return rep
}

func TestWriteReport(t *testing.T) {
	rep := comparisonReport(t)
	root := t.TempDir()
	dir := ReportDir(root, rep.Created, rep.Label)
	assert.Equal(t, filepath.Join(root, "2026-11-23-comparison"), dir)
	require.NoError(t, WriteReport(dir, rep))

	for _, base := range []string{"e2e_vs_chunks", "cost_vs_chunks", "durations_partition", "durations_aggregate", "durations_merge"} {
		svg, err := os.ReadFile(filepath.Join(dir, base+".svg"))
		require.NoError(t, err, base)
		assert.Contains(t, string(svg), "<svg", base)

		b, err := os.ReadFile(filepath.Join(dir, base+".png"))
		require.NoError(t, err, base)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err, base)
		assert.Greater(t, img.Bounds().Dx(), 300, base)
		assert.Greater(t, img.Bounds().Dy(), 200, base)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), "."), "temporary file %s left behind", e.Name())
		info, err := e.Info()
		require.NoError(t, err)
		assert.Positive(t, info.Size(), e.Name())
	}

	back, err := ReadReport(filepath.Join(dir, ResultsFile))
	require.NoError(t, err)
	assert.Equal(t, rep, back)

	mdBytes, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	require.NoError(t, err)
	md := string(mdBytes)
	for _, want := range []string{
		"# funnel benchmark: comparison",
		"funnel commit `0123abcd`",
		"price table of 2026-01-02 (0 of 11 prices verified at source)",
		"| AMD EPYC | 2 | 24 GiB |",
		"## Results per configuration",
		"## Invocations by stage",
		"## Queue vs blob",
		"## Recommendation by use case",
		"## Scale model",
		"6 run(s)",
		"## Invalid runs",
		"GERMANY",
		"arm64 (emulated) †",
		"No Azure Functions hosting plan runs on arm64 today",
		"without the monthly free grants",
		"![End-to-end time vs chunks](e2e_vs_chunks.svg)",
		"([PNG](durations_aggregate.png))",
		"synthetic figures for a test",
		"functions.flex.on_demand.execution_time",
	} {
		assert.Contains(t, md, want)
	}
	// One headline row per configuration: 3 chunk counts × 2 transports + arm64.
	headline := md[strings.Index(md, "## Results per configuration"):strings.Index(md, "## Invocations by stage")]
	assert.Equal(t, 7, strings.Count(headline, "\n| queue | ")+strings.Count(headline, "\n| blob | "))
	// Emulated figures, costs included, carry the mark.
	assert.Contains(t, headline, "| queue | arm64 (emulated) † | 1 | 10 |")
	assert.Regexp(t, `\| queue \| arm64 \(emulated\) † \|.*\| [0-9.]+ † \|\n`, headline)
	// The invalid blob run is counted as such in its row.
	assert.Contains(t, md, "| 2 (+1 invalid) |")
}

func TestReportRecommendationFollowsTheFigures(t *testing.T) {
	// With the default synthetic figures the queue's 5 ms hops beat the
	// blob's 150 ms hops everywhere.
	rep := comparisonReport(t)
	recs := Recommend(rep.Aggregates, "USD")
	require.NotEmpty(t, recs)
	for _, r := range recs {
		if strings.HasPrefix(r.UseCase, "Lowest cost") {
			continue
		}
		assert.Equal(t, TransportQueue, r.Choice, "%s: %s", r.UseCase, r.Because)
		assert.Contains(t, r.Because, "× better")
	}

	// Make the blob transport the fast one: the recommendation flips.
	var runs []Run
	for _, chunks := range []int{1, 10, 50} {
		fastBlob, slowQueue := defaultSynth(TransportBlob), defaultSynth(TransportQueue)
		fastBlob.latencyMS, slowQueue.latencyMS = 2, 400
		runs = append(runs, synthRuns(t, testConfig(TransportQueue, chunks), 2, slowQueue)...)
		runs = append(runs, synthRuns(t, testConfig(TransportBlob, chunks), 2, fastBlob)...)
	}
	aggs, err := AggregateRuns(runs)
	require.NoError(t, err)
	for _, r := range Recommend(aggs, "USD") {
		if strings.HasPrefix(r.UseCase, "Lowest cost") {
			continue
		}
		assert.Equal(t, TransportBlob, r.Choice, "%s: %s", r.UseCase, r.Because)
	}

	// Identical figures are a tie.
	runs = nil
	same := synth{planMS: 30, aggMS: 40, mergeMS: 3, latencyMS: 20}
	runs = append(runs, synthRuns(t, testConfig(TransportQueue, 10), 1, same)...)
	runs = append(runs, synthRuns(t, testConfig(TransportBlob, 10), 1, same)...)
	aggs, err = AggregateRuns(runs)
	require.NoError(t, err)
	for _, r := range Recommend(aggs, "USD") {
		if strings.HasPrefix(r.UseCase, "Lowest cost") {
			continue // storage operations differ between the transports
		}
		assert.Equal(t, "either", r.Choice, "%s: %s", r.UseCase, r.Because)
	}
}

func TestRecommendCost(t *testing.T) {
	rep := comparisonReport(t)
	var cost Recommendation
	for _, r := range Recommend(rep.Aggregates, "USD") {
		if strings.HasPrefix(r.UseCase, "Lowest cost") {
			cost = r
		}
	}
	pairs := Pairs(rep.Aggregates)
	require.Len(t, pairs, 3)
	var q, b float64
	for _, p := range pairs {
		q += p.Queue.CostFlex.Mean
		b += p.Blob.CostFlex.Mean
	}
	want := TransportQueue
	if b < q {
		want = TransportBlob
	}
	assert.Equal(t, want, cost.Choice, cost.Because)
	assert.Contains(t, cost.Because, "3 paired configuration(s)")
}

// Jobs that let partition choose the unit size may get a different size
// per transport; they still pair, and the tables name both sizes. Jobs
// that named different sizes do not pair.
func TestPairsOfAutomaticUnitSizes(t *testing.T) {
	q, b := testConfig(TransportQueue, 10), testConfig(TransportBlob, 10)
	q.AutoUnit, b.AutoUnit = true, true
	b.UnitSizeBytes = 32 << 20
	var runs []Run
	runs = append(runs, synthRuns(t, q, 2, defaultSynth(TransportQueue))...)
	runs = append(runs, synthRuns(t, b, 2, defaultSynth(TransportBlob))...)
	rep, err := NewReport(ReportOptions{Label: "comparison", Created: time.Now(), Machine: testMachine, Prices: testPrices(), Runs: runs})
	require.NoError(t, err)
	pairs := Pairs(rep.Aggregates)
	require.Len(t, pairs, 1)
	assert.Equal(t, "queue 8 MiB / blob 32 MiB", pairs[0].Units())
	md := reportMarkdown(t, rep)
	assert.Contains(t, md, "| 1 | 10 | queue 8 MiB / blob 32 MiB | 1 | amd64 |")
	assert.Contains(t, md, "queue 8 MiB / blob 32 MiB units, 1 instance(s) per app")

	q.AutoUnit, b.AutoUnit = false, false
	runs = append(synthRuns(t, q, 2, defaultSynth(TransportQueue)), synthRuns(t, b, 2, defaultSynth(TransportBlob))...)
	aggs, err := AggregateRuns(runs)
	require.NoError(t, err)
	assert.Empty(t, Pairs(aggs), "sizes a user named are part of the configuration")
}

// reportMarkdown writes rep to a temporary folder and returns its
// report.md.
func reportMarkdown(t *testing.T, rep Report) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, rep))
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	require.NoError(t, err)
	return string(md)
}

func TestSingleTransportReport(t *testing.T) {
	runs := synthRuns(t, testConfig(TransportQueue, 10), 3, defaultSynth(TransportQueue))
	rep, err := NewReport(ReportOptions{Label: "queue", Created: time.Now(), Machine: testMachine, Prices: testPrices(), Runs: runs})
	require.NoError(t, err)
	md := reportMarkdown(t, rep)
	assert.Contains(t, md, "No configuration was run with both transports")
	assert.Contains(t, md, "| any | **cannot tell** |")
	assert.NotContains(t, md, "## Invalid runs")
}

func TestEmulatedOnlyReport(t *testing.T) {
	c := testConfig(TransportQueue, 10)
	c.Arch, c.Emulated = "arm64", true
	rep, err := NewReport(ReportOptions{Label: "queue", Created: time.Now(), Machine: testMachine, Prices: testPrices(),
		Runs: synthRuns(t, c, 1, defaultSynth(TransportQueue))})
	require.NoError(t, err)
	// No trustworthy timing: no model, and the report says why (there are
	// no invented defaults to fall back to).
	assert.Empty(t, rep.Model.Inputs)
	assert.Empty(t, rep.Model.Rows)
	assert.Contains(t, rep.Model.Note, "emulated timings say nothing about speed")
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, rep))
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "nothing to plot")
	assert.Contains(t, string(md), "emulated under qemu")
	_, err = os.Stat(filepath.Join(dir, "e2e_vs_chunks.svg"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestNewReportErrors(t *testing.T) {
	runs := synthRuns(t, testConfig(TransportQueue, 2), 1, defaultSynth(TransportQueue))
	good := ReportOptions{Label: "queue", Created: time.Now(), Prices: testPrices(), Runs: runs}
	tests := []struct {
		name   string
		change func(*ReportOptions)
		want   error
	}{
		{"bad label", func(o *ReportOptions) { o.Label = "Queue/Blob" }, ErrBadReport},
		{"no prices", func(o *ReportOptions) { o.Prices = nil }, ErrBadReport},
		{"no runs", func(o *ReportOptions) { o.Runs = nil }, ErrBadReport},
		{"no time", func(o *ReportOptions) { o.Created = time.Time{} }, ErrBadReport},
		{"bad model limits", func(o *ReportOptions) { l := DefaultModelLimits(); l.ScaleOutPerDecision = 0; o.ModelLimits = &l }, ErrBadModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.change(&o)
			_, err := NewReport(o)
			require.ErrorIs(t, err, tt.want)
		})
	}
	require.ErrorIs(t, WriteReport(t.TempDir(), Report{}), ErrBadReport)
}

func TestDecodeReportRejectsUnknownFields(t *testing.T) {
	_, err := DecodeReport(strings.NewReader(`{"schema": "funnel-bench/1", "extra": 1}`))
	require.ErrorIs(t, err, ErrBadReport)
	_, err = DecodeReport(strings.NewReader(`{"schema": "funnel-bench/0"}`))
	require.ErrorIs(t, err, ErrBadReport)
	_, err = ReadReport(filepath.Join(t.TempDir(), "none.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestWriteIndex(t *testing.T) {
	root := t.TempDir()
	require.ErrorIs(t, WriteIndex(root), ErrBadReport)
	for _, d := range []string{"2026-11-20-queue", "2026-11-23-comparison", "2026-11-21-blob", "not-a-report"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
		if d != "not-a-report" {
			require.NoError(t, os.WriteFile(filepath.Join(root, d, MarkdownFile), []byte("# r\n"), 0o644))
		}
	}
	require.NoError(t, WriteIndex(root))
	b, err := os.ReadFile(filepath.Join(root, IndexFile))
	require.NoError(t, err)
	idx := string(b)
	assert.Contains(t, idx, "Latest: [2026-11-23-comparison](2026-11-23-comparison/report.md)")
	assert.Less(t, strings.Index(idx, "- [2026-11-23-comparison]"), strings.Index(idx, "- [2026-11-21-blob]"))
	assert.Less(t, strings.Index(idx, "- [2026-11-21-blob]"), strings.Index(idx, "- [2026-11-20-queue]"))
	assert.NotContains(t, idx, "not-a-report")

	// Within a date, the created time recorded in results.json decides,
	// whatever the files' modification times say.
	for d, created := range map[string]string{"2026-11-23-early": "2026-11-23T01:00:00Z", "2026-11-23-late": "2026-11-23T23:00:00Z"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, d, MarkdownFile), []byte("# r\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(root, d, ResultsFile), []byte(`{"created":"`+created+`"}`), 0o644))
	}
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(root, "2026-11-23-late", MarkdownFile), old, old))
	require.NoError(t, WriteIndex(root))
	b, err = os.ReadFile(filepath.Join(root, IndexFile))
	require.NoError(t, err)
	idx = string(b)
	assert.Contains(t, idx, "Latest: [2026-11-23-late](2026-11-23-late/report.md)")
	assert.Less(t, strings.Index(idx, "- [2026-11-23-late]"), strings.Index(idx, "- [2026-11-23-early]"))
	// A report without a readable created time comes after those with one.
	assert.Less(t, strings.Index(idx, "- [2026-11-23-early]"), strings.Index(idx, "- [2026-11-23-comparison]"))
}

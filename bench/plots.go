package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotFile is one plot written as <Base>.svg and <Base>.png.
type plotFile struct {
	Base    string
	Title   string
	Caption string
}

// series is one sweep over chunk counts: the configurations that differ
// only in Chunks.
type series struct {
	key  Config // Chunks zeroed
	aggs []Aggregate
}

// timedAggregates are the aggregates whose timings mean something: counted
// repetitions, not emulated.
func timedAggregates(aggs []Aggregate) []Aggregate {
	var out []Aggregate
	for _, a := range aggs {
		if a.Repetitions > 0 && !a.Config.Emulated {
			out = append(out, a)
		}
	}
	return out
}

func chunkSeries(aggs []Aggregate) []series {
	idx := map[Config]int{}
	var out []series
	for _, a := range aggs {
		k := a.Config
		k.Chunks = 0
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, series{key: k})
		}
		out[i].aggs = append(out[i].aggs, a)
	}
	for i := range out {
		slices.SortFunc(out[i].aggs, func(a, b Aggregate) int { return cmp.Compare(a.Config.Chunks, b.Config.Chunks) })
	}
	return out
}

// seriesLabel names a series by its transport and whatever else varies
// among the plotted series.
func seriesLabel(s series, all []series) string {
	keys := make([]Config, len(all))
	for i, o := range all {
		keys[i] = o.key
	}
	v := varying(keys)
	parts := []string{s.key.Transport}
	if v["arch"] {
		parts = append(parts, s.key.Arch)
	}
	if v["sf"] {
		parts = append(parts, "SF"+FormatFloat(s.key.ScaleFactor))
	}
	if v["unit"] {
		parts = append(parts, FormatBytes(s.key.UnitSizeBytes)+" units")
	}
	if v["instances"] {
		parts = append(parts, fmt.Sprintf("×%d", s.key.InstancesPerApp))
	}
	return strings.Join(parts, " ")
}

// rangeXYs is a line's points with min–max error bars.
type rangeXYs struct {
	plotter.XYs
	low, high []float64
}

func (r rangeXYs) YError(i int) (float64, float64) { return r.low[i], r.high[i] }

// newChunkPlot makes a plot with chunk counts on the x axis (logarithmic
// when they span a decade or more), ticked at the chunk counts run.
func newChunkPlot(title, ylabel string, xs []float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "chunks"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.Padding = vg.Points(4)
	p.Add(plotter.NewGrid())
	if len(xs) == 0 {
		return p
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if hi >= 10*lo {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = lo/1.3, hi*1.3
	} else {
		pad := max((hi-lo)*0.05, 0.5)
		p.X.Min, p.X.Max = lo-pad, hi+pad
	}
	ticks := make([]plot.Tick, 0, len(xs))
	for _, x := range slices.Compact(slices.Sorted(slices.Values(xs))) {
		ticks = append(ticks, plot.Tick{Value: x, Label: FormatFloat(x)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	return p
}

// headroom starts the y axis at 0 and leaves room above the highest point
// for the legend.
func headroom(p *plot.Plot) {
	p.Y.Min = 0
	p.Y.Max *= 1.25
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
}

// addLine adds one series as a line with points and min–max error bars.
func addLine(p *plot.Plot, i int, label string, dashed bool, pts plotter.XYs, stats []Stat) error {
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	c := plotutil.Color(i)
	line.Color = c
	points.Color = c
	points.Shape = plotutil.Shape(i)
	if dashed {
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	r := rangeXYs{XYs: pts, low: make([]float64, len(stats)), high: make([]float64, len(stats))}
	for j, s := range stats {
		r.low[j], r.high[j] = s.Median-s.Min, s.Max-s.Median
	}
	bars, err := plotter.NewYErrorBars(r)
	if err != nil {
		return err
	}
	bars.Color = c
	p.Add(line, points, bars)
	p.Legend.Add(label, line, points)
	return nil
}

func chunkValues(aggs []Aggregate) []float64 {
	xs := make([]float64, 0, len(aggs))
	for _, a := range aggs {
		xs = append(xs, float64(a.Config.Chunks))
	}
	return xs
}

// writePlots draws the report's plots into dir and returns what it wrote.
// Only non-emulated configurations are plotted.
func writePlots(dir string, r Report) ([]plotFile, error) {
	timed := timedAggregates(r.Aggregates)
	if len(timed) == 0 {
		return nil, nil
	}
	ss := chunkSeries(timed)
	xs := chunkValues(timed)
	var files []plotFile

	p := newChunkPlot("End-to-end time vs chunks", "end-to-end time (s)", xs)
	for i, s := range ss {
		pts, stats := make(plotter.XYs, len(s.aggs)), make([]Stat, len(s.aggs))
		for j, a := range s.aggs {
			pts[j] = plotter.XY{X: float64(a.Config.Chunks), Y: a.EndToEndSeconds.Median}
			stats[j] = a.EndToEndSeconds
		}
		if err := addLine(p, i, seriesLabel(s, ss), false, pts, stats); err != nil {
			return nil, fmt.Errorf("plot end-to-end time: %w", err)
		}
	}
	headroom(p)
	f := plotFile{Base: "e2e_vs_chunks", Title: "End-to-end time vs chunks",
		Caption: "Median over repetitions; bars span min to max."}
	if err := savePlot(p, dir, f.Base, 8*vg.Inch, 5*vg.Inch); err != nil {
		return nil, err
	}
	files = append(files, f)

	p = newChunkPlot("Cost per run vs chunks", fmt.Sprintf("cost per run (%s)", r.Prices.Currency), xs)
	for i, s := range ss {
		flex, cons := make(plotter.XYs, len(s.aggs)), make(plotter.XYs, len(s.aggs))
		fs, cs := make([]Stat, len(s.aggs)), make([]Stat, len(s.aggs))
		for j, a := range s.aggs {
			x := float64(a.Config.Chunks)
			flex[j] = plotter.XY{X: x, Y: a.CostFlex.Median}
			cons[j] = plotter.XY{X: x, Y: a.CostConsumption.Mean}
			fs[j], cs[j] = a.CostFlex, a.CostConsumption
		}
		label := seriesLabel(s, ss)
		if err := addLine(p, 2*i, label+", Flex", false, flex, fs); err != nil {
			return nil, fmt.Errorf("plot cost: %w", err)
		}
		if err := addLine(p, 2*i+1, label+", Consumption", true, cons, cs); err != nil {
			return nil, fmt.Errorf("plot cost: %w", err)
		}
	}
	headroom(p)
	f = plotFile{Base: "cost_vs_chunks", Title: "Cost per run vs chunks",
		Caption: fmt.Sprintf("Functions plus storage (and, where counted, Event Grid) operations at list prices of %s, no free grants; solid Flex Consumption, dashed Consumption.", r.Prices.Date)}
	if err := savePlot(p, dir, f.Base, 8*vg.Inch, 5*vg.Inch); err != nil {
		return nil, err
	}
	files = append(files, f)

	dfs, err := writeDurationPlots(dir, r, timed)
	if err != nil {
		return nil, err
	}
	return append(files, dfs...), nil
}

// writeDurationPlots draws one box plot per function: a box per
// configuration over the durations of all its counted invocations.
func writeDurationPlots(dir string, r Report, timed []Aggregate) ([]plotFile, error) {
	counted := map[Config]bool{}
	var configs []Config
	for _, a := range timed {
		counted[a.Config] = true
		configs = append(configs, a.Config)
	}
	// Side by side: the queue and blob boxes of a configuration are
	// neighbours.
	slices.SortFunc(configs, func(a, b Config) int {
		ta, tb := a.Transport, b.Transport
		a.Transport, b.Transport = "", ""
		return cmp.Or(compareConfigs(a, b), compareTransports(ta, tb))
	})
	durations := map[string]map[Config][]float64{}
	var functions []string
	for _, run := range r.Runs {
		if !run.Valid() || !counted[run.Config] {
			continue
		}
		for _, inv := range run.Invocations {
			if durations[inv.Function] == nil {
				durations[inv.Function] = map[Config][]float64{}
				functions = append(functions, inv.Function)
			}
			durations[inv.Function][run.Config] = append(durations[inv.Function][run.Config], inv.DurationMS)
		}
	}
	slices.SortFunc(functions, compareFunctions)
	vary := varying(configs)
	var files []plotFile
	for _, fn := range functions {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Invocation durations: %s", fn)
		p.Title.Padding = vg.Points(8)
		p.Y.Label.Text = "duration (ms)"
		p.Add(plotter.NewGrid())
		var names []string
		for _, c := range configs {
			vs := durations[fn][c]
			if len(vs) == 0 {
				continue
			}
			box, err := plotter.NewBoxPlot(vg.Points(16), float64(len(names)), plotter.Values(vs))
			if err != nil {
				return nil, fmt.Errorf("plot %s durations: %w", fn, err)
			}
			if c.Transport == TransportBlob {
				box.FillColor = color.RGBA{R: 0xc6, G: 0xdb, B: 0xef, A: 0xff}
			} else {
				box.FillColor = color.RGBA{R: 0xfd, G: 0xd0, B: 0xa2, A: 0xff}
			}
			p.Add(box)
			names = append(names, shortLabel(c, vary))
		}
		if len(names) == 0 {
			continue
		}
		p.NominalX(names...)
		p.X.Tick.Label.Rotation = 0.6
		p.X.Tick.Label.XAlign = -0.9
		headroom(p)
		f := plotFile{Base: "durations_" + safeName(fn), Title: "Invocation durations: " + fn,
			Caption: "Boxes span the quartiles with the median marked; whiskers reach the furthest point within 1.5 IQR; Q = queue (orange), B = blob (blue)."}
		w := max(8*vg.Inch, vg.Length(len(names))*0.6*vg.Inch)
		if err := savePlot(p, dir, f.Base, w, 5*vg.Inch); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func savePlot(p *plot.Plot, dir, base string, w, h vg.Length) error {
	for _, ext := range []string{"svg", "png"} {
		wt, err := p.WriterTo(w, h, ext)
		if err != nil {
			return fmt.Errorf("plot %s.%s: %w", base, ext, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return fmt.Errorf("plot %s.%s: %w", base, ext, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, base+"."+ext), buf.Bytes()); err != nil {
			return fmt.Errorf("plot %s.%s: %w", base, ext, err)
		}
	}
	return nil
}

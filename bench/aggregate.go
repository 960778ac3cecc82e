package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Stat is the median, mean, minimum and maximum of one figure over
// repetitions. Reports quote the median with the range: a slow outlier on a
// shared machine moves the mean, not the median.
type Stat struct {
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// MinHeadlineRuns is how many measured runs a headline figure needs before
// its median and range are quoted without a warning.
const MinHeadlineRuns = 5

// NewStat summarises values; no values give the zero Stat.
func NewStat(values []float64) Stat {
	if len(values) == 0 {
		return Stat{}
	}
	s := Stat{Min: values[0], Max: values[0], N: len(values)}
	sum := 0.0
	for _, v := range values {
		sum += v
		s.Min = min(s.Min, v)
		s.Max = max(s.Max, v)
	}
	s.Mean = sum / float64(len(values))
	sorted := slices.Sorted(slices.Values(values))
	s.Median = median(sorted)
	return s
}

// String prints "median (min–max)" with 3 significant digits, or the
// median alone when all values are equal.
func (s Stat) String() string {
	if s.N == 0 {
		return "—"
	}
	if s.Min == s.Max {
		return Sig(s.Median, 3)
	}
	return fmt.Sprintf("%s (%s–%s)", Sig(s.Median, 3), Sig(s.Min, 3), Sig(s.Max, 3))
}

// Aggregate summarises the measured repetitions of one configuration. The
// warm-up run and runs with a wrong answer are left out of every figure.
type Aggregate struct {
	Config Config `json:"config"`
	// Repetitions is how many runs the figures are over; WarmUps and
	// Invalid count the runs left out.
	Repetitions int `json:"repetitions"`
	WarmUps     int `json:"warm_ups"`
	Invalid     int `json:"invalid"`
	// Mismatches lists the invalid runs' mismatch descriptions.
	Mismatches []string `json:"mismatches,omitempty"`

	InputBytes                   int64 `json:"input_bytes"`
	InputRows                    int64 `json:"input_rows"`
	EndToEndSeconds              Stat  `json:"end_to_end_seconds"`
	LastAggregateToResultSeconds Stat  `json:"last_aggregate_to_result_seconds"`
	ThroughputMBps               Stat  `json:"throughput_mbps"`
	BaselineSeconds              Stat  `json:"baseline_seconds"`
	RawDownloadSeconds           Stat  `json:"raw_download_seconds"`
	RatioToBaseline              Stat  `json:"ratio_to_baseline"`
	RatioToRawDownload           Stat  `json:"ratio_to_raw_download"`
	Executions                   Stat  `json:"executions"`
	Failures                     Stat  `json:"failures"`
	StorageOps                   Stat  `json:"storage_ops"`
	StorageBytes                 Stat  `json:"storage_bytes"`
	CPUSeconds                   Stat  `json:"cpu_seconds"`
	PeakRSSBytes                 Stat  `json:"peak_rss_bytes"`
	GBSecondsConsumption         Stat  `json:"gb_seconds_consumption"`
	GBSecondsFlex                Stat  `json:"gb_seconds_flex"`
	CostConsumption              Stat  `json:"cost_consumption"`
	CostFlex                     Stat  `json:"cost_flex"`
	CostStorage                  Stat  `json:"cost_storage"`
	CostPerGBConsumption         Stat  `json:"cost_per_gb_consumption"`
	CostPerGBFlex                Stat  `json:"cost_per_gb_flex"`
	// OpsByClass is storage operations per run by service and class.
	OpsByClass []ClassStat `json:"ops_by_class"`
	// EventGrid is Event Grid operations per run and their cost, when every
	// counted run counted them (nil otherwise).
	EventGrid *EventGridStat `json:"event_grid,omitempty"`
	// Apps is CPU time (summed over an app's instances) and peak RSS (the
	// largest instance's) per run, by app.
	Apps []AppStat `json:"apps"`
	// Stages pools the invocation records of all counted repetitions.
	Stages []StageStats `json:"stages"`
}

// EventGridStat is the per-run Event Grid operations of a configuration.
type EventGridStat struct {
	Ingress    Stat `json:"ingress"`
	Deliveries Stat `json:"deliveries"`
	Cost       Stat `json:"cost"`
}

// ClassStat is the per-run count of one class of storage operations.
type ClassStat struct {
	Service Service      `json:"service"`
	Class   BillingClass `json:"class"`
	Count   Stat         `json:"count"`
}

// AppStat is one app's resource use per run.
type AppStat struct {
	App          string `json:"app"`
	Instances    int    `json:"instances"`
	CPUSeconds   Stat   `json:"cpu_seconds"`
	PeakRSSBytes Stat   `json:"peak_rss_bytes"`
}

// Stage returns the pooled statistics of one function.
func (a Aggregate) Stage(function string) (StageStats, bool) {
	for _, s := range a.Stages {
		if s.Function == function {
			return s, true
		}
	}
	return StageStats{}, false
}

// AggregateRuns groups runs by configuration and summarises the measured,
// correct repetitions of each, in a fixed order (transport, arch, scale
// factor, instances, unit size, chunks). A configuration whose runs were
// all left out still appears, with Repetitions 0.
func AggregateRuns(runs []Run) ([]Aggregate, error) {
	groups := map[Config][]Run{}
	var order []Config
	for _, r := range runs {
		if _, ok := groups[r.Config]; !ok {
			order = append(order, r.Config)
		}
		groups[r.Config] = append(groups[r.Config], r)
	}
	slices.SortFunc(order, compareConfigs)
	out := make([]Aggregate, 0, len(order))
	for _, c := range order {
		a, err := aggregate(c, groups[c])
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func aggregate(c Config, runs []Run) (Aggregate, error) {
	a := Aggregate{Config: c}
	var counted []Run
	for _, r := range runs {
		switch {
		case r.WarmUp:
			a.WarmUps++
		case !r.Correct:
			a.Invalid++
			a.Mismatches = append(a.Mismatches, fmt.Sprintf("repetition %d: %s", r.Repetition, r.Mismatch))
		default:
			counted = append(counted, r)
		}
	}
	a.Repetitions = len(counted)
	if len(counted) == 0 {
		return a, nil
	}
	a.InputBytes, a.InputRows = counted[0].InputBytes, counted[0].InputRows
	stat := func(f func(Run) float64) Stat {
		vs := make([]float64, 0, len(counted))
		for _, r := range counted {
			vs = append(vs, f(r))
		}
		return NewStat(vs)
	}
	// Optional figures (0 = not measured) are summarised over the runs that
	// have them.
	optional := func(f func(Run) float64) Stat {
		var vs []float64
		for _, r := range counted {
			if v := f(r); v > 0 {
				vs = append(vs, v)
			}
		}
		return NewStat(vs)
	}
	a.EndToEndSeconds = stat(func(r Run) float64 { return r.EndToEndSeconds })
	a.LastAggregateToResultSeconds = stat(func(r Run) float64 { return r.LastAggregateToResultSeconds })
	a.ThroughputMBps = stat(func(r Run) float64 { return r.ThroughputMBps })
	a.BaselineSeconds = optional(func(r Run) float64 { return r.BaselineSeconds })
	a.RawDownloadSeconds = optional(func(r Run) float64 { return r.RawDownloadSeconds })
	a.RatioToBaseline = optional(func(r Run) float64 { return r.RatioToBaseline })
	a.RatioToRawDownload = optional(func(r Run) float64 { return r.RatioToRawDownload })
	a.Executions = stat(func(r Run) float64 { return float64(r.Executions) })
	a.Failures = stat(func(r Run) float64 {
		n := 0
		for _, s := range r.Stages {
			n += s.Failures
		}
		return float64(n)
	})
	a.StorageOps = stat(func(r Run) float64 { return float64(r.StorageOpsTotal) })
	a.StorageBytes = stat(func(r Run) float64 { return float64(r.StorageBytes) })
	a.CPUSeconds = stat(func(r Run) float64 { return r.CPUSeconds })
	a.PeakRSSBytes = stat(func(r Run) float64 { return float64(r.PeakRSSBytes) })
	a.GBSecondsConsumption = stat(func(r Run) float64 { return r.GBSeconds.Consumption })
	a.GBSecondsFlex = stat(func(r Run) float64 { return r.GBSeconds.Flex })
	a.CostConsumption = stat(func(r Run) float64 { return r.Cost.Consumption.Total })
	a.CostFlex = stat(func(r Run) float64 { return r.Cost.Flex.Total })
	a.CostStorage = stat(func(r Run) float64 { return r.Cost.StorageTotal })
	a.CostPerGBConsumption = stat(func(r Run) float64 { c, _ := r.CostPerGB(); return c })
	a.CostPerGBFlex = stat(func(r Run) float64 { _, f := r.CostPerGB(); return f })

	a.OpsByClass = classStats(counted)
	if !slices.ContainsFunc(counted, func(r Run) bool { return r.EventGrid == nil || r.Cost.EventGrid == nil }) {
		a.EventGrid = &EventGridStat{
			Ingress:    stat(func(r Run) float64 { return float64(r.EventGrid.Ingress) }),
			Deliveries: stat(func(r Run) float64 { return float64(r.EventGrid.Deliveries) }),
			Cost:       stat(func(r Run) float64 { return r.Cost.EventGridTotal() }),
		}
	}
	a.Apps = appStats(counted)

	var pooled []InvocationRecord
	for _, r := range counted {
		pooled = append(pooled, r.Invocations...)
	}
	stages, err := Summarize(pooled)
	if err != nil {
		return Aggregate{}, fmt.Errorf("%s: %w", c, err)
	}
	a.Stages = stages
	return a, nil
}

// shortLabel is a compact configuration label for plots ("Q c100"): the
// transport's initial and the fields that vary among the plotted
// configurations.
func shortLabel(c Config, vary map[string]bool) string {
	var parts []string
	if c.Transport != "" {
		parts = append(parts, strings.ToUpper(c.Transport[:1]))
	}
	if vary["arch"] {
		parts = append(parts, c.Arch)
	}
	if vary["sf"] {
		parts = append(parts, "SF"+FormatFloat(c.ScaleFactor))
	}
	if vary["chunks"] {
		parts = append(parts, fmt.Sprintf("c%d", c.Chunks))
	}
	if vary["unit"] {
		parts = append(parts, FormatBytes(c.UnitSizeBytes))
	}
	if vary["instances"] {
		parts = append(parts, fmt.Sprintf("×%d", c.InstancesPerApp))
	}
	return strings.Join(parts, " ")
}

// varying reports which configuration fields differ among cs.
func varying(cs []Config) map[string]bool {
	v := map[string]bool{}
	for _, c := range cs[1:] {
		v["arch"] = v["arch"] || c.Arch != cs[0].Arch || c.Emulated != cs[0].Emulated
		v["sf"] = v["sf"] || c.ScaleFactor != cs[0].ScaleFactor
		v["chunks"] = v["chunks"] || c.Chunks != cs[0].Chunks
		v["unit"] = v["unit"] || c.UnitSizeBytes != cs[0].UnitSizeBytes
		v["instances"] = v["instances"] || c.InstancesPerApp != cs[0].InstancesPerApp
	}
	return v
}

func classStats(runs []Run) []ClassStat {
	type key struct {
		s Service
		c BillingClass
	}
	perRun := make([]map[key]float64, len(runs))
	var keys []key
	seen := map[key]bool{}
	for i, r := range runs {
		perRun[i] = map[key]float64{}
		for _, cc := range r.Cost.Storage {
			k := key{cc.Service, cc.Class}
			perRun[i][k] += float64(cc.Count)
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.s, b.s), cmp.Compare(a.c, b.c)) })
	out := make([]ClassStat, 0, len(keys))
	for _, k := range keys {
		vs := make([]float64, len(runs))
		for i := range runs {
			vs[i] = perRun[i][k]
		}
		out = append(out, ClassStat{Service: k.s, Class: k.c, Count: NewStat(vs)})
	}
	return out
}

func appStats(runs []Run) []AppStat {
	var apps []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, s := range r.Instances {
			if !seen[s.App] {
				seen[s.App] = true
				apps = append(apps, s.App)
			}
		}
	}
	slices.SortFunc(apps, compareFunctions)
	out := make([]AppStat, 0, len(apps))
	for _, app := range apps {
		st := AppStat{App: app}
		var cpu, rss []float64
		for _, r := range runs {
			c, peak, n := 0.0, int64(0), 0
			for _, s := range r.Instances {
				if s.App == app {
					c += s.CPUSeconds
					peak = max(peak, s.PeakRSSBytes)
					n++
				}
			}
			cpu = append(cpu, c)
			rss = append(rss, float64(peak))
			st.Instances = max(st.Instances, n)
		}
		st.CPUSeconds, st.PeakRSSBytes = NewStat(cpu), NewStat(rss)
		out = append(out, st)
	}
	return out
}

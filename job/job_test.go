package job

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/storage"
)

func TestSpecNormalize(t *testing.T) {
	valid := func() Spec {
		return Spec{Transport: "queue", Input: Input{Container: "input", Prefix: "customer."}}
	}
	tests := []struct {
		name   string
		modify func(*Spec)
		errHas string
	}{
		{"ok", func(*Spec) {}, ""},
		{"ok blobs", func(s *Spec) { s.Input.Prefix = ""; s.Input.Blobs = []string{"a", "b"} }, ""},
		{"no transport", func(s *Spec) { s.Transport = "" }, "transport is required"},
		{"unknown transport", func(s *Spec) { s.Transport = "kafka" }, `unknown transport "kafka"`},
		{"bad container", func(s *Spec) { s.Input.Container = "Bad_Name" }, "not a valid container name"},
		{"short container", func(s *Spec) { s.Input.Container = "ab" }, "not a valid container name"},
		{"double hyphen", func(s *Spec) { s.Input.Container = "a--b" }, "not a valid container name"},
		{"hyphenated container", func(s *Spec) { s.Input.Container = "a-b" }, ""},
		{"container of 63", func(s *Spec) { s.Input.Container = strings.Repeat("a", 63) }, ""},
		{"container of 64", func(s *Spec) { s.Input.Container = strings.Repeat("a", 64) }, "not a valid container name"},
		{"container of 125", func(s *Spec) { s.Input.Container = "a" + strings.Repeat("-a", 62) }, "not a valid container name"},
		{"leading hyphen", func(s *Spec) { s.Input.Container = "-ab" }, "not a valid container name"},
		{"trailing hyphen", func(s *Spec) { s.Input.Container = "ab-" }, "not a valid container name"},
		{"blobs and prefix", func(s *Spec) { s.Input.Blobs = []string{"a"} }, "not both"},
		{"duplicate blob", func(s *Spec) { s.Input.Prefix = ""; s.Input.Blobs = []string{"a", "a"} }, "listed twice"},
		{"empty blob", func(s *Spec) { s.Input.Prefix = ""; s.Input.Blobs = []string{""} }, "1-1024"},
		{"unit too big", func(s *Spec) { s.UnitMB = 4096 }, "unit_mb 4096"},
		{"unit negative", func(s *Spec) { s.UnitMB = -1 }, "unit_mb -1"},
		{"parallelism negative", func(s *Spec) { s.Parallelism = -1 }, "parallelism -1"},
		{"bad id", func(s *Spec) { s.ID = "Has Space" }, "id \"Has Space\""},
		{"long delimiter", func(s *Spec) { s.Delimiter = "||" }, "one byte"},
		{"newline delimiter", func(s *Spec) { s.Delimiter = "\n" }, "line terminator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.modify(&s)
			err := s.Normalize()
			if tc.errHas == "" {
				require.NoError(t, err)
				assert.Equal(t, 0, s.UnitMB, "no unit size: partition chooses one")
				assert.Equal(t, "|", s.Delimiter)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.errHas)
		})
	}
}

func TestPlanCoversEveryByteOnce(t *testing.T) {
	files := []File{{Name: "a", Size: 0}, {Name: "b", Size: 1}, {Name: "c", Size: 10 << 20}, {Name: "d", Size: 8 << 20}, {Name: "e", Size: 8<<20 + 1}}
	s := Spec{ID: "j", Transport: "blob", Input: Input{Container: "input"}}
	require.NoError(t, s.Normalize())
	const ub = 8 << 20
	p, err := MakePlan(files, ub)
	require.NoError(t, err)
	assert.Equal(t, 4, p.Units, "26 MiB and 2 bytes in 8 MiB units that span files")
	units := p.WorkUnits(&s, aggregate.DefaultLayout())
	require.Len(t, units, p.Units)
	next := map[string]int64{}
	for i, u := range units {
		assert.Equal(t, i, u.Index)
		assert.Equal(t, p.Units, u.Count)
		if i < len(units)-1 {
			assert.GreaterOrEqual(t, u.Bytes(), int64(ub), "unit %d is full", i)
			assert.LessOrEqual(t, u.Bytes(), int64(ub+ub/4), "unit %d holds at most a quarter unit more", i)
		}
		for _, part := range u.Parts {
			assert.Equal(t, next[part.File], part.Start, "unit %d: %s starts where the previous part ended", i, part.File)
			assert.Less(t, part.Start, part.End)
			next[part.File] = part.End
		}
	}
	for _, f := range files {
		assert.Equal(t, f.Size, next[f.Name], "file %s fully covered", f.Name)
	}
	_, err = MakePlan(files, 0)
	assert.Error(t, err)
	_, err = MakePlan([]File{{Name: "x", Size: -1}}, 10)
	assert.Error(t, err)
}

func TestManySmallFilesShareUnits(t *testing.T) {
	files := make([]File, 500)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("f%03d", i), Size: 1000}
	}
	p, err := MakePlan(files, 8<<20)
	require.NoError(t, err)
	assert.Equal(t, (500+MaxParts-1)/MaxParts, p.Units, "a unit closes at MaxParts files")
	assert.Len(t, Cut(files, 8<<20), p.Units)
}

// Files a little larger than a unit (dbgen chunks of 9.35 MiB in 8 MiB
// units) are read whole, one unit and one read each, instead of each unit
// taking the sliver the previous one left and two reads; a remainder above
// a quarter unit is still cut off.
func TestCutKeepsFilesSlightlyLargerThanAUnitWhole(t *testing.T) {
	const ub = 8 << 20
	files := make([]File, 100)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("c%03d", i), Size: 9_804_000}
	}
	units := Cut(files, ub)
	require.Len(t, units, 100)
	for i, u := range units {
		require.Len(t, u, 1, "unit %d", i)
		assert.Equal(t, Part{File: files[i].Name, Size: files[i].Size, Start: 0, End: files[i].Size}, u[0])
	}
	p, err := MakePlan(files, ub)
	require.NoError(t, err)
	assert.Equal(t, 100, p.Units, "MakePlan counts what Cut cuts")

	// 2.5 MiB more than a unit is over the quarter: the file is split.
	big := []File{{Name: "big", Size: ub + ub/4 + 1}}
	units = Cut(big, ub)
	require.Len(t, units, 2)
	assert.Equal(t, int64(ub), units[0][0].End)
	// Exactly a quarter more stays whole.
	units = Cut([]File{{Name: "big", Size: ub + ub/4}}, ub)
	require.Len(t, units, 1)
}

// Over random inputs: MakePlan counts what Cut cuts, every byte of every
// file is in exactly one part, in order, and every unit but the last holds
// from one unit to a quarter more (or closed at MaxParts files).
func TestCutProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 500 {
		ub := int64(1 + rng.IntN(64))
		files := make([]File, rng.IntN(40))
		for i := range files {
			files[i] = File{Name: fmt.Sprintf("f%02d", i), Size: int64(rng.IntN(200))}
		}
		units := Cut(files, ub)
		p, err := MakePlan(files, ub)
		require.NoError(t, err)
		require.Equal(t, len(units), p.Units, "unit %d, files %v", ub, files)
		next := map[string]int64{}
		for i, u := range units {
			var n int64
			for _, part := range u {
				require.Equal(t, next[part.File], part.Start)
				require.Less(t, part.Start, part.End)
				next[part.File] = part.End
				n += part.End - part.Start
			}
			require.LessOrEqual(t, n, ub+ub/4, "unit %d of %d", i, ub)
			if i < len(units)-1 && len(u) < MaxParts {
				require.GreaterOrEqual(t, n, ub, "unit %d of %d", i, ub)
			}
		}
		for _, f := range files {
			require.Equal(t, f.Size, next[f.Name])
		}
	}
}

func TestAutoUnitSize(t *testing.T) {
	tests := []struct {
		name      string
		total     int64
		par       int
		transport string
		want      int64
		rule      string
	}{
		{"small input over queues keeps the queue floor", 1 << 20, 32, "queue", MinAutoUnit, UnitRuleFloor},
		{"small input over blobs keeps the blob floor", 1 << 20, 32, "blob", MinAutoUnitBlob, UnitRuleFloor},
		{"SF 40 over queues: 64 units", 982_730_907, 32, "queue", 15 << 20, UnitRuleParallelism},
		{"SF 40 over blobs: the floor wins over the parallelism", 982_730_907, 32, "blob", MinAutoUnitBlob, UnitRuleFloor},
		{"5000 MiB over 64 units, rounded up to a MiB", 5000 << 20, 32, "queue", 79 << 20, UnitRuleParallelism},
		{"large inputs are the same over blobs", 5000 << 20, 32, "blob", 79 << 20, UnitRuleParallelism},
		{"just at the blob floor", 64 * MinAutoUnitBlob, 32, "blob", MinAutoUnitBlob, UnitRuleParallelism},
		{"no parallelism means the default", 5000 << 20, 0, "queue", 79 << 20, UnitRuleParallelism},
		{"huge inputs hit the cap", 1 << 40, 32, "queue", MaxAutoUnit, UnitRuleCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rule := AutoUnitBytes(tt.total, tt.par, tt.transport)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.rule, rule)
		})
	}
	for _, tr := range Transports() {
		assert.GreaterOrEqual(t, AutoUnitFloor(tr), int64(MinAutoUnit), tr)
		assert.LessOrEqual(t, AutoUnitFloor(tr), int64(MaxAutoUnit), tr)
	}

	s := Spec{ID: "j", Transport: "queue", Input: Input{Container: "input"}}
	require.NoError(t, s.Normalize())
	p, err := PlanFor(&s, []File{{Name: "a", Size: 5000 << 20}})
	require.NoError(t, err)
	assert.True(t, p.AutoUnit)
	assert.Equal(t, DefaultParallelism, p.Parallelism)
	assert.Equal(t, UnitRuleParallelism, p.UnitRule)
	assert.Equal(t, 64, p.Units, "5000 MiB in 79 MiB units")
	assert.Equal(t, UnitRuleParallelism, p.Summary().UnitRule)

	s.Transport = "blob"
	p, err = PlanFor(&s, []File{{Name: "a", Size: 256 << 20}})
	require.NoError(t, err)
	assert.Equal(t, int64(MinAutoUnitBlob), p.UnitBytes)
	assert.Equal(t, UnitRuleFloor, p.UnitRule)
	assert.Equal(t, 8, p.Units, "256 MiB in 32 MiB units")
	s.Transport = "queue"
	p, err = PlanFor(&s, []File{{Name: "a", Size: 256 << 20}})
	require.NoError(t, err)
	assert.Equal(t, int64(MinAutoUnit), p.UnitBytes)
	assert.Equal(t, 32, p.Units, "256 MiB in 8 MiB units")

	s.UnitMB = 100
	p, err = PlanFor(&s, []File{{Name: "a", Size: 5000 << 20}})
	require.NoError(t, err)
	assert.False(t, p.AutoUnit)
	assert.Empty(t, p.UnitRule, "a size the spec names has no rule")
	assert.Equal(t, 50, p.Units)
}

func TestShardUnits(t *testing.T) {
	for n := 1; n < 200; n++ {
		s := shardsFor(n)
		require.GreaterOrEqual(t, s, 1)
		require.LessOrEqual(t, s, n)
		sum := 0
		counts := make([]int, s)
		for i := 0; i < n; i++ {
			counts[ShardOf(i, s)]++
		}
		for k := 0; k < s; k++ {
			assert.Equal(t, counts[k], ShardUnits(n, s, k))
			sum += ShardUnits(n, s, k)
		}
		assert.Equal(t, n, sum)
	}
}

// partialFor builds unit i's partial: nation i%25 gets one row of i cents.
func partialFor(i int) *aggregate.Partial {
	r := fmt.Sprintf("%d|n|a|%d|p|%d.%02d|s|c|\n", i, i%25, i/100, i%100)
	p, err := aggregate.Scan(context.Background(), strings.NewReader(r), "f", aggregate.DefaultLayout())
	if err != nil {
		panic(err)
	}
	return p
}

func newJob(t *testing.T, st Store, id string, units int) {
	t.Helper()
	ctx := context.Background()
	s := Spec{ID: id, Transport: "queue", Input: Input{Container: "input", Prefix: "x"}}
	require.NoError(t, s.Normalize())
	_, err := Create(ctx, st, s, time.Unix(1000, 0))
	require.NoError(t, err)
	files := make([]File, units)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("f%d", i), Size: 1}
	}
	p, err := MakePlan(files, 1)
	require.NoError(t, err)
	_, _, err = SetPlan(ctx, st, id, p, time.Unix(1001, 0))
	require.NoError(t, err)
}

func msgFor(id string, i, n, shards int) *PartialMsg {
	return &PartialMsg{Job: id, Transport: "queue", Index: i, Count: n, Shards: shards, Bytes: 1, Partial: partialFor(i)}
}

func expected(n int) aggregate.Result {
	var p aggregate.Partial
	for i := 0; i < n; i++ {
		p.Merge(partialFor(i))
	}
	return *aggregate.NewResult(&p)
}

func TestFoldExactlyOnceUnderDuplicatesAndRaces(t *testing.T) {
	var folder Folder
	windowed := Folder{Window: 2 * time.Millisecond, MaxBatch: 8}
	for name, fold := range map[string]func(context.Context, Store, *PartialMsg) (FoldOutcome, error){
		"Fold": Fold, "Folder": folder.Fold, "Folder with a window": windowed.Fold,
	} {
		t.Run(name, func(t *testing.T) { testFoldRaces(t, fold) })
	}
}

func testFoldRaces(t *testing.T, fold func(context.Context, Store, *PartialMsg) (FoldOutcome, error)) {
	const n = 300
	var shardWrites atomic.Int64
	st := &MemStore{BeforePut: func(name string) error {
		if strings.Contains(name, "/shard-") {
			shardWrites.Add(1)
		}
		return nil
	}}
	newJob(t, st, "race", n)
	shards := shardsFor(n)
	ctx := context.Background()

	// Every unit delivered three times, in random order, by 16 workers.
	var deliveries []int
	for r := 0; r < 3; r++ {
		for i := 0; i < n; i++ {
			deliveries = append(deliveries, i)
		}
	}
	rand.Shuffle(len(deliveries), func(a, b int) { deliveries[a], deliveries[b] = deliveries[b], deliveries[a] })
	work := make(chan int)
	var mu sync.Mutex
	applied := 0
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out, err := fold(ctx, st, msgFor("race", i, n, shards))
				if !assert.NoError(t, err) {
					continue
				}
				if out.Applied {
					mu.Lock()
					applied++
					mu.Unlock()
				}
				if out.ShardComplete {
					_, err := Finish(ctx, st, "race", n, shards, time.Unix(1010, 0))
					assert.NoError(t, err)
				}
			}
		}()
	}
	for _, i := range deliveries {
		work <- i
	}
	close(work)
	wg.Wait()

	assert.Equal(t, n, applied, "each unit applied exactly once")
	t.Logf("%d shard writes for %d deliveries of %d units", shardWrites.Load(), 3*n, n)
	rec, err := Get(ctx, st, "race")
	require.NoError(t, err)
	assert.Equal(t, Done, rec.State)
	status, err := ReadStatus(ctx, st, "race", time.Unix(1020, 0))
	require.NoError(t, err)
	require.NotNil(t, status.Result)
	assert.Equal(t, expected(n), status.Result.Result)
	assert.Equal(t, n, status.Units.Done)
	assert.Equal(t, int64(n), status.Rows.Accepted)
	_, _, err = st.Get(ctx, ResultName("race", "json"))
	assert.NoError(t, err)
	_, _, err = st.Get(ctx, ResultName("race", "csv"))
	assert.NoError(t, err)
}

func TestFoldSurvivesCrashBetweenWrites(t *testing.T) {
	const n = 4
	st := &MemStore{}
	newJob(t, st, "crash", n)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		_, err := Fold(ctx, st, msgFor("crash", i, n, 1))
		require.NoError(t, err)
	}
	// The finisher crashes after writing the result but before marking the
	// job done; the redelivered last partial finishes the job.
	boom := errors.New("crash")
	st.BeforePut = func(name string) error {
		if strings.HasSuffix(name, "job.json") {
			return boom
		}
		return nil
	}
	_, err := Finish(ctx, st, "crash", n, 1, time.Unix(1005, 0))
	require.ErrorIs(t, err, boom)
	st.BeforePut = nil
	out, err := Fold(ctx, st, msgFor("crash", n-1, n, 1))
	require.NoError(t, err)
	assert.False(t, out.Applied, "a redelivery is not applied twice")
	assert.True(t, out.ShardComplete)
	done, err := Finish(ctx, st, "crash", n, 1, time.Unix(1006, 0))
	require.NoError(t, err)
	assert.True(t, done)
	s, err := ReadStatus(ctx, st, "crash", time.Unix(1007, 0))
	require.NoError(t, err)
	assert.Equal(t, expected(n), s.Result.Result)
}

func TestCreateIsIdempotent(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	s := Spec{ID: "same", Transport: "blob", Input: Input{Container: "input", Prefix: "p"}}
	require.NoError(t, s.Normalize())
	r1, err := Create(ctx, st, s, time.Unix(1, 0))
	require.NoError(t, err)
	r2, err := Create(ctx, st, s, time.Unix(2, 0))
	require.NoError(t, err)
	assert.Equal(t, r1.Submitted, r2.Submitted, "resubmission returns the original record")
	other := s
	other.Transport = "queue"
	_, err = Create(ctx, st, other, time.Unix(3, 0))
	assert.ErrorIs(t, err, ErrExists)
}

func TestFailKeepsFirstReasonAndListsUnits(t *testing.T) {
	st := &MemStore{}
	newJob(t, st, "bad", 3)
	ctx := context.Background()
	require.NoError(t, Fail(ctx, st, "bad", 2, "unit 2: boom", time.Unix(5, 0)))
	require.NoError(t, Fail(ctx, st, "bad", 0, "unit 0: bang", time.Unix(6, 0)))
	require.NoError(t, Fail(ctx, st, "bad", 2, "unit 2: again", time.Unix(7, 0)))
	rec, err := Get(ctx, st, "bad")
	require.NoError(t, err)
	assert.Equal(t, Failed, rec.State)
	assert.Equal(t, "unit 2: boom", rec.Failure)
	assert.Equal(t, []int{0, 2}, rec.FailedUnits)
	// A failed job does not finish even if the remaining units arrive.
	for i := 0; i < 3; i++ {
		_, err := Fold(ctx, st, msgFor("bad", i, 3, 1))
		require.NoError(t, err)
	}
	done, err := Finish(ctx, st, "bad", 3, 1, time.Unix(8, 0))
	require.NoError(t, err)
	assert.False(t, done)
	s, err := ReadStatus(ctx, st, "bad", time.Unix(9, 0))
	require.NoError(t, err)
	assert.Equal(t, 2, s.Units.Failed)
	assert.Nil(t, s.Result)

	err = Fail(ctx, st, "missing", -1, "x", time.Unix(9, 0))
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

func TestFoldRejectsBadMessages(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	for _, m := range []*PartialMsg{
		{Job: "", Index: 0, Count: 1, Shards: 1, Partial: &aggregate.Partial{}},
		{Job: "j", Index: 1, Count: 1, Shards: 1, Partial: &aggregate.Partial{}},
		{Job: "j", Index: 0, Count: 1, Shards: 0, Partial: &aggregate.Partial{}},
		{Job: "j", Index: 0, Count: 1, Shards: 1},
	} {
		_, err := Fold(ctx, st, m)
		assert.Error(t, err)
	}
	assert.Empty(t, st.Names(), "a bad message writes nothing")
}

func TestAppliedAndRecordError(t *testing.T) {
	st := &MemStore{}
	newJob(t, st, "ap", 4)
	ctx := context.Background()
	_, err := Fold(ctx, st, msgFor("ap", 2, 4, shardsFor(4)))
	require.NoError(t, err)
	for unit, want := range map[int]bool{0: false, 2: true, 3: false, 99: false} {
		got, err := Applied(ctx, st, "ap", unit)
		require.NoError(t, err)
		assert.Equal(t, want, got, "unit %d", unit)
	}
	_, err = Applied(ctx, st, "nope", 0)
	assert.ErrorIs(t, err, storage.ErrNotFound)

	sdkError := "GET http://127.0.0.1/devstoreaccount1/in/c.csv\n" +
		"--------------------------------------------------------------------------------\n" +
		"RESPONSE 403: 403 Server failed to authenticate the request.\n" +
		"ERROR CODE: AuthorizationFailure\n" +
		"--------------------------------------------------------------------------------\n" +
		"<?xml version=\"1.0\"?><Error><Code>AuthorizationFailure</Code></Error>\n"
	require.NoError(t, RecordError(ctx, st, "ap", 1, sdkError))
	got, err := LastError(ctx, st, "ap", 1)
	require.NoError(t, err)
	assert.Equal(t, "GET http://127.0.0.1/devstoreaccount1/in/c.csv; RESPONSE 403: 403 Server failed to authenticate the request.; ERROR CODE: AuthorizationFailure", got)
	require.NoError(t, RecordError(ctx, st, "ap", 1, strings.Repeat("é", 2000)))
	got, err = LastError(ctx, st, "ap", 1)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(got), maxErrorText+len(" …"))
	assert.True(t, utf8.ValidString(got))
}

func TestShardDoneCountsEachShardOnce(t *testing.T) {
	st := &MemStore{}
	ctx := context.Background()
	for _, k := range []int{2, 0, 2, 1} {
		all, err := ShardDone(ctx, st, "sd", k, 3)
		require.NoError(t, err)
		assert.Equal(t, k == 1, all, "shard %d", k)
	}
	all, err := ShardDone(ctx, st, "sd", 0, 3)
	require.NoError(t, err)
	assert.True(t, all, "a repeat after completion still reports complete")
	_, err = ShardDone(ctx, st, "sd", 3, 3)
	assert.Error(t, err)
}

func TestPlanLivesOutsideTheRecord(t *testing.T) {
	ctx := context.Background()
	st := &MemStore{}
	spec := Spec{ID: "j", Transport: "queue", Input: Input{Container: "input"}}
	require.NoError(t, spec.Normalize())
	_, err := Create(ctx, st, spec, time.Unix(1, 0))
	require.NoError(t, err)
	files := make([]File, 500)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("customer.%03d.csv", i), Size: 10 << 20, ETag: `"0x1"`}
	}
	plan, err := MakePlan(files, 8<<20)
	require.NoError(t, err)
	rec, _, err := SetPlan(ctx, st, "j", plan, time.Unix(2, 0))
	require.NoError(t, err)
	assert.Equal(t, PlanSummary{UnitBytes: 8 << 20, Files: 500, Units: plan.Units, Shards: plan.Shards, Bytes: 500 * 10 << 20}, *rec.Plan)
	raw, _, err := st.Get(ctx, recordName("j"))
	require.NoError(t, err)
	assert.Less(t, len(raw), 1000, "the record does not grow with the file list: %s", raw)
	got, err := GetPlan(ctx, st, "j")
	require.NoError(t, err)
	assert.Equal(t, plan, *got)
}

func TestUnitsAreCapped(t *testing.T) {
	_, err := MakePlan([]File{{Name: "big", Size: int64(MaxUnits+1) << 20}}, 1<<20)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "larger unit_mb")
	_, err = MakePlan([]File{{Name: "big", Size: int64(MaxUnits) << 20}}, 1<<20)
	assert.NoError(t, err)
}

func TestOversizedDocumentsAreNotWritten(t *testing.T) {
	st := &MemStore{}
	_, err := st.Put(context.Background(), "big", make([]byte, MaxDocument+1), Cond{})
	require.ErrorIs(t, err, storage.ErrTooLarge)
	assert.Empty(t, st.Names())
}

// A batch's failed write fails every partial in it; they fold on retry.
func TestFolderBatchFailureFailsItsPartials(t *testing.T) {
	ctx := context.Background()
	var fail atomic.Bool
	fail.Store(true)
	st := &MemStore{BeforePut: func(name string) error {
		if strings.Contains(name, "/shard-") && fail.Load() {
			return fmt.Errorf("injected: %w", storage.ErrUnavailable)
		}
		return nil
	}}
	const n = 40
	newJob(t, st, "bf", n)
	var folder Folder
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = folder.Fold(ctx, st, msgFor("bf", i, n, 1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.ErrorIs(t, err, storage.ErrUnavailable, "unit %d", i)
	}
	fail.Store(false)
	applied := 0
	for i := range n {
		out, err := folder.Fold(ctx, st, msgFor("bf", i, n, 1))
		require.NoError(t, err)
		if out.Applied {
			applied++
		}
		assert.Equal(t, i == n-1, out.ShardComplete)
	}
	assert.Equal(t, n, applied)
}

func TestStateFinal(t *testing.T) {
	for s, final := range map[State]bool{Planning: false, Running: false, Done: true, Failed: true} {
		assert.Equal(t, final, s.Final(), s)
	}
}

func TestTransportsIsACopy(t *testing.T) {
	ts := Transports()
	assert.Equal(t, []string{"queue", "blob"}, ts)
	ts[0] = "carrier-pigeon"
	assert.Equal(t, []string{"queue", "blob"}, Transports(), "a caller cannot change the list")
	spec := Spec{Transport: "carrier-pigeon", Input: Input{Container: "input"}}
	assert.ErrorIs(t, spec.Normalize(), ErrInvalid)
}

// Local scans cut files the way the pipeline does: CutLocal is Cut's parts,
// in order, and an empty file is in no unit.
func TestCutLocalIsCut(t *testing.T) {
	files := []File{{Name: "a", Size: 5}, {Name: "empty", Size: 0}, {Name: "b", Size: 12}}
	var want []aggregate.Range
	for _, parts := range Cut(files, 4) {
		for _, p := range parts {
			want = append(want, aggregate.Range{File: p.File, Start: p.Start, End: p.End})
		}
	}
	var got []aggregate.Range
	for _, u := range CutLocal(files, 4) {
		assert.Nil(t, u.Open)
		assert.Equal(t, u.Path, u.Range.File)
		got = append(got, u.Range)
	}
	assert.Equal(t, want, got)
	// a's last byte is a quarter unit: it stays with the rest of a.
	assert.Equal(t, []aggregate.Range{{File: "a", Start: 0, End: 5}, {File: "b", Start: 0, End: 4},
		{File: "b", Start: 4, End: 8}, {File: "b", Start: 8, End: 12}}, got)
	assert.Empty(t, CutLocal([]File{{Name: "empty"}}, 4))
}

func TestMarkSentUpToOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	st := &MemStore{}
	spec := Spec{ID: "early", Transport: "queue", Input: Input{Container: "input"}}
	require.NoError(t, spec.Normalize())
	_, err := Create(ctx, st, spec, time.Unix(1, 0))
	require.NoError(t, err)
	_, err = MarkSentUpTo(ctx, st, "early", 1)
	assert.Error(t, err, "nothing is sent before the plan")

	newJob(t, st, "ms", 5)
	for _, c := range []struct {
		n, want int
		sent    bool
	}{{2, 2, false}, {1, 2, false}, {4, 4, false}, {9, 5, true}, {3, 5, true}} {
		rec, err := MarkSentUpTo(ctx, st, "ms", c.n)
		require.NoError(t, err)
		assert.Equal(t, c.want, rec.SentUnits, "after %d", c.n)
		assert.Equal(t, c.sent, rec.Sent, "after %d", c.n)
	}
	stat, err := ReadStatus(ctx, st, "ms", time.Unix(2000, 0))
	require.NoError(t, err)
	assert.Equal(t, 5, stat.Units.Sent)

	newJob(t, st, "none", 0)
	rec, err := MarkSentUpTo(ctx, st, "none", 0)
	require.NoError(t, err)
	assert.True(t, rec.Sent, "a plan of no units is sent at once")

	require.NoError(t, RecordError(ctx, st, "ms", PlanningUnit, "listing failed"))
	got, err := LastError(ctx, st, "ms", PlanningUnit)
	require.NoError(t, err)
	assert.Equal(t, "listing failed", got)
	assert.Contains(t, st.Names(), "jobs/ms/errors/plan")
}

func TestParseMessageID(t *testing.T) {
	for id, want := range map[string]struct {
		job  string
		unit int
		ok   bool
	}{
		UnitID("abc", 7):    {"abc", 7, true},
		PartialID("abc", 0): {"abc", 0, true},
		"abc/x/1":           {"", 0, false},
		"abc/u/-1":          {"", 0, false},
		"abc/u":             {"", 0, false},
		"/u/1":              {"", 0, false},
	} {
		j, u, ok := ParseMessageID(id)
		assert.Equal(t, want.ok, ok, id)
		if ok {
			assert.Equal(t, want.job, j)
			assert.Equal(t, want.unit, u)
		}
	}
}

package job

import (
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/funnelpipe/funnel/aggregate"
)

// File is one input blob as partition saw it when it planned the job.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// ETag pins the version: aggregate reads with If-Match, so a blob
	// changed under a running job fails the job instead of mixing versions.
	ETag string `json:"etag"`
}

// Plan is what partition decided: the files and how many units they make.
// It is kept in its own document, jobs/<id>/plan.json (see SetPlan and
// GetPlan), so that the job record stays small whatever the input; the
// record holds its PlanSummary. The units themselves follow from the files
// and the unit size (Cut), so the plan does not list them.
type Plan struct {
	UnitBytes int64  `json:"unit_bytes"`
	Files     []File `json:"files"`
	Units     int    `json:"units"`
	Shards    int    `json:"shards"`
	Bytes     int64  `json:"bytes"`
	// AutoUnit is true when the unit size was chosen from the input size
	// and Parallelism (the spec asked for none); see AutoUnitBytes.
	AutoUnit    bool `json:"auto_unit,omitempty"`
	Parallelism int  `json:"parallelism,omitempty"`
	// UnitRule is the bound that decided an automatic size (UnitRule*).
	UnitRule string `json:"unit_rule,omitempty"`
}

// PlanSummary is the part of a Plan the job record carries: enough for
// status, completion and the poison path, without the file list.
type PlanSummary struct {
	UnitBytes   int64  `json:"unit_bytes"`
	AutoUnit    bool   `json:"auto_unit,omitempty"`
	Parallelism int    `json:"parallelism,omitempty"`
	UnitRule    string `json:"unit_rule,omitempty"`
	Files       int    `json:"files"`
	Units       int    `json:"units"`
	Shards      int    `json:"shards"`
	Bytes       int64  `json:"bytes"`
}

// Summary is the plan's PlanSummary.
func (p *Plan) Summary() PlanSummary {
	return PlanSummary{UnitBytes: p.UnitBytes, AutoUnit: p.AutoUnit, Parallelism: p.Parallelism, UnitRule: p.UnitRule,
		Files: len(p.Files), Units: p.Units, Shards: p.Shards, Bytes: p.Bytes}
}

// MaxUnits caps the work units of one job: a plan of more units is
// refused (ErrInvalid, a 400 from the job API) with the advice to use
// larger units, so that a job's plan and merge state stay small records.
const MaxUnits = 100_000

// MaxParts caps the file ranges of one unit: a unit of many small files
// closes at MaxParts files even if it is under the unit size, so that its
// message stays a few KiB (well inside one queue message).
const MaxParts = 64

// Part is one byte range of one input blob within a work unit.
type Part struct {
	File string `json:"file"`
	ETag string `json:"etag"`
	Size int64  `json:"size"` // the blob's size
	// Start and End bound the range: the unit owns the lines that start
	// in [Start, End).
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// WorkUnit is the message partition sends to aggregate: byte ranges of
// one or more input blobs — a large blob is cut into several units, small
// ones share a unit — about UnitBytes in all. It carries everything the
// unit needs: aggregate reads no job record for it.
type WorkUnit struct {
	Job       string           `json:"job"`
	Transport string           `json:"transport"`
	Container string           `json:"container"`
	Parts     []Part           `json:"parts"`
	Index     int              `json:"index"` // global unit index, 0..Count-1
	Count     int              `json:"count"` // units in the job
	Shards    int              `json:"shards"`
	Layout    aggregate.Layout `json:"layout"`
}

// Bytes is how many bytes of input the unit owns.
func (u *WorkUnit) Bytes() int64 {
	var n int64
	for _, p := range u.Parts {
		n += p.End - p.Start
	}
	return n
}

// PartialMsg is the message aggregate sends to merge: one unit's partial
// aggregate.
type PartialMsg struct {
	Job       string             `json:"job"`
	Transport string             `json:"transport"`
	Index     int                `json:"index"`
	Count     int                `json:"count"`
	Shards    int                `json:"shards"`
	Bytes     int64              `json:"bytes"`
	Started   time.Time          `json:"started"`
	Finished  time.Time          `json:"finished"`
	Partial   *aggregate.Partial `json:"partial"`
}

// UnitID is the deterministic transport message ID of unit i of a job.
func UnitID(job string, i int) string { return fmt.Sprintf("%s/u/%06d", job, i) }

// PartialID is the deterministic transport message ID of unit i's partial.
func PartialID(job string, i int) string { return fmt.Sprintf("%s/p/%06d", job, i) }

// ParseMessageID splits a unit or partial message ID (UnitID, PartialID)
// into the job ID and unit index; ok is false for any other ID, a partials
// message of several units included (see ParseMessageUnits).
func ParseMessageID(id string) (jobID string, unit int, ok bool) {
	jobID, units, ok := ParseMessageUnits(id)
	if !ok || len(units) != 1 {
		return "", 0, false
	}
	return jobID, units[0], true
}

// shardsFor picks how many merge shards a job of n units gets: about one
// per 128 units, and at most 64, so that reading them all for status and
// completion stays cheap. Merge folds the partials of one shard that
// arrive together in one write (Folder), so a shard shared by many
// concurrent merges costs fewer writes, not more conflicts: units are
// spread over the shards round robin, so the fewer the shards, the more
// partials each write carries (SF 40 in 100 units: 4 shards made 52
// writes, one made 12–15). Several shards still let several instances
// write at once on large jobs. The count is recorded in the plan and
// carried by every message, so changing this rule never moves a unit of a
// job already planned.
func shardsFor(n int) int {
	return min(max((n+127)/128, 1), 64)
}

// Cut cuts files into units of about unitBytes each, in file order: a unit
// takes the rest of the current file and goes on into the next files until
// it holds unitBytes (or MaxParts files); a file larger than what is left
// of a unit is split, unless what would remain of it is no more than a
// quarter of a unit: then the unit takes the whole file. A unit therefore
// holds from unitBytes to 1.25 × unitBytes (the last, or one closed at
// MaxParts, may hold less), and files a little larger than a unit are read
// whole by one unit instead of leaving a sliver for the next (a unit's
// fixed cost — a trigger, a read per part, a partial and its fold — is
// paid per unit and per part, not per byte). Empty files are in no unit.
// The cut is deterministic.
func Cut(files []File, unitBytes int64) [][]Part {
	return slices.Collect(cutUnits(files, unitBytes))
}

// cutUnits yields the units Cut describes, one at a time, so that a
// count can stop early.
func cutUnits(files []File, unitBytes int64) iter.Seq[[]Part] {
	return func(yield func([]Part) bool) {
		slack := unitBytes / 4
		var cur []Part
		var fill int64
		for _, f := range files {
			for off := int64(0); off < f.Size; {
				take := min(unitBytes-fill, f.Size-off)
				if f.Size-off-take <= slack {
					take = f.Size - off
				}
				cur = append(cur, Part{File: f.Name, ETag: f.ETag, Size: f.Size, Start: off, End: off + take})
				off += take
				fill += take
				if fill >= unitBytes || len(cur) == MaxParts {
					if !yield(cur) {
						return
					}
					cur, fill = nil, 0
				}
			}
		}
		if len(cur) > 0 {
			yield(cur)
		}
	}
}

// CutLocal cuts files on disk (Name a path, Size its size) into units as
// Cut cuts blobs, and returns their parts as ranges for aggregate.ScanLocal:
// a scan of the same files then reads what the pipeline's units read.
// unitBytes must be positive.
func CutLocal(files []File, unitBytes int64) []aggregate.LocalUnit {
	var out []aggregate.LocalUnit
	for _, parts := range Cut(files, unitBytes) {
		for _, p := range parts {
			out = append(out, aggregate.LocalUnit{Path: p.File, Range: aggregate.Range{File: p.File, Start: p.Start, End: p.End}, Size: p.Size})
		}
	}
	return out
}

// DefaultParallelism is how many units an input should make at least when
// the unit size is chosen automatically: enough to keep several instances'
// concurrent invocations busy (one instance runs up to 24 at a time with
// the queue trigger's defaults).
const DefaultParallelism = 32

// Automatic unit sizes stay within these bounds: below the floor a
// unit's fixed cost outweighs reading it; above MaxAutoUnit a unit takes
// long enough alone to hold up a job.
//
// The floor depends on the transport, because a unit's fixed cost (its
// message, trigger, ranged read, partial and fold) does. Measured as the
// cost per run a unit more adds at list prices (SF 10 and SF 40 at 8 to
// 48 MiB units, Flex Consumption), a unit costs about $1–3e-6 over queues,
// a few queue operations and an execution, and about $1.1–1.5e-5 over
// blobs, where every unit message is a blob write ($6.5e-6 alone) and the
// Event Grid trigger's reads. Over queues MinAutoUnit's 8 MiB keeps that
// near $2.5e-7 a MiB; MinAutoUnitBlob's 32 MiB keeps blob units within
// about 1.5 times that (at 8 MiB, unit messages were nearly three
// quarters of a blob SF 40 job's cost). Larger blob units were also faster
// on the benchmark machine (SF 40: 4.1 s at 15 MiB, 3.0 s at 32 MiB) and
// still give a 1 GB job 30 units, enough for two instances' concurrent
// invocations. The floor wins over Parallelism: a job under twice the
// parallelism times the floor gets fewer, cheaper units.
const (
	MinAutoUnit     = 8 << 20
	MinAutoUnitBlob = 32 << 20
	MaxAutoUnit     = 256 << 20
)

// AutoUnitFloor is the smallest unit size AutoUnitBytes picks for a job
// over transport (see MinAutoUnit).
func AutoUnitFloor(transport string) int64 {
	if transport == "blob" {
		return MinAutoUnitBlob
	}
	return MinAutoUnit
}

// The bound that decided an automatic unit size (Plan.UnitRule).
const (
	// UnitRuleParallelism: about two units per parallel invocation wanted.
	UnitRuleParallelism = "parallelism"
	// UnitRuleFloor: the transport's floor, fewer units than the
	// parallelism asks for (AutoUnitFloor).
	UnitRuleFloor = "floor"
	// UnitRuleCap: MaxAutoUnit, more units than the parallelism asks for.
	UnitRuleCap = "cap"
)

// AutoUnitBytes is the unit size for an input of total bytes over
// transport when the spec names none: about two units per parallel
// invocation wanted, rounded up to a MiB, within [AutoUnitFloor(transport),
// MaxAutoUnit]. rule says which of the three decided (UnitRule*).
func AutoUnitBytes(total int64, parallelism int, transport string) (size int64, rule string) {
	if parallelism <= 0 {
		parallelism = DefaultParallelism
	}
	u := (total + int64(2*parallelism) - 1) / int64(2*parallelism)
	u = (u + 1<<20 - 1) &^ (1<<20 - 1)
	switch floor := AutoUnitFloor(transport); {
	case u < floor:
		return floor, UnitRuleFloor
	case u > MaxAutoUnit:
		return MaxAutoUnit, UnitRuleCap
	}
	return u, UnitRuleParallelism
}

// MakePlan cuts files into units of about unitBytes each (see Cut). A
// file of size 0 has no units; a job whose files are all empty has none at
// all. More than MaxUnits units is an error wrapping ErrInvalid.
func MakePlan(files []File, unitBytes int64) (Plan, error) {
	if unitBytes <= 0 {
		return Plan{}, fmt.Errorf("unit size %d: must be positive", unitBytes)
	}
	p := Plan{UnitBytes: unitBytes, Files: make([]File, len(files))}
	for i, f := range files {
		if f.Size < 0 {
			return Plan{}, fmt.Errorf("file %q: negative size %d", f.Name, f.Size)
		}
		p.Bytes += f.Size
		p.Files[i] = f
	}
	// Count the units without keeping them: a plan is checked against
	// MaxUnits before anything large is allocated.
	for range cutUnits(files, unitBytes) {
		p.Units++
		if p.Units > MaxUnits {
			break
		}
	}
	if p.Units > MaxUnits {
		return Plan{}, fmt.Errorf("%w: %d bytes in units of %d bytes make more than %d work units: choose a larger unit_mb", ErrInvalid, p.Bytes, unitBytes, MaxUnits)
	}
	p.Shards = shardsFor(p.Units)
	return p, nil
}

// PlanFor plans a job of spec s over files: with the spec's unit size, or
// with one chosen by AutoUnitBytes, recorded in the plan (AutoUnit,
// Parallelism) and shown in the job's status.
func PlanFor(s *Spec, files []File) (Plan, error) {
	ub := s.UnitBytes()
	if ub > 0 {
		return MakePlan(files, ub)
	}
	par := s.Parallelism
	if par == 0 {
		par = DefaultParallelism
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	size, rule := AutoUnitBytes(total, par, s.Transport)
	p, err := MakePlan(files, size)
	if err != nil {
		return p, err
	}
	p.AutoUnit, p.Parallelism, p.UnitRule = true, par, rule
	return p, nil
}

// WorkUnits lists the work units of a plan for job spec s.
func (p Plan) WorkUnits(s *Spec, layout aggregate.Layout) []WorkUnit {
	cuts := Cut(p.Files, p.UnitBytes)
	units := make([]WorkUnit, len(cuts))
	for i, parts := range cuts {
		units[i] = WorkUnit{
			Job: s.ID, Transport: s.Transport, Container: s.Input.Container, Parts: parts,
			Index: i, Count: len(cuts), Shards: p.Shards, Layout: layout,
		}
	}
	return units
}

// ShardOf is the merge shard that unit i of a job with s shards folds into.
func ShardOf(i, shards int) int { return i % shards }

// ShardUnits is how many of n units fold into shard k of s.
func ShardUnits(n, s, k int) int {
	c := n / s
	if k < n%s {
		c++
	}
	return c
}

package job

import (
	"fmt"
	"strconv"
	"strings"
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
	// FirstUnit is the index of the file's first unit; Units how many it has.
	FirstUnit int `json:"first_unit"`
	Units     int `json:"units"`
}

// Plan is what partition decided: the files and how many units they make.
type Plan struct {
	UnitBytes int64  `json:"unit_bytes"`
	Files     []File `json:"files"`
	Units     int    `json:"units"`
	Shards    int    `json:"shards"`
	Bytes     int64  `json:"bytes"`
}

// WorkUnit is the message partition sends to aggregate: one byte range of
// one input blob.
type WorkUnit struct {
	Job       string           `json:"job"`
	Transport string           `json:"transport"`
	Container string           `json:"container"`
	File      string           `json:"file"`
	ETag      string           `json:"etag"`
	Size      int64            `json:"size"`
	Index     int              `json:"index"` // global unit index, 0..Count-1
	Count     int              `json:"count"` // units in the job
	Shards    int              `json:"shards"`
	Start     int64            `json:"start"`
	End       int64            `json:"end"`
	Layout    aggregate.Layout `json:"layout"`
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
// into the job ID and unit index; ok is false for any other ID.
func ParseMessageID(id string) (jobID string, unit int, ok bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || (parts[1] != "u" && parts[1] != "p") || parts[0] == "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return parts[0], n, true
}

// shardsFor picks how many merge shards a job of n units gets: about one
// per four units, so that a batch of concurrent merges (16 per instance by
// default) rarely collides on one record, and at most 64, so that reading
// them all for status and completion stays cheap.
func shardsFor(n int) int {
	return min(max((n+3)/4, 1), 64)
}

// MakePlan cuts files into units of about unitBytes each
// (aggregate.UnitCount). A file of size 0 has no units; a job whose files
// are all empty has none at all.
func MakePlan(files []File, unitBytes int64) (Plan, error) {
	if unitBytes <= 0 {
		return Plan{}, fmt.Errorf("unit size %d: must be positive", unitBytes)
	}
	p := Plan{UnitBytes: unitBytes, Files: make([]File, len(files))}
	for i, f := range files {
		if f.Size < 0 {
			return Plan{}, fmt.Errorf("file %q: negative size %d", f.Name, f.Size)
		}
		f.FirstUnit = p.Units
		f.Units = aggregate.UnitCount(f.Size, unitBytes)
		p.Units += f.Units
		p.Bytes += f.Size
		p.Files[i] = f
	}
	p.Shards = shardsFor(p.Units)
	return p, nil
}

// WorkUnits lists the work units of a plan for job spec s.
func (p Plan) WorkUnits(s *Spec, layout aggregate.Layout) []WorkUnit {
	units := make([]WorkUnit, 0, p.Units)
	for _, f := range p.Files {
		for k := 0; k < f.Units; k++ {
			r := aggregate.UnitRange(f.Name, f.Size, p.UnitBytes, k)
			units = append(units, WorkUnit{
				Job: s.ID, Transport: s.Transport, Container: s.Input.Container,
				File: f.Name, ETag: f.ETag, Size: f.Size,
				Index: f.FirstUnit + k, Count: p.Units, Shards: p.Shards,
				Start: r.Start, End: r.End, Layout: layout,
			})
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

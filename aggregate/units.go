package aggregate

// UnitCount is how many work units a file of size bytes is cut into when
// each covers unit bytes: ceil(size/unit). An empty file has no lines and
// so no units. This one rule is shared by the pipeline's planner
// (job.MakePlan), `funnel ref`, `funnel run`'s reference and the
// benchmark's kernel baseline, so they always agree on the units of a file.
// unit must be positive.
func UnitCount(size, unit int64) int {
	if size <= 0 {
		return 0
	}
	return int((size + unit - 1) / unit)
}

// UnitRange is unit k (0 ≤ k < UnitCount(size, unit)) of file: the bytes
// [k·unit, min((k+1)·unit, size)).
func UnitRange(file string, size, unit int64, k int) Range {
	start := int64(k) * unit
	return Range{File: file, Start: start, End: min(start+unit, size)}
}

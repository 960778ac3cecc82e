package bench

// Unknown is what a machine field holds when it could not be found.
const Unknown = "unknown"

// Machine describes where a benchmark ran.
type Machine struct {
	CPUModel       string `json:"cpu_model"`
	Cores          int    `json:"cores"`
	MemoryBytes    int64  `json:"memory_bytes"`
	OS             string `json:"os"`
	Kernel         string `json:"kernel"`
	GOOS           string `json:"goos"`
	GOARCH         string `json:"goarch"`
	GoVersion      string `json:"go_version"`
	AzuriteVersion string `json:"azurite_version"`
	// FunnelCommit is the work tree's git commit; FunnelDirty is true when
	// the tree had uncommitted changes.
	FunnelCommit string `json:"funnel_commit"`
	FunnelDirty  bool   `json:"funnel_dirty"`
}

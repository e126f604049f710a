package stack

// CreateRequest is what an engine needs to create one container.
type CreateRequest struct {
	Name    string
	Spec    Spec
	Labels  map[string]string
	Network string // the project network; sandboxes attach to it, tasks join their sandbox
}

// Status is a container's live state, read from the engine.
type Status struct {
	State    State
	ExitCode int
	Error    string
	IP       string // address on the network asked for
	OOM      bool
}

// EngineInfo is what an engine says about itself.
type EngineInfo struct {
	Host          string
	ServerVersion string
	APIVersion    string // negotiated
	OS, Arch      string
	CPUs          int
	MemoryBytes   int64
	Containers    int
	Running       int
	Driver        string // storage driver (overlay2, fuse-overlayfs, ...)
	Swarm         SwarmInfo
}

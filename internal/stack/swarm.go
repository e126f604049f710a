package stack

import "time"

// LabelNode is the node label the swarm orchestrator places by: a node
// carrying cjob.host=H runs the services of the production hosts placed on
// H (a pool host in staging, the production host itself in production).
const LabelNode = "cjob.host"

// LabelSwarmService is put on the containers Swarm runs for a service.
const LabelSwarmService = "cjob.swarm-service"

// Service is one task of a job as a Swarm service: the swarm orchestrator's
// unit of work. Every field but the ID-like ones is part of its hash.
type Service struct {
	Name   string            // the Swarm service name: [a-z0-9-], at most 63 characters
	Unit   *Unit             // the task it runs: spec, health, dependencies, production host
	Node   string            // the host whose node runs it: the node label cjob.host
	Image  string            // what the service names: the image's ID when cjob put it on the node (no registry asked), else its name
	Labels map[string]string // cjob's labels, with the config hash and the spec
	// ContainerLabels go on the containers Swarm runs: cjob's labels of a
	// task (project, env, job, key, ...), so logs and ps find them on the
	// node's engine as they find cjob's own containers.
	ContainerLabels map[string]string
	// Monitor is how long Swarm watches a replaced task before it calls an
	// update done; a task that fails meanwhile rolls the update back.
	Monitor time.Duration
	// Force replaces the task even though nothing changed (reload).
	Force bool
}

// ServiceState is a service as the swarm's manager reports it.
type ServiceState struct {
	ID      string
	Name    string
	Version uint64
	Labels  map[string]string
	Image   string
	Job     bool // replicated-job mode (a one-shot job)
	// Update is Swarm's state of the last update: "", updating, paused,
	// completed, rollback_started, rollback_paused, rollback_completed.
	Update        string
	UpdateMessage string
	Created       time.Time
	Updated       time.Time
	Previous      bool   // Swarm holds the spec before the last update (a rollback target)
	ForceUpdate   uint64 // the spec's force-update counter: one more replaces the tasks unchanged
}

// TaskState is one of a service's tasks.
type TaskState struct {
	ID          string
	Service     string // service ID
	Node        string // node ID
	Slot        int
	Desired     string // running, shutdown, complete, ...
	State       string // new, pending, assigned, accepted, preparing, starting, running, complete, failed, rejected, shutdown, orphaned
	Message     string
	Err         string
	ContainerID string
	ExitCode    int
	Since       time.Time
	Image       string
}

// SwarmNode is one node of a swarm.
type SwarmNode struct {
	ID            string
	Hostname      string
	Addr          string
	State         string // ready, down, unknown, disconnected
	Availability  string // active, pause, drain
	Manager       bool
	Leader        bool
	Labels        map[string]string
	EngineVersion string
	CPUs          int
	Memory        int64
}

// SwarmObserved is one look at a swarm: its nodes, and the services of one
// project's environment with their tasks.
type SwarmObserved struct {
	Nodes    []SwarmNode
	Services []ServiceState
	Tasks    []TaskState
}

// SwarmInfo is what an engine says about its place in a swarm.
type SwarmInfo struct {
	NodeID   string
	NodeAddr string
	State    string // inactive, pending, active, error, locked
	Manager  bool   // this engine can manage the swarm (ControlAvailable)
	Managers []string
	Error    string
}

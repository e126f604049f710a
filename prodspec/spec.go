// Package prodspec loads, validates and renders the production jobs file:
// one file that declares every service, job and task of production and the
// host each task runs on.
//
// A File returned by Load is normalised: templates are rendered, defaults are
// filled in, shorthands are expanded (run_on_host becomes one Task, port
// becomes Ports), images carry the registry prefix, sizes are bytes, and
// services, jobs and hosts are sorted by name. Every consumer (the dev
// rewrite, staging placement, the server) reads only this form.
//
// Load and Parse read a file (YAML, or the original tool's protobuf text
// format, see IsLegacy) and report every problem at once as an ErrorList;
// Render writes a File back as YAML; File.ForEnvironment applies an
// environment overlay such as dev. docs/jobs-file.md describes
// the file format.
package prodspec

import (
	"strings"
	"time"
)

// DefaultDNSSuffix is the suffix of production DNS names when the file names none.
const DefaultDNSSuffix = ".coding.local"

// File is a normalised production jobs file.
type File struct {
	Path      string            // the file it was loaded from
	Project   string            // [a-z0-9-]+
	Registry  string            // prefix for images that name no registry host; may be empty
	DNSSuffix string            // starts with a dot
	Vars      map[string]string // template values after --set overrides
	Hosts     []*Host           // sorted by Name
	Services  []*Service        // sorted by Name

	// Environments are overlays keyed by name ("dev", "staging").
	Environments map[string]*Environment

	// Warnings are things that load but are probably mistakes, such as two
	// tasks on one host using the same port, one per line, sorted. They
	// are not part of the file: Render leaves them out.
	Warnings []string
}

// Host is a production machine (or, for staging, a pool machine).
type Host struct {
	Name    string
	Address string // production IP address or name; may be empty
	Docker  string // engine endpoint: tcp://10.0.2.12:2376, ssh://user@host, unix:///...; may be empty
	TLS     *TLS   // client certificates for a tcp:// endpoint; nil: none, or DOCKER_CERT_PATH
	Memory  int64  // bytes; 0 when unknown
	Labels  map[string]string
	Pos     Pos
}

// TLS names the files of a TLS-protected engine endpoint.
type TLS struct {
	CA, Cert, Key string
}

// Service groups jobs.
type Service struct {
	Name string
	Jobs []*Job // sorted by Name
	Pos  Pos
}

// Job is one thing to run, as one or more tasks.
type Job struct {
	Service    string // owning service name
	Name       string
	Image      string   // fully rendered, registry prefix applied
	Command    []string // nil: the image's default
	Entrypoint []string // nil: the image's default
	Ports      []int    // Ports[0] is the main port; may be empty
	Env        map[string]string
	Volumes    []Volume
	Memory     int64    // bytes; 0 means no limit
	DependsOn  []string // full names (service.job), sorted
	Health     *Health  // nil: none declared
	Critical   bool
	Oneshot    bool // runs to completion; exit 0 is success
	Tasks      []*Task
	Pos        Pos
}

// FullName is the job's unique name, "<service>.<job>".
func (j *Job) FullName() string { return j.Service + "." + j.Name }

// MainPort is the job's first port, or 0.
func (j *Job) MainPort() int {
	if len(j.Ports) == 0 {
		return 0
	}
	return j.Ports[0]
}

// Task is one placement of a job on a production host.
type Task struct {
	Index int               // 0-based, in file order
	Host  string            // a name from File.Hosts
	Env   map[string]string // per-task additions, merged over Job.Env by consumers
	Pos   Pos
}

// Volume is one mount: Source is a production host path (absolute) or a
// volume name; Target is the path in the container.
type Volume struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Health is a job's health check. Exactly one of HTTP, TCP and Cmd is set.
type Health struct {
	HTTP        string   // path, e.g. /healthz, on the job's main port
	TCP         int      // port
	Cmd         []string // run in the container; exit 0 is healthy
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
}

// Environment is an overlay applied by ForEnvironment.
type Environment struct {
	Name    string
	Exclude []string             // full job names
	Jobs    map[string]*JobPatch // keyed by full job name
	Pool    []string             // staging: pool host names
	Pin     map[string]string    // staging: production host -> pool host
	// ExtraHosts (production, staging): false leaves the production names
	// out of every container's /etc/hosts, where real DNS serves them; nil
	// or true writes them (hosts without DNS, such as a test pool).
	ExtraHosts *bool
	// Orchestrator (staging, production): who places and runs the
	// containers: "" or OrchestratorCjob, cjob itself on each host's
	// engine; OrchestratorSwarm, Docker Swarm on the environment's nodes.
	Orchestrator string
	Pos          Pos
}

// Orchestrators an environment can name.
const (
	OrchestratorCjob  = "cjob"
	OrchestratorSwarm = "swarm"
)

// Orchestrator is the orchestrator environment env runs on: OrchestratorCjob
// unless the file names another.
func (f *File) Orchestrator(env string) string {
	if e := f.Environments[env]; e != nil && e.Orchestrator != "" {
		return e.Orchestrator
	}
	return OrchestratorCjob
}

// JobPatch changes a job in one environment. Nil fields leave the job as is;
// Env is merged key by key.
type JobPatch struct {
	Image   *string
	Command []string
	Env     map[string]string
	Memory  *int64
	Pos     Pos
}

// Pos is a position in the source file.
type Pos struct {
	Line, Column int
}

// Job returns the job with the given full name, or nil.
func (f *File) Job(fullName string) *Job {
	service, job, ok := strings.Cut(fullName, ".")
	if !ok {
		return nil
	}
	for _, s := range f.Services {
		if s.Name != service {
			continue
		}
		for _, j := range s.Jobs {
			if j.Name == job {
				return j
			}
		}
	}
	return nil
}

// Jobs returns every job, sorted by full name.
func (f *File) Jobs() []*Job {
	var out []*Job
	for _, s := range f.Services {
		out = append(out, s.Jobs...)
	}
	return out
}

// Host returns the host with the given name, or nil.
func (f *File) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

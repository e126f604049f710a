// Package stack describes a desired state: the containers, network and
// volumes that one environment (dev, staging) of one project should have on
// an engine. A rewrite (package devenv) produces a Stack from the jobs file;
// the planner compares it with what the engine holds. Nothing here talks to
// an engine.
package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// Label keys carried by every object cjob creates. The engine's labels are
// the only record of what cjob made: there is no local state file.
const (
	LabelProject = "cjob.project"
	LabelEnv     = "cjob.env"
	LabelKind    = "cjob.kind" // "sandbox" or "task"
	LabelService = "cjob.service"
	LabelJob     = "cjob.job" // full name, service.job
	LabelTask    = "cjob.task"
	LabelHost    = "cjob.host" // production host
	LabelHash    = "cjob.config-hash"
	LabelKey     = "cjob.key"
	LabelOneshot = "cjob.oneshot"
	LabelVersion = "cjob.version"
	LabelPorts   = "cjob.ports" // sandboxes: published ports, container:host
	LabelSpec    = "cjob.spec"  // the Spec the container was made from, as JSON, to explain changes

	// A job swapped for a local build (`cjob dev swap`) carries these; they
	// are part of its Spec, so `dev up` keeps them and `restore` drops them.
	// LabelSandboxAPI is on every host sandbox's spec: the version of the
	// commands cjob runs in it (cjob-sandbox). A sandbox's image is not
	// part of its hash (upgrading cjob must not restart the stack), so a
	// change to those commands bumps SandboxAPI, and the sandboxes made
	// for another version are recreated once.
	LabelSandboxAPI = "cjob.sandbox-api"

	LabelSwapped         = "cjob.swapped"          // the source folder
	LabelSwappedImage    = "cjob.swapped-image"    // the image built from it
	LabelSwappedTemplate = "cjob.swapped-template" // the build template, when one made the image
)

// SandboxAPI is the version of the host sandbox's commands (see
// LabelSandboxAPI): 2 is cjob-sandbox (wait, probe, rm); 1 was the cjob
// binary itself.
const SandboxAPI = "2"

// Kind says what a unit is.
type Kind int

const (
	KindUnknown Kind = iota
	KindSandbox      // a host sandbox: owns the network namespace of one production host
	KindTask         // a task of a job, joined to its host sandbox's namespaces
)

func (k Kind) String() string {
	switch k {
	case KindSandbox:
		return "sandbox"
	case KindTask:
		return "task"
	}
	return "unknown"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) Kind {
	switch s {
	case "sandbox":
		return KindSandbox
	case "task":
		return KindTask
	}
	return KindUnknown
}

// Stack is the desired state of one environment of one project.
type Stack struct {
	Project string
	Env     Env
	Network string // the project network's name; "" where tasks use the host's network
	Volumes []Volume
	Units   []*Unit // sandboxes first, then tasks; each group sorted by Key
}

// Volume is a named volume the stack uses.
type Volume struct {
	Name   string
	Engine string // the engine that holds it; "" for a single-engine stack
}

// VolumeKey identifies a volume across engines.
func VolumeKey(engine, name string) string {
	if engine == "" {
		return name
	}
	return engine + "/" + name
}

// Unit is one container of the stack.
type Unit struct {
	Key     string // stable identity: "host/<host>" or "<service>.<job>/<task>"
	Name    string // container name
	Kind    Kind
	Service string
	Job     string // full job name (service.job); empty for sandboxes
	Task    int
	Host    string // production host this unit belongs to
	Sandbox string // for tasks: Key of the host sandbox whose namespaces it joins
	Engine  string // the engine it runs on (a pool host); "" for a single-engine stack
	Probe   string // address that HTTP and TCP checks dial when there is no sandbox

	Spec      Spec
	DependsOn []string // Keys of units that must be ready first
	Health    *Check   // how readiness is judged; nil: running is ready
	Oneshot   bool     // ready when exited 0
	Critical  bool

	// Labels are put on the container besides cjob's own and the spec's,
	// and are not part of the config hash: the version a production task
	// was made from, the Compose labels of a dev container.
	Labels map[string]string `json:",omitempty"`

	URLs []URL // where the developer reaches this unit (tasks only)
}

// URL is where a job answers, in production and locally.
type URL struct {
	Port       int    // container port
	Local      string // e.g. http://127.0.0.1:18080 (HTTP) or 127.0.0.1:15432
	Production string // e.g. core-app-1:8000
	HTTP       bool   // the job speaks HTTP on this port (its check is an HTTP one)
}

// Spec is everything the engine needs to create the container. Every field
// is part of the config hash.
type Spec struct {
	Image       string
	Command     []string          `json:",omitempty"`
	Entrypoint  []string          `json:",omitempty"`
	Env         []string          `json:",omitempty"` // KEY=value, sorted
	Labels      map[string]string `json:",omitempty"` // cjob's labels are added by the engine
	Hostname    string            `json:",omitempty"`
	Aliases     []string          `json:",omitempty"` // network aliases on the project network (sandboxes)
	ExtraHosts  []string          `json:",omitempty"`
	Publish     []Publish         `json:",omitempty"` // sandboxes only
	Mounts      []Mount           `json:",omitempty"`
	Memory      int64             `json:",omitempty"`
	JoinSandbox string            `json:",omitempty"` // container name whose network and PID namespaces a task joins
	HostNetwork bool              `json:",omitempty"` // run in the engine host's network, as in production (staging)
	StopTimeout time.Duration     `json:",omitempty"`
	Init        bool              `json:",omitempty"`
}

// Publish maps a container port to 127.0.0.1:HostPort.
type Publish struct {
	ContainerPort int
	HostPort      int
}

// Mount is a named volume or a bind mount.
type Mount struct {
	Type     string // "volume" or "bind"
	Source   string // volume name or host path
	Target   string
	ReadOnly bool `json:",omitempty"`
}

// Check is a readiness check made by cjob (HTTP, TCP) or run in the
// container (Cmd).
type Check struct {
	HTTP        string   `json:",omitempty"` // path
	Port        int      `json:",omitempty"` // for HTTP and TCP
	Cmd         []string `json:",omitempty"`
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
	Implicit    bool `json:",omitempty"` // not declared: derived from the job's main port
}

// Hash is the unit's config hash: it changes exactly when the container
// must be recreated. A sandbox's image is left out: it is made from the cjob
// binary, and upgrading cjob must not restart the whole stack.
func (u *Unit) Hash() string {
	spec := u.Spec
	if u.Kind == KindSandbox {
		spec.Image = ""
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	// Encoding a struct of plain fields cannot fail.
	_ = enc.Encode(struct {
		Spec    Spec
		Oneshot bool
	}{spec, u.Oneshot})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Unit returns the unit with the given key, or nil.
func (s *Stack) Unit(key string) *Unit {
	for _, u := range s.Units {
		if u.Key == key {
			return u
		}
	}
	return nil
}

// Sort puts units in their canonical order.
func (s *Stack) Sort() {
	sort.SliceStable(s.Units, func(i, j int) bool {
		a, b := s.Units[i], s.Units[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Key < b.Key
	})
	sort.Slice(s.Volumes, func(i, j int) bool {
		return VolumeKey(s.Volumes[i].Engine, s.Volumes[i].Name) < VolumeKey(s.Volumes[j].Engine, s.Volumes[j].Name)
	})
}

// Labels returns the labels that identify a unit on the engine.
func (s *Stack) Labels(u *Unit) map[string]string {
	l := map[string]string{
		LabelProject: s.Project,
		LabelEnv:     s.Env.String(),
		LabelKind:    u.Kind.String(),
		LabelKey:     u.Key,
		LabelHost:    u.Host,
		LabelHash:    u.Hash(),
	}
	if u.Kind == KindTask {
		l[LabelService] = u.Service
		l[LabelJob] = u.Job
		l[LabelTask] = itoa(u.Task)
		if u.Oneshot {
			l[LabelOneshot] = "true"
		}
	}
	if b, err := json.Marshal(u.Spec); err == nil {
		l[LabelSpec] = string(b)
	}
	if len(u.Spec.Publish) > 0 {
		l[LabelPorts] = FormatPorts(u.Spec.Publish)
	}
	for k, v := range u.Labels {
		l[k] = v
	}
	for k, v := range u.Spec.Labels {
		l[k] = v
	}
	return l
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

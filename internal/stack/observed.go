package stack

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is a container's run state as the engine reports it.
type State int

const (
	StateUnknown State = iota
	StateCreated
	StateRunning
	StateExited
	StateOther // paused, restarting, removing, dead
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StateExited:
		return "exited"
	case StateOther:
		return "other"
	}
	return "unknown"
}

// ParseState maps the engine's state words onto State.
func ParseState(s string) State {
	switch s {
	case "created":
		return StateCreated
	case "running":
		return StateRunning
	case "exited":
		return StateExited
	case "":
		return StateUnknown
	}
	return StateOther
}

// Container is one container of a project as observed on an engine.
type Container struct {
	ID        string
	Name      string
	Image     string
	Labels    map[string]string
	State     State
	Status    string // the engine's human status, e.g. "Up 2 minutes"
	ExitCode  int    // meaningful when State is StateExited and ExitKnown
	ExitKnown bool
	IP        string // address on the project network
	Ports     []Publish
	Engine    string // the engine it was observed on; "" for a single-engine stack
	ImageID   string
	Created   time.Time
}

// Key is the unit key recorded on the container.
func (c *Container) Key() string { return c.Labels[LabelKey] }

// Kind is the unit kind recorded on the container.
func (c *Container) Kind() Kind { return ParseKind(c.Labels[LabelKind]) }

// Hash is the config hash recorded on the container.
func (c *Container) Hash() string { return c.Labels[LabelHash] }

// Observed is one snapshot of what an engine holds for a project and env,
// taken before planning so that deciding needs no further engine calls.
type Observed struct {
	Containers    []*Container // sorted by key, then name
	NetworkExists bool
	Volumes       map[string]bool // this project's volumes that exist, by VolumeKey
}

// Add merges the snapshot of one engine of a pool into o.
func (o *Observed) Add(engine string, other *Observed) {
	if o.Volumes == nil {
		o.Volumes = map[string]bool{}
	}
	for _, c := range other.Containers {
		c.Engine = engine
		o.Containers = append(o.Containers, c)
	}
	for v := range other.Volumes {
		o.Volumes[VolumeKey(engine, v)] = true
	}
	o.Sort()
}

// Sort orders the snapshot canonically.
func (o *Observed) Sort() {
	sort.Slice(o.Containers, func(i, j int) bool {
		a, b := o.Containers[i], o.Containers[j]
		if a.Key() != b.Key() {
			return a.Key() < b.Key()
		}
		return a.Name < b.Name
	})
}

// ByKey indexes the containers by unit key. Duplicates (which cjob never
// makes, but a user might) are all kept.
func (o *Observed) ByKey() map[string][]*Container {
	m := make(map[string][]*Container, len(o.Containers))
	for _, c := range o.Containers {
		m[c.Key()] = append(m[c.Key()], c)
	}
	return m
}

// FormatPorts renders publishes as "8080:18080,3000:3000" for a label.
func FormatPorts(ps []Publish) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = strconv.Itoa(p.ContainerPort) + ":" + strconv.Itoa(p.HostPort)
	}
	return strings.Join(parts, ",")
}

// ParsePorts is the inverse of FormatPorts; malformed entries are skipped.
func ParsePorts(s string) []Publish {
	var out []Publish
	for _, part := range strings.Split(s, ",") {
		c, h, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		cp, err1 := strconv.Atoi(c)
		hp, err2 := strconv.Atoi(h)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Publish{ContainerPort: cp, HostPort: hp})
	}
	return out
}

// Spec decodes the spec recorded on the container; ok is false when the
// container carries none (made by an older cjob, or by hand).
func (c *Container) Spec() (Spec, bool) {
	var s Spec
	raw := c.Labels[LabelSpec]
	if raw == "" {
		return s, false
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, false
	}
	return s, true
}

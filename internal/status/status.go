// Package status is what every environment reports: per job, the tasks
// the jobs file wants and what the engines hold (state, health, version,
// outdated), and per host, its engine's node data. The production server,
// the dev and staging UIs and the CLI all read it.
package status

import (
	"sort"
	"strconv"
	"time"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Node is one host as its engine describes it: a production host, a pool
// host, or (dev) a host sandbox on the local engine.
type Node struct {
	Name          string    `json:"name"`
	Address       string    `json:"address,omitempty"`
	Docker        string    `json:"docker,omitempty"`
	Reachable     bool      `json:"reachable"`
	Error         string    `json:"error,omitempty"`
	CPUs          int       `json:"cpus,omitempty"`
	MemoryBytes   int64     `json:"memory_bytes,omitempty"`
	EngineVersion string    `json:"engine_version,omitempty"`
	Swarm         string    `json:"swarm,omitempty"` // "manager, node ab12cd34ef56" / "worker, node ..."; "" not in a swarm
	Containers    int       `json:"containers"`      // all containers on the engine
	Running       int       `json:"running"`         // all running containers on the engine
	Tasks         int       `json:"tasks"`           // tasks the jobs file places here
	TasksRunning  int       `json:"tasks_running"`   // cjob's containers running here
	MemoryUsed    int64     `json:"memory_used"`     // by cjob's containers here
	LatencyMS     int64     `json:"latency_ms"`      // time to answer this look
	Checked       time.Time `json:"checked"`
}

// SetEngine fills the node data an engine reports about itself.
func (n *Node) SetEngine(i stack.EngineInfo) {
	n.CPUs, n.MemoryBytes, n.EngineVersion = i.CPUs, i.MemoryBytes, i.ServerVersion
	n.Containers, n.Running = i.Containers, i.Running
	n.Swarm = ""
	if i.Swarm.State == "active" {
		role := "worker"
		if i.Swarm.Manager {
			role = "manager"
		}
		id := i.Swarm.NodeID
		if len(id) > 12 {
			id = id[:12]
		}
		n.Swarm = role + ", node " + id
	} else if i.Swarm.State != "" && i.Swarm.State != "inactive" {
		n.Swarm = i.Swarm.State
	}
}

// Task is one task of a job as an environment holds it.
type Task struct {
	Task      int       `json:"task"`
	Host      string    `json:"host"`
	Container string    `json:"container,omitempty"`
	ID        string    `json:"id,omitempty"`
	Image     string    `json:"image,omitempty"`
	ImageID   string    `json:"image_id,omitempty"`
	State     string    `json:"state"` // running, exited, created, missing, ...
	Status    string    `json:"status,omitempty"`
	Health    string    `json:"health,omitempty"` // healthy, unhealthy: <why>, or "" when not checked
	Version   int64     `json:"version,omitempty"`
	Outdated  bool      `json:"outdated"`
	Memory    int64     `json:"memory_bytes,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Unplanned bool      `json:"unplanned,omitempty"` // a container the version does not declare (an old task)
}

// Job is one job's state: what the pushed version wants and what runs.
type Job struct {
	Job      string   `json:"job"`
	Service  string   `json:"service"`
	Image    string   `json:"image"`  // the pushed version's image
	Needed   int      `json:"needed"` // tasks declared
	Critical bool     `json:"critical"`
	Oneshot  bool     `json:"oneshot,omitempty"`
	Running  int      `json:"running"`
	Outdated int      `json:"outdated"` // tasks whose container was made from another config
	Desired  string   `json:"desired"`  // "up" or "down" (operator's last word; "up" by default)
	State    string   `json:"state"`    // ok, outdated, degraded, down, stopped, completed
	Versions []int64  `json:"versions,omitempty"`
	Hosts    []string `json:"hosts"`
	Tasks    []Task   `json:"tasks"`
}

// Desired is an environment's desired state, computed once (per pushed
// version in production, per look in dev and staging): the stack, its task
// units by job and their config hashes (hashing a unit encodes its whole
// spec, so it is done once, not on every read).
type Desired struct {
	File    *prodspec.File
	Version int64 // the pushed version (production); 0 where the file on disk is followed
	Stack   *stack.Stack
	Units   map[string][]*stack.Unit // by job, by task number
	Hash    map[string]string        // unit key -> config hash
}

// Desire is the desired state of st, the stack that version `version` of f
// rewrites to in some environment (rewrite.Production, rewrite.Staging,
// devenv.Rewrite).
func Desire(f *prodspec.File, version int64, st *stack.Stack) *Desired {
	d := &Desired{File: f, Version: version, Stack: st, Units: map[string][]*stack.Unit{}, Hash: map[string]string{}}
	for _, u := range st.Units {
		if u.Kind != stack.KindTask {
			continue
		}
		d.Units[u.Job] = append(d.Units[u.Job], u)
		d.Hash[u.Key] = u.Hash()
	}
	for _, us := range d.Units {
		sort.Slice(us, func(i, j int) bool { return us[i].Task < us[j].Task })
	}
	return d
}

// Jobs joins the desired state and what the engines hold into per-job
// state. desired gives the operator's up/down per job (nil or "": up).
func (d *Desired) Jobs(obs *stack.Observed, desired func(job string) string) []Job {
	byKey := obs.ByKey()
	byJob := map[string][]*stack.Container{}
	for _, c := range obs.Containers {
		if j := c.Labels[stack.LabelJob]; j != "" {
			byJob[j] = append(byJob[j], c)
		}
	}
	seen := map[string]bool{}
	var out []Job
	for _, j := range d.File.Jobs() {
		name := j.FullName()
		js := Job{Job: name, Service: j.Service, Image: j.Image, Needed: len(d.Units[name]), Critical: j.Critical, Oneshot: j.Oneshot, Desired: "up"}
		if js.Needed == 0 {
			continue // not part of this environment (excluded in dev, say)
		}
		if desired != nil && desired(name) != "" {
			js.Desired = desired(name)
		}
		versions := map[int64]bool{}
		hosts := map[string]bool{}
		for _, u := range d.Units[name] {
			seen[u.Key] = true
			hosts[u.Host] = true
			ts := Task{Task: u.Task, Host: u.Host, State: "missing"}
			if cs := byKey[u.Key]; len(cs) > 0 {
				c := cs[0]
				for _, o := range cs {
					if o.State == stack.StateRunning {
						c = o
					}
				}
				ts = fromContainer(c, u.Task, u.Host)
				ts.Outdated = c.Hash() != d.Hash[u.Key] || c.Engine != u.Engine
				if c.State == stack.StateRunning {
					js.Running++
				}
				if ts.Outdated {
					js.Outdated++
				}
				if ts.Version > 0 {
					versions[ts.Version] = true
				}
			}
			js.Tasks = append(js.Tasks, ts)
		}
		for _, c := range byJob[name] {
			if !seen[c.Key()] {
				ts := fromContainer(c, atoi(c.Labels[stack.LabelTask]), c.Labels[stack.LabelHost])
				ts.Unplanned, ts.Outdated = true, true
				js.Tasks = append(js.Tasks, ts)
			}
		}
		for v := range versions {
			js.Versions = append(js.Versions, v)
		}
		sort.Slice(js.Versions, func(a, b int) bool { return js.Versions[a] < js.Versions[b] })
		for h := range hosts {
			js.Hosts = append(js.Hosts, h)
		}
		sort.Strings(js.Hosts)
		js.State = jobState(js)
		out = append(out, js)
	}
	return out
}

func fromContainer(c *stack.Container, task int, host string) Task {
	v, _ := strconv.ParseInt(c.Labels[stack.LabelVersion], 10, 64)
	return Task{Task: task, Host: host, Container: c.Name, ID: c.ID, Image: c.Image, ImageID: c.ImageID,
		State: c.State.String(), Status: c.Status, Version: v, Created: c.Created}
}

func jobState(j Job) string {
	completed := 0
	for _, t := range j.Tasks {
		if j.Oneshot && t.State == "exited" && !t.Outdated {
			completed++
		}
	}
	switch {
	case j.Desired == "down" && j.Running == 0:
		return "stopped"
	case j.Oneshot && completed == j.Needed:
		return "completed"
	case j.Running == 0:
		return "down"
	case j.Running < j.Needed:
		return "degraded"
	case j.Outdated > 0:
		return "outdated"
	}
	return "ok"
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

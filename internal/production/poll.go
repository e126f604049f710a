package production

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/stack"
	"golang.org/x/sync/errgroup"
)

// Node is one production host as its engine describes it.
type Node struct {
	Name          string    `json:"name"`
	Address       string    `json:"address,omitempty"`
	Docker        string    `json:"docker,omitempty"`
	Reachable     bool      `json:"reachable"`
	Error         string    `json:"error,omitempty"`
	CPUs          int       `json:"cpus,omitempty"`
	MemoryBytes   int64     `json:"memory_bytes,omitempty"`
	EngineVersion string    `json:"engine_version,omitempty"`
	Containers    int       `json:"containers"`    // all containers on the engine
	Running       int       `json:"running"`       // all running containers on the engine
	Tasks         int       `json:"tasks"`         // tasks the pushed version places here
	TasksRunning  int       `json:"tasks_running"` // cjob production containers running here
	MemoryUsed    int64     `json:"memory_used"`   // by cjob's containers here
	LatencyMS     int64     `json:"latency_ms"`    // time to answer this poll
	Checked       time.Time `json:"checked"`
}

// Snapshot is one poll of every production host.
type Snapshot struct {
	At       time.Time         `json:"at"`
	Took     time.Duration     `json:"took_ns"`
	Nodes    []Node            `json:"nodes"`
	Observed *stack.Observed   `json:"-"`
	Memory   map[string]int64  `json:"-"` // container ID -> bytes in use
	Health   map[string]string `json:"-"` // unit key -> "healthy" or "unhealthy: why"
}

// PollOptions tune a poll.
type PollOptions struct {
	Timeout time.Duration // per host; 0: 5 s
	Probe   func(ctx context.Context, c *stack.Check, ip string) error
	// Memory asks each engine for each running container's memory use.
	// The engine (before 23) takes about a second to answer that, so a
	// poll made while someone waits leaves it out and carries the values
	// of Previous over.
	Memory   bool
	Previous *Snapshot
}

// Poll asks every host of the version's file for its node data, its cjob
// containers, their memory use, and checks each running task's health, all
// hosts at once, each bounded by the timeout: a slow or dead host is marked
// unreachable and never holds up the others.
func Poll(ctx context.Context, hs *Hosts, d *Desire, o PollOptions) *Snapshot {
	t := d.Target
	start := time.Now()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Probe == nil {
		o.Probe = health.Probe
	}
	snap := &Snapshot{At: start, Observed: &stack.Observed{Volumes: map[string]bool{}}, Memory: map[string]int64{}, Health: map[string]string{}}
	units := map[string]*stack.Unit{}
	tasks := map[string]int{}
	for _, u := range d.Stack.Units {
		units[u.Key] = u
		tasks[u.Host]++
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range t.File.Hosts {
		if h.Docker == "" && tasks[h.Name] == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			n := Node{Name: h.Name, Address: h.Address, Docker: h.Docker, Tasks: tasks[h.Name]}
			obs, mem, hl, err := pollHost(hctx, hs, t, h.Name, units, o, &n)
			n.LatencyMS = time.Since(start).Milliseconds()
			n.Checked = time.Now()
			if err != nil {
				n.Reachable, n.Error = false, err.Error()
				hs.Drop(h.Name)
			}
			mu.Lock()
			defer mu.Unlock()
			snap.Nodes = append(snap.Nodes, n)
			if obs != nil {
				snap.Observed.Add(h.Name, obs)
			}
			for k, v := range mem {
				snap.Memory[k] = v
			}
			for k, v := range hl {
				snap.Health[k] = v
			}
		}()
	}
	wg.Wait()
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Name < snap.Nodes[j].Name })
	snap.Observed.Sort()
	snap.Took = time.Since(start)
	return snap
}

func pollHost(ctx context.Context, hs *Hosts, t Target, name string, units map[string]*stack.Unit, o PollOptions, n *Node) (*stack.Observed, map[string]int64, map[string]string, error) {
	engines, errs := hs.Engines(ctx, t.File, []string{name})
	if err := errs[name]; err != nil {
		return nil, nil, nil, err
	}
	e := engines[name]
	info, err := e.Info(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	n.Reachable = true
	n.CPUs, n.MemoryBytes, n.EngineVersion = info.CPUs, info.MemoryBytes, info.ServerVersion
	n.Containers, n.Running = info.Containers, info.Running
	obs, err := e.Observe(ctx, t.File.Project, Env, "")
	if err != nil {
		return nil, nil, nil, err
	}
	mem := map[string]int64{}
	hl := map[string]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range obs.Containers {
		if c.State != stack.StateRunning {
			continue
		}
		n.TasksRunning++
		if !o.Memory {
			if o.Previous != nil {
				if m, ok := o.Previous.Memory[c.ID]; ok {
					mem[c.ID] = m
					n.MemoryUsed += m
				}
			}
		} else {
			g.Go(func() error {
				if m, err := e.MemoryUsage(gctx, c.ID); err == nil {
					mu.Lock()
					mem[c.ID] = m
					n.MemoryUsed += m
					mu.Unlock()
				}
				return nil
			})
		}
		u := units[c.Key()]
		if u == nil || u.Health == nil || u.Health.Port == 0 || u.Probe == "" {
			continue
		}
		g.Go(func() error {
			pctx, cancel := context.WithTimeout(gctx, 2*time.Second)
			defer cancel()
			s := "healthy"
			if err := o.Probe(pctx, u.Health, u.Probe); err != nil {
				s = "unhealthy: " + err.Error()
			}
			mu.Lock()
			hl[c.Key()] = s
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	return obs, mem, hl, nil
}

// Decorate fills memory use and health from a snapshot into job states.
func (s *Snapshot) Decorate(jobs []Job) {
	for i := range jobs {
		for k := range jobs[i].Tasks {
			t := &jobs[i].Tasks[k]
			t.Memory = s.Memory[t.ID]
			if t.State == "running" {
				t.Health = s.Health[TaskKey(jobs[i].Job, t.Task)]
			}
		}
	}
}

// TaskKey is the unit key of a job's task.
func TaskKey(job string, task int) string { return devenv.TaskKey(job, task) }

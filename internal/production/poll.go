package production

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/prodspec"
	"golang.org/x/sync/errgroup"
)

// Snapshot is one poll of every production host.
type Snapshot struct {
	At       time.Time         `json:"at"`
	Took     time.Duration     `json:"took_ns"`
	Nodes    []status.Node     `json:"nodes"`
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
func Poll(ctx context.Context, fl *fleet.Fleet, d *status.Desired, o PollOptions) *Snapshot {
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
	for _, h := range d.File.Hosts {
		if h.Docker == "" && tasks[h.Name] == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			n := status.Node{Name: h.Name, Address: h.Address, Docker: h.Docker, Tasks: tasks[h.Name]}
			obs, mem, hl, err := pollHost(hctx, fl, d.File, h.Name, units, o, &n)
			n.LatencyMS = time.Since(start).Milliseconds()
			n.Checked = time.Now()
			if err != nil {
				n.Reachable, n.Error = false, err.Error()
				fl.Drop(h.Name)
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

func pollHost(ctx context.Context, fl *fleet.Fleet, f *prodspec.File, name string, units map[string]*stack.Unit, o PollOptions, n *status.Node) (*stack.Observed, map[string]int64, map[string]string, error) {
	set, errs := fl.Connect(ctx, f, []string{name})
	if err := errs[name]; err != nil {
		return nil, nil, nil, err
	}
	e := set[name].Engine
	info, err := e.Info(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	n.Reachable = true
	n.SetEngine(info)
	obs, err := e.Observe(ctx, f.Project, Env, "")
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
func (s *Snapshot) Decorate(jobs []status.Job) {
	for i := range jobs {
		for k := range jobs[i].Tasks {
			t := &jobs[i].Tasks[k]
			t.Memory = s.Memory[t.ID]
			if t.State == "running" {
				t.Health = s.Health[rewrite.TaskKey(jobs[i].Job, t.Task)]
			}
		}
	}
}

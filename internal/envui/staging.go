package envui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/swarm"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// Staging is a staging pool.
type Staging struct {
	Local
	Timeout time.Duration // per pool host; 0: 5 s
	Dial    fleet.Dialer  // how a pool host's engine is reached; nil: its docker: endpoint

	mu sync.Mutex
	fl *fleet.Fleet // kept between looks; Connect dials only new or changed hosts
}

// NewStaging is the pool of the file load reads.
func NewStaging(l Local) *Staging {
	l.env = stack.Staging
	return &Staging{Local: l}
}

// Env describes the pool.
func (s *Staging) Env() ui.Env {
	e := ui.Env{Name: stack.Staging, Actions: []string{"up", "down", "reload"}}
	if f, err := s.Load(); err == nil {
		e.Project = f.Project
		if hs, err := converge.PoolHosts(f); err == nil {
			var names []string
			for _, h := range hs {
				names = append(names, h.Name)
			}
			e.Detail = "pool: " + strings.Join(names, ", ")
		}
	}
	return e
}

// connect is the pool the file names now: connections to hosts already
// dialled are kept, hosts added to the pool or whose endpoint changed are
// dialled; a failed look drops them all.
func (s *Staging) connect(ctx context.Context, f *prodspec.File) (*converge.Pool, error) {
	s.mu.Lock()
	if s.fl == nil {
		t := s.Timeout
		if t == 0 {
			t = 5 * time.Second
		}
		s.fl = &fleet.Fleet{Timeout: t, Dial: s.dial}
	}
	fl := s.fl
	s.mu.Unlock()
	return converge.DialPool(ctx, fl, f)
}

// dial is s.Dial as it is when a host is dialled.
func (s *Staging) dial(ctx context.Context, h *prodspec.Host, timeout time.Duration) (fleet.Engine, error) {
	if s.Dial != nil {
		return s.Dial(ctx, h, timeout)
	}
	return fleet.DialDocker(ctx, h, timeout)
}

func (s *Staging) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fl != nil {
		s.fl.Close()
	}
}

func (s *Staging) prepare(ctx context.Context) (*prodspec.File, *converge.Pool, *converge.StagingPrepared, error) {
	f, err := s.Load()
	if err != nil {
		return nil, nil, nil, err
	}
	pool, err := s.connect(ctx, f)
	if err != nil {
		return nil, nil, nil, err
	}
	if f.Orchestrator(stack.Staging.String()) == prodspec.OrchestratorSwarm {
		// On Docker Swarm: the swarm's plan, and the containers Swarm runs
		// (they carry cjob's labels) for the jobs' states.
		sp, err := converge.PrepareStagingSwarm(ctx, pool, f, nil)
		if err != nil {
			s.drop()
			return nil, nil, nil, err
		}
		obs, err := pool.Observe(ctx, f.Project)
		if err != nil {
			s.drop()
			return nil, nil, nil, err
		}
		return f, pool, &converge.StagingPrepared{Prepared: converge.Prepared{File: f, Rewrite: sp.Rewrite, Observed: obs}, Placement: sp.Placement, Swarm: sp}, nil
	}
	prep, err := converge.PrepareStaging(ctx, pool, f, plan.Options{})
	if err != nil {
		s.drop()
		return nil, nil, nil, err
	}
	return f, pool, prep, nil
}

// actSwarm runs up, down or reload of one job on Docker Swarm.
func (s *Staging) actSwarm(ctx context.Context, a ui.Action, f *prodspec.File, prep *converge.SwarmPrepared, job string, rep progress.Reporter) ui.Result {
	start := time.Now()
	var keep []*swarm.Op
	for _, o := range prep.Plan.Ops {
		mine := (o.Current != nil && o.Current.Labels[stack.LabelJob] == job) || (o.Action != swarm.Remove && o.Service.Unit.Job == job)
		if !mine {
			continue
		}
		switch a.Verb {
		case "down":
			if o.Current == nil {
				continue
			}
			o.Action, o.Cause = swarm.Remove, "down from the web UI"
		case "reload":
			if o.Current != nil && o.Action == swarm.None {
				o.Action, o.Cause, o.Service.Force = swarm.Update, "reload", true
			}
		default:
			if o.Action == swarm.Remove {
				continue
			}
		}
		o.Needs = nil
		keep = append(keep, o)
	}
	prep.Plan.Ops = keep
	res := swarm.Up(ctx, prep.Cluster, prep.Plan, nil, swarm.UpOptions{Reporter: rep})
	return s.finish(a, outcome{project: f.Project, target: job, start: start, res: res.Applied()})
}

// Snapshot is the pool now: every job's tasks where placement put them,
// and each pool host.
func (s *Staging) Snapshot(ctx context.Context, fresh bool) (*ui.Snapshot, error) {
	f, pool, prep, err := s.prepare(ctx)
	if err != nil {
		return nil, err
	}
	des := status.Desire(f, 0, prep.Rewrite.Stack)
	out := &ui.Snapshot{At: time.Now()}
	deps := status.Dependencies(f)
	for _, j := range des.Jobs(prep.Observed, nil) {
		uj := ui.Job{Job: j, Deps: deps[j.Job]}
		for _, u := range des.Units[j.Job] {
			for _, url := range u.URLs {
				uj.URLs = append(uj.URLs, url.Local)
			}
		}
		out.Jobs = append(out.Jobs, uj)
	}
	tasks, running := map[string]int{}, map[string]int{}
	for _, u := range prep.Rewrite.Stack.Units {
		tasks[u.Engine]++
	}
	for _, c := range prep.Observed.Containers {
		if c.State == stack.StateRunning {
			running[c.Engine]++
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range pool.Names() {
		m := pool.Set[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := status.Node{Name: name, Address: m.Address, Docker: m.Engine.Host(), Tasks: tasks[name], TasksRunning: running[name], Checked: time.Now()}
			start := time.Now()
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			info, err := m.Engine.Info(ictx)
			cancel()
			n.LatencyMS = time.Since(start).Milliseconds()
			if err != nil {
				n.Error = err.Error()
			} else {
				n.Reachable = true
				n.SetEngine(info)
			}
			mu.Lock()
			out.Nodes = append(out.Nodes, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	return out, nil
}

// find locates a container of the pool by name or ID prefix.
func (s *Staging) find(ctx context.Context, name string) (fleet.Engine, *stack.Container, error) {
	f, err := s.Load()
	if err != nil {
		return nil, nil, err
	}
	pool, err := s.connect(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	obs, err := pool.Observe(ctx, f.Project)
	if err != nil {
		s.drop()
		return nil, nil, err
	}
	for _, c := range obs.Containers {
		if c.Name == name || (len(name) >= 6 && strings.HasPrefix(c.ID, name)) {
			return pool.Set[c.Engine].Engine, c, nil
		}
	}
	return nil, nil, fmt.Errorf("no staging container %s", name)
}

// Logs writes a pool container's log.
func (s *Staging) Logs(ctx context.Context, container string, tail int, follow bool, w io.Writer) error {
	e, c, err := s.find(ctx, container)
	if err != nil {
		return err
	}
	return logs(ctx, e, c.ID, tail, follow, w)
}

// Inspect is a pool container's inspect document, secrets masked.
func (s *Staging) Inspect(ctx context.Context, container string) (json.RawMessage, error) {
	e, c, err := s.find(ctx, container)
	if err != nil {
		return nil, err
	}
	raw, err := e.InspectRaw(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return jobdiff.MaskInspect(raw, stack.LabelSpec)
}

// Act runs up, down or reload on one job of the pool, with the placement
// `cjob staging up` would make.
func (s *Staging) Act(ctx context.Context, a ui.Action, rep progress.Reporter) ui.Result {
	f, pool, prep, err := s.prepare(ctx)
	if err != nil {
		return ui.Result{Message: err.Error()}
	}
	start := time.Now()
	j, err := f.ResolveJob(a.Job)
	if err != nil {
		return ui.Result{Message: err.Error()}
	}
	job := j.FullName()
	if prep.Swarm != nil {
		if a.Verb != "up" && a.Verb != "down" && a.Verb != "reload" {
			return ui.Result{Message: "no action " + a.Verb + " here"}
		}
		return s.actSwarm(ctx, a, f, prep.Swarm, job, rep)
	}
	switch a.Verb {
	case "up", "down", "reload":
		// The job's volumes, on the engines its tasks run on.
		volumes := map[string]bool{}
		for _, u := range prep.Rewrite.Stack.Units {
			if u.Job != job {
				continue
			}
			for _, m := range u.Spec.Mounts {
				if m.Type == "volume" {
					volumes[stack.VolumeKey(u.Engine, m.Source)] = true
				}
			}
		}
		var keep []*plan.Op
		for _, op := range prep.Plan.Ops {
			mine := (op.Unit != nil && op.Unit.Job == job) || (op.Current != nil && op.Current.Labels[stack.LabelJob] == job)
			if op.Action == plan.ActionCreateVolume && volumes[stack.VolumeKey(op.Engine, op.Subject)] && a.Verb != "down" {
				mine = true
			}
			if !mine {
				continue
			}
			if a.Verb == "down" {
				if op.Current == nil {
					continue
				}
				op.Action, op.Unit, op.Deps = plan.ActionRemove, nil, nil
			}
			if a.Verb == "reload" && op.Current != nil && op.Unit != nil {
				op.Action, op.Cause = plan.ActionRecreate, "reload"
			}
			keep = append(keep, op)
		}
		for i, op := range keep {
			op.ID, op.Deps = i+1, nil
		}
		prep.Plan.Ops = keep
	default:
		return ui.Result{Message: "no action " + a.Verb + " here"}
	}
	res := converge.UpStaging(ctx, pool, prep, converge.UpOptions{Reporter: rep})
	return s.finish(a, outcome{project: f.Project, target: job, start: start, res: res})
}

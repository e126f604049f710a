package production

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/swarm"
	"github.com/cjob/cjob/prodspec"
)

// Production on Docker Swarm (environments.production.orchestrator:
// swarm): the production hosts are the swarm's nodes, each task a service
// on the node labelled cjob.host=<its host>. Swarm places, restarts and
// rolls; cjob orders, gates on health and reports. The containers Swarm
// runs carry cjob's labels, so the poll, status, the UI and diffs read them
// as they read cjob's own.

// OnSwarm says whether the file's production runs on Docker Swarm.
func OnSwarm(f *prodspec.File) bool {
	return f.Orchestrator(Env.String()) == prodspec.OrchestratorSwarm
}

// cluster connects to every host with an engine endpoint and finds the
// swarm they form; every host that runs a task must answer.
func (d *Deployer) cluster(ctx context.Context, f *prodspec.File) (*swarm.Cluster, error) {
	need := map[string]bool{}
	for _, h := range UsedHosts(f) {
		need[h] = true
	}
	var names []string
	for _, h := range f.Hosts {
		if h.Docker != "" || need[h.Name] {
			names = append(names, h.Name)
		}
	}
	set, errs := d.Fleet.Connect(ctx, f, names)
	missing := HostsError{}
	for n, err := range errs {
		if need[n] {
			missing[n] = err
		}
	}
	if len(missing) > 0 {
		return nil, missing
	}
	return swarm.FromFleet(ctx, set)
}

// swarmRequest is one change of production on the swarm.
type swarmRequest struct {
	target Target
	job    string // "" every job
	action string
	force  bool // replace the tasks even when unchanged (reload)
	down   bool
}

// onSwarm plans the job's services (or every job's) against the swarm and
// applies the plan: Swarm replaces a changed task stop-first and rolls it
// back when the new one fails within its monitor period.
func (d *Deployer) onSwarm(ctx context.Context, r swarmRequest, rep progress.Reporter) (*Outcome, []string, error) {
	start := time.Now()
	t := r.target
	job := r.job
	if job != "" {
		j, err := t.File.ResolveJob(job)
		if err != nil {
			return nil, nil, err
		}
		job = j.FullName()
	}
	st, notes, err := stackOf(t)
	if err != nil {
		return nil, nil, err
	}
	c, err := d.cluster(ctx, t.File)
	if err != nil {
		return nil, nil, err
	}
	out := &Outcome{Job: job, Action: r.action, Version: t.Version}
	units := st.Units
	var warnings []string
	if job == "" {
		out.Job = "*"
	} else {
		units = JobUnits(st, job)
		warnings = notesFor(notes, job)
	}
	if r.down {
		n, err := swarm.DownJob(ctx, c, t.File.Project, Env, job, rep)
		out.Changed, out.Elapsed = n, time.Since(start)
		if err != nil {
			out.Failures = append(out.Failures, err.Error())
			return out, warnings, fmt.Errorf("down %s: %w", job, err)
		}
		return out, warnings, nil
	}
	obs, err := c.Manager.SwarmObserve(ctx, t.File.Project, Env)
	if err != nil {
		return nil, nil, err
	}
	if err := c.CheckNodes(obs); err != nil {
		return nil, nil, err
	}
	if job != "" {
		obs = jobServices(obs, job)
	}
	sub := subStack(st, units)
	images, err := swarm.ResolveImages(ctx, c, sub, nil)
	if err != nil {
		return nil, nil, err
	}
	svcs, err := swarm.Services(sub, images)
	if err != nil {
		return nil, nil, err
	}
	p := swarm.Reconcile(t.File.Project, Env, c.ManagerHost, svcs, obs, c.NodeID, images)
	if job == "" { // up of every job leaves other services alone, as UpAll does
		var keep []*swarm.Op
		for _, o := range p.Ops {
			if o.Action != swarm.Remove {
				keep = append(keep, o)
			}
		}
		p.Ops = keep
	}
	if r.action == "rolling-update" {
		// Task by task: each task's service waits for the one before it,
		// so a failure stops the roll with the rest on their old spec.
		prev := ""
		for _, o := range p.Ops {
			if o.Action == swarm.Remove {
				continue
			}
			if prev != "" {
				o.Needs = append(o.Needs, prev)
			}
			prev = o.Name()
		}
	}
	if r.force {
		for _, o := range p.Ops {
			if o.Action == swarm.None {
				o.Action, o.Cause, o.Service.Force = swarm.Update, "reload", true
			}
		}
	}
	res := swarm.Up(ctx, c, p, nil, swarm.UpOptions{Reporter: rep, Probe: d.Probe})
	out.Changed = len(res.Done)
	out.Failures = failures(res.Applied())
	out.RolledBack = len(res.RolledBack) > 0
	out.Elapsed = time.Since(start)
	if err := res.Err(); err != nil {
		var rb *swarm.RolledBackError
		if errors.As(err, &rb) {
			return out, warnings, fmt.Errorf("%s %s: %w; Swarm runs the previous spec", r.action, out.Job, err)
		}
		return out, warnings, fmt.Errorf("%s %s: %w", r.action, out.Job, err)
	}
	return out, warnings, nil
}

// jobServices is the part of a look at the swarm that is one job's.
func jobServices(obs *stack.SwarmObserved, job string) *stack.SwarmObserved {
	out := &stack.SwarmObserved{Nodes: obs.Nodes}
	ids := map[string]bool{}
	for _, s := range obs.Services {
		if s.Labels[stack.LabelJob] == job {
			out.Services = append(out.Services, s)
			ids[s.ID] = true
		}
	}
	for _, t := range obs.Tasks {
		if ids[t.Service] {
			out.Tasks = append(out.Tasks, t)
		}
	}
	return out
}

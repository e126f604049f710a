// Package production runs a pushed jobs file on the production hosts'
// engines: one job at a time, as operators ask (`up`, `down`, `reload`,
// `rolling-update`), and reports what every host holds.
//
// It takes the same road as the dev and staging commands: the file is
// rewritten into a stack (rewrite.Production: every task on its own host's
// engine), the hosts are observed (package fleet), a plan is made and
// applied. What differs is scope: an operation plans one job, so the rest of
// production is never touched by it.
package production

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Env is the environment of production's containers.
const Env = stack.Production

// Target is a pushed version of the jobs file.
type Target struct {
	File    *prodspec.File
	Version int64
}

// Deployer changes production, one job at a time.
type Deployer struct {
	Fleet    *fleet.Fleet // the production hosts' engines
	Parallel int          // engine calls in flight; 0: 16
	Probe    apply.Prober // nil: health.Probe
}

// Outcome is what an operation did.
type Outcome struct {
	Job        string        `json:"job"`
	Action     string        `json:"action"`
	Changed    int           `json:"changed"`
	Failures   []string      `json:"failures,omitempty"`
	RolledBack bool          `json:"rolled_back,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Version    int64         `json:"version,omitempty"` // the version the job runs now
}

// HostsError is every host an operation needs that did not answer; nothing
// was changed.
type HostsError fleet.Errors

func (e HostsError) Error() string {
	lines := fleet.Errors(e).Lines()
	if len(lines) == 1 {
		return lines[0] + "; nothing was changed"
	}
	return fmt.Sprintf("%d hosts unreachable; nothing was changed:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Unwrap gives each host's error to errors.Is and errors.As.
func (e HostsError) Unwrap() []error { return fleet.Errors(e).Unwrap() }

// stackOf is the production stack of a version, and what the rewrite says
// about each job (host paths the engine makes, say).
func stackOf(t Target) (*stack.Stack, []rewrite.Note, error) {
	res, err := rewrite.Production(t.File, t.Version)
	if err != nil {
		return nil, nil, err
	}
	return res.Stack, res.Notes, nil
}

// notesFor are the notes about job, as lines for the operator.
func notesFor(notes []rewrite.Note, job string) []string {
	var out []string
	for _, n := range notes {
		if n.Subject == job {
			out = append(out, job+": "+n.Text)
		}
	}
	return out
}

// JobUnits are the units of one job, by task number.
func JobUnits(st *stack.Stack, job string) []*stack.Unit {
	var out []*stack.Unit
	for _, u := range st.Units {
		if u.Job == job {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}

// scoped is what an operation on one job sees of production: the engines
// it may touch and the job's containers on them.
type scoped struct {
	set      fleet.Set
	observed *stack.Observed // the job's containers only
	warnings []string
}

// scope connects to the hosts a job needs (all must answer) and to every
// other host of the file (best effort: a moved task may have left a
// container there), and observes the job's containers on them.
func (d *Deployer) scope(ctx context.Context, f *prodspec.File, job string) (*scoped, error) {
	need := map[string]bool{}
	if j := f.Job(job); j != nil {
		for _, t := range j.Tasks {
			need[t.Host] = true
		}
	}
	var names []string
	for _, h := range f.Hosts {
		if h.Docker != "" || need[h.Name] {
			names = append(names, h.Name)
		}
	}
	set, errs := d.Fleet.Connect(ctx, f, names)
	missing := HostsError{}
	sc := &scoped{set: set}
	for n, err := range errs {
		if need[n] {
			missing[n] = err
		} else {
			sc.warnings = append(sc.warnings, err.Error()+" (the job has no task there; not checked for old containers)")
		}
	}
	if len(missing) > 0 {
		return nil, missing
	}
	obs, oerrs := set.Observe(ctx, f.Project, Env)
	for n, err := range oerrs {
		d.Fleet.Drop(n)
		if need[n] {
			missing[n] = err
		} else {
			sc.warnings = append(sc.warnings, err.Error())
		}
	}
	if len(missing) > 0 {
		return nil, missing
	}
	sort.Strings(sc.warnings)
	sc.observed = filterJob(obs, job)
	return sc, nil
}

func filterJob(obs *stack.Observed, job string) *stack.Observed {
	out := &stack.Observed{Volumes: obs.Volumes, NetworkExists: obs.NetworkExists}
	for _, c := range obs.Containers {
		if c.Labels[stack.LabelJob] == job {
			out.Containers = append(out.Containers, c)
		}
	}
	return out
}

func (d *Deployer) run(ctx context.Context, p *plan.Plan, set fleet.Set, rep progress.Reporter) *apply.Result {
	return apply.Run(ctx, p, apply.On(set.Engines()), apply.Options{Parallel: d.Parallel, Reporter: rep, Probe: d.Probe})
}

func subStack(st *stack.Stack, units []*stack.Unit) *stack.Stack {
	return &stack.Stack{Project: st.Project, Env: st.Env, Units: units}
}

func failures(r *apply.Result) []string {
	var out []string
	for _, f := range r.Failures {
		s := f.Subject + ": " + f.Err.Error()
		if f.LogTail != "" {
			s += "\n" + indent(f.LogTail)
		}
		out = append(out, s)
	}
	for _, s := range r.Skipped {
		out = append(out, s+": skipped, a dependency failed")
	}
	return out
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// ErrUnknownJob is returned for a job the version does not declare.
var ErrUnknownJob = prodspec.ErrUnknownJob

// ResolveJob names a job of f by its full name or an unambiguous short one.
func ResolveJob(f *prodspec.File, job string) (string, error) {
	j, err := f.ResolveJob(job)
	if err != nil {
		return "", err
	}
	return j.FullName(), nil
}

// Up starts every task of the job with the version's config: missing tasks
// are created, changed ones recreated, stopped ones started, tasks the
// version no longer declares removed. Other jobs are not touched.
func (d *Deployer) Up(ctx context.Context, t Target, job string, rep progress.Reporter) (*Outcome, []string, error) {
	if OnSwarm(t.File) {
		return d.onSwarm(ctx, swarmRequest{target: t, job: job, action: "up"}, rep)
	}
	return d.converge(ctx, convergeRequest{target: t, job: job, action: "up"}, rep)
}

// Reload recreates one task (task > 0) or every task of the job with the
// version's config, whether or not it changed.
func (d *Deployer) Reload(ctx context.Context, t Target, job string, task int, rep progress.Reporter) (*Outcome, []string, error) {
	if OnSwarm(t.File) {
		if task > 0 {
			return nil, nil, fmt.Errorf("reload of one task is not supported on Docker Swarm: reload the whole job (each task is its own service; Swarm replaces them one by one)")
		}
		return d.onSwarm(ctx, swarmRequest{target: t, job: job, action: "reload", force: true}, rep)
	}
	return d.converge(ctx, convergeRequest{target: t, job: job, action: "reload", plan: plan.Options{Force: true, KeepOrphans: task > 0}, task: task}, rep)
}

type convergeRequest struct {
	target Target
	job    string
	action string
	plan   plan.Options
	task   int // one task (1-based); 0: every task
}

func (d *Deployer) converge(ctx context.Context, r convergeRequest, rep progress.Reporter) (*Outcome, []string, error) {
	start := time.Now()
	t := r.target
	j, err := t.File.ResolveJob(r.job)
	if err != nil {
		return nil, nil, err
	}
	job := j.FullName()
	st, notes, err := stackOf(t)
	if err != nil {
		return nil, nil, err
	}
	units := JobUnits(st, job)
	if r.task > 0 {
		var sel []*stack.Unit
		for _, u := range units {
			if u.Task == r.task {
				sel = append(sel, u)
			}
		}
		if len(sel) == 0 {
			return nil, nil, fmt.Errorf("%s has %d task(s); there is no task %d", job, len(units), r.task)
		}
		units = sel
	}
	sc, err := d.scope(ctx, t.File, job)
	if err != nil {
		return nil, nil, err
	}
	sc.warnings = append(notesFor(notes, job), sc.warnings...)
	p := plan.Reconcile(subStack(st, units), sc.observed, r.plan)
	res := d.run(ctx, p, sc.set, rep)
	out := &Outcome{Job: job, Action: r.action, Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start), Version: t.Version}
	if err := res.Err(); err != nil {
		return out, sc.warnings, fmt.Errorf("%s %s: %w", r.action, job, err)
	}
	return out, sc.warnings, nil
}

// Down stops and removes every container of the job on every host.
func (d *Deployer) Down(ctx context.Context, f *prodspec.File, job string, rep progress.Reporter) (*Outcome, []string, error) {
	if OnSwarm(f) {
		return d.onSwarm(ctx, swarmRequest{target: Target{File: f}, job: job, action: "down", down: true}, rep)
	}
	start := time.Now()
	j, err := f.ResolveJob(job)
	if err != nil {
		return nil, nil, err
	}
	job = j.FullName()
	sc, err := d.scope(ctx, f, job)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Down(f.Project, Env, sc.observed, plan.DownOptions{})
	res := d.run(ctx, p, sc.set, rep)
	out := &Outcome{Job: job, Action: "down", Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start)}
	if err := res.Err(); err != nil {
		return out, sc.warnings, fmt.Errorf("down %s: %w", job, err)
	}
	return out, sc.warnings, nil
}

// RollingOptions tune a rolling update.
type RollingOptions struct {
	MaxParallel int // tasks replaced at once; 0: 1
	// HealthTimeout bounds how long a new task may take to pass its check
	// (0: the job's own, start period + interval x retries).
	HealthTimeout time.Duration
}

// bounded is u with its check's deadline cut to d.
func bounded(u *stack.Unit, d time.Duration) *stack.Unit {
	if d <= 0 || u.Health == nil {
		return u
	}
	c, h := *u, *u.Health
	interval := h.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	h.StartPeriod = 0
	h.Retries = max(1, int((d+interval-1)/interval))
	c.Health = &h
	return &c
}

// RollingUpdate moves the job onto the version task by task (MaxParallel at
// a time), each batch ready before the next starts. When a batch fails, it
// stops and puts every task it replaced back as it was (the old container's
// recorded spec and version), so the job ends either fully on the new
// version or fully on the old one. Tasks already on the new config are left
// as they are; tasks the version no longer declares are removed last.
//
// On Docker Swarm, Swarm rolls the job's services by their update config
// (one at a time, stop-first) and rolls a failed one back by itself.
func (d *Deployer) RollingUpdate(ctx context.Context, t Target, job string, o RollingOptions, rep progress.Reporter) (*Outcome, []string, error) {
	if OnSwarm(t.File) {
		return d.onSwarm(ctx, swarmRequest{target: t, job: job, action: "rolling-update"}, rep)
	}
	start := time.Now()
	j, err := t.File.ResolveJob(job)
	if err != nil {
		return nil, nil, err
	}
	job = j.FullName()
	if o.MaxParallel <= 0 {
		o.MaxParallel = 1
	}
	st, notes, err := stackOf(t)
	if err != nil {
		return nil, nil, err
	}
	units := JobUnits(st, job)
	sc, err := d.scope(ctx, t.File, job)
	if err != nil {
		return nil, nil, err
	}
	sc.warnings = append(notesFor(notes, job), sc.warnings...)
	before := sc.observed.ByKey()
	out := &Outcome{Job: job, Action: "rolling-update", Version: t.Version}
	var touched []*stack.Unit
	for i := 0; i < len(units); i += o.MaxParallel {
		var batch []*stack.Unit
		for _, u := range units[i:min(i+o.MaxParallel, len(units))] {
			batch = append(batch, bounded(u, o.HealthTimeout))
		}
		p := plan.Reconcile(subStack(st, batch), sc.observed, plan.Options{KeepOrphans: true})
		if p.Empty() {
			for _, u := range batch {
				report(rep, u.Key, progress.Done, "Already on version "+strconv.FormatInt(t.Version, 10))
			}
			continue
		}
		// The rollback waits for the old tasks with the job's own check,
		// not the one cut to HealthTimeout for the new ones.
		touched = append(touched, units[i:min(i+o.MaxParallel, len(units))]...)
		res := d.run(ctx, p, sc.set, rep)
		out.Changed += res.Done
		if err := res.Err(); err != nil || ctx.Err() != nil {
			out.Failures = failures(res)
			if ctx.Err() != nil {
				out.Failures = append(out.Failures, "interrupted: "+ctx.Err().Error())
			}
			// Roll back with a fresh context: the operator's cancel must
			// not leave the job half-updated.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			defer cancel()
			rerr := d.rollback(rctx, rollback{project: t.File.Project, job: job, touched: touched, before: before, set: sc.set}, rep)
			out.Elapsed = time.Since(start)
			out.Version = versionOf(before)
			if rerr != nil {
				out.Failures = append(out.Failures, "rollback: "+rerr.Error())
				return out, sc.warnings, fmt.Errorf("rolling update of %s failed at task %d, and rolling back failed too: %v; the job may be partly on version %d: check `cjob status %s`", job, batch[0].Task, rerr, t.Version, job)
			}
			out.RolledBack = true
			return out, sc.warnings, fmt.Errorf("rolling update of %s failed at task %d (%s); the %d task(s) already replaced were rolled back, so the job runs its previous version", job, batch[0].Task, firstLine(out.Failures), len(touched))
		}
	}
	// Tasks the version no longer declares go last.
	if err := d.removeUndeclared(ctx, st, units, sc, job, out, rep); err != nil {
		out.Elapsed = time.Since(start)
		return out, sc.warnings, fmt.Errorf("rolling update of %s: every task is on version %d, but %w", job, t.Version, err)
	}
	out.Elapsed = time.Since(start)
	return out, sc.warnings, nil
}

// removeUndeclared removes the job's containers that the version does not
// declare (a task dropped, or moved to another host), looking at the hosts
// afresh; a host that cannot be looked at is an error, never skipped.
func (d *Deployer) removeUndeclared(ctx context.Context, st *stack.Stack, units []*stack.Unit, sc *scoped, job string, out *Outcome, rep progress.Reporter) error {
	orphans := false
	for _, op := range plan.Reconcile(subStack(st, units), sc.observed, plan.Options{}).Ops {
		if op.Action == plan.ActionRemove {
			orphans = true
		}
	}
	if !orphans {
		return nil
	}
	fresh, oerrs := sc.set.Observe(ctx, st.Project, Env)
	if len(oerrs) > 0 {
		return fmt.Errorf("the tasks it no longer declares could not be looked for (%w): run `cjob up %s` when the hosts answer", oerrs, job)
	}
	p := plan.Reconcile(subStack(st, units), filterJob(fresh, job), plan.Options{})
	res := d.run(ctx, p, sc.set, rep)
	out.Changed += res.Done
	if err := res.Err(); err != nil {
		out.Failures = failures(res)
		return fmt.Errorf("removing the tasks it no longer declares failed: %w", err)
	}
	return nil
}

func firstLine(s []string) string {
	if len(s) == 0 {
		return "no detail"
	}
	l, _, _ := strings.Cut(s[0], "\n")
	return l
}

// versionOf is the version the job's containers carried before.
func versionOf(cs map[string][]*stack.Container) int64 {
	var v int64
	for _, list := range cs {
		for _, c := range list {
			if n, err := strconv.ParseInt(c.Labels[stack.LabelVersion], 10, 64); err == nil && n > v {
				v = n
			}
		}
	}
	return v
}

// rollback is what a failed rolling update puts back.
type rollback struct {
	project, job string
	touched      []*stack.Unit                 // the units the update replaced
	before       map[string][]*stack.Container // the job's containers before it, by key
	set          fleet.Set
}

// rollback puts each touched unit back as its old container was: same spec,
// same version label. A task that had no container before is removed.
func (d *Deployer) rollback(ctx context.Context, rb rollback, rep progress.Reporter) error {
	// Only the hosts the job's tasks were or are on matter: one that the job
	// does not use going down does not stop the rollback.
	hosts := fleet.Set{}
	for _, u := range rb.touched {
		if m := rb.set[u.Engine]; m != nil {
			hosts[u.Engine] = m
		}
		for _, c := range rb.before[u.Key] {
			if m := rb.set[c.Engine]; m != nil {
				hosts[c.Engine] = m
			}
		}
	}
	fresh, oerrs := hosts.Observe(ctx, rb.project, Env)
	if len(oerrs) > 0 {
		return oerrs
	}
	obs := filterJob(fresh, rb.job)
	var units []*stack.Unit
	var remove []*stack.Container
	for _, u := range rb.touched {
		olds := rb.before[u.Key]
		if len(olds) == 0 {
			remove = append(remove, obs.ByKey()[u.Key]...)
			continue
		}
		old := olds[0]
		spec, ok := old.Spec()
		if !ok {
			return fmt.Errorf("task %s: its old container %s records no spec (made by hand?); recreate it with `cjob up %s`", u.Key, old.Name, rb.job)
		}
		back := *u
		back.Spec = spec
		back.Engine = old.Engine
		back.Oneshot = old.Labels[stack.LabelOneshot] == "true"
		back.Labels = map[string]string{stack.LabelVersion: old.Labels[stack.LabelVersion]}
		units = append(units, &back)
		report(rep, u.Key, progress.Working, "Rolling back to version "+old.Labels[stack.LabelVersion])
	}
	p := plan.Reconcile(&stack.Stack{Project: rb.project, Env: Env, Units: units}, obs, plan.Options{KeepOrphans: true})
	for _, c := range remove {
		p.Ops = append(p.Ops, &plan.Op{ID: len(p.Ops) + 1, Action: plan.ActionRemove, Subject: c.Key(), Current: c, Engine: c.Engine, Cause: "not there before the update"})
	}
	res := d.run(ctx, p, rb.set, rep)
	if err := res.Err(); err != nil {
		// Say why, not only which tasks.
		return fmt.Errorf("%w (%s)", err, firstLine(failures(res)))
	}
	return nil
}

func report(rep progress.Reporter, unit string, s progress.Status, text string) {
	if rep != nil {
		rep.Report(progress.Event{Unit: unit, Status: s, Text: text})
	}
}

// UpAll brings every job of the version up at once, along depends_on (a
// job starts as soon as its own dependencies are ready), as `dev up` does.
// Every host that runs a task must answer first. Containers of jobs the
// version no longer declares are left alone: `down` removes them.
func (d *Deployer) UpAll(ctx context.Context, t Target, rep progress.Reporter) (*Outcome, error) {
	if OnSwarm(t.File) {
		out, _, err := d.onSwarm(ctx, swarmRequest{target: t, action: "up"}, rep)
		return out, err
	}
	start := time.Now()
	st, _, err := stackOf(t)
	if err != nil {
		return nil, err
	}
	set, errs := d.Fleet.Connect(ctx, t.File, UsedHosts(t.File))
	if len(errs) > 0 {
		return nil, HostsError(errs)
	}
	obs, oerrs := set.Observe(ctx, t.File.Project, Env)
	if len(oerrs) > 0 {
		for n := range oerrs {
			d.Fleet.Drop(n)
		}
		return nil, HostsError(oerrs)
	}
	p := plan.Reconcile(st, obs, plan.Options{KeepOrphans: true})
	res := d.run(ctx, p, set, rep)
	out := &Outcome{Job: "*", Action: "up", Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start), Version: t.Version}
	if err := res.Err(); err != nil {
		return out, fmt.Errorf("up: %w", err)
	}
	return out, nil
}

// Preflight checks that every host the job runs on answers, before a
// change is recorded for it.
func (d *Deployer) Preflight(ctx context.Context, f *prodspec.File, job string) error {
	j, err := f.ResolveJob(job)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range j.Tasks {
		names = append(names, t.Host)
	}
	if _, errs := d.Fleet.Check(ctx, f, names); len(errs) > 0 {
		return HostsError(errs)
	}
	return nil
}

// UsedHosts are the hosts of a file that run at least one task, sorted.
func UsedHosts(f *prodspec.File) []string {
	set := map[string]bool{}
	for _, j := range f.Jobs() {
		for _, t := range j.Tasks {
			set[t.Host] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

package production

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Env is the environment label of production containers.
const Env = devenv.ProdEnv

// Target is a pushed version of the jobs file.
type Target struct {
	File    *prodspec.File
	Version int64
}

// Deployer changes production, one job at a time.
type Deployer struct {
	Hosts    *Hosts
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

// Desired is the production stack of a version: every container carries the
// version it was made from (cjob.version, not part of the config hash).
func Desired(t Target) (*stack.Stack, error) {
	res, err := devenv.RewriteProduction(t.File)
	if err != nil {
		return nil, err
	}
	st := res.Stack
	v := strconv.FormatInt(t.Version, 10)
	st.ExtraLabels = func(*stack.Unit) map[string]string { return map[string]string{stack.LabelVersion: v} }
	return st, nil
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

// scope connects to the hosts a job needs (all must answer) and to every
// other host of the file (best effort: a moved task may have left a
// container there), and observes the job's containers on them.
func (d *Deployer) scope(ctx context.Context, f *prodspec.File, job string) (map[string]*engine.Engine, *stack.Observed, []string, error) {
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
	engines, errs := d.Hosts.Engines(ctx, f, names)
	missing := HostsError{}
	var warnings []string
	for n, err := range errs {
		if need[n] {
			missing[n] = err
		} else {
			warnings = append(warnings, err.Error()+" (the job has no task there; not checked for old containers)")
		}
	}
	if len(missing) > 0 {
		return nil, nil, nil, missing
	}
	obs, oerrs := Observe(ctx, engines, f.Project)
	for n, err := range oerrs {
		if need[n] {
			d.Hosts.Drop(n)
			missing[n] = err
		} else {
			warnings = append(warnings, err.Error())
		}
	}
	if len(missing) > 0 {
		return nil, nil, nil, missing
	}
	sort.Strings(warnings)
	return engines, filterJob(obs, job), warnings, nil
}

// Observe snapshots every engine concurrently; one failing engine is in
// errs and does not stop the others.
func Observe(ctx context.Context, engines map[string]*engine.Engine, project string) (*stack.Observed, map[string]error) {
	all := &stack.Observed{Volumes: map[string]bool{}}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := e.Observe(ctx, project, Env, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = fmt.Errorf("host %s: %w", name, err)
				return
			}
			all.Add(name, o)
		}()
	}
	wg.Wait()
	all.Sort()
	return all, errs
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

func (d *Deployer) run(ctx context.Context, p *plan.Plan, engines map[string]*engine.Engine, rep progress.Reporter) *apply.Result {
	m := map[string]apply.Engine{}
	for n, e := range engines {
		m[n] = e
	}
	return apply.Run(ctx, p, nil, apply.Options{Parallel: d.Parallel, Reporter: rep, Engines: m, Probe: d.Probe})
}

func subStack(st *stack.Stack, units []*stack.Unit) *stack.Stack {
	return &stack.Stack{Project: st.Project, Env: st.Env, Units: units, ExtraLabels: st.ExtraLabels}
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
var ErrUnknownJob = errors.New("unknown job")

func jobOf(f *prodspec.File, job string) (*prodspec.Job, error) {
	j, err := devenv.ResolveJob(f, job)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownJob, err)
	}
	return j, nil
}

// ResolveJob names a job of f by its full name or an unambiguous short one.
func ResolveJob(f *prodspec.File, job string) (string, error) {
	j, err := jobOf(f, job)
	if err != nil {
		return "", err
	}
	return j.FullName(), nil
}

// Up starts every task of the job with the version's config: missing tasks
// are created, changed ones recreated, stopped ones started, tasks the
// version no longer declares removed. Other jobs are not touched.
func (d *Deployer) Up(ctx context.Context, t Target, job string, rep progress.Reporter) (*Outcome, []string, error) {
	return d.converge(ctx, t, job, "up", plan.Options{}, 0, rep)
}

// Reload recreates one task (task > 0) or every task of the job with the
// version's config, whether or not it changed.
func (d *Deployer) Reload(ctx context.Context, t Target, job string, task int, rep progress.Reporter) (*Outcome, []string, error) {
	return d.converge(ctx, t, job, "reload", plan.Options{Force: true, KeepOrphans: task > 0}, task, rep)
}

func (d *Deployer) converge(ctx context.Context, t Target, job, action string, popts plan.Options, task int, rep progress.Reporter) (*Outcome, []string, error) {
	start := time.Now()
	j, err := jobOf(t.File, job)
	if err != nil {
		return nil, nil, err
	}
	job = j.FullName()
	st, err := Desired(t)
	if err != nil {
		return nil, nil, err
	}
	units := JobUnits(st, job)
	if task > 0 {
		var sel []*stack.Unit
		for _, u := range units {
			if u.Task == task {
				sel = append(sel, u)
			}
		}
		if len(sel) == 0 {
			return nil, nil, fmt.Errorf("%s has %d task(s); there is no task %d", job, len(units), task)
		}
		units = sel
	}
	engines, obs, warnings, err := d.scope(ctx, t.File, job)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Reconcile(subStack(st, units), obs, popts)
	res := d.run(ctx, p, engines, rep)
	out := &Outcome{Job: job, Action: action, Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start), Version: t.Version}
	if err := res.Err(); err != nil {
		return out, warnings, fmt.Errorf("%s %s: %w", action, job, err)
	}
	return out, warnings, nil
}

// Down stops and removes every container of the job on every host.
func (d *Deployer) Down(ctx context.Context, f *prodspec.File, job string, rep progress.Reporter) (*Outcome, []string, error) {
	start := time.Now()
	j, err := jobOf(f, job)
	if err != nil {
		return nil, nil, err
	}
	job = j.FullName()
	engines, obs, warnings, err := d.scope(ctx, f, job)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Down(f.Project, Env, obs, plan.DownOptions{})
	res := d.run(ctx, p, engines, rep)
	out := &Outcome{Job: job, Action: "down", Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start)}
	if err := res.Err(); err != nil {
		return out, warnings, fmt.Errorf("down %s: %w", job, err)
	}
	return out, warnings, nil
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
// as they are.
func (d *Deployer) RollingUpdate(ctx context.Context, t Target, job string, o RollingOptions, rep progress.Reporter) (*Outcome, []string, error) {
	start := time.Now()
	j, err := jobOf(t.File, job)
	if err != nil {
		return nil, nil, err
	}
	job = j.FullName()
	if o.MaxParallel <= 0 {
		o.MaxParallel = 1
	}
	st, err := Desired(t)
	if err != nil {
		return nil, nil, err
	}
	units := JobUnits(st, job)
	engines, obs, warnings, err := d.scope(ctx, t.File, job)
	if err != nil {
		return nil, nil, err
	}
	before := obs.ByKey()
	out := &Outcome{Job: job, Action: "rolling-update", Version: t.Version}
	var touched []*stack.Unit
	for i := 0; i < len(units); i += o.MaxParallel {
		var batch []*stack.Unit
		for _, u := range units[i:min(i+o.MaxParallel, len(units))] {
			batch = append(batch, bounded(u, o.HealthTimeout))
		}
		p := plan.Reconcile(subStack(st, batch), obs, plan.Options{KeepOrphans: true})
		if p.Empty() {
			for _, u := range batch {
				report(rep, u.Key, progress.Done, "Already on version "+strconv.FormatInt(t.Version, 10))
			}
			continue
		}
		touched = append(touched, batch...)
		res := d.run(ctx, p, engines, rep)
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
			rerr := d.rollback(rctx, st, touched, before, engines, t.File.Project, job, rep)
			out.Elapsed = time.Since(start)
			out.Version = versionOf(before)
			if rerr != nil {
				out.Failures = append(out.Failures, "rollback: "+rerr.Error())
				return out, warnings, fmt.Errorf("rolling update of %s failed at task %d, and rolling back failed too: %v; the job is partly on version %d: check `cjob status %s`", job, batch[0].Task, rerr, t.Version, job)
			}
			out.RolledBack = true
			return out, warnings, fmt.Errorf("rolling update of %s failed at task %d (%s); the %d task(s) already replaced were rolled back, so the job runs its previous version", job, batch[0].Task, firstLine(out.Failures), len(touched))
		}
	}
	// Tasks the version no longer declares go last.
	var all = plan.Reconcile(subStack(st, units), obs, plan.Options{})
	var orphans []*plan.Op
	for _, op := range all.Ops {
		if op.Action == plan.ActionRemove {
			orphans = append(orphans, op)
		}
	}
	if len(orphans) > 0 {
		fresh, oerrs := Observe(ctx, engines, t.File.Project)
		if len(oerrs) == 0 {
			p := plan.Reconcile(subStack(st, units), filterJob(fresh, job), plan.Options{})
			res := d.run(ctx, p, engines, rep)
			out.Changed += res.Done
			if err := res.Err(); err != nil {
				out.Failures = failures(res)
				out.Elapsed = time.Since(start)
				return out, warnings, fmt.Errorf("rolling update of %s: every task is on version %d, but removing the tasks it no longer declares failed: %w", job, t.Version, err)
			}
		}
	}
	out.Elapsed = time.Since(start)
	return out, warnings, nil
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

// rollback puts each touched unit back as its old container was: same spec,
// same version label. A task that had no container before is removed.
func (d *Deployer) rollback(ctx context.Context, st *stack.Stack, touched []*stack.Unit, before map[string][]*stack.Container, engines map[string]*engine.Engine, project, job string, rep progress.Reporter) error {
	fresh, oerrs := Observe(ctx, engines, project)
	if len(oerrs) > 0 {
		return HostsError(oerrs)
	}
	obs := filterJob(fresh, job)
	var units []*stack.Unit
	labels := map[string]map[string]string{}
	var remove []*stack.Container
	for _, u := range touched {
		olds := before[u.Key]
		if len(olds) == 0 {
			for _, c := range obs.ByKey()[u.Key] {
				remove = append(remove, c)
			}
			continue
		}
		old := olds[0]
		spec, ok := old.Spec()
		if !ok {
			return fmt.Errorf("task %s: its old container %s records no spec (made by hand?); recreate it with `cjob up %s`", u.Key, old.Name, job)
		}
		back := *u
		back.Spec = spec
		back.Engine = old.Engine
		back.Oneshot = old.Labels[stack.LabelOneshot] == "true"
		units = append(units, &back)
		labels[u.Key] = map[string]string{stack.LabelVersion: old.Labels[stack.LabelVersion]}
		report(rep, u.Key, progress.Working, "Rolling back to version "+old.Labels[stack.LabelVersion])
	}
	rst := &stack.Stack{Project: st.Project, Env: st.Env, Units: units,
		ExtraLabels: func(u *stack.Unit) map[string]string { return labels[u.Key] }}
	p := plan.Reconcile(rst, obs, plan.Options{KeepOrphans: true})
	for _, c := range remove {
		p.Ops = append(p.Ops, &plan.Op{ID: len(p.Ops) + 1, Action: plan.ActionRemove, Subject: c.Key(), Current: c, Engine: c.Engine, Cause: "not there before the update"})
	}
	res := d.run(ctx, p, engines, rep)
	return res.Err()
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
	start := time.Now()
	st, err := Desired(t)
	if err != nil {
		return nil, err
	}
	names := UsedHosts(t.File)
	engines, errs := d.Hosts.Engines(ctx, t.File, names)
	if len(errs) > 0 {
		return nil, HostsError(errs)
	}
	obs, oerrs := Observe(ctx, engines, t.File.Project)
	if len(oerrs) > 0 {
		for n := range oerrs {
			d.Hosts.Drop(n)
		}
		return nil, HostsError(oerrs)
	}
	p := plan.Reconcile(st, obs, plan.Options{KeepOrphans: true})
	res := d.run(ctx, p, engines, rep)
	out := &Outcome{Job: "*", Action: "up", Changed: res.Done, Failures: failures(res), Elapsed: time.Since(start), Version: t.Version}
	if err := res.Err(); err != nil {
		return out, fmt.Errorf("up: %w", err)
	}
	return out, nil
}

// Preflight checks that every host the job runs on answers, before a
// change is recorded for it.
func (d *Deployer) Preflight(ctx context.Context, f *prodspec.File, job string) error {
	j, err := jobOf(f, job)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range j.Tasks {
		names = append(names, t.Host)
	}
	if _, errs := d.Hosts.Engines(ctx, f, names); len(errs) > 0 {
		return HostsError(errs)
	}
	return nil
}

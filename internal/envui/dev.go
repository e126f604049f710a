// Package envui gives the web UI (internal/ui) the dev stack (`cjob dev
// ui`) and a staging pool (`cjob staging ui`) as ui.Sources. Production's
// source is the server's own (internal/server).
package envui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// Local is what the dev and staging sources share: the jobs file on disk,
// the token the command printed, and the event log in the state folder.
type Local struct {
	// Load reads the jobs file; called on every look, so edits show.
	Load  func() (*prodspec.File, error)
	Token string
	Who   string // the developer, for events
	env   stack.Env
}

// state is the environment's state folder.
func (l *Local) state(project string) (localstate.Env, error) {
	return localstate.ForEnv(project, l.env)
}

// Versions: dev and staging follow the local file; they have none.
func (l *Local) Versions(context.Context, int) ([]ui.Version, error) { return nil, nil }

// Events are what was done from the UI, and (dev) the swaps.
func (l *Local) Events(ctx context.Context, limit int) ([]store.Event, error) {
	f, err := l.Load()
	if err != nil {
		return nil, err
	}
	st, err := l.state(f.Project)
	if err != nil {
		return nil, err
	}
	return st.Events(limit)
}

// Authorize accepts the token the command printed.
func (l *Local) Authorize(token string) (string, bool) {
	if l.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(l.Token)) == 1 {
		return l.Who, true
	}
	return "", false
}

// outcome is how an action on a dev or staging stack ended.
type outcome struct {
	project, target string
	start           time.Time
	res             *apply.Result // nil when the action applied no plan
	err             error
}

// finish turns an action's outcome into its result and records its event.
func (l *Local) finish(a ui.Action, o outcome) ui.Result {
	target, start, res, err := o.target, o.start, o.res, o.err
	if err == nil && res != nil {
		err = res.Err()
	}
	r := ui.Result{OK: err == nil}
	e := store.Event{Who: a.Who + " (web)", Action: a.Verb, Target: target, Result: "ok"}
	if err != nil {
		r.Message = fmt.Sprintf("%s %s: %v", a.Verb, target, err)
		e.Result, e.Detail = "failed", err.Error()
	} else {
		r.Message = fmt.Sprintf("%s %s: done in %s", a.Verb, target, time.Since(start).Round(time.Millisecond))
		if res != nil {
			r.Message = fmt.Sprintf("%s %s: %d change(s) in %s", a.Verb, target, res.Done, time.Since(start).Round(time.Millisecond))
		}
		e.Detail = r.Message
	}
	if res != nil {
		for _, fl := range res.Failures {
			r.Details = append(r.Details, fl.Subject+": "+fl.Err.Error()+"\n"+fl.LogTail)
		}
	}
	st, serr := l.state(o.project)
	if serr == nil {
		serr = st.RecordEvent(e)
	}
	if serr != nil {
		r.Details = append(r.Details, "the event was not recorded: "+serr.Error())
	}
	return r
}

// Engine is the local engine as the dev UI uses it.
type Engine interface {
	converge.Engine
	Host() string
	Info(ctx context.Context) (stack.EngineInfo, error)
	InspectRaw(ctx context.Context, id string) (json.RawMessage, error)
}

// Dev is the local dev stack.
type Dev struct {
	Local
	Engine Engine
	Probe  apply.Prober // health checks of running tasks; nil: health.Probe
}

// NewDev is the dev stack of the file load reads, on eng.
func NewDev(eng Engine, l Local) *Dev {
	l.env = devenv.Env
	return &Dev{Local: l, Engine: eng}
}

var devActions = []string{"up", "down", "reload", "restore"}

func (d *Dev) file() (*prodspec.File, error) { return d.Load() }

// Env describes the dev stack.
func (d *Dev) Env() ui.Env {
	e := ui.Env{Name: devenv.Env, Actions: devActions, Detail: "this machine's engine " + d.Engine.Host()}
	if f, err := d.file(); err == nil {
		e.Project = f.Project
	}
	return e
}

// Snapshot is the dev stack now: what `dev up` would run, what runs, the
// swaps and, per production host, its sandbox.
func (d *Dev) Snapshot(ctx context.Context, fresh bool) (*ui.Snapshot, error) {
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	// A look needs no sandbox image (a sandbox's image is not part of its
	// hash): the running binary is not read on every refresh.
	prep, err := converge.Prepare(ctx, d.Engine, converge.Options{File: f, Rewrite: devenv.Options{SandboxImage: "-"}})
	if err != nil {
		return nil, err
	}
	des := status.Desire(f, 0, prep.Rewrite.Stack)
	jobs := des.Jobs(prep.Observed, nil)
	health := map[string]string{}
	for _, r := range converge.Rows(ctx, prep.Rewrite.Stack, prep.Observed, converge.HealthFrom{Engine: d.Engine, Probe: d.Probe}) {
		if r.Kind == "task" && r.Health != "-" { // "-": not checked
			health[rewrite.TaskKey(r.Job, r.Task)] = r.Health
		}
	}
	var swaps map[string]localstate.SwapRecord
	if st, err := d.state(f.Project); err == nil {
		// A record that cannot be read leaves its job's swap details out.
		swaps, _ = st.Swaps()
	}
	out := &ui.Snapshot{At: time.Now()}
	deps := status.Dependencies(f)
	for _, j := range jobs {
		uj := ui.Job{Job: j, Deps: deps[j.Job]}
		for i := range uj.Tasks {
			t := &uj.Tasks[i]
			if h := health[rewrite.TaskKey(j.Job, t.Task)]; h != "" && t.State == "running" {
				t.Health = h
			}
		}
		for _, u := range des.Units[j.Job] {
			for _, url := range u.URLs {
				uj.URLs = append(uj.URLs, url.Local)
			}
		}
		for _, c := range prep.Observed.Containers {
			if c.Labels[stack.LabelJob] == j.Job && c.Labels[stack.LabelSwapped] != "" {
				sw := &ui.Swap{Dir: c.Labels[stack.LabelSwapped], Image: c.Labels[stack.LabelSwappedImage]}
				if r, ok := swaps[j.Job]; ok {
					sw.At, sw.Build, sw.Total, sw.BuildLog, sw.Err = r.At, r.Build, r.Total, r.BuildLog, r.Err
				}
				uj.Swap = sw
				break
			}
		}
		out.Jobs = append(out.Jobs, uj)
	}
	out.Nodes = d.nodes(ctx, prep)
	return out, nil
}

// nodes are the host sandboxes: one per production host.
func (d *Dev) nodes(ctx context.Context, prep *converge.Prepared) []status.Node {
	info, ierr := d.Engine.Info(ctx)
	byKey := prep.Observed.ByKey()
	tasks, running := map[string]int{}, map[string]int{}
	for _, u := range prep.Rewrite.Stack.Units {
		if u.Kind == stack.KindTask {
			tasks[u.Host]++
		}
	}
	for _, c := range prep.Observed.Containers {
		if c.Kind() == stack.KindTask && c.State == stack.StateRunning {
			running[c.Labels[stack.LabelHost]]++
		}
	}
	var out []status.Node
	for _, u := range prep.Rewrite.Stack.Units {
		if u.Kind != stack.KindSandbox {
			continue
		}
		n := status.Node{Name: u.Host, Docker: d.Engine.Host(), Tasks: tasks[u.Host], TasksRunning: running[u.Host], Checked: time.Now()}
		if cs := byKey[u.Key]; len(cs) > 0 {
			n.Address = cs[0].IP
			n.Reachable = cs[0].State == stack.StateRunning
			if !n.Reachable {
				n.Error = "host sandbox " + cs[0].Name + " is " + cs[0].Status
			}
		} else {
			n.Error = "no host sandbox: `cjob dev up` makes it"
		}
		if ierr == nil {
			n.SetEngine(info)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Logs writes a dev container's log.
func (d *Dev) Logs(ctx context.Context, container string, tail int, follow bool, w io.Writer) error {
	return logs(ctx, d.Engine, container, tail, follow, w)
}

// logReader reads a container's log.
type logReader interface {
	Logs(ctx context.Context, id, tail string, follow, timestamps bool, w io.Writer) error
}

func logs(ctx context.Context, e logReader, container string, tail int, follow bool, w io.Writer) error {
	t := "all"
	if tail > 0 {
		t = strconv.Itoa(tail)
	}
	return e.Logs(ctx, container, t, follow, false, w)
}

// Inspect is a dev container's inspect document, secrets masked.
func (d *Dev) Inspect(ctx context.Context, container string) (json.RawMessage, error) {
	raw, err := d.Engine.InspectRaw(ctx, container)
	if err != nil {
		return nil, err
	}
	return jobdiff.MaskInspect(raw, stack.LabelSpec)
}

// Act runs up, down, reload or restore on one job of the dev stack.
func (d *Dev) Act(ctx context.Context, a ui.Action, rep progress.Reporter) ui.Result {
	f, err := d.file()
	if err != nil {
		return ui.Result{Message: err.Error()}
	}
	j, err := f.ResolveJob(a.Job)
	if err != nil {
		return ui.Result{Message: err.Error()}
	}
	job := j.FullName()
	start := time.Now()
	var res *apply.Result
	switch a.Verb {
	case "up", "reload":
		o := converge.Options{File: f, Rewrite: devenv.Options{Only: []string{job}}}
		if a.Verb == "reload" {
			// Only the job itself is recreated; its sandbox and its
			// dependencies are left running.
			o.Plan = plan.Options{Reload: map[string]bool{job: true}}
		}
		prep, perr := converge.Prepare(ctx, d.Engine, o)
		if perr != nil {
			err = perr
			break
		}
		res, err = converge.Up(ctx, d.Engine, prep, converge.UpOptions{Reporter: rep, Probe: d.Probe})
	case "down":
		_, res, err = converge.Down(ctx, d.Engine, converge.DownOptions{Project: f.Project, Only: map[string]bool{job: true}, Reporter: rep})
	case "restore":
		_, err = converge.Restore(ctx, d.Engine, f, []string{job}, converge.UpOptions{Reporter: rep, Probe: d.Probe})
	default:
		err = fmt.Errorf("no action %s here", a.Verb)
	}
	return d.finish(a, outcome{project: f.Project, target: job, start: start, res: res, err: err})
}

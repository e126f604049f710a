// Package apply executes a plan against an engine: in parallel, bounded,
// along the dependency graph. A unit starts as soon as its own dependencies
// are ready (healthy, or exited 0 for one-shot jobs), not in global waves. A
// failure stops only what depends on it.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/trace"
)

// Engine is what the executor needs of an engine.
type Engine interface {
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) error
	RemoveNetwork(ctx context.Context, name string) error
	EnsureVolume(ctx context.Context, name string, labels map[string]string) error
	RemoveVolume(ctx context.Context, name string) error
	ImageExists(ctx context.Context, ref string) (bool, error)
	Pull(ctx context.Context, ref string, progress func(engine.Progress)) error
	Create(ctx context.Context, r stack.CreateRequest) (string, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	Inspect(ctx context.Context, id, network string) (stack.Status, error)
	Exec(ctx context.Context, id string, cmd []string) (int, string, error)
	LogTail(ctx context.Context, id string, n int) string
}

var _ Engine = (*engine.Engine)(nil)

// Engines are the engines a plan runs on, by name: an op runs on the
// engine its Engine field names ("" for the one engine of a dev stack).
type Engines map[string]Engine

// On is a map of any engine type as Engines.
func On[E Engine](m map[string]E) Engines {
	out := make(Engines, len(m))
	for n, e := range m {
		out[n] = e
	}
	return out
}

// One is a single engine, the one every op of a dev plan runs on.
func One(e Engine) Engines { return Engines{"": e} }

// Prober checks a unit's readiness over the network; health.Probe by default.
type Prober func(ctx context.Context, c *stack.Check, ip string) error

// Options tune Run.
type Options struct {
	Parallel int               // engine calls in flight at once; 0 means 16
	Reporter progress.Reporter // nil: no progress output
	Probe    Prober            // nil: from inside the host sandbox for dev tasks, else health.Probe (see Waiter)
	// StopTimeout bounds graceful stops during removal; 0 uses the unit's own.
	StopTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Failure is one op that did not succeed.
type Failure struct {
	Subject string
	Err     error
	LogTail string // the container's last log lines, when there is one
}

// Result is what Run did.
type Result struct {
	Done     int // ops that changed something and succeeded
	Failures []Failure
	Skipped  []string // ops not run because a dependency failed
	Elapsed  time.Duration
	IPs      map[string]string // sandbox key -> address on the project network
}

// Err summarises the failures, or nil. errors.Is and errors.As see each
// failure's own error through it (engine.ErrUnreachable, say).
func (r *Result) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	return &Error{Failures: r.Failures, Skipped: len(r.Skipped)}
}

// Error is a run in which some ops failed.
type Error struct {
	Failures []Failure
	Skipped  int // ops not started because a dependency failed
}

func (e *Error) Error() string {
	var names []string
	for _, f := range e.Failures {
		names = append(names, f.Subject)
	}
	msg := fmt.Sprintf("%d failed: %s", len(e.Failures), strings.Join(names, ", "))
	if e.Skipped > 0 {
		msg += fmt.Sprintf("; %d not started because a dependency failed", e.Skipped)
	}
	return msg
}

// Unwrap is every failure's error.
func (e *Error) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}

type outcome int

const (
	ok outcome = iota + 1
	failed
	skipped
)

type node struct {
	op   *plan.Op
	done chan struct{}
	out  outcome
	id   string // container ID after the op
}

type runner struct {
	p     *plan.Plan
	engs  Engines
	opts  Options
	sem   chan struct{}
	nodes map[int]*node

	mu     sync.Mutex
	res    *Result
	ips    map[string]string // sandbox key -> IP
	pulls  map[string]*pull  // by engine and image
	labels map[string]string
}

type pull struct {
	done chan struct{}
	err  error
}

// Run executes the plan on the engines. It returns when every op has
// finished, failed or been skipped, or ctx is cancelled (then in-flight ops
// stop and the rest are skipped; the next run converges from what is left).
func Run(ctx context.Context, p *plan.Plan, engines Engines, opts Options) *Result {
	if opts.Parallel <= 0 {
		opts.Parallel = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	start := opts.Now()
	r := &runner{
		p: p, engs: engines, opts: opts,
		sem:   make(chan struct{}, opts.Parallel),
		nodes: map[int]*node{},
		res:   &Result{},
		ips:   map[string]string{},
		pulls: map[string]*pull{},
		labels: map[string]string{
			stack.LabelProject: p.Project,
			stack.LabelEnv:     p.Env.String(),
		},
	}
	for _, o := range p.Ops {
		r.nodes[o.ID] = &node{op: o, done: make(chan struct{})}
		if o.Unit != nil && o.Unit.Kind == stack.KindSandbox && o.Current != nil && o.Current.IP != "" {
			r.ips[o.Unit.Key] = o.Current.IP
		}
	}
	var wg sync.WaitGroup
	for _, o := range p.Ops {
		n := r.nodes[o.ID]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(n.done)
			r.run(ctx, n)
		}()
	}
	wg.Wait()
	r.res.Elapsed = opts.Now().Sub(start)
	r.res.IPs = r.ips
	sort.Slice(r.res.Failures, func(i, j int) bool { return r.res.Failures[i].Subject < r.res.Failures[j].Subject })
	sort.Strings(r.res.Skipped)
	return r.res
}

// mib is a byte count in MB, for pull progress.
func mib(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// ErrNoEngine means an op names an engine the run was not given.
var ErrNoEngine = errors.New("no such engine")

// engine returns the engine an op runs on.
func (r *runner) engine(name string) (Engine, error) {
	if e, ok := r.engs[name]; ok && e != nil {
		return e, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: the plan runs on one engine and none was given", ErrNoEngine)
	}
	return nil, fmt.Errorf("%w: %s", ErrNoEngine, name)
}

func (r *runner) report(ev progress.Event) {
	if r.opts.Reporter != nil {
		r.opts.Reporter.Report(ev)
	}
}

func (r *runner) run(ctx context.Context, n *node) {
	o := n.op
	if o.Changes() {
		var release func()
		ctx, release = trace.Lane(ctx, o.Subject)
		defer release()
		var sp *trace.Span
		ctx, sp = trace.Start(ctx, o.Action.String()+" "+o.Subject)
		defer sp.End()
	}
	endWait := func() {}
	if o.Changes() && len(o.Deps) > 0 {
		_, wait := trace.Start(ctx, "wait for dependencies")
		endWait = sync.OnceFunc(wait.End)
		defer endWait()
	}
	if o.Unit != nil && (o.Action == plan.ActionCreate || o.Action == plan.ActionRecreate) {
		// Check (and pull) the image while dependencies come up.
		go r.ensureImage(ctx, o, o.Unit.Spec.Image)

	}
	// Wait for dependencies.
	for _, d := range o.Deps {
		dn := r.nodes[d]
		if dn == nil {
			continue
		}
		select {
		case <-dn.done:
		default:
			if o.Changes() {
				r.report(progress.Event{Unit: o.Subject, Status: progress.Waiting, Text: "Waiting for " + dn.op.Subject})
			}
		}
		select {
		case <-dn.done:
		case <-ctx.Done():
			n.out = skipped
			r.skip(o, "interrupted")
			return
		}
		if dn.out != ok {
			n.out = skipped
			r.skip(o, "dependency "+dn.op.Subject+" failed")
			return
		}
	}
	endWait()
	if ctx.Err() != nil {
		n.out = skipped
		r.skip(o, "interrupted")
		return
	}
	if !o.Changes() {
		n.out = ok
		return
	}
	err := r.do(ctx, n)
	if err != nil && o.Engine != "" {
		err = fmt.Errorf("on %s: %w", o.Engine, err)
	}
	if err != nil {
		n.out = failed
		f := Failure{Subject: o.Subject, Err: err}
		if eng, eerr := r.engine(o.Engine); eerr == nil && n.id != "" && o.Unit != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			f.LogTail = eng.LogTail(tctx, n.id, 20)
			cancel()
		}
		r.mu.Lock()
		r.res.Failures = append(r.res.Failures, f)
		r.mu.Unlock()
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Failed, Text: "Failed", Err: err, Detail: f.LogTail})
		return
	}
	n.out = ok
	r.mu.Lock()
	r.res.Done++
	r.mu.Unlock()
}

func (r *runner) skip(o *plan.Op, why string) {
	if !o.Changes() {
		return
	}
	r.mu.Lock()
	r.res.Skipped = append(r.res.Skipped, o.Subject)
	r.mu.Unlock()
	r.report(progress.Event{Unit: o.Subject, Status: progress.Skipped, Text: "Skipped: " + why})
}

// call runs one engine call within the parallelism bound.
func (r *runner) call(ctx context.Context, f func() error) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	return f()
}

func (r *runner) working(o *plan.Op, text string) {
	r.report(progress.Event{Unit: o.Subject, Status: progress.Working, Text: text})
}

func (r *runner) do(ctx context.Context, n *node) error {
	o := n.op
	engName := o.Engine
	if o.Current != nil && (o.Action == plan.ActionRemove || o.Action == plan.ActionStart) {
		engName = o.Current.Engine
	}
	eng, err := r.engine(engName)
	if err != nil {
		return err
	}
	switch o.Action {
	case plan.ActionCreateNetwork:
		r.working(o, "Creating network")
		if err := r.call(ctx, func() error { return eng.EnsureNetwork(ctx, o.Subject, r.labels) }); err != nil {
			return err
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Network created"})
		return nil
	case plan.ActionCreateVolume:
		r.working(o, "Creating volume")
		if err := r.call(ctx, func() error { return eng.EnsureVolume(ctx, o.Subject, r.labels) }); err != nil {
			return err
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Volume created"})
		return nil
	case plan.ActionRemoveNetwork:
		r.working(o, "Removing network")
		if err := r.call(ctx, func() error { return eng.RemoveNetwork(ctx, o.Subject) }); err != nil {
			return err
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Network removed"})
		return nil
	case plan.ActionRemoveVolume:
		r.working(o, "Removing volume")
		if err := r.call(ctx, func() error { return eng.RemoveVolume(ctx, o.Subject) }); err != nil {
			return err
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Volume removed"})
		return nil
	case plan.ActionRemove:
		r.working(o, "Removing")
		if err := r.removeContainer(ctx, eng, o.Current); err != nil {
			return err
		}
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Removed"})
		return nil
	case plan.ActionStart:
		n.id = o.Current.ID
		r.working(o, "Starting")
		if err := r.call(ctx, func() error { return eng.Start(ctx, n.id) }); err != nil {
			return err
		}
		return r.ready(ctx, eng, n, "Started")
	case plan.ActionCreate, plan.ActionRecreate:
		u := o.Unit
		if err := r.ensureImage(ctx, o, u.Spec.Image); err != nil {
			return err
		}
		if o.Action == plan.ActionRecreate && o.Current != nil {
			r.working(o, "Recreating")
			old, err := r.engine(o.Current.Engine)
			if err != nil {
				return err
			}
			if err := r.removeContainer(ctx, old, o.Current); err != nil {
				return err
			}
		} else {
			r.working(o, "Creating")
		}
		labels := r.p.Stack.Labels(u)
		err := r.call(ctx, func() error {
			id, err := eng.Create(ctx, stack.CreateRequest{Name: u.Name, Spec: u.Spec, Labels: labels, Network: r.p.Stack.Network})
			if err != nil {
				return err
			}
			n.id = id
			return eng.Start(ctx, id)
		})
		if err != nil {
			return err
		}
		verb := "Created"
		if o.Action == plan.ActionRecreate {
			verb = "Recreated"
		}
		return r.ready(ctx, eng, n, verb)
	}
	return fmt.Errorf("%s: unsupported action %s", o.Subject, o.Action)
}

func (r *runner) removeContainer(ctx context.Context, eng Engine, c *stack.Container) error {
	return r.call(ctx, func() error {
		if c.State == stack.StateRunning {
			timeout := r.opts.StopTimeout
			if timeout == 0 {
				if s, ok := c.Spec(); ok && s.StopTimeout > 0 {
					timeout = s.StopTimeout
				} else {
					timeout = 10 * time.Second
				}
			}
			if err := eng.Stop(ctx, c.ID, timeout); err != nil {
				return err
			}
		}
		return eng.Remove(ctx, c.ID)
	})
}

// ensureImage pulls the image if the engine lacks it. Concurrent units
// sharing an image wait for one pull.
func (r *runner) ensureImage(ctx context.Context, o *plan.Op, ref string) error {
	ctx, sp := trace.Start(ctx, "image "+ref)
	defer sp.End()
	eng, err := r.engine(o.Engine)
	if err != nil {
		return err
	}
	key := o.Engine + "\x00" + ref
	r.mu.Lock()
	p, started := r.pulls[key]
	if !started {
		p = &pull{done: make(chan struct{})}
		r.pulls[key] = p
	}
	r.mu.Unlock()
	if started {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return p.err
	}
	defer close(p.done)
	var have bool
	p.err = r.call(ctx, func() error {
		var err error
		have, err = eng.ImageExists(ctx, ref)
		return err
	})
	if p.err != nil || have {
		return p.err
	}
	r.working(o, "Pulling "+ref)
	start := time.Now()
	var total int64
	p.err = eng.Pull(ctx, ref, func(pr engine.Progress) {
		total = pr.Total
		r.working(o, fmt.Sprintf("Pulling %s %s / %s (%d%%)", ref, mib(pr.Done), mib(pr.Total), pr.Pct))
	})
	if p.err == nil {
		took := time.Since(start).Round(10 * time.Millisecond)
		if total > 0 {
			r.working(o, fmt.Sprintf("Pulled %s (%s in %s)", ref, mib(total), took))
		} else {
			r.working(o, fmt.Sprintf("Pulled %s (in %s; its layers were here)", ref, took))
		}
	}
	if p.err != nil && !errors.Is(p.err, engine.ErrAuth) { // an auth error names its fix
		p.err = fmt.Errorf("%w (is the image built, or the registry reachable? `cjob doctor` checks)", p.err)
	}
	return p.err
}

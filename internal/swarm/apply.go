package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
)

// UpOptions tune Up.
type UpOptions struct {
	Reporter progress.Reporter // nil: none
	// Probe makes HTTP and TCP checks at a host's address; nil:
	// health.Probe from this machine (the hosts are on its network, as a
	// staging pool and production are).
	Probe func(ctx context.Context, c *stack.Check, addr string) error
	// Run bounds how long a task may take to run (scheduled, image
	// there, started): 3 minutes when zero. Health has its own deadline.
	Run  time.Duration
	Poll time.Duration // how often the manager is asked; 100 ms when zero
}

// Failure is one service that did not come up.
type Failure struct {
	Unit    string // the task's key, e.g. edge.gateway/1
	Service string
	Err     error
	Detail  string // the task's log tail, when there is one
}

// Result is what Up did.
type Result struct {
	Done       []string // services created, updated or removed
	Failures   []Failure
	Skipped    []string // units not tried because a dependency failed
	RolledBack []string // units Swarm put back on their previous spec
}

// Applied is the result in apply's terms, for what reports both
// orchestrators alike (the CLI's failures, the server's outcomes, the UI).
func (r *Result) Applied() *apply.Result {
	out := &apply.Result{Done: len(r.Done), Skipped: r.Skipped}
	for _, f := range r.Failures {
		out.Failures = append(out.Failures, apply.Failure{Subject: f.Unit, Err: f.Err, LogTail: f.Detail})
	}
	return out
}

// Err is nil when every op succeeded, else every failure.
func (r *Result) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	var errs []error
	for _, f := range r.Failures {
		errs = append(errs, fmt.Errorf("%s: %w", f.Unit, f.Err))
	}
	if len(r.Skipped) > 0 {
		errs = append(errs, fmt.Errorf("not started because a dependency failed: %s", strings.Join(r.Skipped, ", ")))
	}
	return errors.Join(errs...)
}

// RolledBackError is an update Swarm rolled back by the service's
// rollback config: the previous task runs again.
type RolledBackError struct {
	Service string
	Message string // Swarm's update message
	Task    string // why the new task failed
}

func (e *RolledBackError) Error() string {
	s := "Swarm rolled the update back; the previous spec runs again"
	if e.Task != "" {
		s += ": the new task " + e.Task
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

type upRunner struct {
	c    *Cluster
	opts UpOptions
	rep  progress.Reporter
	mu   sync.Mutex
	res  *Result
	// noRoute is set once a check from here found no route to a host:
	// the rest are made through the nodes' engines.
	noRoute atomic.Bool
}

func (r *upRunner) report(unit string, st progress.Status, text string, err error, detail string) {
	r.rep.Report(progress.Event{Unit: unit, Status: st, Text: text, Err: err, Detail: detail})
}

func unitOf(o *Op) string {
	if o.Action == Remove {
		if k := o.Current.Labels[stack.LabelKey]; k != "" {
			return k
		}
		return o.Current.Name
	}
	return o.Service.Unit.Key
}

// Up applies the plan: node labels, images onto the nodes that lack them
// (from src, this machine's engine), removals, then every service in
// dependency order, each after the services it needs are ready (running
// and healthy; a one-shot job complete). A failure skips only its
// dependents.
func Up(ctx context.Context, c *Cluster, p *Plan, src Source, opts UpOptions) *Result {
	r := &upRunner{c: c, opts: opts, rep: opts.Reporter, res: &Result{}}
	if r.rep == nil {
		r.rep = progress.New(nil, progress.Quiet)
	}
	if r.opts.Run == 0 {
		r.opts.Run = 3 * time.Minute
	}
	if r.opts.Poll == 0 {
		r.opts.Poll = 100 * time.Millisecond
	}
	if r.opts.Probe == nil {
		r.opts.Probe = health.Probe
	}
	for _, l := range p.Labels {
		unit := "node " + l.Hostname
		r.report(unit, progress.Working, "Labelling "+stack.LabelNode+"="+l.Host, nil, "")
		if err := c.Manager.LabelNode(ctx, l.NodeID, stack.LabelNode, l.Host); err != nil {
			r.report(unit, progress.Failed, "Label failed", err, "")
			r.res.Failures = append(r.res.Failures, Failure{Unit: unit, Err: err})
			return r.res
		}
		r.report(unit, progress.Done, "Labelled "+stack.LabelNode+"="+l.Host, nil, "")
	}
	if err := r.copyImages(ctx, p.Images, src); err != nil {
		return r.res
	}
	var wg sync.WaitGroup
	for _, o := range p.Ops {
		if o.Action != Remove {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			unit := unitOf(o)
			r.report(unit, progress.Working, "Removing service "+o.Current.Name, nil, "")
			if err := c.Manager.RemoveService(ctx, o.Current.ID); err != nil {
				r.fail(unit, o.Current.Name, err, "")
				return
			}
			r.report(unit, progress.Done, "Removed ("+o.Cause+")", nil, "")
			r.done(o.Current.Name)
		}()
	}
	wg.Wait()

	ready := map[string]chan struct{}{}
	ok := map[string]bool{}
	for _, o := range p.Ops {
		if o.Action != Remove {
			ready[o.Name()] = make(chan struct{})
		}
	}
	for _, o := range p.Ops {
		if o.Action == Remove {
			continue
		}
		if o.Action != None {
			r.report(unitOf(o), progress.Waiting, "Waiting", nil, "")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ready[o.Name()])
			if o.Action == None { // runs as it is: its dependents need not wait for anything
				r.mu.Lock()
				ok[o.Name()] = true
				r.mu.Unlock()
				return
			}
			for _, n := range o.Needs {
				if ch := ready[n]; ch != nil {
					<-ch
					r.mu.Lock()
					good := ok[n]
					r.mu.Unlock()
					if !good {
						r.mu.Lock()
						r.res.Skipped = append(r.res.Skipped, unitOf(o))
						r.mu.Unlock()
						r.report(unitOf(o), progress.Skipped, "Skipped: "+n+" is not ready", nil, "")
						return
					}
				}
			}
			if err := r.do(ctx, o); err != nil {
				return
			}
			r.mu.Lock()
			ok[o.Name()] = true
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(r.res.Skipped)
	return r.res
}

func (r *upRunner) fail(unit, service string, err error, detail string) {
	text := "Failed"
	var rb *RolledBackError
	if errors.As(err, &rb) {
		text = "Rolled back by Swarm"
	}
	r.report(unit, progress.Failed, text, err, detail)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Failures = append(r.res.Failures, Failure{Unit: unit, Service: service, Err: err, Detail: detail})
	if rb != nil {
		r.res.RolledBack = append(r.res.RolledBack, unit)
	}
}

func (r *upRunner) done(service string) {
	r.mu.Lock()
	r.res.Done = append(r.res.Done, service)
	r.mu.Unlock()
}

// copyImages loads every image a node lacks from src, one stream per
// image and node.
func (r *upRunner) copyImages(ctx context.Context, images []*Image, src Source) error {
	for _, im := range images {
		for _, h := range im.Copy {
			unit := "image " + im.Name
			if src == nil {
				err := fmt.Errorf("%s lacks %s and this machine's engine is not reachable to copy it", h, im.Name)
				r.report(unit, progress.Failed, "Copy failed", err, "")
				r.res.Failures = append(r.res.Failures, Failure{Unit: unit, Err: err})
				return err
			}
			r.report(unit, progress.Working, "Copying to "+h, nil, "")
			err := func() error {
				rc, err := src.SaveImage(ctx, im.Name)
				if err != nil {
					return err
				}
				defer rc.Close()
				return r.c.Engines[h].LoadImage(ctx, rc)
			}()
			if err != nil {
				r.report(unit, progress.Failed, "Copy to "+h+" failed", err, "")
				r.res.Failures = append(r.res.Failures, Failure{Unit: unit, Err: err})
				return err
			}
			r.report(unit, progress.Done, "Copied to "+h, nil, "")
		}
	}
	return nil
}

// do creates or updates one service and waits until it is ready.
func (r *upRunner) do(ctx context.Context, o *Op) error {
	unit, s := unitOf(o), o.Service
	if o.Action == None {
		return nil
	}
	old := map[string]bool{}
	var id string
	switch o.Action {
	case Create:
		r.report(unit, progress.Working, "Creating service "+s.Name, nil, "")
		var err error
		if id, err = r.c.Manager.CreateService(ctx, s); err != nil {
			r.fail(unit, s.Name, err, "")
			return err
		}
	case Update:
		if o.Recreate {
			r.report(unit, progress.Working, "Replacing service "+s.Name+" ("+o.Cause+")", nil, "")
			var err error
			if err = r.c.Manager.RemoveService(ctx, o.Current.ID); err == nil {
				id, err = r.c.Manager.CreateService(ctx, s)
			}
			if err != nil {
				r.fail(unit, s.Name, err, "")
				return err
			}
			break
		}
		id = o.Current.ID
		// Read now: Swarm's own updates move the version, and the tasks
		// running before tell the new one apart.
		st, tasks, err := r.c.Manager.ServiceStatus(ctx, id)
		if err == nil {
			for _, t := range tasks {
				old[t.ID] = true
			}
			r.report(unit, progress.Working, "Updating service "+s.Name+" ("+o.Cause+")", nil, "")
			err = r.c.Manager.UpdateService(ctx, st, s)
		}
		if err != nil {
			r.fail(unit, s.Name, err, "")
			return err
		}
	}
	if err := r.wait(ctx, o, id, old); err != nil {
		var detail string
		var te *taskError
		if errors.As(err, &te) && te.container != "" {
			detail = r.c.Engines[s.Node].LogTail(ctx, te.container, 20)
		}
		r.fail(unit, s.Name, err, detail)
		return err
	}
	verb := map[Action]string{Create: "Created", Update: "Updated"}[o.Action]
	r.report(unit, progress.Done, verb+" on "+s.Node, nil, "")
	r.done(s.Name)
	return nil
}

// taskError is a task that failed, with its container for the log tail.
type taskError struct {
	err       error
	container string
}

func (e *taskError) Error() string { return e.err.Error() }
func (e *taskError) Unwrap() error { return e.err }

var failedStates = map[string]bool{"failed": true, "rejected": true, "orphaned": true}

// wait polls the manager until the op's new task runs (or completes, for
// a one-shot job) and Swarm calls the update done, then checks its health
// from this machine.
func (r *upRunner) wait(ctx context.Context, o *Op, id string, old map[string]bool) error {
	s, unit := o.Service, unitOf(o)
	start := time.Now()
	deadline := start.Add(r.opts.Run)
	var last string
	var rollbackCause *stack.TaskState
	for {
		svc, tasks, err := r.c.Manager.ServiceStatus(ctx, id)
		if err != nil {
			return err
		}
		var running *stack.TaskState
		var lastFailed *stack.TaskState
		failures := 0
		pending := ""
		for i := range tasks {
			t := &tasks[i]
			if old[t.ID] {
				continue
			}
			switch {
			case s.Unit.Oneshot && t.State == "complete":
				return nil
			case t.State == "running" && t.Desired == "running":
				if running == nil {
					running = t
				}
			case failedStates[t.State]:
				failures++
				if lastFailed == nil {
					lastFailed = t
				}
			case t.State == "pending" && t.Err != "":
				pending = t.Err
			}
		}
		switch svc.Update {
		case "rollback_started": // wait until the previous task runs again
			if text := "Swarm is rolling back: " + svc.UpdateMessage; text != last {
				r.report(unit, progress.Working, text, nil, "")
				last = text
			}
			if lastFailed != nil {
				rollbackCause = lastFailed
			}
			if time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(r.opts.Poll):
				}
				continue
			}
			fallthrough
		case "rollback_completed", "rollback_paused":
			if lastFailed == nil {
				lastFailed = rollbackCause
			}
			rb := &RolledBackError{Service: s.Name, Message: svc.UpdateMessage}
			if lastFailed != nil {
				rb.Task = describe(lastFailed)
				return &taskError{err: rb, container: lastFailed.ContainerID}
			}
			return rb
		case "paused":
			return fmt.Errorf("Swarm paused the update: %s", svc.UpdateMessage)
		}
		if lastFailed != nil && s.Unit.Oneshot {
			return &taskError{err: fmt.Errorf("task %s", describe(lastFailed)), container: lastFailed.ContainerID}
		}
		if lastFailed != nil && failures >= 3 {
			return &taskError{err: fmt.Errorf("task %s (Swarm restarted it %d times)", describe(lastFailed), failures-1), container: lastFailed.ContainerID}
		}
		if pending != "" && time.Since(start) > 15*time.Second {
			return fmt.Errorf("Swarm cannot place the task: %s (is the node labelled %s=%s ready and active? `cjob staging ps` lists the nodes)", pending, stack.LabelNode, s.Node)
		}
		updated := o.Action == Create || svc.Update == "" || svc.Update == "completed"
		if running != nil && updated {
			return r.healthy(ctx, s, running)
		}
		text := "Starting"
		if running != nil {
			text = fmt.Sprintf("Running; Swarm watches it for %s", s.Monitor)
		} else if len(tasks) > 0 && !old[tasks[0].ID] {
			text = "Task " + tasks[0].State
		}
		if text != last {
			r.report(unit, progress.Working, text, nil, "")
			last = text
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not running after %s (%s)", r.opts.Run, text)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.opts.Poll):
		}
	}
}

func describe(t *stack.TaskState) string {
	s := t.State
	if t.Err != "" {
		s += ": " + t.Err
	} else if t.Message != "" {
		s += ": " + t.Message
	}
	if strings.Contains(t.Err, "bind source path does not exist") {
		s += " (Swarm does not make a missing host folder, as docker run does: create it on the node, or use a named volume)"
	}
	return s
}

// healthy checks the task's HTTP or TCP health until it passes or the
// check's deadline: from this machine at its host's address while that
// host is in reach; else (this machine reaches only the engines' APIs: a
// laptop, a remote engine) from the node itself, by a one-off `cjob-sandbox
// wait` container in the node's network. A command check is Swarm's own
// (the task runs only once it passes).
func (r *upRunner) healthy(ctx context.Context, s stack.Service, t *stack.TaskState) error {
	c := s.Unit.Health
	if c == nil || len(c.Cmd) > 0 || s.Unit.Oneshot {
		return nil
	}
	addr := r.c.Address[s.Node]
	r.report(s.Unit.Key, progress.Working, "Running; checking health at "+addr, nil, "")
	deadline := time.Now().Add(health.Deadline(c))
	var err error
	for attempt := 0; ; attempt++ {
		if r.noRoute.Load() {
			return r.healthyOnNode(ctx, s, t)
		}
		if err = r.opts.Probe(ctx, c, addr); err == nil {
			return nil
		}
		if noRoute(err) {
			if _, ok := r.c.Engines[s.Node].(sandbox.Runner); ok {
				r.noRoute.Store(true)
				continue
			}
		}
		if time.Now().After(deadline) {
			return &taskError{err: fmt.Errorf("running but not healthy within %s: %v", health.Deadline(c), err), container: t.ContainerID}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(health.Backoff(attempt, c.Interval)):
		}
	}
}

// noRoute says whether a check's error means this machine cannot reach
// the host at all (rather than: nothing answers there yet).
func noRoute(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		(errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.Canceled))
}

// healthyOnNode waits for the check from the task's node: one container of
// the sandbox image in the node's network runs `cjob-sandbox wait` against
// 127.0.0.1 until the check passes or its deadline.
func (r *upRunner) healthyOnNode(ctx context.Context, s stack.Service, t *stack.TaskState) error {
	c := s.Unit.Health
	r.report(s.Unit.Key, progress.Working, "Running; checking health on "+s.Node+" through its engine", nil, "")
	eng := r.c.Engines[s.Node].(sandbox.Runner)
	code, out, err := sandbox.Run(ctx, eng, "cjob-check-"+s.Name, map[string]string{"cjob.check": s.Name}, apply.WaitCommand(c)[1:], true)
	if err != nil {
		return fmt.Errorf("check on %s through its engine: %w", s.Node, err)
	}
	if code != 0 {
		return &taskError{err: fmt.Errorf("running but not healthy within %s: %s", health.Deadline(c), apply.CheckFailure(out, c)), container: t.ContainerID}
	}
	return nil
}

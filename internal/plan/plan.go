// Package plan decides what to change: Reconcile compares a desired stack
// with one observed snapshot of the engine and returns a Plan, a graph of
// typed operations, each one engine action with a cause a user can read.
// It is a pure function: no engine, no clock, no I/O.
package plan

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/cjob/cjob/internal/stack"
)

// Action is what an operation does.
type Action int

const (
	ActionUnknown       Action = iota
	ActionNone                 // the unit is as desired
	ActionCreate               // create and start a new container
	ActionRecreate             // remove the container and create a new one
	ActionStart                // start the existing, stopped container
	ActionRemove               // remove a container
	ActionCreateNetwork        // create the project network
	ActionCreateVolume         // create a named volume
	ActionRemoveNetwork        // remove the project network
	ActionRemoveVolume         // remove a named volume and its data
)

func (a Action) String() string {
	switch a {
	case ActionNone:
		return "unchanged"
	case ActionCreate:
		return "create"
	case ActionRecreate:
		return "recreate"
	case ActionStart:
		return "start"
	case ActionRemove:
		return "remove"
	case ActionCreateNetwork:
		return "create network"
	case ActionCreateVolume:
		return "create volume"
	case ActionRemoveNetwork:
		return "remove network"
	case ActionRemoveVolume:
		return "remove volume"
	}
	return "unknown"
}

// Op is one operation of a plan.
type Op struct {
	ID      int
	Action  Action
	Subject string           // unit key, network or volume name
	Unit    *stack.Unit      // desired unit; nil for removals and network/volume ops
	Current *stack.Container // the existing container, if any
	Engine  string           // where the op runs: the pool host; "" for a single engine
	Cause   string
	Deps    []int // IDs of ops that must finish first
}

// Changes reports whether the op changes anything.
func (o *Op) Changes() bool { return o.Action != ActionNone }

// Plan is the set of operations that bring an engine to the desired stack.
type Plan struct {
	Project string
	Env     stack.Env
	Stack   *stack.Stack // nil for a down plan
	Ops     []*Op        // in ID order; an op's deps always have lower IDs
}

// Counts summarises the plan by action.
func (p *Plan) Counts() map[Action]int {
	m := map[Action]int{}
	for _, o := range p.Ops {
		m[o.Action]++
	}
	return m
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	for _, o := range p.Ops {
		if o.Changes() {
			return false
		}
	}
	return true
}

// Summary is a one-line account: "3 to create, 1 to recreate, 6 unchanged".
func (p *Plan) Summary() string {
	c := p.Counts()
	var parts []string
	for _, a := range []Action{ActionCreateNetwork, ActionCreateVolume, ActionCreate, ActionRecreate, ActionStart, ActionRemove, ActionRemoveVolume, ActionRemoveNetwork} {
		if n := c[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", n, a))
		}
	}
	if n := c[ActionNone]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n))
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

// String renders the plan, one op a line:
//
//	[3] <- #1 #2 recreate coding-core.api/1 (env LOG_LEVEL changed)
func (p *Plan) String() string {
	var b strings.Builder
	for _, o := range p.Ops {
		fmt.Fprintf(&b, "[%d]", o.ID)
		if len(o.Deps) > 0 {
			b.WriteString(" <-")
			for _, d := range o.Deps {
				fmt.Fprintf(&b, " #%d", d)
			}
		}
		fmt.Fprintf(&b, " %s %s", o.Action, o.Subject)
		if o.Engine != "" {
			fmt.Fprintf(&b, " @%s", o.Engine)
		}
		if o.Cause != "" {
			fmt.Fprintf(&b, " (%s)", o.Cause)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Options tune Reconcile.
type Options struct {
	// KeepOrphans leaves containers that the desired stack does not name
	// (used when only some jobs are brought up).
	KeepOrphans bool
	// Force recreates every unit.
	Force bool
	// Reload recreates the tasks of these jobs (full names), changed or
	// not, and nothing else that is unchanged.
	Reload map[string]bool
}

type builder struct {
	p     *Plan
	byKey map[string]*Op
}

func (b *builder) add(o *Op) *Op {
	o.ID = len(b.p.Ops) + 1
	sort.Ints(o.Deps)
	o.Deps = uniq(o.Deps)
	b.p.Ops = append(b.p.Ops, o)
	return o
}

// Reconcile compares desired and observed and returns the plan.
func Reconcile(desired *stack.Stack, observed *stack.Observed, opts Options) *Plan {
	b := &builder{p: &Plan{Project: desired.Project, Env: desired.Env, Stack: desired}, byKey: map[string]*Op{}}
	current := observed.ByKey()
	hashes := hashUnits(desired.Units)

	var infra []int // network and volume ops every unit waits for
	netOp := 0
	if desired.Network != "" && !observed.NetworkExists {
		netOp = b.add(&Op{Action: ActionCreateNetwork, Subject: desired.Network, Cause: "missing"}).ID
		infra = append(infra, netOp)
	}
	volOps := map[string]int{}
	for _, v := range desired.Volumes {
		key := stack.VolumeKey(v.Engine, v.Name)
		if !observed.Volumes[key] {
			volOps[key] = b.add(&Op{Action: ActionCreateVolume, Subject: v.Name, Engine: v.Engine, Cause: "missing"}).ID
		}
	}

	// Removals of containers that must go before their replacement or
	// sandbox: computed first so creates can depend on them.
	desiredKeys := map[string]bool{}
	for _, u := range desired.Units {
		desiredKeys[u.Key] = true
	}

	// Sandboxes first, so that tasks know what their sandbox does.
	sandboxAction := map[string]Action{}
	pendingTaskRemovals := map[string][]int{} // sandbox key -> remove ops of its old tasks
	removed := map[string]bool{}              // container IDs already removed by those ops
	for _, u := range desired.Units {
		if u.Kind != stack.KindSandbox {
			continue
		}
		cs := current[u.Key]
		a, cause, cur := decide(u, hashes[u], cs, opts)
		sandboxAction[u.Key] = a
		if a == ActionRecreate {
			// The old tasks live in the old sandbox's namespaces: they go
			// first, then the sandbox is replaced, then they are created.
			for _, c := range observed.Containers {
				if c.Kind() == stack.KindTask && c.Labels[stack.LabelHost] == u.Host && desiredKeys[c.Key()] {
					o := b.add(&Op{Action: ActionRemove, Subject: c.Key(), Current: c, Engine: c.Engine, Cause: "host sandbox " + u.Host + " is recreated"})
					removed[c.ID] = true
					pendingTaskRemovals[u.Key] = append(pendingTaskRemovals[u.Key], o.ID)
				}
			}
		}
		deps := append([]int{}, pendingTaskRemovals[u.Key]...)
		if netOp != 0 {
			deps = append(deps, netOp)
		}
		o := b.add(&Op{Action: a, Subject: u.Key, Unit: u, Current: cur, Engine: u.Engine, Cause: cause, Deps: deps})
		b.byKey[u.Key] = o
		b.removeDuplicates(cs, cur, removed)
	}

	// Tasks in dependency order, so every dep has a lower ID.
	for _, u := range topo(desired) {
		if u.Kind != stack.KindTask {
			continue
		}
		cs := current[u.Key]
		a, cause, cur := decide(u, hashes[u], cs, opts)
		switch sandboxAction[u.Sandbox] {
		case ActionCreate, ActionRecreate:
			if cur != nil && len(pendingTaskRemovals[u.Sandbox]) > 0 {
				a, cause, cur = ActionCreate, "host sandbox "+u.Host+" is recreated", nil
			} else if cur != nil {
				a, cause = ActionRecreate, "host sandbox "+u.Host+" is new"
			}
		case ActionStart:
			if a == ActionNone && cur != nil && cur.State == stack.StateRunning {
				a, cause = ActionRecreate, "host sandbox "+u.Host+" was restarted"
			}
		}
		var deps []int
		deps = append(deps, infra...)
		for _, m := range u.Spec.Mounts {
			if id, ok := volOps[stack.VolumeKey(u.Engine, m.Source)]; ok {
				deps = append(deps, id)
			}
		}
		for _, d := range u.DependsOn {
			if o := b.byKey[d]; o != nil {
				deps = append(deps, o.ID)
			}
		}
		o := b.add(&Op{Action: a, Subject: u.Key, Unit: u, Current: cur, Engine: u.Engine, Cause: cause, Deps: deps})
		b.byKey[u.Key] = o
		b.removeDuplicates(cs, cur, removed)
	}

	if !opts.KeepOrphans {
		b.removeOrphans(observed, desiredKeys)
	}
	return b.p
}

// hashUnits is every unit's config hash, computed on every core: a no-op
// plan of a large stack is mostly hashing.
func hashUnits(units []*stack.Unit) map[*stack.Unit]string {
	hs := make([]string, len(units))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(units)/256))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(units); i += workers {
				hs[i] = units[i].Hash()
			}
		})
	}
	wg.Wait()
	m := make(map[*stack.Unit]string, len(units))
	for i, u := range units {
		m[u] = hs[i]
	}
	return m
}

// decide chooses the action for one unit (whose config hash is hash) given
// its containers.
func decide(u *stack.Unit, hash string, cs []*stack.Container, opts Options) (Action, string, *stack.Container) {
	if len(cs) == 0 {
		return ActionCreate, "new", nil
	}
	cur := pick(cs)
	if opts.Force {
		return ActionRecreate, "forced", cur
	}
	if u.Job != "" && opts.Reload[u.Job] {
		return ActionRecreate, "reload", cur
	}
	if cur.Engine != u.Engine {
		return ActionRecreate, "moves from " + cur.Engine + " to " + u.Engine, cur
	}
	if cur.Hash() != hash {
		return ActionRecreate, diffCause(cur, u), cur
	}
	switch cur.State {
	case stack.StateRunning:
		if dir := u.Spec.Labels[stack.LabelSwapped]; dir != "" {
			return ActionNone, "swapped from " + dir, cur
		}
		return ActionNone, "", cur
	case stack.StateExited:
		if u.Oneshot && cur.ExitKnown && cur.ExitCode == 0 {
			return ActionNone, "completed", cur
		}
		if u.Oneshot && cur.ExitKnown {
			return ActionStart, fmt.Sprintf("last run failed with exit code %d", cur.ExitCode), cur
		}
		return ActionStart, "stopped", cur
	case stack.StateCreated:
		return ActionStart, "created but never started", cur
	}
	return ActionRecreate, "container is " + cur.Status, cur
}

// pick chooses which of several containers with one key to keep: a running
// one first, then the first by name.
func pick(cs []*stack.Container) *stack.Container {
	for _, c := range cs {
		if c.State == stack.StateRunning {
			return c
		}
	}
	return cs[0]
}

func (b *builder) removeDuplicates(cs []*stack.Container, keep *stack.Container, removed map[string]bool) {
	for _, c := range cs {
		if c != keep && !removed[c.ID] {
			b.add(&Op{Action: ActionRemove, Subject: c.Name, Current: c, Engine: c.Engine, Cause: "duplicate of " + c.Key()})
		}
	}
}

func (b *builder) removeOrphans(observed *stack.Observed, desiredKeys map[string]bool) {
	var taskRemovals []int
	for _, c := range observed.Containers {
		if c.Kind() != stack.KindSandbox && !desiredKeys[c.Key()] {
			taskRemovals = append(taskRemovals, b.add(&Op{Action: ActionRemove, Subject: orphanName(c), Current: c, Engine: c.Engine, Cause: "orphan: not in the jobs file for this environment"}).ID)
		}
	}
	for _, c := range observed.Containers {
		if c.Kind() == stack.KindSandbox && !desiredKeys[c.Key()] {
			// Every op that touches a task of this host goes first.
			deps := append([]int{}, taskRemovals...)
			for _, o := range b.p.Ops {
				if o.Current != nil && o.Current.Kind() == stack.KindTask && o.Current.Labels[stack.LabelHost] == c.Labels[stack.LabelHost] {
					deps = append(deps, o.ID)
				}
			}
			b.add(&Op{Action: ActionRemove, Subject: orphanName(c), Current: c, Engine: c.Engine, Cause: "orphan: no job of this environment runs on host " + c.Labels[stack.LabelHost], Deps: deps})
		}
	}
}

func orphanName(c *stack.Container) string {
	if k := c.Key(); k != "" {
		return k
	}
	return c.Name
}

// topo orders tasks so that dependencies come first; ties by key.
func topo(s *stack.Stack) []*stack.Unit {
	byKey := map[string]*stack.Unit{}
	for _, u := range s.Units {
		byKey[u.Key] = u
	}
	var out []*stack.Unit
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(u *stack.Unit)
	visit = func(u *stack.Unit) {
		if state[u.Key] != 0 {
			return // done, or a cycle (the loader rejects cycles)
		}
		state[u.Key] = 1
		for _, d := range u.DependsOn {
			if du := byKey[d]; du != nil {
				visit(du)
			}
		}
		state[u.Key] = 2
		out = append(out, u)
	}
	for _, u := range s.Units {
		visit(u)
	}
	return out
}

func uniq(s []int) []int {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

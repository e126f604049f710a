package swarm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
)

// Action is what a plan does to one service.
type Action int

const (
	None   Action = iota // up to date
	Create               // no such service
	Update               // its spec changed: Swarm replaces the task by the update config
	Remove               // no longer in the jobs file
)

func (a Action) String() string {
	return [...]string{"unchanged", "create", "update", "remove"}[a]
}

func (a Action) sign() string {
	return [...]string{"=", "+", "~", "-"}[a]
}

// Op is one service's change.
type Op struct {
	Action  Action
	Service stack.Service       // desired (not for Remove)
	Current *stack.ServiceState // observed (not for Create)
	Cause   string
	Needs   []string // service names that must be ready first
	// Recreate removes the service and creates it again (an update Swarm
	// refuses, such as a change of mode).
	Recreate bool
}

// Name is the op's service name.
func (o *Op) Name() string {
	if o.Current != nil {
		return o.Current.Name
	}
	return o.Service.Name
}

// Label is a node label the plan sets.
type Label struct {
	Host, NodeID, Hostname string
}

// Plan is what Up does.
type Plan struct {
	Project string
	Env     stack.Env
	Manager string // the host whose engine manages the swarm
	Labels  []Label
	Images  []*Image // sorted by name
	Ops     []*Op    // removes first, then in dependency order
}

// Empty says whether the plan changes nothing.
func (p *Plan) Empty() bool {
	if len(p.Labels) > 0 {
		return false
	}
	for _, im := range p.Images {
		if len(im.Copy) > 0 {
			return false
		}
	}
	for _, o := range p.Ops {
		if o.Action != None {
			return false
		}
	}
	return true
}

// Summary counts the ops: "2 to create, 1 to update, 5 unchanged".
func (p *Plan) Summary() string {
	n := map[Action]int{}
	for _, o := range p.Ops {
		n[o.Action]++
	}
	var parts []string
	for _, a := range []Action{Create, Update, Remove} {
		if n[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", n[a], a))
		}
	}
	if n[None] > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n[None]))
	}
	if len(parts) == 0 {
		return "no services"
	}
	return strings.Join(parts, ", ")
}

// String is the plan as `plan` prints it.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s on Docker Swarm (managed by %s): %s\n", p.Project, p.Env, p.Manager, p.Summary())
	if len(p.Labels) > 0 {
		b.WriteString("\nnodes:\n")
		for _, l := range p.Labels {
			fmt.Fprintf(&b, "  %s (node %s): label %s=%s\n", l.Hostname, shortID(l.NodeID), stack.LabelNode, l.Host)
		}
	}
	if len(p.Images) > 0 {
		b.WriteString("\nimages:\n")
		for _, im := range p.Images {
			fmt.Fprintf(&b, "  %s: %s\n", im.Name, im.How())
		}
	}
	b.WriteString("\nservices:\n")
	for _, o := range p.Ops {
		where := ""
		if o.Action != Remove {
			u := o.Service.Unit
			where = fmt.Sprintf(" (%s on %s, production host %s)", u.Key, o.Service.Node, u.Host)
		}
		fmt.Fprintf(&b, "  %s %s%s: %s", o.Action.sign(), o.Name(), where, o.Action)
		if o.Cause != "" {
			fmt.Fprintf(&b, " (%s)", o.Cause)
		}
		if len(o.Needs) > 0 && o.Action != Remove {
			fmt.Fprintf(&b, ", after %s", strings.Join(o.Needs, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Reconcile plans the services against what the swarm runs. nodes is the
// swarm's nodes; hostNode maps each host to its node ID.
func Reconcile(project string, env stack.Env, manager string, desired []stack.Service, obs *stack.SwarmObserved, hostNode map[string]string, images Images) *Plan {
	p := &Plan{Project: project, Env: env, Manager: manager}
	byID := map[string]stack.SwarmNode{}
	for _, n := range obs.Nodes {
		byID[n.ID] = n
	}
	hosts := map[string]bool{}
	for _, s := range desired {
		hosts[s.Node] = true
	}
	for _, h := range sortedKeys(hosts) {
		n := byID[hostNode[h]]
		if n.Labels[stack.LabelNode] != h {
			p.Labels = append(p.Labels, Label{Host: h, NodeID: hostNode[h], Hostname: n.Hostname})
		}
	}
	for _, name := range sortedKeys(images) {
		p.Images = append(p.Images, images[name])
	}
	current := map[string]*stack.ServiceState{}
	for i := range obs.Services {
		current[obs.Services[i].Name] = &obs.Services[i]
	}
	nameOf := map[string]string{} // unit key -> service name
	for _, s := range desired {
		nameOf[s.Unit.Key] = s.Name
	}
	want := map[string]bool{}
	var ops []*Op
	for _, s := range desired {
		want[s.Name] = true
		o := &Op{Service: s, Current: current[s.Name]}
		for _, k := range s.Unit.DependsOn {
			if n := nameOf[k]; n != "" {
				o.Needs = append(o.Needs, n)
			}
		}
		switch {
		case o.Current == nil:
			o.Action = Create
		case o.Current.Job != s.Unit.Oneshot:
			// Swarm cannot change a service's mode: remove, then create.
			o.Action, o.Cause, o.Recreate = Update, "one-shot changed: the service is replaced", true
		case o.Current.Labels[stack.LabelHash] != s.Labels[stack.LabelHash]:
			// Forced: a change Swarm holds outside the task (its update
			// config) must still replace the task, as the hash says.
			o.Action, o.Cause, o.Service.Force = Update, changes(o.Current, s), true
		case o.Current.Update == "paused" || o.Current.Update == "rollback_paused":
			// Swarm stopped half-way: replace the task on the labelled spec.
			// (A completed rollback needs nothing: Swarm put back the
			// previous spec with its labels, so the hashes say whether it
			// is the file's.)
			o.Action, o.Cause = Update, "Swarm's last update is "+o.Current.Update+": "+o.Current.UpdateMessage
			o.Service.Force = true
		}
		ops = append(ops, o)
	}
	var removes []*Op
	for i := range obs.Services {
		c := &obs.Services[i]
		if !want[c.Name] {
			removes = append(removes, &Op{Action: Remove, Current: c, Cause: "not in the jobs file"})
		}
	}
	sort.Slice(removes, func(i, j int) bool { return removes[i].Name() < removes[j].Name() })
	p.Ops = append(removes, order(ops)...)
	return p
}

// changes names what changed between the service Swarm runs and s.
func changes(cur *stack.ServiceState, s stack.Service) string {
	var parts []string
	if cur.Labels[LabelPlaced] != s.Node {
		parts = append(parts, fmt.Sprintf("moved %s -> %s", cur.Labels[LabelPlaced], s.Node))
	}
	var old stack.Spec
	if err := json.Unmarshal([]byte(cur.Labels[stack.LabelSpec]), &old); err == nil {
		if c := plan.SpecChanges(old, s.Unit.Spec); c != "config changed" {
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 && cur.Image != s.Image {
		parts = append(parts, "image "+shortRef(cur.Image)+" -> "+shortRef(s.Image))
	}
	if len(parts) == 0 {
		return "config changed"
	}
	return strings.Join(parts, "; ")
}

func shortRef(r string) string {
	if strings.HasPrefix(r, "sha256:") {
		return shortID(r)
	}
	return r
}

// order sorts ops so that each comes after the ones it needs (by name
// among equals).
func order(ops []*Op) []*Op {
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name() < ops[j].Name() })
	byName := map[string]*Op{}
	for _, o := range ops {
		byName[o.Name()] = o
	}
	var out []*Op
	done := map[string]bool{}
	var visit func(o *Op, path map[string]bool)
	visit = func(o *Op, path map[string]bool) {
		if done[o.Name()] || path[o.Name()] {
			return
		}
		path[o.Name()] = true
		for _, n := range o.Needs {
			if d := byName[n]; d != nil {
				visit(d, path)
			}
		}
		done[o.Name()] = true
		out = append(out, o)
	}
	for _, o := range ops {
		visit(o, map[string]bool{})
	}
	return out
}

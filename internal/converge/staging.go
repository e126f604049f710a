package converge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/placement"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Pool is the staging pool's engines, connected.
type Pool struct {
	fleet.Set
	// Unreachable names the pool hosts left out by DialPoolPartial.
	Unreachable *PoolError
}

// ErrNoPool means the jobs file names no staging pool.
var ErrNoPool = errors.New("no staging pool")

// PoolHosts returns the pool's host entries from environments.staging.pool.
func PoolHosts(f *prodspec.File) ([]*prodspec.Host, error) {
	env := f.Environments[stack.Staging.String()]
	if env == nil || len(env.Pool) == 0 {
		return nil, fmt.Errorf("%w: list the staging machines under hosts: (with a docker: endpoint) and name them in environments.staging.pool", ErrNoPool)
	}
	var out []*prodspec.Host
	for _, name := range env.Pool {
		h := f.Host(name)
		if h == nil {
			return nil, fmt.Errorf("environments.staging.pool names %q, which hosts: does not declare", name)
		}
		if h.Docker == "" {
			return nil, fmt.Errorf("pool host %s has no docker: endpoint (unix://, tcp:// or ssh://)", name)
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DialPool connects to every pool engine at once through fl (each within
// its timeout; a zero Fleet dials the hosts' docker: endpoints), reusing
// the connections fl holds. Every unreachable host is named in the error.
// The caller owns fl and closes it.
func DialPool(ctx context.Context, fl *fleet.Fleet, f *prodspec.File) (*Pool, error) {
	p, err := dialPool(ctx, fl, f)
	if err == nil && p.Unreachable != nil {
		return nil, p.Unreachable
	}
	return p, err
}

// DialPoolPartial is DialPool for reads that can do without some hosts
// (ps and logs on Docker Swarm, whose manager knows every node): the hosts
// that do not answer are left out and named in Pool.Unreachable. It fails
// only when no host answers.
func DialPoolPartial(ctx context.Context, fl *fleet.Fleet, f *prodspec.File) (*Pool, error) {
	return dialPool(ctx, fl, f)
}

func dialPool(ctx context.Context, fl *fleet.Fleet, f *prodspec.File) (*Pool, error) {
	hosts, err := PoolHosts(f)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	set, errs := fl.Connect(ctx, f, names)
	if len(errs) == len(hosts) {
		return nil, &PoolError{Hosts: errs, Of: len(hosts)}
	}
	p := &Pool{Set: set}
	if len(errs) > 0 {
		p.Unreachable = &PoolError{Hosts: errs, Of: len(hosts)}
	}
	return p, nil
}

// PoolError is every pool host that did not answer.
type PoolError struct {
	Hosts fleet.Errors
	Of    int // hosts in the pool
}

func (e *PoolError) Error() string {
	return fmt.Sprintf("%d of %d pool hosts unreachable:\n  %s", len(e.Hosts), e.Of, strings.Join(e.Hosts.Lines(), "\n  "))
}

// Unwrap gives each host's error to errors.Is and errors.As.
func (e *PoolError) Unwrap() error { return e.Hosts }

// Observe takes one snapshot of every pool engine, concurrently; any host
// that fails fails the whole look, naming it.
func (p *Pool) Observe(ctx context.Context, project string) (*stack.Observed, error) {
	obs, errs := p.Set.Observe(ctx, project, stack.Staging)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return obs, nil
}

// StagingPrepared is everything decided before a staging change.
type StagingPrepared struct {
	Prepared
	Placement *placement.Placement
	// Swarm is the swarm's plan when the pool runs on Docker Swarm (then
	// Plan is nil and Observed is the containers Swarm runs).
	Swarm *SwarmPrepared
}

// PrepareStaging places production's hosts on the pool, rewrites, observes
// every engine and plans.
func PrepareStaging(ctx context.Context, pool *Pool, f *prodspec.File, popts plan.Options) (*StagingPrepared, error) {
	obs, err := pool.Observe(ctx, f.Project)
	if err != nil {
		return nil, err
	}
	previous := map[string]string{}
	var swarmed []string
	for _, c := range obs.Containers {
		if h := c.Labels[stack.LabelHost]; h != "" && c.Engine != "" {
			previous[h] = c.Engine
		}
		if s := c.Labels[stack.LabelSwarmService]; s != "" {
			swarmed = append(swarmed, c.Engine+": "+s)
		}
	}
	if len(swarmed) > 0 {
		sort.Strings(swarmed)
		return nil, fmt.Errorf("the staging stack runs on Docker Swarm (services %s): bring it down with environments.staging.orchestrator: swarm (`cjob staging down`) before cjob runs it on its own", strings.Join(rewrite.Dedupe(swarmed), ", "))
	}
	pl, res, err := PlaceStaging(f, pool, previous)
	if err != nil {
		return nil, err
	}
	p := plan.Reconcile(res.Stack, obs, popts)
	return &StagingPrepared{Prepared: Prepared{File: f, Rewrite: res, Observed: obs, Plan: p}, Placement: pl}, nil
}

// PlaceStaging places production's hosts on the pool (keeping each where
// previous has it when it can) and rewrites production onto the placement.
func PlaceStaging(f *prodspec.File, pool *Pool, previous map[string]string) (*placement.Placement, *rewrite.Result, error) {
	env, _, err := f.ForEnvironment(stack.Staging.String())
	if err != nil {
		return nil, nil, err
	}
	in := placement.Input{Pin: map[string]string{}, Previous: previous}
	if se := f.Environments[stack.Staging.String()]; se != nil {
		for k, v := range se.Pin {
			in.Pin[k] = v
		}
	}
	address := map[string]string{}
	for _, name := range pool.Names() {
		in.Pool = append(in.Pool, placement.Host{Name: name, Memory: pool.Set[name].Memory})
		address[name] = pool.Set[name].Address
	}
	if pool.Unreachable != nil { // placed as the file declares them
		hosts, _ := PoolHosts(f)
		for _, h := range hosts {
			if _, ok := pool.Set[h.Name]; !ok {
				in.Pool = append(in.Pool, placement.Host{Name: h.Name, Memory: h.Memory})
				address[h.Name] = h.Address
			}
		}
		sort.Slice(in.Pool, func(i, j int) bool { return in.Pool[i].Name < in.Pool[j].Name })
	}
	units := map[string]*placement.Unit{}
	var order []string
	for _, j := range env.Jobs() {
		for _, t := range j.Tasks {
			u := units[t.Host]
			if u == nil {
				u = &placement.Unit{Name: t.Host}
				units[t.Host] = u
				order = append(order, t.Host)
			}
			u.Memory += j.Memory
			u.Ports = append(u.Ports, j.Ports...)
			u.Jobs = append(u.Jobs, j.FullName())
		}
	}
	sort.Strings(order)
	for _, h := range order {
		in.Units = append(in.Units, *units[h])
	}
	pl, err := placement.Place(in)
	if err != nil {
		return nil, nil, err
	}
	res, err := rewrite.Staging(f, rewrite.StagingOptions{Assign: pl.Assign, Address: address, PlacementNotes: pl.Notes})
	if err != nil {
		return nil, nil, err
	}
	return pl, res, nil
}

// UpStaging applies a staging plan across the pool.
func UpStaging(ctx context.Context, pool *Pool, prep *StagingPrepared, opts UpOptions) *apply.Result {
	return apply.Run(ctx, prep.Plan, apply.On(pool.Engines()), apply.Options{Parallel: opts.Parallel, Reporter: opts.Reporter, Probe: opts.Probe})
}

// DownStaging removes the staging stack from every pool engine (o.Only is
// not used: staging goes down whole).
func DownStaging(ctx context.Context, pool *Pool, o DownOptions) (*plan.Plan, *apply.Result, error) {
	obs, err := pool.Observe(ctx, o.Project)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Down(o.Project, stack.Staging, obs, plan.DownOptions{Volumes: o.Volumes})
	return p, apply.Run(ctx, p, apply.On(pool.Engines()), apply.Options{Parallel: o.Parallel, Reporter: o.Reporter}), nil
}

// Pusher is what PushImages needs of this machine's engine.
type Pusher interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	Push(ctx context.Context, ref string, progress func(pct int)) error
}

// PushImages pushes the stack's images that this machine's engine holds to
// their registries, so that the pool can pull them. Images that name no
// registry (they would go to Docker Hub) are left, and said so; images the
// local engine lacks are the registry's already. Each push reports progress.
func PushImages(ctx context.Context, local Pusher, st *stack.Stack, rep progress.Reporter) ([]string, error) {
	seen := map[string]bool{}
	var images []string
	for _, u := range st.Units {
		if !seen[u.Spec.Image] {
			seen[u.Spec.Image] = true
			images = append(images, u.Spec.Image)
		}
	}
	sort.Strings(images)
	var pushed []string
	for _, img := range images {
		named, err := reference.ParseNormalizedNamed(img)
		if err != nil {
			return pushed, fmt.Errorf("push %s: %w", img, err)
		}
		if reference.Domain(named) == "docker.io" {
			rep.Report(progress.Event{Unit: img, Status: progress.Skipped, Text: "not pushed: the image names no registry (set registry: in the jobs file)"})
			continue
		}
		ok, err := local.ImageExists(ctx, img)
		if err != nil {
			return pushed, err
		}
		if !ok {
			rep.Report(progress.Event{Unit: img, Status: progress.Skipped, Text: "not on this machine: the pool pulls the registry's"})
			continue
		}
		rep.Report(progress.Event{Unit: img, Status: progress.Working, Text: "Pushing"})
		if err := local.Push(ctx, img, func(pct int) {
			rep.Report(progress.Event{Unit: img, Status: progress.Working, Text: fmt.Sprintf("Pushing %d%%", pct)})
		}); err != nil {
			rep.Report(progress.Event{Unit: img, Status: progress.Failed, Text: "Push failed", Err: err})
			return pushed, err
		}
		rep.Report(progress.Event{Unit: img, Status: progress.Done, Text: "Pushed"})
		pushed = append(pushed, img)
	}
	return pushed, nil
}

package converge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/placement"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Pool is the staging pool's engines, connected.
type Pool struct {
	Names   []string // pool host names, sorted
	Engines map[string]*engine.Engine
	Address map[string]string // pool host -> address others reach it at
	Memory  map[string]int64  // pool host -> bytes (jobs file, else the engine's total)
}

// ErrNoPool means the jobs file names no staging pool.
var ErrNoPool = errors.New("no staging pool")

// PoolHosts returns the pool's host entries from environments.staging.pool.
func PoolHosts(f *prodspec.File) ([]*prodspec.Host, error) {
	env := f.Environments[devenv.StagingEnv]
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

// DialPool connects to every pool engine at once, each with a timeout.
// Every unreachable host is named in the error.
func DialPool(ctx context.Context, f *prodspec.File, timeout time.Duration) (*Pool, error) {
	hosts, err := PoolHosts(f)
	if err != nil {
		return nil, err
	}
	p, errs := DialHosts(ctx, hosts, timeout)
	if len(errs) > 0 {
		p.Close()
		var lines []string
		for _, h := range hosts {
			if err := errs[h.Name]; err != nil {
				lines = append(lines, fmt.Sprintf("pool host %s (%s): %v", h.Name, h.Docker, err))
			}
		}
		return nil, fmt.Errorf("%d of %d pool hosts unreachable:\n  %s", len(lines), len(hosts), strings.Join(lines, "\n  "))
	}
	return p, nil
}

// DialHosts connects to the engines of hosts at once, each with a timeout
// (0: 10 s). The pool holds the reachable ones; errs names the others.
func DialHosts(ctx context.Context, hosts []*prodspec.Host, timeout time.Duration) (p *Pool, errs map[string]error) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	p = &Pool{Engines: map[string]*engine.Engine{}, Address: map[string]string{}, Memory: map[string]int64{}}
	errs = map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := engine.Options{Host: h.Docker, PingTimeout: timeout}
			if h.TLS != nil {
				o.CA, o.Cert, o.Key = h.TLS.CA, h.TLS.Cert, h.TLS.Key
			}
			e, err := engine.Dial(ctx, o)
			var mem int64
			if err == nil {
				ictx, cancel := context.WithTimeout(ctx, timeout)
				info, ierr := e.Info(ictx)
				cancel()
				if ierr != nil {
					e.Close()
					err = ierr
				}
				mem = info.MemoryBytes
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[h.Name] = err
				return
			}
			p.Names = append(p.Names, h.Name)
			p.Engines[h.Name] = e
			p.Memory[h.Name] = mem
			if h.Memory > 0 {
				p.Memory[h.Name] = h.Memory
			}
			p.Address[h.Name] = hostAddress(h)
		}()
	}
	wg.Wait()
	sort.Strings(p.Names)
	return p, errs
}

// hostAddress is the address of a pool host: its address:, else the host
// of a tcp:// or ssh:// endpoint.
func hostAddress(h *prodspec.Host) string {
	if h.Address != "" {
		return h.Address
	}
	if u, err := url.Parse(h.Docker); err == nil && (u.Scheme == "tcp" || u.Scheme == "ssh") {
		return u.Hostname()
	}
	return ""
}

// Close closes every connection.
func (p *Pool) Close() {
	for _, e := range p.Engines {
		e.Close()
	}
}

// applyEngines is the pool as the executor sees it.
func (p *Pool) applyEngines() map[string]apply.Engine {
	m := map[string]apply.Engine{}
	for n, e := range p.Engines {
		m[n] = e
	}
	return m
}

// Observe takes one snapshot of every pool engine, concurrently.
func (p *Pool) Observe(ctx context.Context, project, env string) (*stack.Observed, error) {
	all := &stack.Observed{Volumes: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	for _, name := range p.Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := p.Engines[name].Observe(ctx, project, env, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("pool host %s: %v", name, err))
				return
			}
			all.Add(name, o)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return all, nil
}

// StagingPrepared is everything decided before a staging change.
type StagingPrepared struct {
	Prepared
	Placement *placement.Placement
}

// PrepareStaging places production's hosts on the pool, rewrites, observes
// every engine and plans.
func PrepareStaging(ctx context.Context, pool *Pool, f *prodspec.File, popts plan.Options) (*StagingPrepared, error) {
	obs, err := pool.Observe(ctx, f.Project, devenv.StagingEnv)
	if err != nil {
		return nil, err
	}
	env, _, err := f.ForEnvironment(devenv.StagingEnv)
	if err != nil {
		return nil, err
	}
	in := placement.Input{Pin: map[string]string{}, Previous: map[string]string{}}
	if se := f.Environments[devenv.StagingEnv]; se != nil {
		for k, v := range se.Pin {
			in.Pin[k] = v
		}
	}
	for _, name := range pool.Names {
		in.Pool = append(in.Pool, placement.Host{Name: name, Memory: pool.Memory[name]})
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
	for _, c := range obs.Containers {
		if h := c.Labels[stack.LabelHost]; h != "" && c.Engine != "" {
			in.Previous[h] = c.Engine
		}
	}
	pl, err := placement.Place(in)
	if err != nil {
		return nil, err
	}
	res, err := devenv.RewriteStaging(f, devenv.StagingOptions{Assign: pl.Assign, Address: pool.Address, PlacementNotes: pl.Notes})
	if err != nil {
		return nil, err
	}
	p := plan.Reconcile(res.Stack, obs, popts)
	return &StagingPrepared{Prepared: Prepared{File: f, Rewrite: res, Observed: obs, Plan: p}, Placement: pl}, nil
}

// UpStaging applies a staging plan across the pool.
func UpStaging(ctx context.Context, pool *Pool, prep *StagingPrepared, opts UpOptions) *apply.Result {
	return apply.Run(ctx, prep.Plan, nil, apply.Options{Parallel: opts.Parallel, Reporter: opts.Reporter, Engines: pool.applyEngines()})
}

// DownStaging removes the staging stack from every pool engine.
func DownStaging(ctx context.Context, pool *Pool, project string, volumes bool, opts UpOptions) (*plan.Plan, *apply.Result, error) {
	obs, err := pool.Observe(ctx, project, devenv.StagingEnv)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Down(project, devenv.StagingEnv, obs, plan.DownOptions{Volumes: volumes})
	return p, apply.Run(ctx, p, nil, apply.Options{Parallel: opts.Parallel, Reporter: opts.Reporter, Engines: pool.applyEngines()}), nil
}

// PushImages pushes the stack's images that this machine's engine holds to
// their registries, so that the pool can pull them. Images that name no
// registry (they would go to Docker Hub) are left, and said so; images the
// local engine lacks are the registry's already. Each push reports progress.
func PushImages(ctx context.Context, local *engine.Engine, st *stack.Stack, rep progress.Reporter) ([]string, error) {
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

// Package converge is the road every environment command takes:
// load -> rewrite -> observe -> plan -> apply. Commands call it; only the
// observe and apply steps talk to the engine.
package converge

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cjob/cjob/internal/trace"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/compose/export"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Options describe one dev command run.
type Options struct {
	File    *prodspec.File // loaded and validated
	Rewrite devenv.Options
	Plan    plan.Options
	// Swapped jobs stay swapped unless named here (or RestoreAll).
	Restore    []string
	RestoreAll bool
	// PortFree says whether a local port can be published; nil: PortFree.
	PortFree devenv.PortProbe
}

// Prepared is everything decided before anything is changed.
type Prepared struct {
	File     *prodspec.File
	Rewrite  *devenv.Result
	Observed *stack.Observed
	Plan     *plan.Plan
}

// Notes are every rewrite applied, including port moves.
func (p *Prepared) Notes() []rewrite.Note { return p.Rewrite.Notes }

// Prepare rewrites, observes and plans: everything decided before anything
// changes. With Offline as the engine, the plan is that of a first up.
func Prepare(ctx context.Context, eng Observer, opts Options) (*Prepared, error) {
	f := opts.File
	ro := opts.Rewrite
	if ro.SandboxImage == "" {
		// The image for the engine's architecture is made (and named) by
		// Up; it is not part of a sandbox's hash.
		ro.SandboxImage = sandbox.Name
	}
	_, sp := trace.Start(ctx, "rewrite")
	res, err := rewriteDev(f, ro)
	sp.EndErr(err)
	if err != nil {
		return nil, err
	}
	octx, sp := trace.Start(ctx, "observe")
	obs, err := eng.Observe(octx, f.Project, devenv.Env, res.Stack.Network)
	sp.EndErr(err)
	if err != nil {
		return nil, err
	}
	_, sp = trace.Start(ctx, "plan")
	defer sp.End()
	free := opts.PortFree
	if free == nil {
		free = PortFree
	}
	res.Notes = append(res.Notes, keepSwaps(res.Stack, obs, opts)...)
	res.Notes = append(res.Notes, devenv.AssignPorts(res.Stack, obs, free)...)
	composeLabels(res.Stack)
	popts := opts.Plan
	if len(opts.Rewrite.Only) > 0 {
		popts.KeepOrphans = true
	}
	p := plan.Reconcile(res.Stack, obs, popts)
	return &Prepared{File: f, Rewrite: res, Observed: obs, Plan: p}, nil
}

// rewriteDev is devenv.Rewrite with this machine's host-config paths
// checked (unless the options say how), so that every command sees the same
// dev stack.
func rewriteDev(f *prodspec.File, ro devenv.Options) (*devenv.Result, error) {
	if ro.HostPathExists == nil {
		ro.HostPathExists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	return devenv.Rewrite(f, ro)
}

// PortFree reports whether 127.0.0.1:port can be published: nothing on this
// machine listens there. Only "address in use" says no: a port below 1024
// that this user may not bind is still free for the engine, which binds as
// root, and where this machine's loopback cannot be used at all (cjob in a
// network namespace of its own, say) the engine is the judge.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return !isAddrInUse(err)
	}
	l.Close()
	return true
}

// UpOptions tune Up.
type UpOptions struct {
	Parallel int
	Reporter progress.Reporter
	Probe    apply.Prober // nil: health.Probe
}

// Up applies a prepared plan: it makes the sandbox image for the engine's
// architecture if needed (sandboxes to create run it), then runs the plan.
func Up(ctx context.Context, eng Engine, p *Prepared, opts UpOptions) (*apply.Result, error) {
	if !p.Plan.Empty() {
		sctx, sp := trace.Start(ctx, "sandbox image")
		ref, err := sandbox.Ensure(sctx, eng)
		sp.EndErr(err)
		if err != nil {
			return nil, err
		}
		for _, op := range p.Plan.Ops {
			if op.Unit != nil && op.Unit.Kind == stack.KindSandbox {
				op.Unit.Spec.Image = ref
			}
		}
	}
	actx, sp := trace.Start(ctx, "apply", "ops", strconv.Itoa(len(p.Plan.Ops)))
	defer sp.End()
	res := apply.Run(actx, p.Plan, apply.One(eng), apply.Options{Parallel: opts.Parallel, Reporter: opts.Reporter, Probe: opts.Probe})
	return res, nil
}

// DownOptions say what Down removes.
type DownOptions struct {
	Project string
	Only    map[string]bool // these jobs' containers only; nil: the whole stack
	Volumes bool            // also the named volumes, and their data
	// RemoveImages also removes the images dev swap built.
	RemoveImages bool
	Parallel     int
	Reporter     progress.Reporter
}

// Down removes the dev stack's containers (and volumes on request).
func Down(ctx context.Context, eng Engine, o DownOptions) (*plan.Plan, *apply.Result, error) {
	network := devenv.NetworkName(o.Project)
	obs, err := eng.Observe(ctx, o.Project, devenv.Env, network)
	if err != nil {
		return nil, nil, err
	}
	p := plan.Down(o.Project, devenv.Env, obs, plan.DownOptions{Volumes: o.Volumes, Network: network, Only: o.Only})
	res := apply.Run(ctx, p, apply.One(eng), apply.Options{Parallel: o.Parallel, Reporter: o.Reporter})
	if o.RemoveImages && res.Err() == nil {
		if _, err := eng.RemoveDevImages(ctx, o.Project, "", ""); err != nil {
			return p, res, err
		}
	}
	return p, res, nil
}

// Elapsed formats a duration for people.
func Elapsed(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// keepSwaps carries jobs swapped for a local build (`cjob dev swap`) into
// the desired stack, so that `dev up` never reverts them silently; jobs
// being restored get production's image back.
func keepSwaps(st *stack.Stack, obs *stack.Observed, opts Options) []rewrite.Note {
	restore := map[string]bool{}
	for _, j := range opts.Restore {
		restore[j] = true
	}
	var notes []rewrite.Note
	for _, c := range obs.Containers {
		dir, image := c.Labels[stack.LabelSwapped], c.Labels[stack.LabelSwappedImage]
		if dir == "" || image == "" {
			continue
		}
		u := st.Unit(c.Key())
		if u == nil {
			continue
		}
		if opts.RestoreAll || restore[u.Job] {
			notes = append(notes, rewrite.Note{Subject: u.Job, Text: "restored: production image " + u.Spec.Image + " replaces the local build from " + dir})
			continue
		}
		*u = *swapped(u, dir, image, c.Labels[stack.LabelSwappedTemplate])
		notes = append(notes, rewrite.Note{Subject: u.Job, Text: "swapped: runs " + image + ", built from " + dir + " (`cjob dev restore " + u.Job + "` reverts)"})
	}
	return notes
}

// composeLabels gives the dev stack's containers Docker Compose's labels, so
// `docker compose -p <project>-dev ps` and `logs` list them and Docker
// Desktop groups them, under the service names of `cjob dev export`. The
// units' specs must be final: the labels carry their config hashes.
func composeLabels(st *stack.Stack, units ...*stack.Unit) {
	if len(units) == 0 {
		units = st.Units
	}
	for _, u := range units {
		u.Labels = export.Labels(st, u, u.Hash())
	}
}

// ExportCompose is the dev stack as a Compose file (and warnings), with
// the ports `dev up` would publish now.
func ExportCompose(ctx context.Context, eng Engine, f *prodspec.File) ([]byte, []string, error) {
	ref, err := sandbox.Ensure(ctx, eng)
	if err != nil {
		return nil, nil, err
	}
	prep, err := Prepare(ctx, eng, Options{File: f, Rewrite: devenv.Options{SandboxImage: ref}})
	if err != nil {
		return nil, nil, err
	}
	_, out, warnings, err := export.Compose(prep.Rewrite.Stack)
	return out, warnings, err
}

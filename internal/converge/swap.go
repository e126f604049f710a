package converge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// SwapOptions describe one swap of a job for a local build.
type SwapOptions struct {
	File  *prodspec.File
	Job   string        // full job name
	Build build.Options // Dir and the build flags; Repo, Port and StaticServer are filled in
	Log   io.Writer     // build output; nil discards
	// Status receives short progress lines ("building", "swapping"); may be nil.
	Status func(string)
	// Probe checks a task's readiness over the network; nil: health.Probe.
	Probe apply.Prober
	// Record receives every swap's record (folder, image, timings, build
	// log, error), for `cjob dev ui`; nil: not recorded.
	Record func(localstate.SwapRecord)
}

// SwapResult is what one swap did.
type SwapResult struct {
	Image     string
	Live      bool   // a live update: the artefact went into the running container; Image is unchanged
	Early     bool   // live update: the build began on the burst's first save, before the debounce ended
	Reason    string // why an image was built when a live update was asked for
	Reused    bool   // the image was already built from this source
	Template  string // template used, or "" for a Dockerfile
	Unchanged bool   // the job already ran this image
	Tasks     []string
	Build     time.Duration
	Swap      time.Duration // a swap: replacing the containers; a live update: copy, restart and check
	Copy      time.Duration // live update: the artefact into the container(s)
	Restart   time.Duration // live update: restarting them
	Check     time.Duration // live update: until they are ready
	Total     time.Duration
	ran       map[string][]byte // live update: container ID -> the artefact tar it now runs
}

// RollbackError is a swap whose new container failed: the previous
// container was put back.
type RollbackError struct {
	Task    string
	Err     error
	LogTail string // the new container's last log lines
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("%s: new container failed (%v); the previous container was put back", e.Task, e.Err)
}

func (e *RollbackError) Unwrap() error { return e.Err }

// ErrNotRunning means the job to swap is not part of the running dev stack.
var ErrNotRunning = errors.New("not running in the dev stack")

// swapTarget is one task to swap and what surrounds it.
type swapTarget struct {
	stack     *stack.Stack
	unit      *stack.Unit
	current   *stack.Container
	sandboxIP string
}

// findTargets rewrites the file and finds the running tasks of job.
func findTargets(ctx context.Context, eng Observer, f *prodspec.File, job string) ([]swapTarget, error) {
	res, err := rewriteDev(f, devenv.Options{SandboxImage: "-", KeepReplicas: true})
	if err != nil {
		return nil, err
	}
	obs, err := eng.Observe(ctx, f.Project, devenv.Env, res.Stack.Network)
	if err != nil {
		return nil, err
	}
	byKey := obs.ByKey()
	ips := map[string]string{}
	for _, c := range obs.Containers {
		if c.Kind() == stack.KindSandbox && c.State == stack.StateRunning {
			ips[c.Key()] = c.IP
		}
	}
	var out []swapTarget
	for _, u := range res.Stack.Units {
		if u.Job != job {
			continue
		}
		cs := byKey[u.Key]
		if len(cs) == 0 {
			continue
		}
		out = append(out, swapTarget{stack: res.Stack, unit: u, current: cs[0], sandboxIP: ips[u.Sandbox]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is %w: run `cjob dev up %s` first", job, ErrNotRunning, job)
	}
	return out, nil
}

// Swap builds an image from the source folder and puts it in place of the
// job's running container(s): same host sandbox (so the same addresses and
// published ports), env, volumes and labels, plus the swapped labels. If the
// new container exits or fails its check, the previous one is put back.
func Swap(ctx context.Context, eng Engine, opts SwapOptions) (*SwapResult, error) {
	return recorded(opts, func(opts SwapOptions) (*SwapResult, error) { return swap(ctx, eng, opts) })
}

// recorded runs a swap or a live update with its build log kept, and
// records it.
func recorded(opts SwapOptions, do func(SwapOptions) (*SwapResult, error)) (*SwapResult, error) {
	log := &tailBuffer{max: 64 << 10}
	if opts.Log != nil {
		opts.Log = io.MultiWriter(opts.Log, log)
	} else {
		opts.Log = log
	}
	res, err := do(opts)
	if opts.Record == nil {
		return res, err
	}
	rec := localstate.SwapRecord{Job: opts.Job, Dir: opts.Build.Dir, At: time.Now(), BuildLog: log.String()}
	if res != nil {
		rec.Image, rec.Build, rec.Total, rec.Reused, rec.Live = res.Image, res.Build, res.Total, res.Reused, res.Live
	}
	if err != nil {
		rec.Err = err.Error()
		var rb *RollbackError
		if errors.As(err, &rb) && rb.LogTail != "" {
			rec.Err += "\n" + rb.LogTail
		}
	}
	opts.Record(rec)
	return res, err
}

func swap(ctx context.Context, eng Engine, opts SwapOptions) (*SwapResult, error) {
	start := time.Now()
	status, targets, bo, err := begin(ctx, eng, opts)
	if err != nil {
		return nil, err
	}
	status("building " + bo.Dir)
	br, err := build.Build(ctx, eng, bo)
	if err != nil {
		return nil, err
	}
	res := &SwapResult{Image: br.Image, Reused: br.Reused, Template: br.Template, Build: time.Since(start)}
	swapStart := time.Now()
	unchanged := true
	for _, t := range targets {
		u := swapped(t.unit, bo.Dir, br.Image, br.Template)
		composeLabels(t.stack, u)
		res.Tasks = append(res.Tasks, u.Key)
		if t.current.Hash() == u.Hash() && t.current.State == stack.StateRunning {
			continue
		}
		unchanged = false
		status("swapping " + u.Key)
		if err := (swapper{eng, opts.Probe}).replace(ctx, t, u); err != nil {
			return res, err
		}
	}
	res.Unchanged = unchanged
	res.Swap = time.Since(swapStart)
	if !unchanged {
		// Earlier builds of this job are no longer needed (ones a
		// container still uses stay).
		_, _ = eng.RemoveDevImages(ctx, opts.File.Project, bo.Repo, br.Image)
	}
	res.Total = time.Since(start)
	return res, nil
}

// begin is what a swap and a live update start with: the status line
// writer, the job's running tasks and the build options.
func begin(ctx context.Context, eng Engine, opts SwapOptions) (func(string), []swapTarget, build.Options, error) {
	status := opts.Status
	if status == nil {
		status = func(string) {}
	}
	targets, err := findTargets(ctx, eng, opts.File, opts.Job)
	if err != nil {
		return nil, nil, build.Options{}, err
	}
	return status, targets, buildOptions(ctx, eng, opts), nil
}

// buildOptions are opts.Build with what the job and the engine add.
func buildOptions(ctx context.Context, eng Engine, opts SwapOptions) build.Options {
	bo := opts.Build
	bo.Log = opts.Log
	bo.Repo = opts.File.Project + "/" + opts.Job
	if j := opts.File.Job(opts.Job); j != nil {
		bo.Port = j.MainPort()
		bo.Command = j.Command
	}
	if bo.StaticServer == nil {
		// The static template serves with cjob-sandbox, built for the
		// engine's architecture.
		if bin, _, err := sandbox.ForEngine(ctx, eng); err == nil {
			bo.StaticServer = bin
		}
	}
	return bo
}

// swapped returns a copy of u running image, labelled as swapped from dir.
func swapped(u *stack.Unit, dir, image, template string) *stack.Unit {
	c := *u
	c.Spec.Image = image
	c.Spec.Labels = maps.Clone(u.Spec.Labels)
	if c.Spec.Labels == nil {
		c.Spec.Labels = map[string]string{}
	}
	c.Spec.Labels[stack.LabelSwapped] = dir
	c.Spec.Labels[stack.LabelSwappedImage] = image
	if template != "" {
		c.Spec.Labels[stack.LabelSwappedTemplate] = template
		templateCommand(&c, template)
	}
	return &c
}

// templateCommand adapts production's command to an image made from a
// template, whose own entrypoint or command starts the artefact: for a Go
// binary, production's arguments are kept (["/api", "migrate"] runs
// /app migrate); other templates' commands are the image's.
func templateCommand(u *stack.Unit, template string) {
	if template == "go" && len(u.Spec.Command) > 1 {
		u.Spec.Entrypoint = []string{"/app"}
		u.Spec.Command = u.Spec.Command[1:]
		return
	}
	u.Spec.Entrypoint, u.Spec.Command = nil, nil
}

// swapper replaces one container by another in place.
type swapper struct {
	eng   Engine
	probe apply.Prober // nil: health.Probe
}

func (sw swapper) wait(ctx context.Context, t swapTarget, u *stack.Unit, id string) error {
	w := apply.Waiter{Engine: sw.eng, Network: t.stack.Network, Probe: sw.probe}
	_, err := w.WaitTask(ctx, u, id, t.sandboxIP)
	return err
}

// replace puts a new container for u in place of t's current one: the old
// one is stopped and set aside under another name (the two share the
// sandbox's ports), the new one is created and must become ready; then the
// old one is removed. If the new one fails, it is removed and the old one is
// put back and started.
func (sw swapper) replace(ctx context.Context, t swapTarget, u *stack.Unit) error {
	eng, old := sw.eng, t.current
	aside := u.Name + ".prev"
	timeout := u.Spec.StopTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	// A leftover from an interrupted swap holds the aside name.
	_ = eng.Remove(ctx, aside)
	if err := eng.Stop(ctx, old.ID, timeout); err != nil {
		return err
	}
	if err := eng.Rename(ctx, old.ID, aside); err != nil {
		_ = eng.Start(ctx, old.ID)
		return err
	}
	id, err := eng.Create(ctx, stack.CreateRequest{Name: u.Name, Spec: u.Spec, Labels: t.stack.Labels(u), Network: t.stack.Network})
	if err == nil {
		err = eng.Start(ctx, id)
	}
	if err == nil {
		err = sw.wait(ctx, t, u, id)
	}
	if err == nil {
		return eng.Remove(ctx, old.ID)
	}
	// Roll back, even if ctx was cancelled: the job must not stay down.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rb := &RollbackError{Task: u.Key, Err: err}
	if id != "" {
		rb.LogTail = eng.LogTail(rctx, id, 30)
		_ = eng.Remove(rctx, id)
	}
	if rerr := eng.Rename(rctx, old.ID, old.Name); rerr != nil {
		return fmt.Errorf("%w; and putting the previous container back failed: %v (run `cjob dev up`)", rb, rerr)
	}
	if rerr := eng.Start(rctx, old.ID); rerr != nil {
		return fmt.Errorf("%w; and restarting the previous container failed: %v (run `cjob dev up`)", rb, rerr)
	}
	if rerr := sw.wait(rctx, t, t.unit, old.ID); rerr != nil {
		return fmt.Errorf("%w; and the previous container is not ready again: %v (run `cjob dev up`)", rb, rerr)
	}
	return rb
}

// Restore puts production's container back in place of the swapped jobs
// (all swapped jobs when jobs is empty). It returns the jobs restored.
func Restore(ctx context.Context, eng Engine, f *prodspec.File, jobs []string, opts UpOptions) ([]string, error) {
	res, err := rewriteDev(f, devenv.Options{SandboxImage: "-"})
	if err != nil {
		return nil, err
	}
	obs, err := eng.Observe(ctx, f.Project, devenv.Env, res.Stack.Network)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, j := range jobs {
		want[j] = true
	}
	var restore []string
	seen := map[string]bool{}
	replicas := false // a restored job runs more than its first task (--replicas keep)
	for _, c := range obs.Containers {
		j := c.Labels[stack.LabelJob]
		if c.Labels[stack.LabelSwapped] == "" || (len(want) > 0 && !want[j]) {
			continue
		}
		if c.Labels[stack.LabelTask] != "1" {
			replicas = true
		}
		if !seen[j] {
			seen[j] = true
			restore = append(restore, j)
		}
	}
	for j := range want {
		if !seen[j] {
			return nil, fmt.Errorf("%s is not swapped", j)
		}
	}
	if len(restore) == 0 {
		return nil, nil
	}
	prep, err := Prepare(ctx, eng, Options{File: f, Rewrite: devenv.Options{Only: restore, KeepReplicas: replicas}, Restore: restore})
	if err != nil {
		return nil, err
	}
	r, err := Up(ctx, eng, prep, opts)
	if err != nil {
		return nil, err
	}
	return restore, r.Err()
}

// SyncRule copies changed files under Src (relative to the swap folder)
// to Dest in the container.
type SyncRule struct {
	Src  string // slash-separated, relative; "." for the whole folder
	Dest string // absolute path in the container
}

// ParseSyncRule reads "SRC:DEST".
func ParseSyncRule(s string) (SyncRule, error) {
	i := strings.LastIndex(s, ":/")
	if i <= 0 {
		return SyncRule{}, fmt.Errorf("--sync %q: want SRC:DEST, SRC relative to the source folder and DEST an absolute path in the container", s)
	}
	// SRC may be written the way this machine writes paths (static\css on
	// Windows); it is relative to the folder, never a drive or a root.
	src, dest := filepath.ToSlash(s[:i]), s[i+1:]
	if filepath.IsAbs(s[:i]) || strings.HasPrefix(src, "/") || strings.Contains(src, ":") || slices.Contains(strings.Split(src, "/"), "..") {
		return SyncRule{}, fmt.Errorf("--sync %q: SRC %q must be a path inside the source folder, relative to it (want SRC:DEST)", s, s[:i])
	}
	src = strings.Trim(strings.TrimPrefix(src, "./"), "/")
	if src == "" {
		src = "."
	}
	return SyncRule{Src: src, Dest: strings.TrimRight(dest, "/")}, nil
}

// Map returns where a changed path (relative to the swap folder) goes in
// the container, or false when no rule covers it.
func (r SyncRule) Map(rel string) (string, bool) {
	if r.Src == "." {
		return r.Dest + "/" + rel, true
	}
	if rel == r.Src {
		return r.Dest, true
	}
	if rest, ok := strings.CutPrefix(rel, r.Src+"/"); ok {
		return r.Dest + "/" + rest, true
	}
	return "", false
}

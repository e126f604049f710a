package converge

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/watch"
)

// Round is one reaction to a burst of saves: a rebuild and swap, or a sync.
type Round struct {
	N       int
	Changed []string
	Removed []string
	Synced  bool // files were copied in; no rebuild
	Swap    *SwapResult
	Sync    time.Duration
	Err     error // the round failed; the last good container still runs
	// Warning is a note about the watch itself, before the first round
	// (N is 0): why some changes may go unseen.
	Warning string
}

// WatchOptions tune Watch.
type WatchOptions struct {
	Swap          SwapOptions
	Sync          []SyncRule
	RestartOnSync bool
	Debounce      time.Duration
	// Live puts each save's build into the running container (LiveUpdate)
	// instead of building an image, unless a change needs one (a
	// Dockerfile, a dependency manifest, a path matching RebuildOn) or the
	// folder's build has no artefact; the round's Swap.Reason says why.
	Live      bool
	RebuildOn []string
}

// Watch swaps the job once, then on every burst of saves in the source
// folder rebuilds and swaps again, or, when every changed path is covered by
// a sync rule, copies the files into the running container. It calls round
// after each round and returns when ctx ends. A failed build or a crashing
// image is reported in its round and leaves the last good container running.
func Watch(ctx context.Context, eng Engine, opts WatchOptions, round func(Round)) error {
	ign, err := build.IgnoreFor(opts.Swap.Build)
	if err != nil {
		return err
	}
	w, err := watch.New(watch.Options{Root: opts.Swap.Build.Dir, Ignore: ign, Debounce: opts.Debounce})
	if err != nil {
		return fmt.Errorf("watch %s: %w", opts.Swap.Build.Dir, err)
	}
	defer w.Close()
	if warn := w.Warning(); warn != "" {
		round(Round{Warning: warn})
	}
	n := 1
	sr, err := Swap(ctx, eng, opts.Swap)
	round(Round{N: n, Swap: sr, Err: err})
	template := ""
	if sr != nil {
		template = sr.Template
	}
	var spec *speculation
	running := map[string][]byte{} // container ID -> the artefact a live update put in
	defer func() {
		if spec != nil {
			spec.cancel()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors():
			if ok {
				round(Round{N: n, Err: fmt.Errorf("watch: %w", err)})
			}
		case <-w.Stirring():
			if opts.Live && spec == nil && build.LiveTemplate(template) && len(opts.Sync) == 0 {
				spec = speculate(ctx, eng, opts.Swap)
			}
		case b, ok := <-w.Batches():
			if !ok {
				return nil
			}
			n++
			r := Round{N: n, Changed: b.Changed, Removed: b.Removed}
			if len(opts.Sync) > 0 && covered(opts.Sync, b) {
				start := time.Now()
				r.Synced = true
				r.Err = Sync(ctx, eng, SyncOptions{Swap: opts.Swap, Rules: opts.Sync, Batch: b, Restart: opts.RestartOnSync})
				r.Sync = time.Since(start)
			} else {
				r.Swap, r.Err = rebuild(ctx, eng, opts, template, b, spec, running)
				if r.Swap != nil && !r.Swap.Live {
					template = r.Swap.Template
				}
				running = map[string][]byte{} // unknown: read out next time
				if r.Err == nil && r.Swap != nil && r.Swap.Live {
					running = r.Swap.ran
				}
			}
			if spec != nil {
				spec.cancel()
				spec = nil
			}
			if ctx.Err() != nil {
				return nil
			}
			round(r)
		}
	}
}

// rebuild reacts to a batch of saves with a live update when it can, and
// else with an image build and swap, saying why.
func rebuild(ctx context.Context, eng Engine, opts WatchOptions, template string, b watch.Batch, spec *speculation, running map[string][]byte) (*SwapResult, error) {
	if !opts.Live {
		return Swap(ctx, eng, opts.Swap)
	}
	reason := build.RebuildReason(template, append(append([]string{}, b.Changed...), b.Removed...), opts.RebuildOn)
	if reason == "" {
		var art *prebuilt
		if spec != nil {
			art = spec.use(ctx)
		}
		res, err := recorded(opts.Swap, func(o SwapOptions) (*SwapResult, error) { return liveUpdate(ctx, eng, o, art, running) })
		if !errors.Is(err, build.ErrNoLiveUpdate) {
			return res, err
		}
		reason = err.Error()
	}
	res, err := Swap(ctx, eng, opts.Swap)
	if res != nil {
		res.Reason = reason
	}
	return res, err
}

func covered(rules []SyncRule, b watch.Batch) bool {
	for _, p := range append(append([]string{}, b.Changed...), b.Removed...) {
		ok := false
		for _, r := range rules {
			if _, m := r.Map(p); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// SyncOptions say what Sync copies where.
type SyncOptions struct {
	Swap    SwapOptions // the job, its source folder (Build.Dir), Probe
	Rules   []SyncRule
	Batch   watch.Batch // the paths changed and removed, relative to the folder
	Restart bool        // restart the task after copying, and wait until it is ready
}

// Sync copies changed files into the job's running container(s) and removes
// removed ones, with no rebuild, then restarts the container if asked.
func Sync(ctx context.Context, eng Engine, o SyncOptions) error {
	opts, rules, b, restart := o.Swap, o.Rules, o.Batch, o.Restart
	targets, err := findTargets(ctx, eng, opts.File, opts.Job)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := 0
	for _, rel := range b.Changed {
		dest, ok := mapRules(rules, rel)
		if !ok {
			continue
		}
		src := filepath.Join(opts.Build.Dir, filepath.FromSlash(rel))
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone again, or a folder (its files come on their own)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("sync %s: %w", rel, err)
		}
		hdr := &tar.Header{Name: dest[1:], Mode: int64(fi.Mode().Perm()), Size: int64(len(data)), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		files++
	}
	if err := tw.Close(); err != nil {
		return err
	}
	var removed []string
	for _, rel := range b.Removed {
		if dest, ok := mapRules(rules, rel); ok {
			removed = append(removed, dest)
		}
	}
	sort.Strings(removed)
	for _, t := range targets {
		if files > 0 {
			if err := eng.CopyTo(ctx, t.current.ID, "/", bytes.NewReader(buf.Bytes())); err != nil {
				return err
			}
		}
		if len(removed) > 0 {
			// Images FROM scratch hold no rm: the host sandbox, which
			// shares the task's PID namespace, removes the files.
			sb := devenv.SandboxName(t.stack.Project, t.unit.Host)
			cmd := append([]string{sandbox.Program, "rm", "--container", t.current.ID}, removed...)
			code, out, err := eng.Exec(ctx, sb, cmd)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("sync: remove %v in %s: %s", removed, t.unit.Key, out)
			}
		}
		if restart {
			if err := eng.Restart(ctx, t.current.ID, t.unit.Spec.StopTimeout); err != nil {
				return err
			}
			if err := (swapper{eng, opts.Probe}).wait(ctx, t, t.unit, t.current.ID); err != nil {
				return fmt.Errorf("%s after restart: %w", t.unit.Key, err)
			}
		}
	}
	return nil
}

func mapRules(rules []SyncRule, rel string) (string, bool) {
	for _, r := range rules {
		if d, ok := r.Map(rel); ok {
			return d, true
		}
	}
	return "", false
}

package converge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/stack"
)

// LiveUpdate puts new code into the job's running, swapped container(s)
// without an image build: the template's artefact is built on this machine
// (go build, mvn package), copied in through the engine's archive API (no
// tool is needed in the image: most are FROM scratch), and the container is
// restarted, keeping its ID, addresses, env and volumes; then it must
// become ready. If it does not, the previous artefact is put back and the
// container restarted on it (a *RollbackError). A failed build changes
// nothing. It fails with build.ErrNoLiveUpdate when the job is not swapped
// from this folder with a template that has an artefact: swap it then.
func LiveUpdate(ctx context.Context, eng Engine, opts SwapOptions) (*SwapResult, error) {
	return recorded(opts, func(opts SwapOptions) (*SwapResult, error) { return liveUpdate(ctx, eng, opts, nil, nil) })
}

// liveUpdate is LiveUpdate with the artefact built already (art, its build
// time counted from when it began), or built here when art is nil. running
// is what each container (by ID) runs, as the previous round left it: its
// artefact need not be read out to be put back on failure.
func liveUpdate(ctx context.Context, eng Engine, opts SwapOptions, art *prebuilt, running map[string][]byte) (*SwapResult, error) {
	start := time.Now()
	status, targets, bo, err := begin(ctx, eng, opts)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(bo.Dir)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if t.current.Labels[stack.LabelSwapped] != dir || t.current.Labels[stack.LabelSwappedTemplate] == "" || t.current.State != stack.StateRunning {
			return nil, fmt.Errorf("%w: %s does not run a template build of %s", build.ErrNoLiveUpdate, t.unit.Key, dir)
		}
	}
	early := art != nil
	if art != nil {
		start = art.began
	} else {
		status("building " + bo.Dir)
		a, err := build.LiveArtifact(ctx, bo)
		if err != nil {
			return nil, err
		}
		art = &prebuilt{Artifact: a}
	}
	res := &SwapResult{Live: true, Early: early, Template: art.Template, Image: targets[0].current.Labels[stack.LabelSwappedImage], Build: time.Since(start)}
	for _, t := range targets {
		if tmpl := t.current.Labels[stack.LabelSwappedTemplate]; tmpl != art.Template {
			return nil, fmt.Errorf("%w: %s runs a %s template build; the folder now builds with %s", build.ErrNoLiveUpdate, t.unit.Key, tmpl, art.Template)
		}
	}
	swapStart := time.Now()
	for _, t := range targets {
		res.Tasks = append(res.Tasks, t.unit.Key)
		status("updating " + t.unit.Key)
		if err := (swapper{eng, opts.Probe}).live(ctx, t, art.Artifact, running[t.current.ID], res); err != nil {
			return res, err
		}
		if res.ran == nil {
			res.ran = map[string][]byte{}
		}
		res.ran[t.current.ID] = art.Tar
	}
	res.Swap = time.Since(swapStart)
	res.Total = time.Since(start)
	return res, nil
}

// live puts art into t's running container and restarts it; if it does
// not become ready, the artefact it ran is put back.
func (sw swapper) live(ctx context.Context, t swapTarget, art *build.Artifact, prev []byte, res *SwapResult) error {
	eng, id := sw.eng, t.current.ID
	if prev == nil {
		var err error
		if prev, err = readAll(eng.CopyFrom(ctx, id, art.Path)); err != nil {
			return fmt.Errorf("%w: keeping the running %s to put back on failure: %v", build.ErrNoLiveUpdate, art.Path, err)
		}
	}
	timeout := t.unit.Spec.StopTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	step := time.Now()
	err := eng.CopyTo(ctx, id, "/", bytes.NewReader(art.Tar))
	res.Copy += time.Since(step)
	if err != nil {
		return err
	}
	step = time.Now()
	err = eng.Restart(ctx, id, timeout)
	res.Restart += time.Since(step)
	if err == nil {
		step = time.Now()
		err = sw.wait(ctx, t, t.unit, id)
		res.Check += time.Since(step)
	}
	if err == nil {
		return nil
	}
	// Put the previous artefact back, even if ctx was cancelled.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rb := &RollbackError{Task: t.unit.Key, Err: err, LogTail: eng.LogTail(rctx, id, 30)}
	if rerr := eng.CopyTo(rctx, id, "/", bytes.NewReader(prev)); rerr != nil {
		return fmt.Errorf("%w; and putting the previous %s back failed: %v (run `cjob dev swap` again)", rb, art.Path, rerr)
	}
	if rerr := eng.Restart(rctx, id, timeout); rerr != nil {
		return fmt.Errorf("%w; and restarting on the previous %s failed: %v (run `cjob dev swap` again)", rb, art.Path, rerr)
	}
	if rerr := sw.wait(rctx, t, t.unit, id); rerr != nil {
		return fmt.Errorf("%w; and it is not ready again on the previous %s: %v (run `cjob dev swap` again)", rb, art.Path, rerr)
	}
	return rb
}

// prebuilt is an artefact built ahead of its round (see speculation).
type prebuilt struct {
	*build.Artifact
	began time.Time
}

// speculation is a live build started on the first change of a burst,
// before the debounce ends: if the folder's content hash when the burst's
// batch arrives is the one the build started from, the round uses it and
// the debounce costs nothing; else it is thrown away.
type speculation struct {
	cancel context.CancelFunc
	done   chan struct{}
	bo     build.Options
	art    *prebuilt
	err    error
}

func speculate(ctx context.Context, eng Engine, opts SwapOptions) *speculation {
	sctx, cancel := context.WithCancel(ctx)
	sp := &speculation{cancel: cancel, done: make(chan struct{})}
	began := time.Now()
	bo := buildOptions(sctx, eng, opts)
	bo.Log = io.Discard // a speculative build's output is not the round's
	sp.bo = bo
	go func() {
		defer close(sp.done)
		a, err := build.LiveArtifact(sctx, bo)
		if err == nil {
			sp.art = &prebuilt{Artifact: a, began: began}
		}
		sp.err = err
	}()
	return sp
}

// use waits for the speculative build and returns it when the folder still
// hashes as it did when the build began; nil otherwise.
func (sp *speculation) use(ctx context.Context) *prebuilt {
	<-sp.done
	sp.cancel()
	if sp.err != nil || sp.art == nil {
		return nil
	}
	now, err := build.ContentHash(ctx, sp.bo)
	if err != nil || now != sp.art.Hash {
		return nil
	}
	return sp.art
}

// readAll reads a stream CopyFrom opened to its end and closes it.
func readAll(r io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

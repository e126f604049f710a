package envui_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/envui"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/prodspec"
)

// These tests run the dev and staging sources on enginetest's in-memory
// engines: no Docker engine, no network and nothing in the user's home.
//
//   - Every test sets XDG_STATE_HOME to its own folder (localstate keeps the
//     events and swap records there).
//   - Dev.Probe answers health checks without the network; staging has no
//     probe seam, so the staging file's checks are `cmd:` checks, which
//     enginetest's Exec answers (a job with a port and no declared check
//     would get an implicit TCP check made over the network).
//   - Dev's Snapshot and up/reload go through converge.Prepare, which checks
//     the local ports it publishes with a real listen on 127.0.0.1 (envui
//     does not expose converge.Options.PortFree). The dev file therefore
//     publishes only high ports (47300, 47432, 47800) that nothing is
//     likely to use, and the tests read the published port back from the
//     engine instead of assuming it, so a busy port moves the URL but does
//     not fail a test.

// Names of the token, the developer who started the UI and the visitor who
// acts in the tests.
const (
	token   = "tok-3f9a"
	starter = "alice"
	visitor = "bob"
)

// healthyProbe is a health probe that passes at once without the network.
func healthyProbe(context.Context, *stack.Check, string) error { return nil }

// probeLog is a probe that fails the checks on some ports and records every
// check it answers.
type probeLog struct {
	fail map[int]bool

	mu    sync.Mutex
	calls []string // "port@ip"
}

func (p *probeLog) probe(_ context.Context, c *stack.Check, ip string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf("%d@%s", c.Port, ip))
	if p.fail[c.Port] {
		return fmt.Errorf("port %d: connection refused", c.Port)
	}
	return nil
}

func (p *probeLog) ports() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		port, _, _ := strings.Cut(c, "@")
		out = append(out, port)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isolate keeps localstate in the test's own folder.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	return dir
}

// parse reads an inline jobs file.
func parse(t *testing.T, src string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Parse("jobs.yml", []byte(src), prodspec.LoadOptions{})
	if err != nil {
		var l prodspec.ErrorList
		if errors.As(err, &l) {
			t.Fatalf("parse:\n%s", l.Format())
		}
		t.Fatalf("parse: %v", err)
	}
	return f
}

// jobsFile is a jobs file a test can change between looks.
type jobsFile struct {
	mu  sync.Mutex
	f   *prodspec.File
	err error
}

func (j *jobsFile) load() (*prodspec.File, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f, j.err
}

func (j *jobsFile) set(f *prodspec.File) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.f, j.err = f, nil
}

func (j *jobsFile) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.f, j.err = nil, err
}

// local is the envui.Local of a test: file's jobs, token and starter.
func local(file *jobsFile) envui.Local {
	return envui.Local{Load: file.load, Token: token, Who: starter}
}

// sandboxRef is the host sandbox image a dev up makes on enginetest (which
// reports amd64).
func sandboxRef() string {
	_, hash, err := sandbox.Payload("amd64")
	if err != nil {
		panic(err)
	}
	return sandbox.ImageRef(hash)
}

// seed brings the named jobs (and their dependencies) of f up on eng the way
// `cjob dev up JOB` does, without going through envui, and without the
// port check: Prepare is given the sandbox image
// (added to the engine) and told every port is free. Tests of what envui
// does with a running stack use it; the tests of Act "up" use Act.
func seed(t *testing.T, eng *enginetest.Engine, f *prodspec.File, probe apply.Prober, jobs ...string) {
	t.Helper()
	ref := sandboxRef()
	eng.AddImage(ref)
	p, err := converge.Prepare(context.Background(), eng, converge.Options{
		File:     f,
		Rewrite:  devenv.Options{SandboxImage: ref, Only: jobs, HostPathExists: func(string) bool { return true }},
		PortFree: func(int) bool { return true },
	})
	if err != nil {
		t.Fatalf("seed: Prepare: %v", err)
	}
	res := apply.Run(context.Background(), p.Plan, apply.One(eng), apply.Options{Probe: probe})
	if err := res.Err(); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// ids are the engine's container IDs by name.
func ids(eng *enginetest.Engine) map[string]string {
	m := map[string]string{}
	for _, c := range eng.Containers() {
		m[c.Name] = c.ID
	}
	return m
}

// states are the engine's container states by name.
func states(eng *enginetest.Engine) map[string]string {
	m := map[string]string{}
	for _, c := range eng.Containers() {
		m[c.Name] = c.State.String()
	}
	return m
}

// changed are the names whose container is new, replaced or gone between
// two ids.
func changed(before, after map[string]string) []string {
	var out []string
	for n, id := range after {
		if before[n] != id {
			out = append(out, n)
		}
	}
	for n := range before {
		if _, ok := after[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// events are the environment's events as localstate holds them, newest
// first.
func events(t *testing.T, project string, env stack.Env) []store.Event {
	t.Helper()
	st, err := localstate.ForEnv(project, env)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// recorder is a progress.Reporter that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *recorder) Report(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Close() error { return nil }

func (r *recorder) units() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Unit)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

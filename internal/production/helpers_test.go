package production

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// The production these tests run: four hosts, each with an in-memory
// engine. core.api runs on the app hosts and depends on core.db (db-1);
// core.web (app-1) depends on core.api.
const (
	apiV1 = "example/api:1"
	apiV2 = "example/api:2"
	webV1 = "example/web:1"
	dbV1  = "example/db:1"
)

// imageOfPort is the image (without tag) of the job listening on a port.
var imageOfPort = map[int]string{8000: "example/api", 3000: "example/web", 5432: "example/db"}

var allHosts = []string{"app-1", "app-2", "app-3", "db-1"}

// hostAddr is each host's address: what a probe is given for its tasks.
var hostAddr = map[string]string{"app-1": "10.0.0.1", "app-2": "10.0.0.2", "app-3": "10.0.0.3", "db-1": "10.0.0.9"}

// spec is what a test varies of the jobs file: core.api's image, env,
// tasks and health check.
type spec struct {
	apiImage string
	logLevel string
	apiTasks string // the YAML list of core.api's hosts
	health   string // core.api's health: block ("" for the implicit port check)
}

func (s spec) yaml() string {
	if s.apiImage == "" {
		s.apiImage = apiV1
	}
	if s.logLevel == "" {
		s.logLevel = "info"
	}
	if s.apiTasks == "" {
		s.apiTasks = "app-1, app-2, app-3"
	}
	health := ""
	if s.health != "" {
		health = "\n        health: " + s.health
	}
	return fmt.Sprintf(`project: ptest
hosts:
  app-1: {address: 10.0.0.1, docker: "tcp://app-1:2376"}
  app-2: {address: 10.0.0.2, docker: "tcp://app-2:2376"}
  app-3: {address: 10.0.0.3, docker: "tcp://app-3:2376"}
  db-1: {address: 10.0.0.9, docker: "tcp://db-1:2376", memory: 16GiB}
services:
  core:
    jobs:
      api:
        image: %s
        port: 8000
        env: {LOG_LEVEL: %s}
        depends_on: core.db%s
        tasks: [%s]
      web:
        image: example/web:1
        port: 3000
        depends_on: core.api
        run_on_host: app-1
      db:
        image: example/db:1
        port: 5432
        run_on_host: db-1
`, s.apiImage, s.logLevel, health, s.apiTasks)
}

func parse(t *testing.T, text string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Parse("jobs.yml", []byte(text), prodspec.LoadOptions{})
	if err != nil {
		t.Fatalf("parse the jobs file: %v\n%s", err, text)
	}
	return f
}

func target(t *testing.T, s spec, version int64) Target {
	t.Helper()
	return Target{File: parse(t, s.yaml()), Version: version}
}

// world is a production of in-memory engines and a deployer over them.
type world struct {
	t       *testing.T
	engines map[string]*enginetest.Engine
	d       *Deployer
	probe   *probe
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, engines: map[string]*enginetest.Engine{}, probe: &probe{}}
	for _, h := range allHosts {
		e := enginetest.New("tcp://" + h + ":2376")
		e.AddImage(apiV1, apiV2, webV1, dbV1)
		w.engines[h] = e
	}
	w.probe.engines = w.engines
	w.d = &Deployer{
		Fleet: &fleet.Fleet{Dial: enginetest.Dialer(w.engines), Timeout: time.Second},
		Probe: w.probe.check,
	}
	return w
}

// probe answers health checks without the network: a check passes unless
// the host it is made against runs a container of a failing image.
type probe struct {
	engines map[string]*enginetest.Engine

	mu       sync.Mutex
	failing  map[string]bool // images whose checks never pass
	inflight int
	maxIn    int
	barrier  int // a check waits (up to 500 ms) until this many are in flight
	cond     *sync.Cond
}

func (p *probe) failImage(image string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing == nil {
		p.failing = map[string]bool{}
	}
	p.failing[image] = true
}

func (p *probe) check(ctx context.Context, c *stack.Check, ip string) error {
	p.mu.Lock()
	p.inflight++
	p.maxIn = max(p.maxIn, p.inflight)
	if p.cond == nil {
		p.cond = sync.NewCond(&p.mu)
	}
	p.cond.Broadcast()
	if p.barrier > 1 {
		deadline := time.Now().Add(500 * time.Millisecond)
		stop := time.AfterFunc(500*time.Millisecond, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
		for p.inflight < p.barrier && time.Now().Before(deadline) {
			p.cond.Wait()
		}
		stop.Stop()
	}
	failing := p.failing
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
	for h, a := range hostAddr {
		if a != ip {
			continue
		}
		for _, ct := range p.engines[h].Containers() {
			if ct.State == stack.StateRunning && failing[ct.Image] && strings.HasPrefix(ct.Image, imageOfPort[c.Port]+":") {
				return fmt.Errorf("dial tcp %s:%d: connection refused", ip, c.Port)
			}
		}
		return nil
	}
	return fmt.Errorf("no host has address %q", ip)
}

// reset forgets the checks made so far and sets the barrier.
func (p *probe) reset(barrier int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxIn, p.barrier = 0, barrier
}

func (p *probe) maxInflight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxIn
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	w.t.Cleanup(cancel)
	return ctx
}

// up brings the job up on t, failing the test on an error.
func (w *world) up(t Target, job string) {
	w.t.Helper()
	if _, _, err := w.d.Up(w.ctx(), t, job, nil); err != nil {
		w.t.Fatalf("up %s: %v", job, err)
	}
}

// task is one container of a job as a test compares it.
type task struct {
	Host    string
	Name    string
	Image   string
	Version string
	State   string
	Hash    string
}

// tasks are the containers of job on every engine, by host then name.
func (w *world) tasks(job string) []task {
	var out []task
	for _, h := range allHosts {
		for _, c := range w.engines[h].Containers() {
			if c.Labels[stack.LabelJob] != job {
				continue
			}
			out = append(out, task{Host: h, Name: c.Name, Image: c.Image, Version: c.Labels[stack.LabelVersion],
				State: c.State.String(), Hash: c.Labels[stack.LabelHash]})
		}
	}
	return out
}

// ids are the container IDs of every container, by host and name.
func (w *world) ids() map[string]string {
	out := map[string]string{}
	for _, h := range allHosts {
		for _, c := range w.engines[h].Containers() {
			out[h+"/"+c.Name] = c.ID
		}
	}
	return out
}

// calls are the mutating engine calls made so far, by host.
func (w *world) calls() map[string][]string {
	out := map[string][]string{}
	for _, h := range allHosts {
		if c := w.engines[h].Calls(); len(c) > 0 {
			out[h] = c
		}
	}
	return out
}

func taskName(job string, n int) string {
	svc, name, _ := strings.Cut(job, ".")
	return fmt.Sprintf("ptest-production.%s.%s.%d", svc, name, n)
}

// recorder is a progress.Reporter that keeps every event, and calls on
// (when set) with each one as it comes.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
	on     func(progress.Event)
}

func (r *recorder) Report(e progress.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	on := r.on
	r.mu.Unlock()
	if on != nil {
		on(e)
	}
}

func (r *recorder) Close() error { return nil }

// texts are "unit: status text" for every event of the given status.
func (r *recorder) texts(s progress.Status) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Status == s {
			out = append(out, e.Unit+": "+e.Text)
		}
	}
	return out
}

// index is the position of the first event of unit with status s whose
// text starts with prefix, or -1.
func (r *recorder) index(unit string, s progress.Status, prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if e.Unit == unit && e.Status == s && strings.HasPrefix(e.Text, prefix) {
			return i
		}
	}
	return -1
}

func errContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q\ndoes not contain %q", err, s)
		}
	}
}

var errDiskFull = errors.New("no space left on device")

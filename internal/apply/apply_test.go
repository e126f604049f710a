package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
)

// fakeEngine applies operations to its own state, so tests assert the
// resulting state, not a script of calls.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer // by ID
	images     map[string]bool
	networks   map[string]bool
	volumes    map[string]bool
	crash      map[string]int // container name -> exit code right after start
	started    []string       // names, in start order
	pulls      int
	nextID     int
}

type fakeContainer struct {
	name    string
	spec    stack.Spec
	state   stack.State
	exit    int
	started time.Time
}

func newFake() *fakeEngine {
	return &fakeEngine{containers: map[string]*fakeContainer{}, images: map[string]bool{}, networks: map[string]bool{}, volumes: map[string]bool{}, crash: map[string]int{}}
}

func (f *fakeEngine) EnsureNetwork(_ context.Context, name string, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[name] = true
	return nil
}
func (f *fakeEngine) RemoveNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, name)
	return nil
}
func (f *fakeEngine) EnsureVolume(_ context.Context, name string, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes[name] = true
	return nil
}
func (f *fakeEngine) RemoveVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, name)
	return nil
}
func (f *fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[ref], nil
}
func (f *fakeEngine) Pull(_ context.Context, ref string, progress func(int)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls++
	if strings.Contains(ref, "missing") {
		return fmt.Errorf("pull %s: not found", ref)
	}
	f.images[ref] = true
	return nil
}
func (f *fakeEngine) Create(_ context.Context, r engine.CreateRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.name == r.Name {
			return "", fmt.Errorf("create %s: name in use", r.Name)
		}
	}
	f.nextID++
	id := fmt.Sprintf("c%d", f.nextID)
	f.containers[id] = &fakeContainer{name: r.Name, spec: r.Spec, state: stack.StateCreated}
	return id, nil
}
func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return errors.New("no such container")
	}
	c.state = stack.StateRunning
	f.started = append(f.started, c.name)
	if code, ok := f.crash[c.name]; ok {
		c.state, c.exit = stack.StateExited, code
	}
	return nil
}
func (f *fakeEngine) Stop(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		c.state = stack.StateExited
	}
	return nil
}
func (f *fakeEngine) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}
func (f *fakeEngine) Inspect(_ context.Context, id, _ string) (engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return engine.Status{}, errors.New("no such container")
	}
	return engine.Status{State: c.state, ExitCode: c.exit, IP: "10.0.0.1"}, nil
}
func (f *fakeEngine) Exec(context.Context, string, []string) (int, string, error) { return 0, "", nil }
func (f *fakeEngine) LogTail(_ context.Context, id string, _ int) string          { return "boom: log of " + id }

func (f *fakeEngine) names(state stack.State) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.containers {
		if c.state == state {
			out = append(out, c.name)
		}
	}
	sort.Strings(out)
	return out
}

func testStack() *stack.Stack {
	sb := &stack.Unit{Key: "host/h", Name: "sb", Kind: stack.KindSandbox, Host: "h", Spec: stack.Spec{Image: "sandbox"}}
	task := func(job string, deps ...string) *stack.Unit {
		return &stack.Unit{Key: job + "/1", Name: job, Kind: stack.KindTask, Job: job, Host: "h", Sandbox: "host/h",
			DependsOn: append([]string{"host/h"}, deps...), Spec: stack.Spec{Image: "img/" + job, JoinSandbox: "sb"},
			Health: &stack.Check{Port: 80, Interval: 10 * time.Millisecond, Retries: 3}}
	}
	s := &stack.Stack{Project: "p", Env: "dev", Network: "p-dev", Units: []*stack.Unit{
		sb, task("db"), task("api", "db/1"), task("web", "api/1"), task("mail"),
	}}
	s.Sort()
	return s
}

func okProbe(context.Context, *stack.Check, string) error { return nil }

func TestRunColdUp(t *testing.T) {
	f := newFake()
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	res := Run(context.Background(), p, f, Options{Probe: okProbe})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api", "db", "mail", "sb", "web"}, f.names(stack.StateRunning)); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
	pos := map[string]int{}
	for i, n := range f.started {
		pos[n] = i
	}
	for _, pair := range [][2]string{{"sb", "db"}, {"db", "api"}, {"api", "web"}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("%s started before its dependency %s: %v", pair[1], pair[0], f.started)
		}
	}
	if f.pulls != 5 {
		t.Errorf("pulls = %d, want one per image (5)", f.pulls)
	}
}

func TestRunFailureSkipsDependentsOnly(t *testing.T) {
	f := newFake()
	f.crash["db"] = 3
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	res := Run(context.Background(), p, f, Options{Probe: func(context.Context, *stack.Check, string) error { return errors.New("refused") }})
	if len(res.Failures) == 0 || res.Failures[0].Subject != "db/1" {
		t.Fatalf("failures = %+v, want db/1", res.Failures)
	}
	if !strings.Contains(res.Failures[0].Err.Error(), "exited with code 3") || res.Failures[0].LogTail == "" {
		t.Errorf("failure should name the exit code and carry the log tail: %+v", res.Failures[0])
	}
	if diff := cmp.Diff([]string{"api/1", "web/1"}, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if res.Err() == nil {
		t.Error("Err() = nil, want the failure")
	}
}

func TestRunIndependentJobStillUp(t *testing.T) {
	f := newFake()
	f.crash["db"] = 1
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	Run(context.Background(), p, f, Options{Probe: okProbe})
	if diff := cmp.Diff([]string{"mail", "sb"}, f.names(stack.StateRunning)); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
}

func TestRunCancelled(t *testing.T) {
	f := newFake()
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Run(ctx, p, f, Options{Probe: okProbe})
	if res.Done != 0 {
		t.Errorf("done = %d after cancel, want 0", res.Done)
	}
	if len(f.containers) != 0 {
		t.Errorf("containers created after cancel: %d", len(f.containers))
	}
}

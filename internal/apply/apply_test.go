package apply

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
)

func testStack() *stack.Stack {
	sb := &stack.Unit{Key: "host/h", Name: "sb", Kind: stack.KindSandbox, Host: "h", Spec: stack.Spec{Image: "sandbox"}}
	task := func(job string, deps ...string) *stack.Unit {
		return &stack.Unit{Key: job + "/1", Name: job, Kind: stack.KindTask, Job: job, Host: "h", Sandbox: "host/h",
			DependsOn: append([]string{"host/h"}, deps...), Spec: stack.Spec{Image: "img/" + job, JoinSandbox: "sb"},
			Health: &stack.Check{Port: 80, Interval: 10 * time.Millisecond, Retries: 3}}
	}
	s := &stack.Stack{Project: "p", Env: stack.Dev, Network: "p-dev", Units: []*stack.Unit{
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
	res := Run(context.Background(), p, One(f), Options{Probe: okProbe})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api", "db", "mail", "sb", "web"}, f.Names(stack.StateRunning)); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
	pos := map[string]int{}
	for i, n := range f.Started() {
		pos[n] = i
	}
	for _, pair := range [][2]string{{"sb", "db"}, {"db", "api"}, {"api", "web"}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("%s started before its dependency %s: %v", pair[1], pair[0], f.Started())
		}
	}
	if len(f.Pulled()) != 5 {
		t.Errorf("pulls = %d, want one per image (5)", len(f.Pulled()))
	}
}

func TestRunFailureSkipsDependentsOnly(t *testing.T) {
	f := newFake()
	f.Crash("db", 3)
	f.SetLog("db", "boom: no config")
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	res := Run(context.Background(), p, One(f), Options{Probe: func(context.Context, *stack.Check, string) error { return errors.New("refused") }})
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
	f.Crash("db", 1)
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	Run(context.Background(), p, One(f), Options{Probe: okProbe})
	if diff := cmp.Diff([]string{"mail", "sb"}, f.Names(stack.StateRunning)); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
}

func TestRunCancelled(t *testing.T) {
	f := newFake()
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Run(ctx, p, One(f), Options{Probe: okProbe})
	if res.Done != 0 {
		t.Errorf("done = %d after cancel, want 0", res.Done)
	}
	if len(f.Containers()) != 0 {
		t.Errorf("containers created after cancel: %d", len(f.Containers()))
	}
}

// newFake is an empty in-memory engine: images arrive by pull.
func newFake() *enginetest.Engine {
	e := enginetest.New("local")
	return e
}

func TestRunPullFailureNamesTheFix(t *testing.T) {
	f := newFake()
	f.NoPull("img/db")
	p := plan.Reconcile(testStack(), &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	res := Run(context.Background(), p, One(f), Options{Probe: okProbe})
	if len(res.Failures) != 1 || res.Failures[0].Subject != "db/1" || !strings.Contains(res.Failures[0].Err.Error(), "cjob doctor") {
		t.Fatalf("failures = %+v, want db/1 naming `cjob doctor`", res.Failures)
	}
	if diff := cmp.Diff([]string{"api/1", "web/1"}, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

func TestRunSecondRunChangesNothing(t *testing.T) {
	f := newFake()
	s := testStack()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	if err := Run(context.Background(), p, One(f), Options{Probe: okProbe}).Err(); err != nil {
		t.Fatal(err)
	}
	obs, err := f.Observe(context.Background(), "p", stack.Dev, "p-dev")
	if err != nil {
		t.Fatal(err)
	}
	again := plan.Reconcile(testStack(), obs, plan.Options{})
	if !again.Empty() {
		t.Fatalf("second plan is not empty:\n%s", again)
	}
	before := len(f.Calls())
	res := Run(context.Background(), again, One(f), Options{Probe: okProbe})
	if res.Done != 0 || len(f.Calls()) != before {
		t.Errorf("an empty plan changed something: done %d, calls %v", res.Done, f.Calls()[before:])
	}
}

func TestRunRecreatesChangedUnitOnly(t *testing.T) {
	f := newFake()
	p := plan.Reconcile(testStack(), &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	Run(context.Background(), p, One(f), Options{Probe: okProbe})
	s := testStack()
	s.Unit("api/1").Spec.Env = []string{"LOG=debug"}
	obs, _ := f.Observe(context.Background(), "p", stack.Dev, "p-dev")
	p = plan.Reconcile(s, obs, plan.Options{})
	startsBefore := map[string]int{}
	for _, c := range f.Containers() {
		startsBefore[c.Name] = c.Starts
	}
	if err := Run(context.Background(), p, One(f), Options{Probe: okProbe}).Err(); err != nil {
		t.Fatal(err)
	}
	api, _ := f.Container("api")
	if diff := cmp.Diff([]string{"LOG=debug"}, api.Spec.Env); diff != "" {
		t.Errorf("api env (-want +got):\n%s", diff)
	}
	for _, c := range f.Containers() {
		if c.Name != "api" && c.Starts != startsBefore[c.Name] {
			t.Errorf("%s was restarted, only api changed", c.Name)
		}
	}
}

func TestRunOneshotAndCmdCheck(t *testing.T) {
	f := newFake()
	f.Crash("img/migrate", 0) // runs to completion at once
	var execs []string
	f.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
		execs = append(execs, c.Name+": "+strings.Join(cmd, " "))
		return 0, "ok"
	})
	s := testStack()
	m := &stack.Unit{Key: "migrate/1", Name: "migrate", Kind: stack.KindTask, Job: "migrate", Host: "h", Sandbox: "host/h", Oneshot: true,
		DependsOn: []string{"host/h"}, Spec: stack.Spec{Image: "img/migrate", JoinSandbox: "sb"}}
	s.Units = append(s.Units, m)
	s.Unit("db/1").Health = &stack.Check{Cmd: []string{"pg_isready"}, Interval: 10 * time.Millisecond, Retries: 3}
	s.Unit("api/1").DependsOn = append(s.Unit("api/1").DependsOn, "migrate/1")
	s.Sort()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	if err := Run(context.Background(), p, One(f), Options{Probe: okProbe}).Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"db: pg_isready"}, execs); diff != "" {
		t.Errorf("exec checks (-want +got):\n%s", diff)
	}
	if got := f.Names(stack.StateExited); !slices.Equal(got, []string{"migrate"}) {
		t.Errorf("exited = %v, want the completed migration", got)
	}
	f2 := newFake()
	f2.Crash("img/migrate", 2)
	res := Run(context.Background(), plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{}), One(f2), Options{Probe: okProbe})
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "exited with code 2") {
		t.Errorf("a failed migration: failures %+v", res.Failures)
	}
	if !slices.Contains(res.Skipped, "api/1") {
		t.Errorf("api depends on the migration and should be skipped: %v", res.Skipped)
	}
}

func TestRunAcrossEngines(t *testing.T) {
	a, b := enginetest.New("a"), enginetest.New("b")
	unit := func(job, eng string, deps ...string) *stack.Unit {
		return &stack.Unit{Key: job + "/1", Name: job, Kind: stack.KindTask, Job: job, Host: eng, Engine: eng, Probe: eng,
			DependsOn: deps, Spec: stack.Spec{Image: "img/" + job, HostNetwork: true},
			Health: &stack.Check{Port: 80, Interval: 10 * time.Millisecond, Retries: 3}}
	}
	s := &stack.Stack{Project: "p", Env: stack.Staging, Units: []*stack.Unit{unit("db", "a"), unit("api", "b", "db/1"), unit("web", "c")}}
	s.Sort()
	p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	res := Run(context.Background(), p, Engines{"a": a, "b": b}, Options{Probe: okProbe})
	if diff := cmp.Diff([]string{"db"}, a.Names(stack.StateRunning)); diff != "" {
		t.Errorf("engine a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"api"}, b.Names(stack.StateRunning)); diff != "" {
		t.Errorf("engine b (-want +got):\n%s", diff)
	}
	if len(res.Failures) != 1 || res.Failures[0].Subject != "web/1" || !errors.Is(res.Failures[0].Err, ErrNoEngine) {
		t.Errorf("a unit on an engine not given should fail with ErrNoEngine: %+v", res.Failures)
	}
}

func TestRunErrWrapsEachFailure(t *testing.T) {
	f := newFake()
	f.Fail("Create", engine.ErrUnreachable)
	p := plan.Reconcile(testStack(), &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	err := Run(context.Background(), p, One(f), Options{Probe: okProbe}).Err()
	if err == nil || !errors.Is(err, engine.ErrUnreachable) {
		t.Fatalf("Err() = %v; errors.Is(err, engine.ErrUnreachable) should hold", err)
	}
	var ae *Error
	if !errors.As(err, &ae) || len(ae.Failures) == 0 || ae.Skipped == 0 {
		t.Errorf("Err() as *Error: %+v", ae)
	}
	if err.Error() != "1 failed: host/h; 4 not started because a dependency failed" {
		t.Errorf("message %q", err)
	}
}

// TestRunChecksFromInsideTheSandbox: with no Probe, a dev task's HTTP and
// TCP checks run inside its host sandbox through the engine (an exec of
// cjob-sandbox wait), so no route from cjob's machine is needed.
func TestRunChecksFromInsideTheSandbox(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		f := newFake()
		var execs []string
		var mu sync.Mutex
		f.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			execs = append(execs, c.Name+": "+strings.Join(cmd, " "))
			return 0, "ok " + cmd[len(cmd)-1] + " after 12ms\n"
		})
		p := plan.Reconcile(testStack(), &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
		if err := Run(context.Background(), p, One(f), Options{}).Err(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(execs)
		// One exec per task (api, db, mail, web), in the sandbox they join.
		want := slices.Repeat([]string{"sb: /cjob-sandbox wait --timeout 2s --interval 10ms --deadline 30ms tcp://127.0.0.1:80"}, 4)
		if diff := cmp.Diff(want, execs); diff != "" {
			t.Errorf("execs (-want +got):\n%s", diff)
		}
	})
	t.Run("not healthy says why", func(t *testing.T) {
		f := newFake()
		f.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
			return 1, "FAIL tcp://127.0.0.1:80: dial tcp 127.0.0.1:80: connect: connection refused\n"
		})
		p := plan.Reconcile(testStack(), &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
		res := Run(context.Background(), p, One(f), Options{})
		if len(res.Failures) != 2 {
			t.Fatalf("failures %+v, want db and mail", res.Failures)
		}
		for _, fl := range res.Failures {
			if got := fl.Err.Error(); got != "not healthy after 30ms: dial tcp 127.0.0.1:80: connect: connection refused" {
				t.Errorf("%s: %q", fl.Subject, got)
			}
		}
	})
	t.Run("a task that dies while checked fails at once", func(t *testing.T) {
		f := newFake()
		release := make(chan struct{})
		f.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
			<-release // the check inside hangs
			return 1, ""
		})
		defer close(release)
		s := testStack()
		s.Units = []*stack.Unit{s.Unit("host/h"), s.Unit("db/1")}
		s.Unit("db/1").Health.Retries = 10000 // its own deadline is far away
		p := plan.Reconcile(s, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
		go func() {
			for range 200 {
				time.Sleep(20 * time.Millisecond)
				if _, ok := f.Container("db"); ok {
					f.Kill("db", 137)
					return
				}
			}
		}()
		start := time.Now()
		res := Run(context.Background(), p, One(f), Options{})
		if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "exited with code 137") {
			t.Errorf("failures %+v, want db exited", res.Failures)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s to notice the task died", d)
		}
	})
}

func TestRoutable(t *testing.T) {
	ctx := context.Background()
	if !Routable(ctx, "t-loopback", "127.0.0.1") {
		t.Error("127.0.0.1 (port 1 refused) should be routable")
	}
	start := time.Now()
	if Routable(ctx, "t-doc", "2001:db8::1") {
		t.Error("a documentation address should not be routable")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
	// The answer is kept for the network.
	if !Routable(ctx, "t-loopback", "2001:db8::1") {
		t.Error("the network's first answer should be kept")
	}
}

package swarm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
)

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

// last is the unit's last event.
func (r *recorder) last(unit string) progress.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Unit == unit {
			return r.events[i]
		}
	}
	return progress.Event{}
}

// said reports whether the unit had an event whose text starts with prefix.
func (r *recorder) said(unit, prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Unit == unit && strings.HasPrefix(e.Text, prefix) {
			return true
		}
	}
	return false
}

// flakyProbe fails until its nth call, and logs each call.
type flakyProbe struct {
	mu    sync.Mutex
	ev    *events
	n     int
	calls []string
}

func (p *flakyProbe) probe(ctx context.Context, c *stack.Check, addr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, addr)
	if len(p.calls) < p.n {
		p.ev.add("probe %s:%d refused", addr, c.Port)
		return errors.New("connection refused")
	}
	p.ev.add("healthy %s:%d", addr, c.Port)
	return nil
}

func mustOK(t *testing.T, res *Result) {
	t.Helper()
	if err := res.Err(); err != nil {
		t.Fatalf("Up: %v", err)
	}
}

func TestUpDependencyOrderAndHealth(t *testing.T) {
	f := newFixture(t, 2)
	db := task("edge.db", 1, "db-1", "pool-1", "postgres:16")
	api := httpCheck(needs(task("edge.api", 1, "web-1", "pool-2", "shop/api:1"), "edge.db/1"), 8080, 1000)
	web := needs(task("edge.web", 1, "web-1", "pool-2", "shop/web:1"), "edge.api/1")
	st := newStack(db, api, web)
	probe := &flakyProbe{ev: f.ev, n: 3}
	res := f.up(t, st, UpOptions{Probe: probe.probe})
	mustOK(t, res)

	dbN, apiN, webN := svcName("edge.db", 1), svcName("edge.api", 1), svcName("edge.web", 1)
	slices.Sort(res.Done)
	if want := []string{apiN, dbN, webN}; !slices.Equal(res.Done, want) {
		t.Errorf("Done = %v, want %v", res.Done, want)
	}
	f.ev.before(t, "labelled node-1 cjob.host=pool-1", "create "+dbN)
	f.ev.before(t, "labelled node-2 cjob.host=pool-2", "create "+dbN)
	f.ev.before(t, "running "+dbN, "create "+apiN)
	f.ev.before(t, "running "+apiN, "healthy 10.0.0.2:8080")
	f.ev.before(t, "healthy 10.0.0.2:8080", "create "+webN)
	if len(probe.calls) != 3 || slices.ContainsFunc(probe.calls, func(a string) bool { return a != "10.0.0.2" }) {
		t.Errorf("probe calls %v, want 3 at pool-2's address 10.0.0.2", probe.calls)
	}
	if len(res.Failures)+len(res.Skipped)+len(res.RolledBack) != 0 {
		t.Errorf("result %+v", res)
	}

	// What Swarm runs now is what the file says: nothing to do.
	if p := f.plan(t, st); !p.Empty() {
		t.Errorf("plan after up is not empty:\n%s", p)
	}
	n := f.ev.count("")
	res = f.up(t, st, UpOptions{})
	mustOK(t, res)
	if len(res.Done) != 0 || f.ev.count("create ")+f.ev.count("update ") != 3 || f.ev.count("") != n {
		t.Errorf("a no-op up did something: %+v\n%s", res, strings.Join(f.ev.list()[n:], "\n"))
	}
}

func TestUpOneshot(t *testing.T) {
	f := newFixture(t, 1)
	migrate := httpCheck(oneshot(task("edge.migrate", 1, "db-1", "pool-1", "shop/migrate:1")), 9999, 3)
	api := needs(task("edge.api", 1, "web-1", "pool-1", "shop/api:1"), "edge.migrate/1")
	rep := &recorder{}
	res := f.up(t, newStack(migrate, api), UpOptions{Reporter: rep})
	mustOK(t, res)
	f.ev.before(t, "complete "+svcName("edge.migrate", 1), "create "+svcName("edge.api", 1))
	if s := f.m.service(svcName("edge.migrate", 1)); s == nil || !s.Job || s.Labels[stack.LabelOneshot] != "true" {
		t.Errorf("one-shot service %+v", s)
	}
	if e := rep.last("edge.migrate/1"); e.Status != progress.Done || e.Text != "Created on pool-1" {
		t.Errorf("last event of the one-shot: %+v", e)
	}
}

func TestUpOneshotFails(t *testing.T) {
	f := newFixture(t, 1)
	f.m.failImage = "shop/migrate:bad"
	migrate := oneshot(task("edge.migrate", 1, "db-1", "pool-1", "shop/migrate:bad"))
	api := needs(task("edge.api", 1, "web-1", "pool-1", "shop/api:1"), "edge.migrate/1")
	res := f.up(t, newStack(migrate, api), UpOptions{})
	if len(res.Failures) != 1 || res.Failures[0].Unit != "edge.migrate/1" {
		t.Fatalf("failures %+v", res.Failures)
	}
	fl := res.Failures[0]
	if !strings.Contains(fl.Err.Error(), "failed: "+failExit) || !strings.HasPrefix(fl.Detail, "pool-1: last 20 lines of ctr-") {
		t.Errorf("failure %v, detail %q", fl.Err, fl.Detail)
	}
	if n := f.ev.count("failed "); n != 1 {
		t.Errorf("a one-shot ran %d times, want once (not restarted)", n)
	}
	if !slices.Equal(res.Skipped, []string{"edge.api/1"}) {
		t.Errorf("skipped %v", res.Skipped)
	}
}

func TestUpCopiesImagesBeforeCreating(t *testing.T) {
	f := newFixture(t, 2)
	f.src.images["shop/api:dev"] = "sha256:feedfacefeedface"
	f.nodes["pool-2"].images["other:name"] = "sha256:feedfacefeedface" // the same image under another name
	st := newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:dev"), task("edge.api", 2, "web-2", "pool-2", "shop/api:dev"))
	res := f.up(t, st, UpOptions{})
	mustOK(t, res)
	f.ev.before(t, "load pool-1 shop/api:dev", "create "+svcName("edge.api", 1))
	f.ev.before(t, "load pool-1 shop/api:dev", "create "+svcName("edge.api", 2))
	if n := f.ev.count("load pool-2 "); n != 0 {
		t.Errorf("copied to pool-2, which holds the image under another name")
	}
	if f.src.saves != 1 || f.src.closed != 1 {
		t.Errorf("%d saves, %d closed; want 1 each", f.src.saves, f.src.closed)
	}
	for _, n := range []string{svcName("edge.api", 1), svcName("edge.api", 2)} {
		if s := f.m.service(n); s == nil || s.Image != "sha256:feedfacefeedface" || s.Labels[LabelImage] != "shop/api:dev" {
			t.Errorf("service %s: %+v", n, s)
		}
	}
	if f.nodes["pool-1"].images["shop/api:dev"] != "sha256:feedfacefeedface" {
		t.Errorf("pool-1 images %v", f.nodes["pool-1"].images)
	}
}

func TestUpCopyFails(t *testing.T) {
	f := newFixture(t, 1)
	f.src.images["shop/api:dev"] = "sha256:feedface"
	f.nodes["pool-1"].loadErr = errors.New("no space left on device")
	st := newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:dev"))
	res := f.up(t, st, UpOptions{})
	if len(res.Failures) != 1 || res.Failures[0].Unit != "image shop/api:dev" || !strings.Contains(res.Failures[0].Err.Error(), "no space left") {
		t.Errorf("failures %+v", res.Failures)
	}
	if n := f.ev.count("create "); n != 0 {
		t.Errorf("%d services created after a failed copy", n)
	}

	// A plan that copies, applied without this machine's engine.
	f = newFixture(t, 1)
	f.src.images["shop/api:dev"] = "sha256:feedface"
	p := f.plan(t, st)
	res = Up(context.Background(), f.c, p, nil, fast(UpOptions{}))
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Err.Error(), "pool-1 lacks shop/api:dev") {
		t.Errorf("failures %+v", res.Failures)
	}
}

func TestUpFailingDependencySkipsDependents(t *testing.T) {
	f := newFixture(t, 2)
	f.m.failImage = "postgres:bad"
	cache := needs(task("edge.cache", 1, "cache-1", "pool-2", "redis:7"), "edge.db/1")
	mustOK(t, f.up(t, newStack(cache), UpOptions{}))

	db := task("edge.db", 1, "db-1", "pool-1", "postgres:bad")
	api := needs(task("edge.api", 1, "web-1", "pool-2", "shop/api:1"), "edge.db/1")
	web := needs(task("edge.web", 1, "web-1", "pool-2", "shop/web:1"), "edge.api/1")
	other := task("edge.other", 1, "web-1", "pool-2", "shop/web:1")
	rep := &recorder{}
	res := f.up(t, newStack(db, api, web, cache, other), UpOptions{Reporter: rep})

	if len(res.Failures) != 1 || res.Failures[0].Unit != "edge.db/1" || res.Failures[0].Service != svcName("edge.db", 1) {
		t.Fatalf("failures %+v", res.Failures)
	}
	fl := res.Failures[0]
	if !strings.Contains(fl.Err.Error(), "task failed: "+failExit+" (Swarm restarted it 2 times)") {
		t.Errorf("error %v", fl.Err)
	}
	if !strings.HasPrefix(fl.Detail, "pool-1: last 20 lines of ctr-task") {
		t.Errorf("detail %q", fl.Detail)
	}
	if n := f.ev.count("failed " + svcName("edge.db", 1)); n != 3 {
		t.Errorf("db's task failed %d times, want 3", n)
	}
	if !slices.Equal(res.Skipped, []string{"edge.api/1", "edge.web/1"}) {
		t.Errorf("skipped %v, want api and web (not the unchanged cache)", res.Skipped)
	}
	for _, n := range []string{"create " + svcName("edge.api", 1), "create " + svcName("edge.web", 1), "update " + svcName("edge.cache", 1)} {
		if f.ev.index(n) >= 0 {
			t.Errorf("%s happened", n)
		}
	}
	if f.ev.index("running "+svcName("edge.other", 1)) < 0 || !slices.Contains(res.Done, svcName("edge.other", 1)) {
		t.Errorf("an independent service was not created: %+v", res)
	}
	if e := rep.last("edge.api/1"); e.Status != progress.Skipped || e.Text != "Skipped: "+svcName("edge.db", 1)+" is not ready" {
		t.Errorf("api's last event %+v", e)
	}
	if e := rep.last("edge.web/1"); e.Status != progress.Skipped || e.Text != "Skipped: "+svcName("edge.api", 1)+" is not ready" {
		t.Errorf("web's last event %+v", e)
	}
	err := res.Err()
	if err == nil || !strings.Contains(err.Error(), "edge.db/1: task failed") || !strings.Contains(err.Error(), "not started because a dependency failed: edge.api/1, edge.web/1") {
		t.Errorf("Err = %v", err)
	}
}

func TestUpRollback(t *testing.T) {
	f := newFixture(t, 1)
	f.m.failImage = "shop/api:bad"
	api := task("edge.api", 1, "web-1", "pool-1", "shop/api:1")
	worker := needs(task("edge.worker", 1, "web-1", "pool-1", "shop/api:1"), "edge.api/1")
	mustOK(t, f.up(t, newStack(api, worker), UpOptions{}))

	api2 := task("edge.api", 1, "web-1", "pool-1", "shop/api:bad")
	worker2 := needs(task("edge.worker", 1, "web-1", "pool-1", "shop/api:1"), "edge.api/1")
	worker2.Spec.Env = append(worker2.Spec.Env, "NEW=1")
	st2 := newStack(api2, worker2)
	p := f.plan(t, st2)
	if p.Ops[0].Action != Update || p.Ops[1].Action != Update {
		t.Fatalf("plan:\n%s", p)
	}
	rep := &recorder{}
	res := Up(context.Background(), f.c, p, f.src, fast(UpOptions{Reporter: rep}))

	if !slices.Equal(res.RolledBack, []string{"edge.api/1"}) {
		t.Errorf("RolledBack = %v", res.RolledBack)
	}
	var rb *RolledBackError
	if !errors.As(res.Err(), &rb) {
		t.Fatalf("Err = %v, want a *RolledBackError", res.Err())
	}
	if rb.Service != svcName("edge.api", 1) || rb.Message != "rollback completed" || rb.Task != "failed: "+failExit {
		t.Errorf("RolledBackError %+v", rb)
	}
	if want := "Swarm rolled the update back; the previous spec runs again: the new task failed: " + failExit + " (rollback completed)"; rb.Error() != want {
		t.Errorf("Error() = %q\n   want %q", rb.Error(), want)
	}
	if len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0].Detail, "pool-1: last 20 lines of ctr-") {
		t.Errorf("failures %+v", res.Failures)
	}
	if e := rep.last("edge.api/1"); e.Status != progress.Failed || e.Text != "Rolled back by Swarm" {
		t.Errorf("api's last event %+v", e)
	}
	if !rep.said("edge.api/1", "Swarm is rolling back: update rolled back due to failure or early termination of task ") {
		t.Errorf("no event of the rollback under way: %+v", rep.events)
	}
	if f.ev.index("rolled back "+svcName("edge.api", 1)) < 0 {
		t.Error("Up returned before Swarm's rollback completed")
	}
	if !slices.Equal(res.Skipped, []string{"edge.worker/1"}) || f.ev.index("update "+svcName("edge.worker", 1)) >= 0 {
		t.Errorf("skipped %v; the worker must wait for the api", res.Skipped)
	}

	// Swarm runs the previous spec again, so the next plan updates again.
	p = f.plan(t, st2)
	var op *Op
	for _, o := range p.Ops {
		if o.Name() == svcName("edge.api", 1) {
			op = o
		}
	}
	if op == nil || op.Action != Update || op.Cause != "image shop/api:1 -> shop/api:bad" {
		t.Errorf("plan after the rollback:\n%s", p)
	}

	// ps says so.
	obs, err := f.m.SwarmObserve(context.Background(), testProject, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := Rows(obs, f.m.now())
	if len(rows) != 2 || rows[0].Service != svcName("edge.api", 1) {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[0]; r.State != "running" || r.Update != "rollback_completed" || r.Message != "rolled back by Swarm: rollback completed" || r.Restarts != 1 || r.Image != "shop/api:1" || r.Node != "stg-a" {
		t.Errorf("row %+v", r)
	}
}

// A rollback that does not complete within Run is reported as one, with
// Swarm's message of the rollback under way.
func TestUpRollbackStalls(t *testing.T) {
	f := newFixture(t, 1)
	f.m.failImage = "shop/api:bad"
	mustOK(t, f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:1")), UpOptions{}))
	f.m.stallRollback = true
	res := f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:bad")), UpOptions{Run: 20 * time.Millisecond})
	var rb *RolledBackError
	if !errors.As(res.Err(), &rb) || !strings.HasPrefix(rb.Message, "update rolled back due to failure") || rb.Task != "failed: "+failExit {
		t.Fatalf("Err = %v", res.Err())
	}
	if !slices.Equal(res.RolledBack, []string{"edge.api/1"}) {
		t.Errorf("RolledBack = %v", res.RolledBack)
	}
}

func TestUpUpdateReadsVersion(t *testing.T) {
	f := newFixture(t, 1)
	mustOK(t, f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:1")), UpOptions{}))
	u := task("edge.api", 1, "web-1", "pool-1", "shop/api:1")
	u.Spec.Env = append(u.Spec.Env, "DEBUG=1")
	p := f.plan(t, newStack(u))
	f.m.bump(svcName("edge.api", 1)) // Swarm's own work moved the version since the plan's look
	rep := &recorder{}
	res := Up(context.Background(), f.c, p, f.src, fast(UpOptions{Reporter: rep}))
	mustOK(t, res)
	f.ev.before(t, "update "+svcName("edge.api", 1), "updated "+svcName("edge.api", 1))
	if !rep.said("edge.api/1", "Updating service "+svcName("edge.api", 1)+" (env DEBUG changed)") || !rep.said("edge.api/1", "Running; Swarm watches it for 5s") {
		t.Errorf("events %+v", rep.events)
	}
	if e := rep.last("edge.api/1"); e.Status != progress.Done || e.Text != "Updated on pool-1" {
		t.Errorf("last event %+v", e)
	}
	if s := f.m.service(svcName("edge.api", 1)); s.Labels[stack.LabelHash] != p.Ops[0].Service.Labels[stack.LabelHash] {
		t.Errorf("service not updated: %+v", s)
	}
}

// A service whose update Swarm paused half-way is updated again with its
// unchanged spec, forced so that Swarm replaces the task.
func TestUpForcedUpdate(t *testing.T) {
	f := newFixture(t, 1)
	st := newStack(task("edge.api", 1, "web-1", "pool-1", "shop/api:1"))
	mustOK(t, f.up(t, st, UpOptions{}))
	f.m.setUpdate(svcName("edge.api", 1), "paused", "update paused due to failure or early termination of task task2")
	p := f.plan(t, st)
	if len(p.Ops) != 1 || p.Ops[0].Action != Update || !p.Ops[0].Service.Force {
		t.Fatalf("plan:\n%s", p)
	}
	mustOK(t, Up(context.Background(), f.c, p, f.src, fast(UpOptions{})))
	f.ev.before(t, "forced "+svcName("edge.api", 1), "updated "+svcName("edge.api", 1))
	if p := f.plan(t, st); !p.Empty() {
		t.Errorf("plan after the forced update:\n%s", p)
	}
}

func TestUpRemovesFirst(t *testing.T) {
	f := newFixture(t, 1)
	mustOK(t, f.up(t, newStack(task("edge.old", 1, "web-1", "pool-1", "a:1"), task("edge.keep", 1, "web-1", "pool-1", "a:1")), UpOptions{}))
	res := f.up(t, newStack(task("edge.keep", 1, "web-1", "pool-1", "a:1"), task("edge.new", 1, "web-1", "pool-1", "a:1")), UpOptions{})
	mustOK(t, res)
	f.ev.before(t, "remove "+svcName("edge.old", 1), "create "+svcName("edge.new", 1))
	slices.Sort(res.Done)
	if want := []string{svcName("edge.new", 1), svcName("edge.old", 1)}; !slices.Equal(res.Done, want) {
		t.Errorf("Done %v, want %v", res.Done, want)
	}
	if f.m.service(svcName("edge.old", 1)) != nil || f.m.service(svcName("edge.keep", 1)) == nil {
		t.Error("wrong services removed")
	}
}

func TestUpHealthNeverPasses(t *testing.T) {
	f := newFixture(t, 1)
	api := httpCheck(task("edge.api", 1, "web-1", "pool-1", "a:1"), 8080, 3)
	probe := &flakyProbe{ev: f.ev, n: 1 << 30}
	res := f.up(t, newStack(api), UpOptions{Probe: probe.probe})
	if len(res.Failures) != 1 {
		t.Fatalf("failures %+v", res.Failures)
	}
	if fl := res.Failures[0]; !strings.Contains(fl.Err.Error(), "running but not healthy within 3ms: connection refused") || !strings.HasPrefix(fl.Detail, "pool-1: last 20 lines of ctr-") {
		t.Errorf("failure %v, detail %q", fl.Err, fl.Detail)
	}
}

func TestUpCommandCheckIsSwarms(t *testing.T) {
	f := newFixture(t, 1)
	api := task("edge.api", 1, "web-1", "pool-1", "a:1")
	api.Health = &stack.Check{Cmd: []string{"pg_isready"}, Interval: time.Millisecond}
	mustOK(t, f.up(t, newStack(api), UpOptions{})) // the default test probe fails if called
}

func TestUpRunTimeout(t *testing.T) {
	f := newFixture(t, 1)
	f.m.stuckImage = "huge:1"
	res := f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "huge:1")), UpOptions{Run: 20 * time.Millisecond})
	if len(res.Failures) != 1 || res.Failures[0].Err.Error() != "not running after 20ms (Task preparing)" {
		t.Errorf("failures %+v", res.Failures)
	}
}

func TestUpLabelFails(t *testing.T) {
	f := newFixture(t, 1)
	f.m.errs["label node-1"] = errors.New("update out of sequence")
	res := f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "a:1")), UpOptions{})
	if len(res.Failures) != 1 || res.Failures[0].Unit != "node stg-a" || !strings.Contains(res.Err().Error(), "update out of sequence") {
		t.Errorf("failures %+v", res.Failures)
	}
	if f.ev.count("create ") != 0 {
		t.Error("created a service on an unlabelled node")
	}
}

func TestUpCreateFails(t *testing.T) {
	f := newFixture(t, 1)
	f.m.errs["create "+svcName("edge.db", 1)] = errors.New("rpc error: code = Unknown")
	db := task("edge.db", 1, "db-1", "pool-1", "a:1")
	api := needs(task("edge.api", 1, "web-1", "pool-1", "a:1"), "edge.db/1")
	res := f.up(t, newStack(db, api), UpOptions{})
	if len(res.Failures) != 1 || res.Failures[0].Unit != "edge.db/1" || !slices.Equal(res.Skipped, []string{"edge.api/1"}) {
		t.Errorf("result %+v", res)
	}
}

func TestResultErr(t *testing.T) {
	if err := (&Result{Done: []string{"a"}}).Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	inner := &RolledBackError{Service: "s"}
	err := (&Result{Failures: []Failure{{Unit: "edge.api/1", Err: &taskError{err: inner}}}}).Err()
	var rb *RolledBackError
	if !errors.As(err, &rb) || rb != inner || err.Error() != "edge.api/1: Swarm rolled the update back; the previous spec runs again" {
		t.Errorf("Err = %v", err)
	}
}

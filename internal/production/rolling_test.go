package production

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
)

// TestRollingUpdate moves core.api from version 1 (apiV1) to version 2
// (apiV2) and checks where every task ends, what was replaced, and that
// batches follow each other.
func TestRollingUpdate(t *testing.T) {
	for _, c := range []struct {
		name     string
		parallel int
		v2       spec
		before   func(t *testing.T, w *world) // after version 1 is up
		want     []task
		changed  int
		already  []string // tasks reported as already on version 2
		kept     []int    // tasks whose container is not replaced
		batches  [][]int  // each batch's tasks, in order
	}{
		{
			name: "one task at a time", parallel: 1,
			want: apiTasks(apiV2, "2"), changed: 3,
			batches: [][]int{{1}, {2}, {3}},
		},
		{
			name: "two tasks at a time", parallel: 2,
			want: apiTasks(apiV2, "2"), changed: 3,
			batches: [][]int{{1, 2}, {3}},
		},
		{
			name: "tasks already on the new config are left", parallel: 1,
			before: func(t *testing.T, w *world) {
				if _, _, err := w.d.Reload(w.ctx(), target(t, spec{apiImage: apiV2}, 2), "core.api", 1, nil); err != nil {
					t.Fatal(err)
				}
			},
			want: apiTasks(apiV2, "2"), changed: 2, already: []string{"core.api/1: Already on version 2"}, kept: []int{1},
			batches: [][]int{{2}, {3}},
		},
		{
			name: "every task already on the new config", parallel: 2,
			before: func(t *testing.T, w *world) { w.up(target(t, spec{apiImage: apiV2}, 2), "core.api") },
			want:   apiTasks(apiV2, "2"), changed: 0, kept: []int{1, 2, 3},
			already: []string{"core.api/1: Already on version 2", "core.api/2: Already on version 2", "core.api/3: Already on version 2"},
		},
		{
			name: "a task the new version no longer declares is removed last", parallel: 1,
			v2:   spec{apiImage: apiV2, apiTasks: "app-1, app-2"},
			want: apiTasks(apiV2, "2", "app-1", "app-2"), changed: 3,
			batches: [][]int{{1}, {2}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.up(target(t, spec{}, 1), "core.db")
			w.up(target(t, spec{}, 1), "core.api")
			w.up(target(t, spec{}, 1), "core.web")
			if c.before != nil {
				c.before(t, w)
			}
			before := w.ids()
			w.probe.reset(c.parallel)
			v2 := c.v2
			if v2.apiImage == "" {
				v2.apiImage = apiV2
			}
			rec := &recorder{}
			out, warns, err := w.d.RollingUpdate(w.ctx(), target(t, v2, 2), "api", RollingOptions{MaxParallel: c.parallel}, rec)
			if err != nil {
				t.Fatalf("rolling update: %v", err)
			}
			if diff := cmp.Diff(c.want, w.tasks("core.api"), ignoreHash); diff != "" {
				t.Errorf("core.api (-want +got):\n%s", diff)
			}
			if out.Changed != c.changed || out.RolledBack || out.Version != 2 || out.Job != "core.api" || out.Action != "rolling-update" || len(out.Failures) != 0 {
				t.Errorf("outcome %+v, want %d changed, version 2", out, c.changed)
			}
			if len(warns) != 0 {
				t.Errorf("warnings %q", warns)
			}
			var already []string
			for _, s := range rec.texts(progress.Done) {
				if strings.Contains(s, "Already") {
					already = append(already, s)
				}
			}
			if diff := cmp.Diff(c.already, already); diff != "" {
				t.Errorf("already on version 2 (-want +got):\n%s", diff)
			}
			after := w.ids()
			for _, n := range c.kept {
				k := allHosts[n-1] + "/" + taskName("core.api", n)
				if before[k] != after[k] {
					t.Errorf("task %d was replaced; it was already on the new config", n)
				}
			}
			for k, id := range before {
				if !strings.Contains(k, ".api.") && after[k] != id {
					t.Errorf("%s of another job was touched", k)
				}
			}
			// Batch k+1 starts only when every task of batch k is ready.
			for i := 1; i < len(c.batches); i++ {
				for _, prev := range c.batches[i-1] {
					done := rec.index(rec.key(prev), progress.Done, "Recreated")
					for _, next := range c.batches[i] {
						start := rec.index(rec.key(next), progress.Working, "Recreating")
						if done < 0 || start < 0 || start < done {
							t.Errorf("task %d started (event %d) before task %d of the batch before was ready (event %d)", next, start, prev, done)
						}
					}
				}
			}
			if want := min(max(c.parallel, 1), 2); len(c.batches) > 0 && w.probe.maxInflight() != want {
				t.Errorf("%d checks at once, want %d (MaxParallel %d)", w.probe.maxInflight(), want, c.parallel)
			}
			if c.v2.apiTasks != "" {
				removed := rec.index("core.api/3", progress.Done, "Removed")
				last := rec.index("core.api/2", progress.Done, "Recreated")
				if removed < 0 || removed < last {
					t.Errorf("core.api/3 removed at event %d, want after core.api/2 is ready (event %d)", removed, last)
				}
			}
		})
	}
}

// key is the unit key of core.api's task.
func (r *recorder) key(task int) string { return fmt.Sprintf("core.api/%d", task) }

// spec of the named container on the host's engine.
func (w *world) container(t *testing.T, host string, n int) enginetest.Container {
	t.Helper()
	c, ok := w.engines[host].Container(taskName("core.api", n))
	if !ok {
		t.Fatalf("%s: no core.api/%d", host, n)
	}
	return c
}

// TestRollingUpdateRollsBack makes the update fail part-way and checks that
// every replaced task is back as it was: image, version label, recorded
// spec and config hash.
func TestRollingUpdateRollsBack(t *testing.T) {
	for _, c := range []struct {
		name     string
		parallel int
		setup    func(w *world)
		errs     []string // in the error
		failure  []string // in the first failure
		want     []task   // core.api afterwards (hash: as before)
		kept     []int    // tasks never replaced
		timeout  time.Duration
		maxTook  time.Duration
	}{
		{
			name: "the new image crashes at the second task", parallel: 1,
			setup: func(w *world) {
				w.engines["app-2"].Crash(apiV2, 1)
				w.engines["app-2"].SetLog(apiV2, "starting", "panic: boom")
			},
			errs:    []string{"rolling update of core.api failed at task 2", "core.api/2", "the 2 task(s) already replaced were rolled back", "runs its previous version"},
			failure: []string{"core.api/2: on app-2: exited with code 1 before it was healthy", "\n    panic: boom"},
			want:    apiTasks(apiV1, "1"), kept: []int{3},
		},
		{
			name: "two at a time, the second batch crashes", parallel: 2,
			setup:   func(w *world) { w.engines["app-3"].Crash(apiV2, 1) },
			errs:    []string{"failed at task 3", "the 3 task(s) already replaced were rolled back"},
			failure: []string{"core.api/3: on app-3: exited with code 1"},
			want:    apiTasks(apiV1, "1"),
		},
		{
			// The error names the batch by its first task; the failure
			// in parentheses names the task that failed.
			name: "two at a time, the second task of the first batch crashes", parallel: 2,
			setup:   func(w *world) { w.engines["app-2"].Crash(apiV2, 1) },
			errs:    []string{"failed at task 1 (core.api/2: on app-2: exited with code 1", "the 2 task(s) already replaced"},
			failure: []string{"core.api/2: on app-2: exited"},
			want:    apiTasks(apiV1, "1"), kept: []int{3},
		},
		{
			name: "a task that had no container before is removed", parallel: 1,
			setup: func(w *world) {
				e := w.engines["app-1"]
				if err := e.Remove(context.Background(), taskName("core.api", 1)); err != nil {
					panic(err)
				}
				w.engines["app-2"].Crash(apiV2, 1)
			},
			errs:    []string{"failed at task 2", "the 2 task(s) already replaced were rolled back"},
			failure: []string{"core.api/2"},
			want:    apiTasks(apiV1, "1")[1:], kept: []int{3},
		},
		{
			name: "a check that never passes is bounded by HealthTimeout", parallel: 1,
			setup:   func(w *world) { w.probe.failImage(apiV2) },
			timeout: 200 * time.Millisecond, maxTook: 3 * time.Second, // the job's own check: 30 x 200ms
			errs:    []string{"failed at task 1", "the 1 task(s) already replaced were rolled back"},
			failure: []string{"core.api/1: on app-1: not healthy after", "connection refused"},
			want:    apiTasks(apiV1, "1"), kept: []int{2, 3},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			s := spec{}
			if c.timeout > 0 {
				s.health = "{http: /healthz, interval: 200ms}"
			}
			v1 := target(t, s, 1)
			w.up(v1, "core.api")
			before := map[string]enginetest.Container{}
			for i, h := range []string{"app-1", "app-2", "app-3"} {
				before[h] = w.container(t, h, i+1)
			}
			c.setup(w)
			s.apiImage = apiV2
			start := time.Now()
			out, _, err := w.d.RollingUpdate(w.ctx(), target(t, s, 2), "core.api", RollingOptions{MaxParallel: c.parallel, HealthTimeout: c.timeout}, nil)
			took := time.Since(start)
			errContains(t, err, c.errs...)
			if !out.RolledBack || out.Version != 1 {
				t.Errorf("outcome: rolled back %v, version %d; want rolled back to version 1", out.RolledBack, out.Version)
			}
			if len(out.Failures) == 0 {
				t.Fatal("no failures in the outcome")
			}
			for _, f := range c.failure {
				if !strings.Contains(out.Failures[0], f) {
					t.Errorf("first failure %q\ndoes not contain %q", out.Failures[0], f)
				}
			}
			if c.maxTook > 0 && took > c.maxTook {
				t.Errorf("took %v, want under %v", took, c.maxTook)
			}
			if diff := cmp.Diff(c.want, w.tasks("core.api"), ignoreHash); diff != "" {
				t.Errorf("core.api (-want +got):\n%s", diff)
			}
			for _, tk := range w.tasks("core.api") {
				old := before[tk.Host]
				got, _ := w.engines[tk.Host].Container(tk.Name)
				if diff := cmp.Diff(old.Spec, got.Spec); diff != "" {
					t.Errorf("%s: spec (-before +after):\n%s", tk.Host, diff)
				}
				for _, l := range []string{stack.LabelHash, stack.LabelSpec, stack.LabelVersion, stack.LabelKey} {
					if old.Labels[l] != got.Labels[l] {
						t.Errorf("%s: label %s %q, was %q", tk.Host, l, got.Labels[l], old.Labels[l])
					}
				}
				kept := false
				for _, n := range c.kept {
					kept = kept || allHosts[n-1] == tk.Host
				}
				if kept != (old.ID == got.ID) {
					t.Errorf("%s: container replaced %v, want %v", tk.Host, old.ID != got.ID, !kept)
				}
			}
			// Up of version 1 now has nothing to do: the job is on it.
			if out, _, err := w.d.Up(w.ctx(), v1, "core.api", nil); err != nil || (out.Changed != 0 && len(c.want) == 3) {
				t.Errorf("up of version 1 after the rollback: %+v, %v; want nothing to do", out, err)
			}
		})
	}
}

// TestRollingUpdateInterrupted: cancelling the operator's context mid-way
// still rolls the replaced tasks back, with a context of its own.
func TestRollingUpdateInterrupted(t *testing.T) {
	w := newWorld(t)
	w.up(target(t, spec{}, 1), "core.api")
	ctx, cancel := context.WithCancel(w.ctx())
	rec := &recorder{on: func(e progress.Event) {
		if e.Unit == "core.api/2" && e.Status == progress.Done {
			cancel()
		}
	}}
	out, _, err := w.d.RollingUpdate(ctx, target(t, spec{apiImage: apiV2}, 2), "core.api", RollingOptions{}, rec)
	errContains(t, err, "failed at task 2", "rolled back")
	if !out.RolledBack || !strings.Contains(strings.Join(out.Failures, "\n"), "interrupted: context canceled") {
		t.Errorf("outcome %+v, want rolled back after an interruption", out)
	}
	if diff := cmp.Diff(apiTasks(apiV1, "1"), w.tasks("core.api"), ignoreHash); diff != "" {
		t.Errorf("core.api (-want +got):\n%s", diff)
	}
}

// TestRollingUpdateRollbackFails: when the rollback cannot put every task
// back, the error says so, and the outcome is not "rolled back".
func TestRollingUpdateRollbackFails(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(w *world) func(progress.Event)
		errs    []string
		failure string // the first failure
		want    []task
	}{
		{
			// The old container of task 2 is removed before the new one
			// cannot be created; the rollback cannot create it either.
			name: "create fails on the second host",
			setup: func(w *world) func(progress.Event) {
				w.engines["app-2"].Fail("Create", errDiskFull)
				return nil
			},
			// The error names the rollback's failed task but not why it
			// failed; the update's own failure (first) says why.
			errs:    []string{"rolling update of core.api failed at task 2, and rolling back failed too: 1 failed: core.api/2", "check `cjob status core.api`"},
			failure: "core.api/2: on app-2: " + errDiskFull.Error(),
			want: []task{
				{Host: "app-1", Name: taskName("core.api", 1), Image: apiV1, Version: "1", State: "running"},
				{Host: "app-3", Name: taskName("core.api", 3), Image: apiV1, Version: "1", State: "running"},
			},
		},
		{
			// The host of the replaced task 1 goes down before the rollback
			// looks: nothing is put back, not even task 2 on app-2.
			name: "a replaced task's host goes down before the rollback",
			setup: func(w *world) func(progress.Event) {
				w.engines["app-2"].Crash(apiV2, 1)
				return func(e progress.Event) {
					if e.Unit == "core.api/2" && e.Status == progress.Failed {
						w.engines["app-1"].SetDown(true)
					}
				}
			},
			errs:    []string{"failed at task 2, and rolling back failed too", "host app-1", "unreachable", "the job may be partly on version 2"},
			failure: "core.api/2: on app-2: exited with code 1",
			want: []task{
				{Host: "app-1", Name: taskName("core.api", 1), Image: apiV2, Version: "2", State: "running"},
				{Host: "app-2", Name: taskName("core.api", 2), Image: apiV2, Version: "2", State: "exited"},
				{Host: "app-3", Name: taskName("core.api", 3), Image: apiV1, Version: "1", State: "running"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.up(target(t, spec{}, 1), "core.api")
			rec := &recorder{on: c.setup(w)}
			out, _, err := w.d.RollingUpdate(w.ctx(), target(t, spec{apiImage: apiV2}, 2), "core.api", RollingOptions{}, rec)
			errContains(t, err, c.errs...)
			if out.RolledBack || out.Version != 1 {
				t.Errorf("outcome: rolled back %v, version %d; want not rolled back, version 1 (what ran before)", out.RolledBack, out.Version)
			}
			if all := strings.Join(out.Failures, "\n"); !strings.Contains(all, "\nrollback: ") || !strings.HasPrefix(all, c.failure) {
				t.Errorf("failures %q, want %q first and the rollback's", out.Failures, c.failure)
			}
			if diff := cmp.Diff(c.want, w.tasks("core.api"), ignoreHash); diff != "" {
				t.Errorf("core.api (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRollbackBugs are rollbacks that should succeed, or say what
// happened, and do not.
func TestRollbackBugs(t *testing.T) {
	t.Run("a host the job does not use going down does not stop the rollback", func(t *testing.T) {
		w := newWorld(t)
		w.up(target(t, spec{}, 1), "core.api")
		w.engines["app-2"].Crash(apiV2, 1)
		rec := &recorder{on: func(e progress.Event) {
			if e.Unit == "core.api/2" && e.Status == progress.Failed {
				w.engines["db-1"].SetDown(true)
			}
		}}
		out, _, err := w.d.RollingUpdate(w.ctx(), target(t, spec{apiImage: apiV2}, 2), "core.api", RollingOptions{}, rec)
		if !out.RolledBack {
			t.Errorf("not rolled back (%v), although every host with a task of core.api answers", err)
		}
		if diff := cmp.Diff(apiTasks(apiV1, "1"), w.tasks("core.api"), ignoreHash); diff != "" {
			t.Errorf("core.api (-want +got):\n%s", diff)
		}
	})
	t.Run("a rollback that cannot look at a host does not say nothing was changed", func(t *testing.T) {
		w := newWorld(t)
		w.up(target(t, spec{}, 1), "core.api")
		w.engines["app-2"].Crash(apiV2, 1)
		rec := &recorder{on: func(e progress.Event) {
			if e.Unit == "core.api/2" && e.Status == progress.Failed {
				w.engines["app-1"].SetDown(true)
			}
		}}
		_, _, err := w.d.RollingUpdate(w.ctx(), target(t, spec{apiImage: apiV2}, 2), "core.api", RollingOptions{}, rec)
		errContains(t, err, "rolling back failed too")
		if strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("the error says %q, but task 1 was replaced and is still on version 2:\n%v", "nothing was changed", err)
		}
	})
	t.Run("a sub-second HealthTimeout is said as it is", func(t *testing.T) {
		w := newWorld(t)
		s := spec{health: "{http: /healthz, interval: 200ms}"}
		w.up(target(t, s, 1), "core.api")
		w.probe.failImage(apiV2)
		s.apiImage = apiV2
		out, _, err := w.d.RollingUpdate(w.ctx(), target(t, s, 2), "core.api", RollingOptions{HealthTimeout: 200 * time.Millisecond}, nil)
		errContains(t, err, "rolled back")
		if f := strings.Join(out.Failures, "\n"); !strings.Contains(f, "not healthy after 200ms") {
			t.Errorf("failures %q, want %q", f, "not healthy after 200ms")
		}
	})
}

// TestRollingUpdateUndeclaredNotRemoved: every task is on the new version,
// but the task it no longer declares cannot be removed or looked for.
func TestRollingUpdateUndeclaredNotRemoved(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(w *world) func(progress.Event)
		errs  []string
		down  bool   // errors.Is(err, engine.ErrUnreachable)
		state string // of task 3 afterwards
	}{
		{
			// It was stopped before its removal failed.
			name: "the removal fails", state: "exited",
			setup: func(w *world) func(progress.Event) { w.engines["app-3"].Fail("Remove", errDiskFull); return nil },
			errs:  []string{"rolling update of core.api: every task is on version 2, but removing the tasks it no longer declares failed: 1 failed: core.api/3"},
		},
		{
			name: "its host stops answering",
			setup: func(w *world) func(progress.Event) {
				return func(e progress.Event) {
					if e.Unit == "core.api/2" && e.Status == progress.Done {
						w.engines["app-3"].SetDown(true)
					}
				}
			},
			errs: []string{"every task is on version 2, but the tasks it no longer declares could not be looked for (host app-3: docker engine unreachable", "run `cjob up core.api` when the hosts answer"},
			down: true, state: "running",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.up(target(t, spec{}, 1), "core.api")
			rec := &recorder{on: c.setup(w)}
			out, _, err := w.d.RollingUpdate(w.ctx(), target(t, spec{apiImage: apiV2, apiTasks: "app-1, app-2"}, 2), "core.api", RollingOptions{}, rec)
			errContains(t, err, c.errs...)
			if c.down != errors.Is(err, engine.ErrUnreachable) {
				t.Errorf("errors.Is(err, engine.ErrUnreachable) = %v, want %v", !c.down, c.down)
			}
			if out.RolledBack || out.Version != 2 || out.Changed != 2 {
				t.Errorf("outcome %+v, want 2 changed, on version 2, not rolled back", out)
			}
			want := append(apiTasks(apiV2, "2", "app-1", "app-2"), task{Host: "app-3", Name: taskName("core.api", 3), Image: apiV1, Version: "1", State: c.state})
			if diff := cmp.Diff(want, w.tasks("core.api"), ignoreHash); diff != "" {
				t.Errorf("core.api (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRollbackWithoutSpec: an old container that records no spec (made by
// hand) cannot be put back; the error says how to recover.
func TestRollbackWithoutSpec(t *testing.T) {
	w := newWorld(t)
	w.up(target(t, spec{}, 1), "core.api")
	e := w.engines["app-1"]
	old, _ := e.Container(taskName("core.api", 1))
	ctx := context.Background()
	labels := old.Labels
	delete(labels, stack.LabelSpec)
	if err := e.Remove(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	id, err := e.Create(ctx, stack.CreateRequest{Name: old.Name, Spec: old.Spec, Labels: labels})
	if err == nil {
		err = e.Start(ctx, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.Crash(apiV2, 1)
	out, _, err := w.d.RollingUpdate(w.ctx(), target(t, spec{apiImage: apiV2}, 2), "core.api", RollingOptions{}, nil)
	errContains(t, err, "failed at task 1, and rolling back failed too: task core.api/1: its old container "+old.Name+" records no spec (made by hand?); recreate it with `cjob up core.api`")
	if out.RolledBack {
		t.Errorf("outcome says rolled back")
	}
}

func TestResolveJob(t *testing.T) {
	f := parse(t, spec{}.yaml())
	for _, c := range []struct{ name, want, err string }{
		{name: "core.api", want: "core.api"},
		{name: "web", want: "core.web"},
		{name: "webb", err: `unknown job "webb" (did you mean "core.web"?)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveJob(f, c.name)
			if c.err != "" {
				errContains(t, err, c.err)
				if !errors.Is(err, ErrUnknownJob) {
					t.Errorf("not ErrUnknownJob: %v", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("ResolveJob(%q) = %q, %v; want %q", c.name, got, err, c.want)
			}
		})
	}
}

package production

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/stack"
)

var ignoreHash = cmpopts.IgnoreFields(task{}, "Hash")

// apiTasks are core.api's three tasks as Up of version v of image leaves
// them.
func apiTasks(image, version string, hosts ...string) []task {
	if len(hosts) == 0 {
		hosts = []string{"app-1", "app-2", "app-3"}
	}
	var out []task
	for i, h := range hosts {
		out = append(out, task{Host: h, Name: taskName("core.api", i+1), Image: image, Version: version, State: "running"})
	}
	return out
}

// TestUpDownReload walks one job through up, a no-op up, a changed up,
// reload of one task and of all, and down, checking after each step that
// the job's containers are as wanted and that no other job was touched.
func TestUpDownReload(t *testing.T) {
	w := newWorld(t)
	v1 := target(t, spec{}, 1)
	others := []string{"core.db", "core.web"}

	t.Run("up creates the tasks on their hosts, host networking", func(t *testing.T) {
		out, warns, err := w.d.Up(w.ctx(), v1, "api", nil) // the short name resolves
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(apiTasks(apiV1, "1"), w.tasks("core.api"), ignoreHash); diff != "" {
			t.Errorf("core.api (-want +got):\n%s", diff)
		}
		for _, j := range others {
			if got := w.tasks(j); len(got) != 0 {
				t.Errorf("up core.api made containers of %s: %+v", j, got)
			}
		}
		if got := w.engines["db-1"].Calls(); len(got) != 0 {
			t.Errorf("up core.api changed db-1, where it has no task: %q", got)
		}
		for _, h := range []string{"app-1", "app-2", "app-3"} {
			c, ok := w.engines[h].Container(taskName("core.api", slices.Index(allHosts, h)+1))
			if !ok {
				t.Fatalf("%s: no core.api container", h)
			}
			if !c.Spec.HostNetwork || c.Network != "" {
				t.Errorf("%s: HostNetwork %v, network %q; want host networking", h, c.Spec.HostNetwork, c.Network)
			}
			want := map[string]string{stack.LabelProject: "ptest", stack.LabelEnv: "production", stack.LabelJob: "core.api", stack.LabelHost: h, stack.LabelVersion: "1"}
			got := map[string]string{}
			for k := range want {
				got[k] = c.Labels[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: labels (-want +got):\n%s", h, diff)
			}
			if c.Labels[stack.LabelSpec] == "" {
				t.Errorf("%s: no %s label: a rollback could not recreate it", h, stack.LabelSpec)
			}
		}
		want := &Outcome{Job: "core.api", Action: "up", Changed: 3, Version: 1}
		if diff := cmp.Diff(want, out, cmpopts.IgnoreFields(Outcome{}, "Elapsed")); diff != "" {
			t.Errorf("outcome (-want +got):\n%s", diff)
		}
		if len(warns) != 0 {
			t.Errorf("warnings %q, want none", warns)
		}
	})

	w.up(v1, "core.db")
	w.up(v1, "core.web")

	t.Run("a second up changes nothing", func(t *testing.T) {
		before, calls := w.ids(), w.calls()
		out, _, err := w.d.Up(w.ctx(), v1, "core.api", nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.Changed != 0 || len(out.Failures) != 0 {
			t.Errorf("outcome %+v, want nothing changed", out)
		}
		if diff := cmp.Diff(before, w.ids()); diff != "" {
			t.Errorf("containers (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(calls, w.calls()); diff != "" {
			t.Errorf("engine calls (-before +after):\n%s", diff)
		}
	})

	t.Run("reload of one task recreates only it", func(t *testing.T) {
		before := w.ids()
		out, _, err := w.d.Reload(w.ctx(), v1, "core.api", 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.Changed != 1 || out.Action != "reload" {
			t.Errorf("outcome %+v, want 1 changed by reload", out)
		}
		after := w.ids()
		var changed []string
		for k, id := range before {
			if after[k] != id {
				changed = append(changed, k)
			}
		}
		if diff := cmp.Diff([]string{"app-2/" + taskName("core.api", 2)}, changed); diff != "" {
			t.Errorf("recreated containers (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after))); diff != "" {
			t.Errorf("container names (-before +after):\n%s", diff)
		}
	})

	t.Run("reload of a task the job does not have", func(t *testing.T) {
		_, _, err := w.d.Reload(w.ctx(), v1, "core.api", 9, nil)
		errContains(t, err, "core.api has 3 task(s); there is no task 9")
	})

	t.Run("reload of every task", func(t *testing.T) {
		before := w.ids()
		out, _, err := w.d.Reload(w.ctx(), v1, "core.api", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		after := w.ids()
		for k, id := range before {
			if api := strings.Contains(k, ".api."); api == (after[k] == id) {
				t.Errorf("%s: recreated %v, want %v", k, after[k] != id, api)
			}
		}
		if out.Changed != 3 {
			t.Errorf("changed %d, want 3", out.Changed)
		}
	})

	t.Run("up of a changed version recreates and drops undeclared tasks", func(t *testing.T) {
		before := w.ids()
		v2 := target(t, spec{logLevel: "debug", apiTasks: "app-1, app-2"}, 2)
		out, _, err := w.d.Up(w.ctx(), v2, "core.api", nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(apiTasks(apiV1, "2", "app-1", "app-2"), w.tasks("core.api"), ignoreHash); diff != "" {
			t.Errorf("core.api (-want +got):\n%s", diff)
		}
		if out.Changed != 3 { // two recreated, one removed
			t.Errorf("changed %d, want 3", out.Changed)
		}
		after := w.ids()
		for k, id := range before {
			if !strings.Contains(k, ".api.") && after[k] != id {
				t.Errorf("%s of another job was recreated", k)
			}
		}
		w.up(v1, "core.api") // back to version 1 for the next step
	})

	t.Run("down removes only the job's containers", func(t *testing.T) {
		before := w.ids()
		out, _, err := w.d.Down(w.ctx(), v1.File, "core.api", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.tasks("core.api"); len(got) != 0 {
			t.Errorf("core.api left after down: %+v", got)
		}
		want := map[string]string{}
		for k, id := range before {
			if !strings.Contains(k, ".api.") {
				want[k] = id
			}
		}
		if diff := cmp.Diff(want, w.ids()); diff != "" {
			t.Errorf("containers after down (-want +got):\n%s", diff)
		}
		if out.Changed != 3 || out.Action != "down" || out.Job != "core.api" {
			t.Errorf("outcome %+v", out)
		}
	})

	t.Run("unknown job", func(t *testing.T) {
		before := w.calls()
		_, _, err := w.d.Up(w.ctx(), v1, "nope", nil)
		if !errors.Is(err, ErrUnknownJob) {
			t.Errorf("up nope: %v, want ErrUnknownJob", err)
		}
		_, _, err = w.d.Down(w.ctx(), v1.File, "nope", nil)
		if !errors.Is(err, ErrUnknownJob) {
			t.Errorf("down nope: %v, want ErrUnknownJob", err)
		}
		_, _, err = w.d.RollingUpdate(w.ctx(), v1, "nope", RollingOptions{}, nil)
		if !errors.Is(err, ErrUnknownJob) {
			t.Errorf("rolling-update nope: %v, want ErrUnknownJob", err)
		}
		if diff := cmp.Diff(before, w.calls()); diff != "" {
			t.Errorf("engine calls (-before +after):\n%s", diff)
		}
	})
}

// TestUpFailure: a task that crashes is a failure with its log tail, and
// the error wraps it; the other tasks still come up.
func TestUpFailure(t *testing.T) {
	w := newWorld(t)
	w.engines["app-3"].Crash(apiV1, 2)
	w.engines["app-3"].SetLog(apiV1, "starting", "panic: no config")
	out, _, err := w.d.Up(w.ctx(), target(t, spec{}, 1), "core.api", nil)
	errContains(t, err, "up core.api", "core.api/3")
	if len(out.Failures) != 1 || !strings.Contains(out.Failures[0], "exited with code 2") || !strings.Contains(out.Failures[0], "    panic: no config") {
		t.Errorf("failures %q, want core.api/3's exit and log tail", out.Failures)
	}
	want := apiTasks(apiV1, "1")
	want[2].State = "exited"
	if diff := cmp.Diff(want, w.tasks("core.api"), ignoreHash); diff != "" {
		t.Errorf("core.api (-want +got):\n%s", diff)
	}
}

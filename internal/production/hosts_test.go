package production

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// operations are every operation on one job that must find all its hosts
// answering before it changes anything.
var operations = []struct {
	name string
	run  func(w *world, t Target) error
}{
	{"up", func(w *world, t Target) error { _, _, err := w.d.Up(w.ctx(), t, "core.api", nil); return err }},
	{"reload", func(w *world, t Target) error { _, _, err := w.d.Reload(w.ctx(), t, "core.api", 1, nil); return err }},
	{"down", func(w *world, t Target) error { _, _, err := w.d.Down(w.ctx(), t.File, "core.api", nil); return err }},
	{"rolling-update", func(w *world, t Target) error {
		_, _, err := w.d.RollingUpdate(w.ctx(), t, "core.api", RollingOptions{}, nil)
		return err
	}},
	{"up-all", func(w *world, t Target) error { _, err := w.d.UpAll(w.ctx(), t, nil); return err }},
	{"preflight", func(w *world, t Target) error { return w.d.Preflight(w.ctx(), t.File, "core.api") }},
}

// TestHostsUnreachable: a host the job runs on that does not answer stops
// every operation before it changes anything, and the error names it.
func TestHostsUnreachable(t *testing.T) {
	for _, c := range []struct {
		name string
		down []string
		// connected: the hosts answered an earlier operation, so the
		// fleet holds their connections and only observing them fails.
		connected bool
		msg       []string
	}{
		{name: "one host down", down: []string{"app-2"},
			msg: []string{"host app-2 (tcp://app-2:2376) unreachable: docker engine unreachable at tcp://app-2:2376: connection refused; nothing was changed"}},
		{name: "two hosts down", down: []string{"app-3", "app-1"},
			msg: []string{"2 hosts unreachable; nothing was changed:\n  host app-1 (tcp://app-1:2376) unreachable", "\n  host app-3 (tcp://app-3:2376) unreachable"}},
		{name: "a connected host stops answering", down: []string{"app-2"}, connected: true,
			msg: []string{"host app-2: docker engine unreachable at tcp://app-2:2376: connection refused; nothing was changed"}},
	} {
		for _, op := range operations {
			t.Run(c.name+"/"+op.name, func(t *testing.T) {
				w := newWorld(t)
				v1 := target(t, spec{}, 1)
				v2 := target(t, spec{apiImage: apiV2}, 2)
				if op.name == "preflight" && c.connected {
				}
				if op.name == "down" || op.name == "reload" || op.name == "rolling-update" || c.connected {
					w.up(v1, "core.db")
					w.up(v1, "core.api")
				}
				if !c.connected {
					w.d.Fleet.Close() // dial afresh
				}
				before, calls := w.ids(), w.calls()
				for _, h := range c.down {
					w.engines[h].SetDown(true)
				}
				err := op.run(w, v2)
				var he HostsError
				if !errors.As(err, &he) {
					t.Fatalf("error %v (%T), want a HostsError", err, err)
				}
				msg := c.msg
				if op.name == "preflight" && c.connected {
					// Preflight asks the kept connection, and names the endpoint.
					msg = []string{"host app-2 (tcp://app-2:2376) unreachable: docker engine unreachable at tcp://app-2:2376: connection refused; nothing was changed"}
				}
				errContains(t, err, msg...)
				if !errors.Is(err, engine.ErrUnreachable) {
					t.Errorf("errors.Is(%v, engine.ErrUnreachable) is false", err)
				}
				if len(he) != len(c.down) {
					t.Errorf("%d hosts in the error, want %d", len(he), len(c.down))
				}
				if diff := cmp.Diff(before, w.ids()); diff != "" {
					t.Errorf("containers (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(calls, w.calls()); diff != "" {
					t.Errorf("engine calls (-before +after):\n%s", diff)
				}
				// When the hosts answer again, the operation goes through:
				// a failed connection is not kept.
				for _, h := range c.down {
					w.engines[h].SetDown(false)
				}
				if err := op.run(w, v2); err != nil {
					t.Errorf("after the hosts answer again: %v", err)
				}
			})
		}
	}
}

// TestUnusedHostDown: a host the job has no task on that does not answer
// is only a warning.
func TestUnusedHostDown(t *testing.T) {
	ops := []struct {
		name string
		run  func(w *world, t Target) (*Outcome, []string, error)
	}{
		{"up", func(w *world, t Target) (*Outcome, []string, error) { return w.d.Up(w.ctx(), t, "core.api", nil) }},
		{"down", func(w *world, t Target) (*Outcome, []string, error) {
			return w.d.Down(w.ctx(), t.File, "core.api", nil)
		}},
		{"rolling-update", func(w *world, t Target) (*Outcome, []string, error) {
			return w.d.RollingUpdate(w.ctx(), t, "core.api", RollingOptions{MaxParallel: 3}, nil)
		}},
	}
	for _, c := range []struct {
		name      string
		connected bool
		warning   string
	}{
		{name: "not connected", warning: "host db-1 (tcp://db-1:2376) unreachable: docker engine unreachable at tcp://db-1:2376: connection refused (the job has no task there; not checked for old containers)"},
		{name: "connected", connected: true, warning: "host db-1: docker engine unreachable at tcp://db-1:2376: connection refused"},
	} {
		for _, op := range ops {
			t.Run(c.name+"/"+op.name, func(t *testing.T) {
				w := newWorld(t)
				w.up(target(t, spec{}, 1), "core.api")
				if !c.connected {
					w.d.Fleet.Close()
				}
				w.engines["db-1"].SetDown(true)
				out, warns, err := op.run(w, target(t, spec{apiImage: apiV2}, 2))
				if err != nil {
					t.Fatal(err)
				}
				if out.Changed != 3 {
					t.Errorf("changed %d, want 3", out.Changed)
				}
				if diff := cmp.Diff([]string{c.warning}, warns); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
				if p := w.d.Preflight(w.ctx(), target(t, spec{}, 1).File, "core.api"); p != nil {
					t.Errorf("preflight of core.api with db-1 down: %v", p)
				}
			})
		}
	}
}

// TestUpAll brings every job up along depends_on across hosts: core.db on
// db-1, then core.api on the app hosts, then core.web on app-1.
func TestUpAll(t *testing.T) {
	t.Run("in dependency order across hosts", func(t *testing.T) {
		w := newWorld(t)
		rec := &recorder{}
		out, err := w.d.UpAll(w.ctx(), target(t, spec{}, 1), rec)
		if err != nil {
			t.Fatal(err)
		}
		if out.Changed != 5 || out.Job != "*" || out.Version != 1 {
			t.Errorf("outcome %+v, want 5 changed", out)
		}
		dbReady := rec.index("core.db/1", progress.Done, "Created")
		webStart := rec.index("core.web/1", progress.Working, "Creating")
		for i := 1; i <= 3; i++ {
			k := rec.key(i)
			start, ready := rec.index(k, progress.Working, "Creating"), rec.index(k, progress.Done, "Created")
			if start < dbReady {
				t.Errorf("%s started (event %d) before core.db/1 was ready (event %d)", k, start, dbReady)
			}
			if webStart < ready {
				t.Errorf("core.web/1 started (event %d) before %s was ready (event %d)", webStart, k, ready)
			}
		}
		want := map[string][]string{
			"app-1": {taskName("core.api", 1), taskName("core.web", 1)},
			"app-2": {taskName("core.api", 2)},
			"app-3": {taskName("core.api", 3)},
			"db-1":  {taskName("core.db", 1)},
		}
		got := map[string][]string{}
		for h, e := range w.engines {
			got[h] = e.Names(stack.StateRunning)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("running containers by host (-want +got):\n%s", diff)
		}
		if out, err := w.d.UpAll(w.ctx(), target(t, spec{}, 1), nil); err != nil || out.Changed != 0 {
			t.Errorf("a second up: %+v, %v; want nothing to do", out, err)
		}
	})
	t.Run("a failed dependency skips its dependents on other hosts", func(t *testing.T) {
		w := newWorld(t)
		w.engines["db-1"].Crash(dbV1, 3)
		out, err := w.d.UpAll(w.ctx(), target(t, spec{}, 1), nil)
		errContains(t, err, "up: 1 failed: core.db/1; 4 not started because a dependency failed")
		var skipped []string
		for _, f := range out.Failures {
			if strings.HasSuffix(f, "skipped, a dependency failed") {
				skipped = append(skipped, strings.TrimSuffix(f, ": skipped, a dependency failed"))
			}
		}
		if diff := cmp.Diff([]string{"core.api/1", "core.api/2", "core.api/3", "core.web/1"}, skipped); diff != "" {
			t.Errorf("skipped (-want +got):\n%s", diff)
		}
		for _, h := range []string{"app-1", "app-2", "app-3"} {
			if got := w.engines[h].Calls(); len(got) != 0 {
				t.Errorf("%s: calls %q, want none", h, got)
			}
		}
	})
	t.Run("containers of jobs no longer declared are left", func(t *testing.T) {
		w := newWorld(t)
		w.up(target(t, spec{}, 1), "core.api")
		before := w.ids()
		if _, err := w.d.UpAll(w.ctx(), target(t, spec{apiTasks: "app-1"}, 2), nil); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"app-2/" + taskName("core.api", 2), "app-3/" + taskName("core.api", 3)} {
			if w.ids()[k] != before[k] {
				t.Errorf("%s was touched by up of every job", k)
			}
		}
	})
}

// TestPreflightKeptConnection: Preflight is what Roll relies on to push
// nothing when a host of the job is down; a host whose connection the
// fleet keeps from an earlier operation, and which stopped answering
// since, must fail it too.
func TestPreflightKeptConnection(t *testing.T) {
	w := newWorld(t)
	v1 := target(t, spec{}, 1)
	w.up(v1, "core.api")
	w.engines["app-2"].SetDown(true)
	err := w.d.Preflight(w.ctx(), v1.File, "core.api")
	if !errors.Is(err, engine.ErrUnreachable) {
		t.Errorf("preflight with app-2 down: %v, want an error wrapping engine.ErrUnreachable", err)
	}
	vs := &memVersions{files: []*prodspec.File{v1.File.Clone()}}
	res, err := w.d.Roll(w.ctx(), vs, Rollout{Job: "core.api", From: v1, To: WithImage(v1.File, "core.api", apiV2)}, nil)
	errContains(t, err, "no version was pushed")
	if res.Version != 0 || len(vs.pushes) != 0 {
		t.Errorf("roll with app-2 down pushed version %d (%d pushes)", res.Version, len(vs.pushes))
	}
}

// TestPreflight checks only the job's own hosts.
func TestPreflight(t *testing.T) {
	for _, c := range []struct {
		name, job string
		down      []string
		want      string // "" for no error
	}{
		{name: "every host answers", job: "core.api"},
		{name: "a host of the job is down", job: "core.api", down: []string{"app-3"}, want: "host app-3 (tcp://app-3:2376) unreachable"},
		{name: "a host of another job is down", job: "core.web", down: []string{"app-3", "db-1"}},
		{name: "by short name", job: "db", down: []string{"db-1"}, want: "host db-1"},
		{name: "unknown job", job: "apii", want: `unknown job "apii" (did you mean "core.api"?)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			for _, h := range c.down {
				w.engines[h].SetDown(true)
			}
			err := w.d.Preflight(w.ctx(), target(t, spec{}, 1).File, c.job)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			errContains(t, err, c.want)
			if len(c.down) > 0 {
				var he HostsError
				if !errors.As(err, &he) || !errors.Is(err, engine.ErrUnreachable) {
					t.Errorf("%v: want a HostsError wrapping engine.ErrUnreachable", err)
				}
			}
			if got := w.calls(); len(got) != 0 {
				t.Errorf("preflight changed engines: %q", got)
			}
		})
	}
}

// TestHostWithoutDocker: a host of the job with no docker: endpoint is an
// error before anything is dialled.
func TestHostWithoutDocker(t *testing.T) {
	w := newWorld(t)
	f := parse(t, strings.Replace(spec{}.yaml(), `app-3: {address: 10.0.0.3, docker: "tcp://app-3:2376"}`, `app-3: {address: 10.0.0.3}`, 1))
	_, _, err := w.d.Up(w.ctx(), Target{File: f, Version: 1}, "core.api", nil)
	errContains(t, err, "production host app-3 has no docker: endpoint")
	err = w.d.Preflight(w.ctx(), f, "core.api")
	errContains(t, err, "host app-3 has no docker: endpoint")
	var he HostsError
	if !errors.As(err, &he) {
		t.Errorf("preflight: %T, want HostsError", err)
	}
}

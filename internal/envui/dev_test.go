package envui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/envui"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// devFile is a small stack on two production hosts. api needs db (on the
// other host) and cache (on its own host); web needs api; solo needs
// nothing. Every published port is high (see the note in helpers_test.go);
// db carries a secret for the inspect tests.
const devFile = `
project: demo
hosts:
  app-1: {address: 10.0.0.1}
  db-1:  {address: 10.0.0.2}
services:
  svc:
    jobs:
      db:
        image: demo/db:1
        port: 47432
        health: {tcp: 47432}
        env: {DB_PASSWORD: s3cret, DB_NAME: shop}
        volumes: ["/var/lib/db:/data"]
        run_on_host: db-1
      cache:
        image: demo/cache:1
        run_on_host: app-1
      api:
        image: demo/api:1
        port: 47800
        env: {DB_URL: "tcp://10.0.0.2:47432"}
        depends_on: [svc.db, svc.cache]
        health: {http: /healthz, interval: 20ms, retries: 5}
        run_on_host: app-1
      web:
        image: demo/web:1
        port: 47300
        depends_on: [svc.api]
        run_on_host: app-1
      solo:
        image: demo/solo:1
        run_on_host: db-1
`

// Container names of devFile's dev stack.
const (
	sbApp  = "demo-dev.host.app-1"
	sbDB   = "demo-dev.host.db-1"
	cDB    = "demo-dev.svc.db.1"
	cCache = "demo-dev.svc.cache.1"
	cAPI   = "demo-dev.svc.api.1"
	cWeb   = "demo-dev.svc.web.1"
	cSolo  = "demo-dev.svc.solo.1"
)

// engineHost is the endpoint the dev engine reports.
const engineHost = "unix:///run/enginetest.sock"

// newDev is the dev source of devFile on an empty engine, with a probe
// that passes every check.
func newDev(t *testing.T) (*envui.Dev, *enginetest.Engine, *jobsFile) {
	t.Helper()
	isolate(t)
	file := &jobsFile{f: parse(t, devFile)}
	eng := enginetest.New(engineHost)
	d := envui.NewDev(eng, local(file))
	d.Probe = healthyProbe
	return d, eng, file
}

func act(d ui.Source, verb, job string) ui.Result {
	return d.Act(context.Background(), ui.Action{Verb: verb, Job: job, Who: visitor}, &recorder{})
}

func snapshot(t *testing.T, s ui.Source) *ui.Snapshot {
	t.Helper()
	snap, err := s.Snapshot(context.Background(), true)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return snap
}

// jobByName is the snapshot's job of that name.
func jobByName(t *testing.T, snap *ui.Snapshot, name string) ui.Job {
	t.Helper()
	for _, j := range snap.Jobs {
		if j.Job.Job == name {
			return j
		}
	}
	t.Fatalf("snapshot has no job %s", name)
	return ui.Job{}
}

// jobStates are the snapshot's jobs' states by name.
func jobStates(snap *ui.Snapshot) map[string]string {
	m := map[string]string{}
	for _, j := range snap.Jobs {
		m[j.Job.Job] = j.State
	}
	return m
}

// published is the host port a sandbox publishes for a container port.
func published(t *testing.T, eng *enginetest.Engine, sandbox string, port int) int {
	t.Helper()
	c, ok := eng.Container(sandbox)
	if !ok {
		t.Fatalf("no sandbox %s", sandbox)
	}
	for _, p := range c.Spec.Publish {
		if p.ContainerPort == port {
			return p.HostPort
		}
	}
	t.Fatalf("%s publishes no port %d: %+v", sandbox, port, c.Spec.Publish)
	return 0
}

// ignoreNodeTimes leaves out what changes on every look.
var ignoreNodeTimes = cmpopts.IgnoreFields(status.Node{}, "Checked", "LatencyMS")

func TestDevEnv(t *testing.T) {
	tests := []struct {
		name string
		load error // the jobs file does not load
		want ui.Env
	}{
		{
			name: "the file loads",
			want: ui.Env{Name: stack.Dev, Project: "demo", Actions: []string{"up", "down", "reload", "restore"}, Detail: "this machine's engine " + engineHost},
		},
		{
			name: "the file does not load: no project, the rest stays",
			load: errors.New("jobs.yml:3:1: bad"),
			want: ui.Env{Name: stack.Dev, Actions: []string{"up", "down", "reload", "restore"}, Detail: "this machine's engine " + engineHost},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, file := newDev(t)
			if tt.load != nil {
				file.fail(tt.load)
			}
			if diff := cmp.Diff(tt.want, d.Env()); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDevSnapshotEmptyEngine(t *testing.T) {
	d, eng, _ := newDev(t)
	snap := snapshot(t, d)

	want := map[string]string{"svc.db": "down", "svc.cache": "down", "svc.api": "down", "svc.web": "down", "svc.solo": "down"}
	if diff := cmp.Diff(want, jobStates(snap)); diff != "" {
		t.Errorf("job states (-want +got):\n%s", diff)
	}
	for _, j := range snap.Jobs {
		if j.Job.Running != 0 || j.Needed != 1 || len(j.Tasks) != 1 || j.Tasks[0].State != "missing" || j.Tasks[0].Container != "" || j.Swap != nil {
			t.Errorf("%s: running %d of %d, tasks %+v, swap %v; want 1 missing task and no swap", j.Job.Job, j.Job.Running, j.Needed, j.Tasks, j.Swap)
		}
	}
	api := jobByName(t, snap, "svc.api")
	if diff := cmp.Diff([]string{"app-1"}, api.Hosts); diff != "" {
		t.Errorf("api hosts (-want +got):\n%s", diff)
	}

	const noSandbox = "no host sandbox: `cjob dev up` makes it"
	engineData := func(n status.Node) status.Node {
		n.Docker, n.CPUs, n.MemoryBytes, n.EngineVersion = engineHost, 4, 8<<30, "27.0.0-enginetest"
		n.Error = noSandbox
		return n
	}
	wantNodes := []status.Node{
		engineData(status.Node{Name: "app-1", Tasks: 3}), // cache, api, web
		engineData(status.Node{Name: "db-1", Tasks: 2}),  // db, solo
	}
	if diff := cmp.Diff(wantNodes, snap.Nodes, ignoreNodeTimes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if calls := eng.Calls(); len(calls) != 0 {
		t.Errorf("a look changed the engine: %q", calls)
	}
}

func TestDevSnapshotEngineDown(t *testing.T) {
	d, eng, _ := newDev(t)
	eng.SetDown(true)
	_, err := d.Snapshot(context.Background(), true)
	if !errors.Is(err, engine.ErrUnreachable) {
		t.Errorf("Snapshot with the engine down: %v, want engine.ErrUnreachable", err)
	}
}

func TestDevSnapshotLoadError(t *testing.T) {
	d, eng, file := newDev(t)
	bad := errors.New("jobs.yml:7:3: unknown field")
	file.fail(bad)
	if _, err := d.Snapshot(context.Background(), true); !errors.Is(err, bad) {
		t.Errorf("Snapshot: %v, want the load error", err)
	}
	r := act(d, "up", "svc.api")
	if r.OK || r.Message != bad.Error() {
		t.Errorf("Act: %+v, want not OK with the load error", r)
	}
	if _, err := d.Events(context.Background(), 0); !errors.Is(err, bad) {
		t.Errorf("Events: %v, want the load error", err)
	}
	if calls := eng.Calls(); len(calls) != 0 {
		t.Errorf("engine calls %q, want none", calls)
	}
}

// TestDevUp brings one job up from the UI and looks at the stack after.
func TestDevUp(t *testing.T) {
	d, eng, _ := newDev(t)
	rep := &recorder{}
	r := d.Act(context.Background(), ui.Action{Verb: "up", Job: "api", Who: visitor}, rep) // a short name resolves
	if !r.OK || !strings.HasPrefix(r.Message, "up svc.api: ") || !strings.Contains(r.Message, " change(s) in ") || len(r.Details) != 0 {
		t.Fatalf("Act up: %+v", r)
	}

	t.Run("the job and its dependencies run, nothing else", func(t *testing.T) {
		want := map[string]string{sbApp: "running", sbDB: "running", cDB: "running", cCache: "running", cAPI: "running"}
		if diff := cmp.Diff(want, states(eng)); diff != "" {
			t.Errorf("containers (-want +got):\n%s", diff)
		}
		if !eng.HasImage(sandboxRef()) {
			t.Errorf("up did not make the host sandbox image %s", sandboxRef())
		}
		// Progress goes to the UI's reporter, op by op.
		for _, unit := range []string{"host/app-1", "host/db-1", "svc.db/1", "svc.cache/1", "svc.api/1"} {
			if !slices.Contains(rep.units(), unit) {
				t.Errorf("no progress reported for %s (reported: %q)", unit, rep.units())
			}
		}
	})

	probe := &probeLog{fail: map[int]bool{47432: true}} // db's check fails now
	d.Probe = probe.probe
	snap := snapshot(t, d)

	t.Run("job states", func(t *testing.T) {
		want := map[string]string{"svc.db": "ok", "svc.cache": "ok", "svc.api": "ok", "svc.web": "down", "svc.solo": "down"}
		if diff := cmp.Diff(want, jobStates(snap)); diff != "" {
			t.Errorf("job states (-want +got):\n%s", diff)
		}
	})

	t.Run("tasks", func(t *testing.T) {
		apiC, _ := eng.Container(cAPI)
		dbC, _ := eng.Container(cDB)
		tests := []struct {
			job  string
			want status.Task
		}{
			{"svc.api", status.Task{Task: 1, Host: "app-1", Container: cAPI, ID: apiC.ID, Image: "demo/api:1", ImageID: "sha256:demo/api:1", State: "running", Status: "Up", Health: "healthy", Created: apiC.Created}},
			{"svc.db", status.Task{Task: 1, Host: "db-1", Container: cDB, ID: dbC.ID, Image: "demo/db:1", ImageID: "sha256:demo/db:1", State: "running", Status: "Up", Health: "unhealthy", Created: dbC.Created}},
			{"svc.web", status.Task{Task: 1, Host: "app-1", State: "missing"}},
		}
		for _, tt := range tests {
			j := jobByName(t, snap, tt.job)
			if diff := cmp.Diff([]status.Task{tt.want}, j.Tasks); diff != "" {
				t.Errorf("%s tasks (-want +got):\n%s", tt.job, diff)
			}
		}
		// Health is checked now, through the probe only: api's HTTP check
		// and db's TCP check, nothing for the jobs that do not run.
		if diff := cmp.Diff([]string{"47432", "47800"}, probe.ports()); diff != "" {
			t.Errorf("ports probed (-want +got):\n%s", diff)
		}
	})

	t.Run("URLs", func(t *testing.T) {
		tests := []struct {
			job  string
			want []string
		}{
			{"svc.api", []string{fmt.Sprintf("http://127.0.0.1:%d", published(t, eng, sbApp, 47800))}},
			{"svc.db", []string{fmt.Sprintf("127.0.0.1:%d", published(t, eng, sbDB, 47432))}},
			{"svc.cache", nil},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, jobByName(t, snap, tt.job).URLs); diff != "" {
				t.Errorf("%s URLs (-want +got):\n%s", tt.job, diff)
			}
		}
	})

	t.Run("nodes", func(t *testing.T) {
		app, _ := eng.Container(sbApp)
		db, _ := eng.Container(sbDB)
		node := func(name, ip string, tasks, running int) status.Node {
			return status.Node{Name: name, Address: ip, Docker: engineHost, Reachable: true, CPUs: 4, MemoryBytes: 8 << 30,
				EngineVersion: "27.0.0-enginetest", Containers: 5, Running: 5, Tasks: tasks, TasksRunning: running}
		}
		want := []status.Node{node("app-1", app.IP, 3, 2), node("db-1", db.IP, 2, 1)}
		if diff := cmp.Diff(want, snap.Nodes, ignoreNodeTimes); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
		if app.IP == "" || db.IP == "" {
			t.Errorf("sandboxes have no address: %q %q", app.IP, db.IP)
		}
	})

	t.Run("a host sandbox that stopped", func(t *testing.T) {
		eng.Kill(sbDB, 137)
		defer func() {
			if err := eng.Start(context.Background(), sbDB); err != nil {
				t.Fatal(err)
			}
		}()
		var db status.Node
		for _, n := range snapshot(t, d).Nodes {
			if n.Name == "db-1" {
				db = n
			}
		}
		if db.Reachable || db.Error != "host sandbox "+sbDB+" is Exited (137)" {
			t.Errorf("db-1 node: reachable %v, error %q; want unreachable, saying its sandbox exited", db.Reachable, db.Error)
		}
	})

	t.Run("a second up changes nothing", func(t *testing.T) {
		before := ids(eng)
		r := act(d, "up", "svc.api")
		if !r.OK || !strings.HasPrefix(r.Message, "up svc.api: 0 change(s)") {
			t.Errorf("second up: %+v", r)
		}
		if c := changed(before, ids(eng)); len(c) != 0 {
			t.Errorf("second up changed %q", c)
		}
	})
}

// TestDevUnhealthyUp is an up whose job never becomes ready: the result
// fails with the failure and its log tail, and the event says so.
func TestDevUnhealthyUp(t *testing.T) {
	d, eng, _ := newDev(t)
	eng.Crash("demo/api:1", 3) // exits before its HTTP check passes
	eng.SetLog("demo/api:1", "starting", "panic: no config")
	r := act(d, "up", "svc.api")
	if r.OK || !strings.HasPrefix(r.Message, "up svc.api: ") {
		t.Fatalf("Act up of a crashing job: %+v", r)
	}
	if len(r.Details) != 1 || !strings.Contains(r.Details[0], "exited with code 3") || !strings.Contains(r.Details[0], "panic: no config") {
		t.Errorf("details %q, want the failure with its log tail", r.Details)
	}
	// Its dependencies were brought up all the same.
	want := map[string]string{sbApp: "running", sbDB: "running", cDB: "running", cCache: "running", cAPI: "exited"}
	if diff := cmp.Diff(want, states(eng)); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	evs := events(t, "demo", stack.Dev)
	if len(evs) != 1 || evs[0].Result != "failed" || evs[0].Target != "svc.api" || evs[0].Who != visitor+" (web)" || evs[0].Detail != "1 failed: svc.api/1" {
		t.Errorf("events %+v, want one failed up of svc.api", evs)
	}
}

// TestDevReload: the job is recreated; its dependencies (on its own host
// and on another) keep running in the containers they had.
func TestDevReload(t *testing.T) {
	d, eng, _ := newDev(t)
	if r := act(d, "up", "svc.api"); !r.OK {
		t.Fatalf("up: %+v", r)
	}
	before := eng.Containers()
	beforeIDs := ids(eng)

	r := act(d, "reload", "svc.api")
	if !r.OK || !strings.HasPrefix(r.Message, "reload svc.api: ") {
		t.Fatalf("Act reload: %+v", r)
	}
	after := ids(eng)
	if c := changed(beforeIDs, after); !slices.Contains(c, cAPI) {
		t.Errorf("containers replaced %q: want %s among them", c, cAPI)
	}
	want := map[string]string{sbApp: "running", sbDB: "running", cDB: "running", cCache: "running", cAPI: "running"}
	if diff := cmp.Diff(want, states(eng)); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if ev := events(t, "demo", stack.Dev); len(ev) != 2 || ev[0].Action != "reload" || ev[0].Result != "ok" {
		t.Errorf("events %+v, want the reload on top", ev)
	}

	t.Run("only the job is recreated", func(t *testing.T) {
		if c := changed(beforeIDs, after); !slices.Equal(c, []string{cAPI}) {
			t.Errorf("reload must recreate only the job: replaced %q, want only %s", c, cAPI)
		}
		for _, c := range before {
			if now, _ := eng.Container(c.Name); c.Name != cAPI && now.Starts != c.Starts {
				t.Errorf("%s was started again (%d starts, was %d)", c.Name, now.Starts, c.Starts)
			}
		}
	})
}

// TestDevAct covers the actions that need no host sandbox image and their
// events.
func TestDevAct(t *testing.T) {
	tests := []struct {
		name        string
		seed        []string // jobs brought up first; nil: the whole stack
		down        bool     // the engine stops answering before the action
		verb, job   string
		wantOK      bool
		wantMessage string   // the result's message starts with it
		wantChanged []string // containers made, replaced or removed
		wantEvent   *store.Event
	}{
		{
			name: "down removes only the job's containers",
			verb: "down", job: "svc.api",
			wantOK: true, wantMessage: "down svc.api: 1 change(s) in ",
			wantChanged: []string{cAPI},
			wantEvent:   &store.Event{Who: visitor + " (web)", Action: "down", Target: "svc.api", Result: "ok"},
		},
		{
			name: "down of a job that does not run changes nothing",
			seed: []string{"svc.db"},
			verb: "down", job: "svc.web",
			wantOK: true, wantMessage: "down svc.web: 0 change(s) in ",
			wantEvent: &store.Event{Who: visitor + " (web)", Action: "down", Target: "svc.web", Result: "ok"},
		},
		{
			name: "restore of a job that is not swapped",
			verb: "restore", job: "svc.api",
			wantMessage: "restore svc.api: svc.api is not swapped",
			wantEvent:   &store.Event{Who: visitor + " (web)", Action: "restore", Target: "svc.api", Result: "failed", Detail: "svc.api is not swapped"},
		},
		{
			name: "an unknown verb",
			verb: "explode", job: "svc.api",
			wantMessage: "explode svc.api: no action explode here",
			wantEvent:   &store.Event{Who: visitor + " (web)", Action: "explode", Target: "svc.api", Result: "failed", Detail: "no action explode here"},
		},
		{
			name: "down, the engine does not answer",
			down: true,
			verb: "down", job: "svc.api",
			wantMessage: "down svc.api: " + engine.ErrUnreachable.Error() + " at " + engineHost + ": connection refused",
			wantEvent:   &store.Event{Who: visitor + " (web)", Action: "down", Target: "svc.api", Result: "failed", Detail: engine.ErrUnreachable.Error() + " at " + engineHost + ": connection refused"},
		},
		{
			name: "reload, the engine does not answer",
			down: true,
			verb: "reload", job: "svc.api",
			wantMessage: "reload svc.api: " + engine.ErrUnreachable.Error() + " at " + engineHost + ": connection refused",
			wantEvent:   &store.Event{Who: visitor + " (web)", Action: "reload", Target: "svc.api", Result: "failed", Detail: engine.ErrUnreachable.Error() + " at " + engineHost + ": connection refused"},
		},
		{
			// Refused before anything is done, as the server refuses an
			// unknown job: no event.
			name: "an unknown job",
			verb: "up", job: "svc.nosuch",
			wantMessage: `unknown job "svc.nosuch"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, eng, file := newDev(t)
			f, _ := file.load()
			seed(t, eng, f, healthyProbe, tt.seed...)
			before := ids(eng)
			eng.SetDown(tt.down)

			r := act(d, tt.verb, tt.job)
			eng.SetDown(false)
			if r.OK != tt.wantOK || !strings.HasPrefix(r.Message, tt.wantMessage) {
				t.Errorf("result %+v, want OK %v and a message starting %q", r, tt.wantOK, tt.wantMessage)
			}
			if diff := cmp.Diff(tt.wantChanged, changed(before, ids(eng))); diff != "" {
				t.Errorf("containers changed (-want +got):\n%s", diff)
			}
			got, err := d.Events(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			var want []store.Event
			if tt.wantEvent != nil {
				want = []store.Event{*tt.wantEvent}
			}
			ignore := cmpopts.IgnoreFields(store.Event{}, "ID", "Time")
			if tt.wantEvent != nil && tt.wantEvent.Detail == "" {
				// A success's detail is the message, with its timing.
				ignore = cmpopts.IgnoreFields(store.Event{}, "ID", "Time", "Detail")
				if len(got) == 1 && got[0].Detail != r.Message {
					t.Errorf("event detail %q, want the result's message %q", got[0].Detail, r.Message)
				}
			}
			if diff := cmp.Diff(want, got, ignore); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDevEvents: every action's event, newest first, under the visitor's
// name; limit keeps the newest.
func TestDevEvents(t *testing.T) {
	d, eng, file := newDev(t)
	f, _ := file.load()
	seed(t, eng, f, healthyProbe)
	ctx := context.Background()

	if evs, err := d.Events(ctx, 0); err != nil || len(evs) != 0 {
		t.Fatalf("Events before any action: %v, %v; want none", evs, err)
	}
	steps := []ui.Action{
		{Verb: "down", Job: "svc.web", Who: "carol"},
		{Verb: "restore", Job: "svc.db", Who: "dave"},
		{Verb: "down", Job: "solo", Who: "erin"},
	}
	for _, a := range steps {
		d.Act(ctx, a, &recorder{})
		time.Sleep(time.Millisecond) // distinct times: the log is ordered by time
	}
	want := []store.Event{
		{Who: "erin (web)", Action: "down", Target: "svc.solo", Result: "ok"},
		{Who: "dave (web)", Action: "restore", Target: "svc.db", Result: "failed"},
		{Who: "carol (web)", Action: "down", Target: "svc.web", Result: "ok"},
	}
	ignore := cmpopts.IgnoreFields(store.Event{}, "ID", "Time", "Detail")
	got, err := d.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	got, err = d.Events(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:2], got, ignore); diff != "" {
		t.Errorf("events, limit 2 (-want +got):\n%s", diff)
	}
	// Dev and staging keep their logs apart.
	if evs := events(t, "demo", stack.Staging); len(evs) != 0 {
		t.Errorf("staging events %+v, want none", evs)
	}
	if vs, err := d.Versions(ctx, 10); vs != nil || err != nil {
		t.Errorf("Versions: %v, %v; want none", vs, err)
	}
}

// TestDevEventNotRecorded: an action whose event cannot be written still
// happens, and its result says the event was lost.
func TestDevEventNotRecorded(t *testing.T) {
	d, eng, file := newDev(t)
	f, _ := file.load()
	seed(t, eng, f, healthyProbe)
	// The state folder cannot be made: XDG_STATE_HOME is a file.
	notDir := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", notDir)

	r := act(d, "down", "svc.web")
	if !r.OK || !strings.HasPrefix(r.Message, "down svc.web: 1 change(s)") {
		t.Errorf("result %+v, want the down done", r)
	}
	if len(r.Details) != 1 || !strings.HasPrefix(r.Details[0], "the event was not recorded: record event: ") {
		t.Errorf("details %q, want one saying the event was not recorded", r.Details)
	}
	if _, ok := eng.Container(cWeb); ok {
		t.Errorf("%s is still there", cWeb)
	}
}

func TestDevLogs(t *testing.T) {
	d, eng, file := newDev(t)
	eng.SetLog("demo/api:1", "listening on :47800", "GET /healthz 200", "GET /orders 200")
	f, _ := file.load()
	seed(t, eng, f, healthyProbe, "svc.api")
	apiC, _ := eng.Container(cAPI)

	tests := []struct {
		name, container string
		tail            int
		want            string
		wantErr         error
	}{
		{name: "the last lines", container: cAPI, tail: 2, want: "GET /healthz 200\nGET /orders 200\n"},
		{name: "tail 0 is every line", container: cAPI, want: "listening on :47800\nGET /healthz 200\nGET /orders 200\n"},
		{name: "by ID", container: apiC.ID, tail: 1, want: "GET /orders 200\n"},
		{name: "a container without a log", container: cDB, tail: 10, want: ""},
		{name: "no such container", container: "demo-dev.svc.nosuch.1", wantErr: enginetest.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := d.Logs(context.Background(), tt.container, tt.tail, false, &b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Logs: %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

// inspectDoc is the part of an inspect document the tests read.
type inspectDoc struct {
	ID     string `json:"Id"`
	Name   string
	Config struct {
		Image  string
		Env    []string
		Labels map[string]string
	}
}

// checkInspect checks a masked inspect document of a container whose env
// holds DB_PASSWORD=s3cret.
func checkInspect(t *testing.T, raw json.RawMessage, c enginetest.Container) {
	t.Helper()
	if !strings.Contains(c.Labels[stack.LabelSpec], "s3cret") {
		t.Fatalf("precondition: %s's %s label does not hold the secret: %q", c.Name, stack.LabelSpec, c.Labels[stack.LabelSpec])
	}
	if strings.Contains(string(raw), "s3cret") {
		t.Errorf("the inspect document shows the secret:\n%s", raw)
	}
	var doc inspectDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("inspect document: %v\n%s", err, raw)
	}
	if doc.ID != c.ID || doc.Name != "/"+c.Name || doc.Config.Image != c.Image {
		t.Errorf("document of %s %s %s, want %s /%s %s", doc.ID, doc.Name, doc.Config.Image, c.ID, c.Name, c.Image)
	}
	if _, ok := doc.Config.Labels[stack.LabelSpec]; ok {
		t.Errorf("the %s label is shown", stack.LabelSpec)
	}
	if doc.Config.Labels[stack.LabelJob] != c.Labels[stack.LabelJob] || len(doc.Config.Labels) != len(c.Labels)-1 {
		t.Errorf("labels %v, want the container's but %s", doc.Config.Labels, stack.LabelSpec)
	}
	var pw string
	for _, e := range doc.Config.Env {
		if v, ok := strings.CutPrefix(e, "DB_PASSWORD="); ok {
			pw = v
		}
	}
	if pw == "" {
		t.Errorf("env %q: DB_PASSWORD is gone, want it masked", doc.Config.Env)
	}
	if !slices.Contains(doc.Config.Env, "DB_NAME=shop") {
		t.Errorf("env %q: DB_NAME=shop, not a secret, should show", doc.Config.Env)
	}
}

func TestDevInspect(t *testing.T) {
	d, eng, file := newDev(t)
	f, _ := file.load()
	seed(t, eng, f, healthyProbe, "svc.db")
	c, _ := eng.Container(cDB)

	for name, ref := range map[string]string{"by name": cDB, "by ID": c.ID} {
		t.Run(name, func(t *testing.T) {
			raw, err := d.Inspect(context.Background(), ref)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			checkInspect(t, raw, c)
		})
	}
	t.Run("no such container", func(t *testing.T) {
		if _, err := d.Inspect(context.Background(), "demo-dev.svc.nosuch.1"); !errors.Is(err, enginetest.ErrNotFound) {
			t.Errorf("Inspect: %v, want enginetest.ErrNotFound", err)
		}
	})
}

// swapDir is a source folder that builds with a Dockerfile on the engine.
func swapDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "v2"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDevSwapShown: a job swapped by `cjob dev swap` (converge.Swap, the
// record written where the command writes it) shows as swapped, with the
// record's details when there is one; restore from the UI puts production's
// image back.
func TestDevSwapShown(t *testing.T) {
	tests := []struct {
		name   string
		record bool
	}{
		{name: "with the swap record", record: true},
		{name: "without a record: the labels alone", record: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, eng, file := newDev(t)
			f, _ := file.load()
			if r := act(d, "up", "svc.api"); !r.OK {
				t.Fatalf("up: %+v", r)
			}
			st, err := localstate.ForEnv(f.Project, devenv.Env)
			if err != nil {
				t.Fatal(err)
			}
			dir := swapDir(t)
			opts := converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: dir}, Probe: healthyProbe}
			if tt.record {
				opts.Record = func(r localstate.SwapRecord) {
					if err := st.RecordSwap(r); err != nil {
						t.Errorf("RecordSwap: %v", err)
					}
				}
			}
			res, err := converge.Swap(context.Background(), eng, opts)
			if err != nil {
				t.Fatalf("Swap: %v", err)
			}
			c, _ := eng.Container(cAPI)
			if c.Labels[stack.LabelSwapped] != dir || c.Labels[stack.LabelSwappedImage] != res.Image {
				t.Fatalf("precondition: %s labels %v, want it swapped from %s", cAPI, c.Labels, dir)
			}

			snap := snapshot(t, d)
			want := &ui.Swap{Dir: dir, Image: res.Image}
			if tt.record {
				recs, err := st.Swaps()
				if err != nil {
					t.Fatal(err)
				}
				r := recs["svc.api"]
				want.At, want.Build, want.Total, want.BuildLog = r.At, r.Build, r.Total, r.BuildLog
				if r.BuildLog == "" || r.At.IsZero() {
					t.Errorf("precondition: record %+v has no build log or time", r)
				}
			}
			if diff := cmp.Diff(want, jobByName(t, snap, "svc.api").Swap); diff != "" {
				t.Errorf("api swap (-want +got):\n%s", diff)
			}
			for _, j := range snap.Jobs {
				if j.Job.Job != "svc.api" && j.Swap != nil {
					t.Errorf("%s shows a swap: %+v", j.Job.Job, j.Swap)
				}
			}
			if api := jobByName(t, snap, "svc.api"); api.State != "ok" || api.Tasks[0].Image != res.Image || api.Tasks[0].Outdated {
				t.Errorf("swapped api: state %s, task %+v; want ok, running %s, not outdated", api.State, api.Tasks[0], res.Image)
			}

			t.Run("restore", func(t *testing.T) {
				before := ids(eng)
				r := act(d, "restore", "svc.api")
				if !r.OK || !strings.HasPrefix(r.Message, "restore svc.api: done in ") {
					t.Errorf("Act restore: %+v", r)
				}
				if diff := cmp.Diff([]string{cAPI}, changed(before, ids(eng))); diff != "" {
					t.Errorf("containers changed (-want +got):\n%s", diff)
				}
				c, _ := eng.Container(cAPI)
				if c.Image != "demo/api:1" || c.Labels[stack.LabelSwapped] != "" || c.State != stack.StateRunning {
					t.Errorf("after restore %s runs %s (%s), swapped %q; want production's image", cAPI, c.Image, c.State, c.Labels[stack.LabelSwapped])
				}
				if sw := jobByName(t, snapshot(t, d), "svc.api").Swap; sw != nil {
					t.Errorf("restored api still shows a swap: %+v", sw)
				}
				wantEvents := []string{"restore svc.api ok", "up svc.api ok"}
				if tt.record {
					wantEvents = []string{"restore svc.api ok", "swap svc.api ok", "up svc.api ok"}
				}
				var got []string
				for _, e := range events(t, f.Project, stack.Dev) {
					got = append(got, e.Action+" "+e.Target+" "+e.Result)
				}
				if diff := cmp.Diff(wantEvents, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestDevUncheckedTaskHealth: a running task with no health check was not
// checked, which status.Task.Health says is "" (the UI then shows no badge).
func TestDevUncheckedTaskHealth(t *testing.T) {
	d, eng, file := newDev(t)
	f, _ := file.load()
	seed(t, eng, f, healthyProbe, "svc.solo")
	task := jobByName(t, snapshot(t, d), "svc.solo").Tasks[0]
	if task.State != "running" {
		t.Fatalf("precondition: solo is %s", task.State)
	}
	if task.Health != "" {
		t.Errorf(`a running task without a check has Health %q, want ""`, task.Health)
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name       string
		configured string // the token the command printed
		given      string
		wantWho    string
		wantOK     bool
	}{
		{name: "the right token", configured: token, given: token, wantWho: starter, wantOK: true},
		{name: "a wrong token", configured: token, given: "tok-0000"},
		{name: "a prefix of the token", configured: token, given: token[:4]},
		{name: "the token and more", configured: token, given: token + "x"},
		{name: "no token given", configured: token, given: ""},
		{name: "no token configured, none given", configured: "", given: ""},
		{name: "no token configured, one given", configured: "", given: token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := envui.Local{Load: func() (*prodspec.File, error) { return nil, errors.New("unused") }, Token: tt.configured, Who: starter}
			sources := map[string]ui.Source{"dev": envui.NewDev(enginetest.New(engineHost), l), "staging": envui.NewStaging(l)}
			for name, s := range sources {
				who, ok := s.Authorize(tt.given)
				if who != tt.wantWho || ok != tt.wantOK {
					t.Errorf("%s: Authorize(%q) = %q, %v; want %q, %v", name, tt.given, who, ok, tt.wantWho, tt.wantOK)
				}
			}
		})
	}
}

package envui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/envui"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
)

// stagingFile is production on two hosts and a staging pool of two
// machines. Every check is a `cmd:` check, answered by enginetest's Exec:
// Staging has no probe seam, and an HTTP, TCP or implicit (a port and no
// check) check would be made over the network to the pool host's address.
// The pool addresses are TEST-NET-1 (RFC 5737) all the same.
const stagingFile = `
project: shop
hosts:
  app-1: {address: 10.1.0.1}
  db-1:  {address: 10.1.0.2}
  stg-1: {address: 192.0.2.1, docker: "tcp://192.0.2.1:2376"}
  stg-2: {address: 192.0.2.2, docker: "tcp://192.0.2.2:2376"}
  stg-3: {address: 192.0.2.3, docker: "tcp://192.0.2.3:2376"}
services:
  shop:
    jobs:
      db:
        image: shop/db:1
        env: {DB_PASSWORD: s3cret, DB_NAME: shop}
        health: {cmd: [pg_isready], interval: 10ms, retries: 3}
        volumes: ["/var/lib/db:/data"]
        run_on_host: db-1
      api:
        image: shop/api:1
        port: 8000
        env: {DB: "10.1.0.2:5432"}
        depends_on: [shop.db]
        health: {cmd: [curl, -f, "http://localhost:8000/healthz"], interval: 10ms, retries: 3}
        run_on_host: app-1
      worker:
        image: shop/worker:1
        run_on_host: app-1
environments:
  staging:
    pool: [stg-1, stg-2]
`

// Container names of stagingFile's staging stack.
const (
	stgAPI    = "shop-staging.shop.api.1"
	stgDB     = "shop-staging.shop.db.1"
	stgWorker = "shop-staging.shop.worker.1"
)

// newStaging is the staging source of stagingFile over three in-memory
// engines (stg-3 is not in the pool until a test puts it there).
func newStaging(t *testing.T) (*envui.Staging, map[string]*enginetest.Engine, *jobsFile) {
	t.Helper()
	isolate(t)
	file := &jobsFile{f: parse(t, stagingFile)}
	engines := map[string]*enginetest.Engine{}
	for _, n := range []string{"stg-1", "stg-2", "stg-3"} {
		engines[n] = enginetest.New(n)
	}
	s := envui.NewStaging(local(file))
	s.Dial = enginetest.Dialer(engines)
	return s, engines, file
}

// placed is where placement puts each production host on the pool now: the
// placement `cjob staging up` would make, by converge.PrepareStaging over
// the same engines.
func placed(t *testing.T, s *envui.Staging, file *jobsFile) map[string]string {
	t.Helper()
	f, _ := file.load()
	pool, err := converge.DialPool(context.Background(), &fleet.Fleet{Dial: s.Dial}, f)
	if err != nil {
		t.Fatalf("DialPool: %v", err)
	}
	prep, err := converge.PrepareStaging(context.Background(), pool, f, plan.Options{})
	if err != nil {
		t.Fatalf("PrepareStaging: %v", err)
	}
	return maps.Clone(prep.Placement.Assign)
}

// where are the engines holding each container, by name.
func where(engines map[string]*enginetest.Engine) map[string]string {
	m := map[string]string{}
	for name, e := range engines {
		for _, c := range e.Containers() {
			m[c.Name] = name
		}
	}
	return m
}

// allIDs are every engine's container IDs by name.
func allIDs(engines map[string]*enginetest.Engine) map[string]string {
	m := map[string]string{}
	for _, e := range engines {
		maps.Copy(m, ids(e))
	}
	return m
}

func TestStagingEnv(t *testing.T) {
	tests := []struct {
		name string
		edit func(*jobsFile)
		want ui.Env
	}{
		{
			name: "the pool",
			want: ui.Env{Name: stack.Staging, Project: "shop", Actions: []string{"up", "down", "reload"}, Detail: "pool: stg-1, stg-2"},
		},
		{
			name: "the file does not load",
			edit: func(f *jobsFile) { f.fail(errors.New("jobs.yml: bad")) },
			want: ui.Env{Name: stack.Staging, Actions: []string{"up", "down", "reload"}},
		},
		{
			name: "no pool: no detail",
			edit: func(f *jobsFile) {
				src := strings.Replace(stagingFile, "  staging:\n    pool: [stg-1, stg-2]\n", "  staging: {}\n", 1)
				f.set(parse(t, src))
			},
			want: ui.Env{Name: stack.Staging, Project: "shop", Actions: []string{"up", "down", "reload"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, file := newStaging(t)
			if tt.edit != nil {
				tt.edit(file)
			}
			if diff := cmp.Diff(tt.want, s.Env()); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStagingSnapshot(t *testing.T) {
	s, engines, file := newStaging(t)
	assign := placed(t, s, file)
	if len(assign) != 2 || assign["app-1"] == "" || assign["db-1"] == "" {
		t.Fatalf("placement %v: want both production hosts placed", assign)
	}
	snap := snapshot(t, s)

	t.Run("every job down, on its production host", func(t *testing.T) {
		want := map[string]string{"shop.db": "down", "shop.api": "down", "shop.worker": "down"}
		if diff := cmp.Diff(want, jobStates(snap)); diff != "" {
			t.Errorf("job states (-want +got):\n%s", diff)
		}
		api := jobByName(t, snap, "shop.api")
		if diff := cmp.Diff([]status.Task{{Task: 1, Host: "app-1", State: "missing"}}, api.Tasks); diff != "" {
			t.Errorf("api tasks (-want +got):\n%s", diff)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		tasks := map[string]int{}
		tasks[assign["app-1"]] += 2 // api, worker
		tasks[assign["db-1"]]++     // db
		node := func(name, addr string) status.Node {
			return status.Node{Name: name, Address: addr, Docker: name, Reachable: true, CPUs: 4, MemoryBytes: 8 << 30,
				EngineVersion: "27.0.0-enginetest", Tasks: tasks[name]}
		}
		want := []status.Node{node("stg-1", "192.0.2.1"), node("stg-2", "192.0.2.2")}
		if diff := cmp.Diff(want, snap.Nodes, ignoreNodeTimes); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})

	if r := act(s, "up", "shop.db"); !r.OK {
		t.Fatalf("up db: %+v", r)
	}
	if r := act(s, "up", "shop.api"); !r.OK {
		t.Fatalf("up api: %+v", r)
	}
	snap = snapshot(t, s)

	t.Run("after up", func(t *testing.T) {
		want := map[string]string{"shop.db": "ok", "shop.api": "ok", "shop.worker": "down"}
		if diff := cmp.Diff(want, jobStates(snap)); diff != "" {
			t.Errorf("job states (-want +got):\n%s", diff)
		}
		c, _ := engines[assign["app-1"]].Container(stgAPI)
		wantTask := status.Task{Task: 1, Host: "app-1", Container: stgAPI, ID: c.ID, Image: "shop/api:1", ImageID: "sha256:shop/api:1", State: "running", Status: "Up", Created: c.Created}
		if diff := cmp.Diff([]status.Task{wantTask}, jobByName(t, snap, "shop.api").Tasks); diff != "" {
			t.Errorf("api tasks (-want +got):\n%s", diff)
		}
		running := map[string]int{}
		for _, n := range snap.Nodes {
			running[n.Name] = n.TasksRunning
			if n.Running != n.TasksRunning || n.Containers != n.TasksRunning {
				t.Errorf("node %s: %d containers, %d running, %d tasks running; want the engine's counts", n.Name, n.Containers, n.Running, n.TasksRunning)
			}
		}
		wantRunning := map[string]int{}
		wantRunning[assign["app-1"]]++
		wantRunning[assign["db-1"]]++
		for _, n := range []string{"stg-1", "stg-2"} {
			if running[n] != wantRunning[n] {
				t.Errorf("node %s runs %d tasks, want %d", n, running[n], wantRunning[n])
			}
		}
	})
}

// TestStagingUnreachable: a pool host that does not answer fails the look,
// naming it; when it answers again, the next look works.
func TestStagingUnreachable(t *testing.T) {
	tests := []struct {
		name string
		// down makes stg-2 unreachable; before says whether a look
		// succeeded first (the pool is then already connected).
		down   func(s *envui.Staging, engines map[string]*enginetest.Engine) (restore func())
		before bool
	}{
		{
			name: "missing from the dialer at the first look",
			down: func(s *envui.Staging, engines map[string]*enginetest.Engine) func() {
				dial := s.Dial
				s.Dial = enginetest.Dialer(map[string]*enginetest.Engine{"stg-1": engines["stg-1"]})
				return func() { s.Dial = dial }
			},
		},
		{
			name: "down at the first look",
			down: func(_ *envui.Staging, engines map[string]*enginetest.Engine) func() {
				engines["stg-2"].SetDown(true)
				return func() { engines["stg-2"].SetDown(false) }
			},
		},
		{
			name:   "down after a good look",
			before: true,
			down: func(_ *envui.Staging, engines map[string]*enginetest.Engine) func() {
				engines["stg-2"].SetDown(true)
				return func() { engines["stg-2"].SetDown(false) }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, engines, _ := newStaging(t)
			if tt.before {
				snapshot(t, s)
			}
			restore := tt.down(s, engines)
			_, err := s.Snapshot(context.Background(), true)
			if err == nil || !strings.Contains(err.Error(), "stg-2") || strings.Contains(err.Error(), "stg-1") {
				t.Errorf("Snapshot: %v; want an error naming stg-2 only", err)
			}
			if !errors.Is(err, engine.ErrUnreachable) {
				t.Errorf("Snapshot: %v; want engine.ErrUnreachable", err)
			}
			r := act(s, "up", "shop.api")
			if r.OK || !strings.Contains(r.Message, "stg-2") {
				t.Errorf("Act: %+v; want a failure naming stg-2", r)
			}
			if w := where(engines); len(w) != 0 {
				t.Errorf("containers %v, want none: nothing may change while a pool host is away", w)
			}
			if err := s.Logs(context.Background(), stgAPI, 0, false, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "stg-2") {
				t.Errorf("Logs: %v; want an error naming stg-2", err)
			}
			if _, err := s.Inspect(context.Background(), stgAPI); err == nil || !strings.Contains(err.Error(), "stg-2") {
				t.Errorf("Inspect: %v; want an error naming stg-2", err)
			}
			restore()
			if snap := snapshot(t, s); len(snap.Nodes) != 2 {
				t.Errorf("nodes %+v after stg-2 is back, want both", snap.Nodes)
			}
		})
	}
}

// TestStagingNodeInfoFails: a pool host that holds its containers but
// does not describe itself is shown unreachable, with the engine's error.
func TestStagingNodeInfoFails(t *testing.T) {
	s, engines, _ := newStaging(t)
	snapshot(t, s) // connected: the dial asks Info once
	engines["stg-1"].Fail("Info", errors.New("info: timeout"))
	snap := snapshot(t, s)
	got := map[string]string{}
	for _, n := range snap.Nodes {
		got[n.Name] = fmt.Sprintf("reachable=%v error=%q cpus=%d", n.Reachable, n.Error, n.CPUs)
	}
	want := map[string]string{
		"stg-1": `reachable=false error="info: timeout" cpus=0`,
		"stg-2": `reachable=true error="" cpus=4`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestStagingLoadError(t *testing.T) {
	s, engines, file := newStaging(t)
	bad := errors.New("jobs.yml:9:5: unknown field")
	file.fail(bad)
	if _, err := s.Snapshot(context.Background(), true); !errors.Is(err, bad) {
		t.Errorf("Snapshot: %v, want the load error", err)
	}
	if r := act(s, "up", "shop.api"); r.OK || r.Message != bad.Error() {
		t.Errorf("Act: %+v, want not OK with the load error", r)
	}
	if err := s.Logs(context.Background(), stgAPI, 0, false, &bytes.Buffer{}); !errors.Is(err, bad) {
		t.Errorf("Logs: %v, want the load error", err)
	}
	if _, err := s.Events(context.Background(), 0); !errors.Is(err, bad) {
		t.Errorf("Events: %v, want the load error", err)
	}
	if w := where(engines); len(w) != 0 {
		t.Errorf("containers %v, want none", w)
	}
}

// TestStagingAct: up, down and reload of one job, on the engine placement
// chose.
func TestStagingAct(t *testing.T) {
	s, engines, file := newStaging(t)
	assign := placed(t, s, file)
	app, db := assign["app-1"], assign["db-1"]
	ignore := cmpopts.IgnoreFields(store.Event{}, "ID", "Time", "Detail")

	steps := []struct {
		name      string
		verb, job string
		wantMsg   string            // the result's message starts with it
		want      map[string]string // container -> engine after the step
		replaced  []string          // containers made anew by the step
	}{
		{
			// Staging's up acts on the job alone: unlike dev, it does not
			// bring its dependencies up (shop.db is not started).
			name: "up api", verb: "up", job: "shop.api",
			wantMsg:  "up shop.api: 1 change(s) in ",
			want:     map[string]string{stgAPI: app},
			replaced: []string{stgAPI},
		},
		{
			name: "up db, by its short name", verb: "up", job: "db",
			wantMsg:  "up shop.db: 2 change(s) in ", // its volume, then its task
			want:     map[string]string{stgAPI: app, stgDB: db},
			replaced: []string{stgDB},
		},
		{
			name: "up api again changes nothing", verb: "up", job: "shop.api",
			wantMsg: "up shop.api: 0 change(s) in ",
			want:    map[string]string{stgAPI: app, stgDB: db},
		},
		{
			name: "reload api recreates it alone", verb: "reload", job: "shop.api",
			wantMsg:  "reload shop.api: 1 change(s) in ",
			want:     map[string]string{stgAPI: app, stgDB: db},
			replaced: []string{stgAPI},
		},
		{
			name: "down api removes it alone", verb: "down", job: "shop.api",
			wantMsg:  "down shop.api: 1 change(s) in ",
			want:     map[string]string{stgDB: db},
			replaced: []string{stgAPI},
		},
		{
			name: "down of a job that does not run", verb: "down", job: "shop.worker",
			wantMsg: "down shop.worker: 0 change(s) in ",
			want:    map[string]string{stgDB: db},
		},
	}
	var wantEvents []store.Event
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := allIDs(engines)
			r := act(s, st.verb, st.job)
			if !r.OK || !strings.HasPrefix(r.Message, st.wantMsg) {
				t.Errorf("result %+v, want OK and a message starting %q", r, st.wantMsg)
			}
			if diff := cmp.Diff(st.want, where(engines)); diff != "" {
				t.Errorf("containers by engine (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.replaced, changed(before, allIDs(engines))); diff != "" {
				t.Errorf("containers made or removed (-want +got):\n%s", diff)
			}
			for name, eng := range st.want {
				c, _ := engines[eng].Container(name)
				if c.State != stack.StateRunning || !c.Spec.HostNetwork {
					t.Errorf("%s on %s: %s, host network %v; want running in the host's network", name, eng, c.State, c.Spec.HostNetwork)
				}
			}
			target := st.job
			if !strings.Contains(target, ".") {
				target = "shop." + target
			}
			wantEvents = append([]store.Event{{Who: visitor + " (web)", Action: st.verb, Target: target, Result: "ok"}}, wantEvents...)
			got, err := s.Events(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantEvents, got, ignore); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
		time.Sleep(time.Millisecond) // distinct event times
	}
	if evs := events(t, "shop", stack.Dev); len(evs) != 0 {
		t.Errorf("dev events %+v, want none: staging keeps its own log", evs)
	}
}

// TestStagingActFailure: a task that never becomes ready fails the action
// with its log tail.
func TestStagingActFailure(t *testing.T) {
	s, engines, _ := newStaging(t)
	for _, e := range engines {
		e.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
			if c.Image == "shop/db:1" {
				return 2, "no response"
			}
			return 0, ""
		})
		e.SetLog("shop/db:1", "FATAL: data directory has wrong ownership")
	}
	r := act(s, "up", "shop.db")
	if r.OK || !strings.HasPrefix(r.Message, "up shop.db: ") {
		t.Fatalf("Act up: %+v; want a failure", r)
	}
	if len(r.Details) != 1 || !strings.Contains(r.Details[0], "wrong ownership") {
		t.Errorf("details %q, want the failure with its log tail", r.Details)
	}
	evs := events(t, "shop", stack.Staging)
	if len(evs) != 1 || evs[0].Result != "failed" || evs[0].Target != "shop.db" {
		t.Errorf("events %+v, want the failed up", evs)
	}
}

// TestStagingActRefused: what Act does not do.
func TestStagingActRefused(t *testing.T) {
	tests := []struct {
		name      string
		verb, job string
		wantMsg   string
	}{
		{name: "restore is dev's", verb: "restore", job: "shop.api", wantMsg: "no action restore here"},
		{name: "an unknown verb", verb: "explode", job: "shop.api", wantMsg: "no action explode here"},
		{
			name: "an unknown job", verb: "up", job: "shop.nosuch", wantMsg: `unknown job "shop.nosuch"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, engines, _ := newStaging(t)
			r := act(s, tt.verb, tt.job)
			if r.OK || !strings.Contains(r.Message, tt.wantMsg) {
				t.Errorf("result %+v; want a failure saying %q", r, tt.wantMsg)
			}
			if w := where(engines); len(w) != 0 {
				t.Errorf("containers %v, want none", w)
			}
			if evs := events(t, "shop", stack.Staging); len(evs) != 0 {
				t.Errorf("events %+v, want none for a refused action", evs)
			}
		})
	}
}

func TestStagingLogsAndInspect(t *testing.T) {
	s, engines, file := newStaging(t)
	assign := placed(t, s, file)
	if assign["app-1"] == assign["db-1"] {
		t.Fatalf("precondition: placement %v puts both hosts on one engine", assign)
	}
	// enginetest numbers container IDs per engine, so the two engines'
	// first containers would share an ID; a container that is not cjob's
	// on the api's engine keeps the IDs apart, as a real engine's are.
	other := engines[assign["app-1"]]
	other.AddImage("busybox")
	if _, err := other.Create(context.Background(), stack.CreateRequest{Name: "someone-elses", Spec: stack.Spec{Image: "busybox", HostNetwork: true}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		e.SetLog("shop/api:1", "api: listening on :8000", "api: GET /healthz 200")
		e.SetLog("shop/db:1", "db: ready to accept connections")
	}
	for _, j := range []string{"shop.db", "shop.api"} {
		if r := act(s, "up", j); !r.OK {
			t.Fatalf("up %s: %+v", j, r)
		}
	}
	apiC, _ := engines[assign["app-1"]].Container(stgAPI)
	dbC, _ := engines[assign["db-1"]].Container(stgDB)
	if apiC.ID == dbC.ID {
		t.Fatalf("precondition: api and db share the ID %s", apiC.ID)
	}

	t.Run("logs", func(t *testing.T) {
		tests := []struct {
			name, container string
			tail            int
			want            string
			wantErr         string
		}{
			{name: "api, on one engine", container: stgAPI, tail: 1, want: "api: GET /healthz 200\n"},
			{name: "db, on the other", container: stgDB, want: "db: ready to accept connections\n"},
			{name: "db by ID", container: dbC.ID, want: "db: ready to accept connections\n"},
			{name: "api by ID", container: apiC.ID, tail: 1, want: "api: GET /healthz 200\n"},
			{name: "a container that is not cjob's", container: "someone-elses", wantErr: "no staging container someone-elses"},
			{name: "no such container", container: "shop-staging.shop.nosuch.1", wantErr: "no staging container shop-staging.shop.nosuch.1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var b bytes.Buffer
				err := s.Logs(context.Background(), tt.container, tt.tail, false, &b)
				if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
					t.Fatalf("Logs: %v, want error %q", err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.want, b.String()); diff != "" {
					t.Errorf("log (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("inspect", func(t *testing.T) {
		raw, err := s.Inspect(context.Background(), stgDB)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		checkInspect(t, raw, dbC)
		raw, err = s.Inspect(context.Background(), apiC.ID)
		if err != nil {
			t.Fatalf("Inspect by ID: %v", err)
		}
		if !bytes.Contains(raw, []byte(`"Image": "shop/api:1"`)) {
			t.Errorf("inspect of api by ID:\n%s", raw)
		}
		if _, err := s.Inspect(context.Background(), "shop-staging.shop.nosuch.1"); err == nil || err.Error() != "no staging container shop-staging.shop.nosuch.1" {
			t.Errorf("Inspect of no container: %v", err)
		}
		boom := errors.New("inspect: boom")
		engines[assign["db-1"]].Fail("InspectRaw", boom)
		defer engines[assign["db-1"]].Fail("InspectRaw", nil)
		if _, err := s.Inspect(context.Background(), stgDB); !errors.Is(err, boom) {
			t.Errorf("Inspect when the engine fails: %v, want its error", err)
		}
	})

	t.Run("a pool host down", func(t *testing.T) {
		engines["stg-2"].SetDown(true)
		defer engines["stg-2"].SetDown(false)
		err := s.Logs(context.Background(), stgAPI, 0, false, &bytes.Buffer{})
		if !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), "stg-2") {
			t.Errorf("Logs: %v; want stg-2 unreachable", err)
		}
	})
}

// TestStagingVolume: up of a job with a volume makes the volume, labelled,
// as `cjob staging up` does.
func TestStagingVolume(t *testing.T) {
	s, engines, file := newStaging(t)
	f, _ := file.load()
	pool, err := converge.DialPool(context.Background(), &fleet.Fleet{Dial: s.Dial}, f)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := converge.PrepareStaging(context.Background(), pool, f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dbEngine := prep.Placement.Assign["db-1"]
	var wantVol string
	for _, op := range prep.Plan.Ops {
		if op.Action == plan.ActionCreateVolume {
			if wantVol != "" || op.Engine != dbEngine {
				t.Fatalf("precondition: staging up's plan has volume ops %v", prep.Plan.String())
			}
			wantVol = op.Subject
		}
	}
	if wantVol == "" {
		t.Fatalf("precondition: staging up's plan makes no volume:\n%s", prep.Plan.String())
	}

	if r := act(s, "up", "shop.db"); !r.OK {
		t.Fatalf("up db: %+v", r)
	}
	c, _ := engines[dbEngine].Container(stgDB)
	if !slices.ContainsFunc(c.Spec.Mounts, func(m stack.Mount) bool { return m.Type == "volume" && m.Source == wantVol }) {
		t.Fatalf("db mounts %+v, want the volume %s", c.Spec.Mounts, wantVol)
	}
	if got := engines[dbEngine].Volumes(); !slices.Contains(got, wantVol) {
		t.Errorf("staging up of db must create its volume %s; engine volumes: %q", wantVol, got)
	}
}

// TestStagingFileEdits: the pool is read from the jobs file on every look,
// as Local.Load promises ("so edits show").
func TestStagingFileEdits(t *testing.T) {
	s, _, file := newStaging(t)
	if snap := snapshot(t, s); len(snap.Nodes) != 2 {
		t.Fatalf("nodes %+v, want stg-1 and stg-2", snap.Nodes)
	}
	file.set(parse(t, strings.Replace(stagingFile, "pool: [stg-1, stg-2]", "pool: [stg-1, stg-2, stg-3]", 1)))
	if got := s.Env().Detail; got != "pool: stg-1, stg-2, stg-3" {
		t.Errorf("Env detail %q after the edit", got)
	}
	snap := snapshot(t, s)
	var names []string
	for _, n := range snap.Nodes {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"stg-1", "stg-2", "stg-3"}) {
		t.Errorf("a host added to environments.staging.pool must show: nodes %q after adding stg-3", names)
	}
}

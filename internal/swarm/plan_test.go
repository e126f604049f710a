package swarm

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/internal/stack"
)

// observed is the service as Swarm would report it after cjob made it.
func observed(s stack.Service, id string) stack.ServiceState {
	return stack.ServiceState{ID: id, Name: s.Name, Version: 7, Labels: maps.Clone(s.Labels), Image: s.Image, Job: s.Unit.Oneshot, Update: "completed"}
}

func services(t *testing.T, st *stack.Stack, images Images) map[string]stack.Service {
	t.Helper()
	svcs, err := Services(st, images)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stack.Service{}
	for _, s := range svcs {
		out[s.Unit.Key] = s
	}
	return out
}

// reconcileCase is a swarm of three pool hosts (node-1 labelled for
// pool-1, node-2 unlabelled, node-3 labelled for another host) running
// some of the stack, and the stack.
func reconcileCase(t *testing.T) (*Plan, []stack.Service) {
	t.Helper()
	f := newFixture(t, 3)
	ctx := context.Background()
	// Images: postgres on every node (by ID), the api only on this
	// machine and pool-2, redis nowhere (pulled), static rebuilt here.
	for _, h := range []string{"pool-1", "pool-2", "pool-3"} {
		f.nodes[h].images["postgres:16"] = "sha256:0d5c1e1f2a3b4c5d6e7f"
		f.nodes[h].images["shop/static:dev"] = "sha256:1111111111111111"
	}
	f.src.images["shop/api:dev"] = "sha256:a9a9a9a9a9a9a9a9a9a9"
	f.nodes["pool-2"].images["shop/api:dev"] = "sha256:a9a9a9a9a9a9a9a9a9a9"
	f.src.images["shop/static:dev"] = "sha256:2222222222222222"

	db := task("edge.db", 1, "db-1", "pool-1", "postgres:16")
	cache := task("edge.cache", 1, "cache-1", "pool-1", "redis:7")
	api := needs(task("edge.api", 1, "web-1", "pool-2", "shop/api:dev"), "edge.db/1", "edge.cache/1")
	web := needs(task("edge.web", 1, "web-1", "pool-3", "shop/static:dev"), "edge.api/1")
	migrate := needs(oneshot(task("edge.migrate", 1, "db-1", "pool-1", "shop/api:dev")), "edge.db/1")
	worker := needs(task("edge.worker", 1, "web-1", "pool-2", "shop/api:dev"), "edge.db/1")
	worker.Spec.Env = []string{"PORT=8080", "QUEUE=jobs"}
	static := task("edge.static", 1, "web-1", "pool-3", "shop/static:dev")
	st := newStack(db, cache, api, web, migrate, worker, static)

	images, err := ResolveImages(ctx, f.c, st, f.src)
	if err != nil {
		t.Fatal(err)
	}
	want := services(t, st, images)

	// What the swarm runs: the api as desired; the cache as desired but
	// with Swarm's last update paused half-way; the worker with other env
	// on pool-1; static with the previous build; two services no longer
	// in the file.
	oldWorker := task("edge.worker", 1, "web-1", "pool-1", "shop/api:dev")
	oldWorker.Spec.Env = []string{"PORT=8080", "QUEUE=default"}
	oldStatic := task("edge.static", 1, "web-1", "pool-3", "shop/static:dev")
	was := services(t, newStack(oldWorker, oldStatic), Images{"shop/api:dev": images["shop/api:dev"], "shop/static:dev": {Name: "shop/static:dev", ID: "sha256:1111111111111111"}})
	paused := observed(want["edge.cache/1"], "id-cache")
	paused.Update, paused.UpdateMessage = "paused", "update paused due to failure or early termination of task x1"
	obs := &stack.SwarmObserved{
		Nodes: []stack.SwarmNode{
			{ID: "node-1", Hostname: "stg-a", State: "ready", Labels: map[string]string{stack.LabelNode: "pool-1"}},
			{ID: "node-2", Hostname: "stg-b", State: "ready"},
			{ID: "node-3", Hostname: "stg-c", State: "ready", Labels: map[string]string{stack.LabelNode: "pool-9"}},
		},
		Services: []stack.ServiceState{
			observed(want["edge.api/1"], "id-api"),
			paused,
			observed(was["edge.worker/1"], "id-worker"),
			observed(was["edge.static/1"], "id-static"),
			{ID: "id-old", Name: "shop-staging-edge-old-1", Labels: map[string]string{stack.LabelKey: "edge.old/1"}},
			{ID: "id-admin", Name: "shop-staging-admin-ui-1", Labels: map[string]string{stack.LabelKey: "admin.ui/1"}},
		},
	}
	var desired []stack.Service
	for _, u := range st.Units {
		desired = append(desired, want[u.Key])
	}
	return Reconcile(testProject, testEnv, f.c.ManagerHost, desired, obs, f.c.NodeID, images), desired
}

func TestReconcileGolden(t *testing.T) {
	p, _ := reconcileCase(t)
	golden.Check(t, filepath.Join("testdata", "reconcile.golden"), p.String())
}

func TestReconcile(t *testing.T) {
	p, _ := reconcileCase(t)
	got := map[string]Action{}
	for _, o := range p.Ops {
		got[o.Name()] = o.Action
	}
	want := map[string]Action{
		svcName("edge.db", 1): Create, svcName("edge.web", 1): Create, svcName("edge.migrate", 1): Create,
		svcName("edge.api", 1): None, svcName("edge.cache", 1): Update, svcName("edge.worker", 1): Update,
		svcName("edge.static", 1): Update, "shop-staging-edge-old-1": Remove, "shop-staging-admin-ui-1": Remove,
	}
	for n, a := range want {
		if got[n] != a {
			t.Errorf("%s: %s, want %s", n, got[n], a)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ops %v, want %v", got, want)
	}

	// Removes first (by name), then every op after the ones it needs.
	if p.Ops[0].Name() != "shop-staging-admin-ui-1" || p.Ops[1].Name() != "shop-staging-edge-old-1" {
		t.Errorf("first ops %s, %s: want the removes by name", p.Ops[0].Name(), p.Ops[1].Name())
	}
	at := map[string]int{}
	for i, o := range p.Ops {
		at[o.Name()] = i
		if o.Action == Remove && i > 1 {
			t.Errorf("remove %s at %d, after a create or update", o.Name(), i)
		}
		for _, n := range o.Needs {
			if j, ok := at[n]; !ok || j > i {
				t.Errorf("%s (at %d) comes before %s, which it needs", o.Name(), i, n)
			}
		}
	}
	if n := p.Ops[at[svcName("edge.api", 1)]].Needs; strings.Join(n, ",") != svcName("edge.db", 1)+","+svcName("edge.cache", 1) {
		t.Errorf("api needs %v", n)
	}

	// Node labels: only where missing or wrong.
	var labels []string
	for _, l := range p.Labels {
		labels = append(labels, l.Host+"@"+l.NodeID+"/"+l.Hostname)
	}
	if strings.Join(labels, " ") != "pool-2@node-2/stg-b pool-3@node-3/stg-c" {
		t.Errorf("labels %v", labels)
	}

	for _, o := range p.Ops {
		switch o.Name() {
		case svcName("edge.cache", 1):
			if o.Cause != "Swarm's last update is paused: update paused due to failure or early termination of task x1" || o.Current.ID != "id-cache" || !o.Service.Force {
				t.Errorf("cache: cause %q, force %v", o.Cause, o.Service.Force)
			}
		default: // every update replaces the task, even for a change only Swarm holds
			if (o.Action == Update) != o.Service.Force {
				t.Errorf("%s: %s, forced %v", o.Name(), o.Action, o.Service.Force)
			}
		}
		switch o.Name() {
		case svcName("edge.worker", 1):
			if o.Cause != "moved pool-1 -> pool-2; env QUEUE changed" {
				t.Errorf("worker: cause %q", o.Cause)
			}
		case svcName("edge.static", 1):
			if o.Cause != "image 111111111111 -> 222222222222" {
				t.Errorf("static: cause %q", o.Cause)
			}
		}
	}
	if p.Empty() {
		t.Error("plan is empty")
	}
	if s := p.Summary(); s != "3 to create, 3 to update, 2 to remove, 1 unchanged" {
		t.Errorf("Summary = %q", s)
	}
}

func TestReconcileUpdateStates(t *testing.T) {
	s := services(t, newStack(task("edge.api", 1, "web-1", "pool-1", "a:1")), nil)["edge.api/1"]
	nodes := []stack.SwarmNode{{ID: "node-1", Labels: map[string]string{stack.LabelNode: "pool-1"}}}
	// A completed rollback put back the previous spec with its labels:
	// the hash says whether that is the file's, so with the same hash
	// there is nothing to do. A paused update or rollback stopped
	// half-way: the task is replaced (forced, as the spec is unchanged).
	for update, want := range map[string]Action{
		"": None, "completed": None, "updating": None, "rollback_started": None,
		"rollback_completed": None, "paused": Update, "rollback_paused": Update,
	} {
		cur := observed(s, "id-1")
		cur.Update, cur.UpdateMessage = update, "msg"
		p := Reconcile(testProject, testEnv, "pool-1", []stack.Service{s}, &stack.SwarmObserved{Nodes: nodes, Services: []stack.ServiceState{cur}}, map[string]string{"pool-1": "node-1"}, nil)
		if len(p.Ops) != 1 || p.Ops[0].Action != want {
			t.Errorf("update state %q: %+v, want %s", update, p.Ops, want)
			continue
		}
		if want == Update && (p.Ops[0].Cause != "Swarm's last update is "+update+": msg" || !p.Ops[0].Service.Force) {
			t.Errorf("update state %q: cause %q, force %v", update, p.Ops[0].Cause, p.Ops[0].Service.Force)
		}
		if want == None && p.Ops[0].Service.Force {
			t.Errorf("update state %q: forced", update)
		}
		if want == None && !p.Empty() {
			t.Errorf("update state %q: plan not empty:\n%s", update, p)
		}
	}
}

func TestReconcileEmpty(t *testing.T) {
	s := services(t, newStack(task("edge.api", 1, "web-1", "pool-1", "a:1")), nil)["edge.api/1"]
	obs := &stack.SwarmObserved{
		Nodes:    []stack.SwarmNode{{ID: "node-1", Labels: map[string]string{stack.LabelNode: "pool-1"}}},
		Services: []stack.ServiceState{observed(s, "id-1")},
	}
	images := Images{"a:1": {Name: "a:1", Have: map[string]string{"pool-1": ""}, Pull: []string{"pool-1"}}}
	p := Reconcile(testProject, testEnv, "pool-1", []stack.Service{s}, obs, map[string]string{"pool-1": "node-1"}, images)
	if !p.Empty() || p.Summary() != "1 unchanged" || len(p.Labels) != 0 {
		t.Errorf("plan:\n%s", p)
	}
	// A copy to make is work.
	images["a:1"].Copy = []string{"pool-1"}
	if p.Empty() {
		t.Error("a plan that copies an image is empty")
	}
	if p := Reconcile(testProject, testEnv, "pool-1", nil, &stack.SwarmObserved{}, nil, nil); !p.Empty() || p.Summary() != "no services" {
		t.Errorf("no services: %q", p.Summary())
	}
}

func TestReconcileCycle(t *testing.T) {
	a := needs(task("edge.a", 1, "h", "pool-1", "x"), "edge.b/1")
	b := needs(task("edge.b", 1, "h", "pool-1", "x"), "edge.a/1")
	c := needs(task("edge.c", 1, "h", "pool-1", "x"), "edge.gone/1") // needs a unit not in the stack
	st := newStack(a, b, c)
	svcs, err := Services(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := Reconcile(testProject, testEnv, "pool-1", svcs, &stack.SwarmObserved{}, map[string]string{"pool-1": "node-1"}, nil)
	if len(p.Ops) != 3 {
		t.Fatalf("ops:\n%s", p)
	}
	seen := map[string]bool{}
	for _, o := range p.Ops {
		if seen[o.Name()] {
			t.Errorf("%s twice", o.Name())
		}
		seen[o.Name()] = true
	}
	for _, o := range p.Ops {
		if o.Name() == svcName("edge.c", 1) && len(o.Needs) != 0 {
			t.Errorf("c needs %v, a unit not in the stack", o.Needs)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{None: "unchanged", Create: "create", Update: "update", Remove: "remove"} {
		if a.String() != want {
			t.Errorf("%d: %q, want %q", a, a.String(), want)
		}
	}
}

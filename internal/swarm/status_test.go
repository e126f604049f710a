package swarm

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/stack"
)

func TestRows(t *testing.T) {
	now := fakeEpoch.Add(time.Hour)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	svc := func(id, job string, placed string, extra ...string) stack.ServiceState {
		s := stack.ServiceState{ID: id, Name: "shop-staging-" + strings.ReplaceAll(job, ".", "-") + "-1", Image: "sha256:0123456789abcdef", Labels: map[string]string{
			stack.LabelJob: job, stack.LabelTask: "1", stack.LabelHost: "web-1", LabelPlaced: placed, LabelImage: "shop/" + job + ":1",
		}}
		for i := 0; i+1 < len(extra); i += 2 {
			s.Labels[extra[i]] = extra[i+1]
		}
		return s
	}
	worker := svc("s-worker", "edge.worker", "pool-2")
	delete(worker.Labels, LabelImage)
	cache := svc("s-cache", "edge.cache", "pool-2")
	cache.Update, cache.UpdateMessage = "rollback_completed", "rollback completed"
	obs := &stack.SwarmObserved{
		Nodes: []stack.SwarmNode{
			{ID: "node-1", Hostname: "stg-a", Addr: "10.0.0.1", State: "ready", Availability: "active", Manager: true, Leader: true, Labels: map[string]string{stack.LabelNode: "pool-1"}, EngineVersion: "28.0.1"},
			{ID: "node-2", Hostname: "stg-b", Addr: "10.0.0.2", State: "ready", Availability: "active", Labels: map[string]string{stack.LabelNode: "pool-2"}, EngineVersion: "28.0.1"},
			{ID: "node-3", Hostname: "stg-c", Addr: "10.0.0.3", State: "down", Availability: "active", Labels: map[string]string{stack.LabelNode: "pool-3"}, EngineVersion: "27.5.0"},
			{ID: "node-4", Hostname: "stg-d", Addr: "10.0.0.4", State: "ready", Availability: "drain", Manager: true},
		},
		Services: []stack.ServiceState{
			svc("s-web", "edge.web", "pool-3"),
			svc("s-api", "edge.api", "pool-1"),
			svc("s-migrate", "edge.migrate", "pool-1", stack.LabelOneshot, "true"),
			svc("s-db", "edge.db", "pool-1"),
			svc("s-seed", "edge.seed", "pool-2", stack.LabelOneshot, "true"),
			cache,
			worker,
			svc("s-batch", "edge.batch", "pool-2"),
		},
		Tasks: []stack.TaskState{
			{ID: "t-api", Service: "s-api", Node: "node-1", Desired: "running", State: "running", Message: "started", Since: at(10 * time.Second)},
			{ID: "t-migrate", Service: "s-migrate", Node: "node-1", Desired: "complete", State: "complete", Message: "finished", Since: at(30 * time.Second)},
			{ID: "t-db-3", Service: "s-db", Node: "node-1", Desired: "running", State: "starting", Message: "starting", Since: at(time.Second)},
			{ID: "t-db-2", Service: "s-db", Node: "node-1", Desired: "shutdown", State: "failed", Err: failExit, Since: at(2 * time.Second)},
			{ID: "t-db-1", Service: "s-db", Node: "node-1", Desired: "shutdown", State: "failed", Err: failExit, Since: at(3 * time.Second)},
			{ID: "t-seed", Service: "s-seed", Node: "node-2", Desired: "complete", State: "failed", Err: failExit, Since: at(5 * time.Second)},
			{ID: "t-web", Service: "s-web", Node: "node-3", Desired: "running", State: "running", Message: "started", Since: at(time.Minute)},
			{ID: "t-cache-3", Service: "s-cache", Node: "node-2", Desired: "running", State: "running", Message: "started", Since: at(4 * time.Second)},
			{ID: "t-cache-2", Service: "s-cache", Node: "node-2", Desired: "shutdown", State: "failed", Err: failExit, Since: at(5 * time.Second)},
			{ID: "t-cache-1", Service: "s-cache", Node: "node-2", Desired: "shutdown", State: "shutdown", Message: "shutdown", Since: at(6 * time.Second)},
			{ID: "t-batch", Service: "s-batch", Desired: "running", State: "pending", Err: "no suitable node (insufficient resources on 1 node)", Since: at(20 * time.Second)},
		},
	}
	sort.SliceStable(obs.Tasks, func(i, j int) bool { return obs.Tasks[i].Since.After(obs.Tasks[j].Since) })

	rows, nodes := Rows(obs, now)
	want := []Row{
		{Job: "edge.api", Task: 1, Host: "web-1", Placed: "pool-1", Node: "stg-a", Service: "shop-staging-edge-api-1", Image: "shop/edge.api:1", State: "running", Since: "10s ago"},
		{Job: "edge.batch", Task: 1, Host: "web-1", Placed: "pool-2", Node: "stg-b", Service: "shop-staging-edge-batch-1", Image: "shop/edge.batch:1", State: "pending", Since: "20s ago", Message: "no suitable node (insufficient resources on 1 node)"},
		{Job: "edge.cache", Task: 1, Host: "web-1", Placed: "pool-2", Node: "stg-b", Service: "shop-staging-edge-cache-1", Image: "shop/edge.cache:1", State: "running", Since: "4s ago", Update: "rollback_completed", Message: "rolled back by Swarm: rollback completed", Restarts: 1},
		{Job: "edge.db", Task: 1, Host: "web-1", Placed: "pool-1", Node: "stg-a", Service: "shop-staging-edge-db-1", Image: "shop/edge.db:1", State: "starting", Since: "1s ago", Message: "starting", Restarts: 2},
		{Job: "edge.migrate", Task: 1, Host: "web-1", Placed: "pool-1", Node: "stg-a", Service: "shop-staging-edge-migrate-1", Image: "shop/edge.migrate:1", State: "complete", Since: "30s ago"},
		{Job: "edge.seed", Task: 1, Host: "web-1", Placed: "pool-2", Node: "stg-b", Service: "shop-staging-edge-seed-1", Image: "shop/edge.seed:1", State: "failed", Since: "5s ago", Message: failExit, Restarts: 1},
		{Job: "edge.web", Task: 1, Host: "web-1", Placed: "pool-3", Node: "stg-c", Service: "shop-staging-edge-web-1", Image: "shop/edge.web:1", State: "node down", Since: "1m0s ago", Message: "node stg-c is down; Swarm runs its tasks again when it is back"},
		{Job: "edge.worker", Task: 1, Host: "web-1", Placed: "pool-2", Service: "shop-staging-edge-worker-1", Image: "sha256:0123456789abcdef", State: "no task"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	wantNodes := []NodeRow{
		{Hostname: "stg-a", ID: "node-1", Host: "pool-1", Addr: "10.0.0.1", State: "ready", Availability: "active", Role: "leader", Engine: "28.0.1", Tasks: 1},
		{Hostname: "stg-b", ID: "node-2", Host: "pool-2", Addr: "10.0.0.2", State: "ready", Availability: "active", Role: "worker", Engine: "28.0.1", Tasks: 1},
		{Hostname: "stg-c", ID: "node-3", Host: "pool-3", Addr: "10.0.0.3", State: "down", Availability: "active", Role: "worker", Engine: "27.5.0", Tasks: 0},
		{Hostname: "stg-d", ID: "node-4", Addr: "10.0.0.4", State: "ready", Availability: "drain", Role: "manager"},
	}
	if diff := cmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

// Rows of what the fake swarm runs after an up: a running service, a
// completed job, a service whose tasks keep failing, and a node gone down.
func TestRowsFromSwarm(t *testing.T) {
	f := newFixture(t, 2)
	f.m.failImage = "bad:1"
	st := newStack(
		task("edge.api", 1, "web-1", "pool-1", "shop/api:1"),
		oneshot(task("edge.migrate", 1, "db-1", "pool-1", "shop/api:1")),
		task("edge.db", 1, "db-1", "pool-2", "bad:1"),
		task("edge.web", 1, "web-2", "pool-2", "shop/web:1"),
	)
	res := f.up(t, st, UpOptions{})
	if len(res.Failures) != 1 || res.Failures[0].Unit != "edge.db/1" {
		t.Fatalf("failures %+v", res.Failures)
	}
	f.m.setNodeState("node-2", "down")
	obs, err := f.m.SwarmObserve(context.Background(), testProject, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	rows, nodes := Rows(obs, f.m.now())
	got := map[string]Row{}
	for _, r := range rows {
		got[r.Job] = r
	}
	if r := got["edge.api"]; r.State != "running" || r.Node != "stg-a" || r.Restarts != 0 || r.Message != "" || r.Image != "shop/api:1" {
		t.Errorf("api %+v", r)
	}
	if r := got["edge.migrate"]; r.State != "complete" || r.Restarts != 0 {
		t.Errorf("migrate %+v", r)
	}
	// db's task failed three times; its node is down now.
	if r := got["edge.db"]; r.State != "node down" || r.Restarts != 3 || r.Node != "stg-b" || r.Message != "node stg-b is down; Swarm runs its tasks again when it is back" {
		t.Errorf("db %+v", r)
	}
	if r := got["edge.web"]; r.State != "node down" || r.Node != "stg-b" {
		t.Errorf("web %+v", r)
	}
	if len(nodes) != 2 || nodes[0].Tasks != 1 || nodes[1].Tasks != 0 || nodes[1].State != "down" || nodes[0].Role != "leader" || nodes[0].Host != "pool-1" {
		t.Errorf("nodes %+v", nodes)
	}
}

func TestDown(t *testing.T) {
	f := newFixture(t, 2)
	mustOK(t, f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "a:1"), task("edge.db", 1, "db-1", "pool-2", "b:1")), UpOptions{}))
	other := task("edge.api", 1, "web-1", "pool-1", "a:1")
	other.Name = "blog-staging.edge.api.1"
	svcs, err := Services(&stack.Stack{Project: "blog", Env: testEnv, Units: []*stack.Unit{other}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.CreateService(context.Background(), svcs[0]); err != nil {
		t.Fatal(err)
	}
	// pool-2's engine still lists a container of the stack at first.
	slow := &observingNode{fakeNode: f.nodes["pool-2"], linger: 1}
	f.c.Engines["pool-2"] = slow

	vols := []stack.Volume{{Name: "shop-staging-data", Engine: "pool-2"}, {Name: "shop-staging-logs", Engine: "pool-1"}, {Name: "gone", Engine: "pool-9"}}
	rep := &recorder{}
	n, err := Down(context.Background(), f.c, testProject, testEnv, vols, rep)
	if err != nil || n != 2 {
		t.Fatalf("Down = %d, %v", n, err)
	}
	if f.m.service(svcName("edge.api", 1)) != nil || f.m.service(svcName("edge.db", 1)) != nil {
		t.Error("services left")
	}
	if f.m.service("blog-staging-edge-api-1") == nil {
		t.Error("another project's service removed")
	}
	if slow.calls != 1 || !slices.Equal(slow.stopped, []string{"ctr"}) || !slices.Equal(slow.removed, []string{"ctr"}) {
		t.Errorf("pool-2 observed %d times, stopped %v, removed %v: want its container stopped and removed", slow.calls, slow.stopped, slow.removed)
	}
	if !slices.Equal(f.nodes["pool-2"].volumes, []string{"shop-staging-data"}) || !slices.Equal(f.nodes["pool-1"].volumes, []string{"shop-staging-logs"}) {
		t.Errorf("volumes removed: pool-1 %v, pool-2 %v", f.nodes["pool-1"].volumes, f.nodes["pool-2"].volumes)
	}
	f.ev.before(t, "remove "+svcName("edge.db", 1), "rmvol pool-2 shop-staging-data")
	f.ev.before(t, "remove "+svcName("edge.api", 1), "rmvol pool-1 shop-staging-logs")
	if e := rep.last("edge.api/1"); e.Text != "Removed" {
		t.Errorf("api's last event %+v", e)
	}
	if e := rep.last("volume shop-staging-data"); e.Text != "Removed from pool-2" {
		t.Errorf("volume's last event %+v", e)
	}

	// Again: nothing left.
	if n, err := Down(context.Background(), f.c, testProject, testEnv, nil, nil); n != 0 || err != nil {
		t.Errorf("second Down = %d, %v", n, err)
	}
}

func TestDownErrors(t *testing.T) {
	f := newFixture(t, 1)
	mustOK(t, f.up(t, newStack(task("edge.api", 1, "web-1", "pool-1", "a:1")), UpOptions{}))
	boom := errors.New("manager lost quorum")
	f.m.errs["remove "+svcName("edge.api", 1)] = boom
	vols := []stack.Volume{{Name: "shop-staging-data", Engine: "pool-1"}}
	if _, err := Down(context.Background(), f.c, testProject, testEnv, vols, nil); !errors.Is(err, boom) {
		t.Errorf("Down = %v, want the remove's error", err)
	}
	if len(f.nodes["pool-1"].volumes) != 0 {
		t.Error("volumes removed while their service stays")
	}

	f.m.observeErr = boom
	if _, err := Down(context.Background(), f.c, testProject, testEnv, nil, nil); !errors.Is(err, boom) {
		t.Errorf("Down = %v, want the observe's error", err)
	}
}

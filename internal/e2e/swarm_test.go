package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/pooltest"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/swarm"
)

// startSwarm starts a pool of n engines and makes them one swarm: the
// first initialises it, the others join as workers.
func startSwarm(t testing.TB, name, subnet string, n int) *pooltest.Pool {
	t.Helper()
	pool := pooltest.Start(t, pooltest.Options{Name: name, Hosts: n, Subnet: subnet,
		Images: []string{"coding/web:1.0.0", "coding/api:1.0.0", "coding/cache:1.0.0", "coding/migrate:1.0.0"}})
	m := pool.Hosts[0]
	if out, err := pool.Docker(m.Name, "swarm", "init", "--advertise-addr", m.Address); err != nil {
		t.Fatalf("swarm init on %s: %v\n%s", m.Name, err, out)
	}
	token, err := pool.Docker(m.Name, "swarm", "join-token", "-q", "worker")
	if err != nil {
		t.Fatalf("join token: %v %s", err, token)
	}
	for _, h := range pool.Hosts[1:] {
		if out, err := pool.Docker(h.Name, "swarm", "join", "--token", strings.TrimSpace(token), m.Address+":2377"); err != nil {
			t.Fatalf("swarm join on %s: %v\n%s", h.Name, err, out)
		}
	}
	return pool
}

// shopFile is the staging test's stack: a storefront calling an API
// calling a data store (with a one-shot migration before the API), each
// on its own production host, pinned to one node each.
func shopFile(t testing.TB, dir string, pool *pooltest.Pool, apiImage string) string {
	t.Helper()
	var hosts strings.Builder
	for _, h := range pool.Hosts {
		fmt.Fprintf(&hosts, "  %s: {address: %s, docker: %q, memory: 4GiB}\n", h.Name, h.Address, h.Endpoint)
	}
	s := fmt.Sprintf(`project: e2e-swarm
dns_suffix: .shop.local
hosts:
  shop-1: {address: 10.0.1.10}
  api-1: {address: 10.0.2.10}
  db-1: {address: 10.0.3.10}
%sservices:
  shop:
    jobs:
      storefront:
        image: coding/web:1.0.0
        port: 3000
        env: {ROLE: web, API_URL: "http://api-1:8000"}
        depends_on: [core.api]
        health: {http: /healthz}
        run_on_host: shop-1
  core:
    jobs:
      api:
        image: %s
        port: 8000
        env: {ROLE: api, CACHE_URL: "http://db-1:6379", QUEUE_URL: "http://store.data.shop.local:6379", GIT_URL: "http://db-1:6379"}
        depends_on: [data.store, data.migrate]
        health: {http: /healthz}
        run_on_host: api-1
  data:
    jobs:
      store:
        image: coding/cache:1.0.0
        port: 6379
        env: {ROLE: cache, DATA_DIR: /data}
        volumes: ["/data/store:/data"]
        health: {http: /healthz}
        run_on_host: db-1
      migrate:
        image: coding/migrate:1.0.0
        command: ["/demo", "migrate"]
        env: {CACHE_URL: "http://db-1:6379", SCHEMA_VERSION: "3"}
        depends_on: [data.store]
        oneshot: true
        run_on_host: db-1
environments:
  staging:
    pool: [%s, %s, %s]
    pin: {shop-1: %[3]s, api-1: %[4]s, db-1: %[5]s}
    orchestrator: swarm
`, hosts.String(), apiImage, pool.Hosts[0].Name, pool.Hosts[1].Name, pool.Hosts[2].Name)
	path := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type swarmPs struct {
	Orchestrator string          `json:"orchestrator"`
	Services     []swarm.Row     `json:"services"`
	Nodes        []swarm.NodeRow `json:"nodes"`
}

func psSwarm(t *testing.T, file string) swarmPs {
	t.Helper()
	r := mustCjob(t, "staging", "ps", "--json", "-f", file)
	var ps swarmPs
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
		t.Fatalf("staging ps --json: %v\n%s", err, r.stdout)
	}
	return ps
}

func (ps swarmPs) row(job string) swarm.Row {
	for _, r := range ps.Services {
		if r.Job == job {
			return r
		}
	}
	return swarm.Row{}
}

// TestStagingSwarm: staging on a three-node Docker Swarm of engines in
// network namespaces (no IPVS on this kernel). Every job answers through
// production names from the other nodes, each task runs on the node its
// host is pinned to, a second up changes nothing, a rolling update to a
// broken image is rolled back by Swarm's own rollback and reported, and
// a node whose engine stops is reported while the rest keeps serving.
func TestStagingSwarm(t *testing.T) {
	need(t)
	pool := startSwarm(t, "cjswm", "10.221.0.0/24", 3)
	dir := t.TempDir()
	file := shopFile(t, dir, pool, "coding/api:1.0.0")
	t.Cleanup(func() { cjob(t, "staging", "down", "-v", "-f", file, "--progress", "quiet") })
	shop, api, db := pool.Hosts[0], pool.Hosts[1], pool.Hosts[2]

	p := mustCjob(t, "staging", "plan", "-f", file)
	for _, want := range []string{"on Docker Swarm (managed by " + shop.Name + "): 4 to create", "label cjob.host=" + api.Name, "services name it by ID"} {
		if !strings.Contains(p.stdout, want) {
			t.Errorf("plan should say %q:\n%s", want, p.stdout)
		}
	}
	up := mustCjob(t, "staging", "up", "-f", file, "--progress", "plain")
	t.Logf("staging up on Swarm: %s\n%s%s", up.elapsed, up.stdout, up.stderr)
	// Dependency order: the store is ready before the migration starts, the
	// migration complete before the API, the API before the storefront.
	order := []string{"Created on " + db.Name, "data.migrate/1  Creating", "core.api/1  Creating", "shop.storefront/1  Creating"}
	last := -1
	for _, o := range order {
		i := strings.Index(up.stderr, o)
		if i < last {
			t.Errorf("%q came before the step it depends on:\n%s", o, up.stderr)
		}
		last = i
	}

	t.Run("each task on its node", func(t *testing.T) {
		want := map[string]string{"shop.storefront": shop.Name, "core.api": api.Name, "data.store": db.Name, "data.migrate": db.Name}
		ps := psSwarm(t, file)
		if len(ps.Services) != 4 || len(ps.Nodes) != 3 {
			t.Fatalf("ps: %d services on %d nodes, want 4 on 3: %+v", len(ps.Services), len(ps.Nodes), ps)
		}
		for job, node := range want {
			r := ps.row(job)
			if r.Node != node {
				t.Errorf("%s runs on %q, want %s", job, r.Node, node)
			}
			state := "running"
			if job == "data.migrate" {
				state = "complete"
			}
			if r.State != state {
				t.Errorf("%s is %s, want %s: %+v", job, r.State, state, r)
			}
			out, err := pool.Docker(node, "ps", "-q", "--filter", "label=cjob.job="+job, "--filter", "label=cjob.env=staging", "-a")
			if err != nil || strings.TrimSpace(out) == "" {
				t.Errorf("no container of %s on %s: %v %s", job, node, err, out)
			}
		}
		if r := mustCjob(t, "staging", "logs", "--jobs", file, "core.api"); !strings.Contains(r.stdout, "core.api/1") || !strings.Contains(r.stdout, "GET /healthz 200") {
			t.Errorf("staging logs of a Swarm task:\n%s", r)
		}
		for _, n := range ps.Nodes {
			if n.State != "ready" || n.Host != n.Hostname {
				t.Errorf("node %+v: want ready, labelled cjob.host=%s", n, n.Hostname)
			}
		}
	})

	t.Run("production names from the other nodes", func(t *testing.T) {
		from := map[string]string{ // a container on each node
			shop.Name: containerOf(t, pool, shop.Name, "shop.storefront"),
			db.Name:   containerOf(t, pool, db.Name, "data.store"),
			api.Name:  containerOf(t, pool, api.Name, "core.api"),
		}
		targets := []string{"http://shop-1:3000/healthz", "http://api-1:8000/healthz", "http://db-1:6379/healthz",
			"http://api.core.shop.local:8000/healthz", "http://store.data.shop.local:6379/healthz", "http://shop-1.shop.local:3000/"}
		for node, c := range from {
			for _, target := range targets {
				if out, err := pool.Docker(node, "exec", c, "/demo", "healthcheck", target); err != nil {
					t.Errorf("from %s, %s: %v\n%s", node, target, err, out)
				}
			}
		}
		// The storefront's own page calls the API, which calls the store.
		code, body, err := pool.Get(db.Name, "http://"+shop.Address+":3000/")
		if err != nil || code != 200 || !strings.Contains(body, `"ok": true`) {
			t.Errorf("storefront from %s: %d %v\n%s", db.Name, code, err, body)
		}
	})

	t.Run("staging UI", func(t *testing.T) {
		p := startUI(t, "staging", "ui", "-f", file)
		code, page := httpGet(t, p.base+"/services")
		for _, job := range []string{"shop.storefront", "core.api", "data.store"} {
			if !strings.Contains(page, `data-job="`+job+`" data-state="ok" data-running="1"`) {
				t.Errorf("the staging UI should show %s running (%d):\n%s", job, code, page)
			}
		}
		if _, nodes := httpGet(t, p.base+"/nodes"); !strings.Contains(nodes, "manager, node") || strings.Count(nodes, "worker, node") != 2 {
			t.Errorf("the staging UI's nodes page should show the swarm:\n%s", nodes)
		}
	})

	t.Run("second up changes nothing", func(t *testing.T) {
		r := mustCjob(t, "staging", "up", "-f", file)
		if !strings.Contains(r.stdout, "Nothing to do: 4 services") {
			t.Errorf("second up:\n%s", r)
		}
	})

	t.Run("no route to the nodes", func(t *testing.T) {
		// As a laptop meets a remote swarm: only the engines' APIs are in
		// reach. Health is checked from each node, through its engine.
		r := cjobVia(t, []string{"unshare", "-n"}, "staging", "up", "--force-recreate", "-f", file, "--progress", "plain")
		if r.code != 0 || !strings.Contains(r.stderr, "checking health on "+api.Name+" through its engine") {
			t.Errorf("up under unshare -n:\n%s", r)
		}
		if r := cjobVia(t, []string{"unshare", "-n"}, "staging", "up", "-f", file); r.code != 0 || !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("a second up under unshare -n:\n%s", r)
		}
	})

	t.Run("broken image rolled back by Swarm", func(t *testing.T) {
		// Built on this machine only: cjob copies it to the API's node.
		bdir := t.TempDir()
		os.WriteFile(filepath.Join(bdir, "Dockerfile"), []byte("FROM coding/api:1.0.0\nENTRYPOINT [\"/demo\", \"healthcheck\", \"http://127.0.0.1:1/\"]\n"), 0o644)
		if out, err := exec.Command("docker", "build", "-q", "-t", "e2e-swarm/api:broken", bdir).CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("docker", "rmi", "e2e-swarm/api:broken").Run() })
		broken := shopFile(t, t.TempDir(), pool, "e2e-swarm/api:broken")
		p := mustCjob(t, "staging", "plan", "-f", broken)
		if !strings.Contains(p.stdout, "copied to "+api.Name+" from this machine's engine") || !strings.Contains(p.stdout, "~ e2e-swarm-staging-core-api-1") {
			t.Errorf("plan of the broken image:\n%s", p.stdout)
		}
		r := cjob(t, "staging", "up", "-f", broken, "--progress", "plain")
		t.Logf("up with a broken image: %s\n%s", r.elapsed, r)
		if r.code == 0 || !strings.Contains(r.stdout, "Swarm rolled the update back") || !strings.Contains(r.stdout, "non-zero exit (1)") ||
			!strings.Contains(r.stdout, "connection refused") || !strings.Contains(r.stderr, "Copied to "+api.Name) {
			t.Errorf("up should fail, naming Swarm's rollback, the task's exit and its log:\n%s", r)
		}
		ps := psSwarm(t, file)
		if row := ps.row("core.api"); row.Update != "rollback_completed" || !strings.Contains(row.Message, "rolled back by Swarm") {
			t.Errorf("ps should show the rollback: %+v", row)
		}
		waitFor(t, "the API back on its previous image", 30*time.Second, func() bool {
			code, body, err := pool.Get(shop.Name, "http://"+api.Address+":8000/")
			return err == nil && strings.Contains(body, `"role": "api"`) && code > 0
		})
		if row := psSwarm(t, file).row("core.api"); row.State != "running" {
			t.Errorf("the API should run its previous spec: %+v", row)
		}
		// Swarm put back the previous spec with its labels: the file as it
		// was needs nothing; the broken one is tried again.
		if r := mustCjob(t, "staging", "up", "-f", file); !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("up of the file as it was after the rollback:\n%s", r)
		}
		if p := mustCjob(t, "staging", "plan", "-f", broken); !strings.Contains(p.stdout, "1 to update") {
			t.Errorf("the broken file should still plan an update:\n%s", p.stdout)
		}
	})

	t.Run("a node's engine stops", func(t *testing.T) {
		if err := pool.Stop(db.Name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Restart(db.Name) })
		waitFor(t, "Swarm to call "+db.Name+" down", 90*time.Second, func() bool {
			r := cjob(t, "staging", "ps", "--json", "-f", file)
			return strings.Contains(r.stdout, `"state": "down"`)
		})
		r := cjob(t, "staging", "ps", "-f", file)
		t.Logf("ps with %s down:\n%s", db.Name, r)
		if !strings.Contains(r.stdout, "node down") || !strings.Contains(r.stdout, db.Name+" is down") {
			t.Errorf("ps should report the node down on the store's row:\n%s", r)
		}
		for _, h := range []pooltest.Host{shop, api} {
			port := map[string]string{shop.Name: "3000", api.Name: "8000"}[h.Name]
			if code, _, err := pool.Get(shop.Name, "http://"+h.Address+":"+port+"/healthz"); err != nil || code != 200 {
				t.Errorf("%s should keep serving: %d %v", h.Name, code, err)
			}
		}
	})
}

func containerOf(t *testing.T, pool *pooltest.Pool, node, job string) string {
	t.Helper()
	out, err := pool.Docker(node, "ps", "-q", "--filter", "label=cjob.job="+job, "--filter", "status=running")
	id := strings.TrimSpace(out)
	if err != nil || id == "" {
		t.Fatalf("no running container of %s on %s: %v %s", job, node, err, out)
	}
	return strings.Fields(id)[0]
}

// TestProductionSwarm: production through `cjob server` on a three-node
// swarm (environments.production.orchestrator: swarm): push, up, status,
// a rolling update task by task, a second up that changes nothing, and
// the nodes (API and UI) showing each host's place in the swarm.
func TestProductionSwarm(t *testing.T) {
	need(t)
	pool := startSwarm(t, "cjpsw", "10.222.0.0/24", 3)
	dir := t.TempDir()
	token := "e2e-swarm-token-0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("ops:"+token+"\n"), 0o600)
	srv := startServer(t, token, "--data-dir", filepath.Join(dir, "data"), "--token-file", filepath.Join(dir, "tokens"), "--poll", "1s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.output())
		}
	})
	write := func(level string) string {
		h := pool.Hosts
		s := fmt.Sprintf(`project: e2e-pswarm
hosts:
  prod-1: {address: %s, docker: %q}
  prod-2: {address: %s, docker: %q}
  prod-3: {address: %s, docker: %q}
services:
  shop:
    jobs:
      storefront:
        image: coding/web:1.0.0
        port: 3000
        env: {ROLE: web, API_URL: "http://localhost:8000"}
        depends_on: [core.api]
        health: {http: /healthz, interval: 200ms}
        run_on_host: prod-1
  core:
    jobs:
      api:
        image: coding/api:1.0.0
        port: 8000
        env: {ROLE: api, CACHE_URL: "http://prod-3:6379", QUEUE_URL: "http://prod-3:6379", GIT_URL: "http://prod-3:6379", LOG_LEVEL: %s}
        depends_on: [data.store]
        health: {http: /healthz, interval: 200ms}
        tasks: [{host: prod-1}, {host: prod-2}]
  data:
    jobs:
      store:
        image: coding/cache:1.0.0
        port: 6379
        env: {ROLE: cache}
        health: {http: /healthz, interval: 200ms}
        run_on_host: prod-3
environments:
  production: {orchestrator: swarm}
`, h[0].Address, h[0].Endpoint, h[1].Address, h[1].Endpoint, h[2].Address, h[2].Endpoint, level)
		path := filepath.Join(dir, "jobs.yml")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	file := write("info")
	srv.must(t, "ops", "push", "-f", file, "-m", "first")
	r := srv.must(t, "ops", "up", "--all", "--progress", "plain")
	t.Logf("up --all on Swarm:\n%s%s", r.stdout, r.stderr)
	j := srv.job(t, "core.api")
	if j.Running != 2 || j.State != "ok" || len(j.Versions) != 1 || j.Versions[0] != 1 {
		t.Fatalf("api after up: %+v", j)
	}
	for i, h := range pool.Hosts[:2] {
		if code, _, err := pool.Get(pool.Hosts[2].Name, "http://"+h.Address+":8000/healthz"); err != nil || code != 200 {
			t.Errorf("api task %d on %s: %d %v", i+1, h.Name, code, err)
		}
	}
	if code, body, err := pool.Get(pool.Hosts[1].Name, "http://"+pool.Hosts[0].Address+":3000/"); err != nil || code != 200 || !strings.Contains(body, `"ok": true`) {
		t.Errorf("storefront -> localhost api: %d %v\n%s", code, err, body)
	}
	services, _ := pool.Docker(pool.Hosts[0].Name, "service", "ls", "--format", "{{.Name}}")
	for _, want := range []string{"e2e-pswarm-production-core-api-1", "e2e-pswarm-production-core-api-2", "e2e-pswarm-production-shop-storefront-1", "e2e-pswarm-production-data-store-1"} {
		if !strings.Contains(services, want) {
			t.Errorf("Swarm has no service %s:\n%s", want, services)
		}
	}

	// A second up changes nothing.
	if r := srv.must(t, "ops", "up", "--all", "--json"); !strings.Contains(r.stdout, `"changed": 0`) {
		t.Errorf("second up --all:\n%s", r)
	}

	// A new version, rolled out task by task by Swarm.
	file = write("debug")
	srv.must(t, "ops", "push", "-f", file, "-m", "debug logs")
	waitFor(t, "api outdated", 15*time.Second, func() bool { return srv.job(t, "core.api").State == "outdated" })
	r = srv.must(t, "ops", "rolling-update", "api", "--progress", "plain")
	out := r.stdout + r.stderr
	t.Logf("rolling-update on Swarm:\n%s", out)
	if a, b := strings.Index(out, "core.api/1  Updated"), strings.Index(out, "core.api/2  Updating"); a < 0 || b < 0 || b < a {
		t.Errorf("task 2 should be updated after task 1 is done:\n%s", out)
	}
	waitFor(t, "api on version 2", 15*time.Second, func() bool {
		j := srv.job(t, "core.api")
		return j.State == "ok" && len(j.Versions) == 1 && j.Versions[0] == 2
	})

	// A broken image (on the nodes, not in a registry): Swarm rolls task 1
	// back, task 2 is never touched; `rollback` then pushes version 2's
	// definition again as a new version.
	bdir := t.TempDir()
	os.WriteFile(filepath.Join(bdir, "Dockerfile"), []byte("FROM coding/api:1.0.0\nENTRYPOINT [\"/demo\", \"healthcheck\", \"http://127.0.0.1:1/\"]\n"), 0o644)
	if out, err := exec.Command("docker", "build", "-q", "-t", "e2e-pswarm/api:broken", bdir).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "e2e-pswarm/api:broken").Run() })
	tar := filepath.Join(bdir, "broken.tar")
	if out, err := exec.Command("docker", "save", "-o", tar, "e2e-pswarm/api:broken").CombinedOutput(); err != nil {
		t.Fatalf("save: %v\n%s", err, out)
	}
	for _, h := range pool.Hosts {
		if out, err := pool.Docker(h.Name, "load", "-i", tar); err != nil {
			t.Fatalf("load on %s: %v\n%s", h.Name, err, out)
		}
	}
	good := srv.job(t, "core.api")
	data, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(data), "image: coding/api:1.0.0", "image: e2e-pswarm/api:broken", 1)), 0o644)
	srv.must(t, "ops", "push", "-f", file, "-m", "broken api")
	r = srv.as(t, "ops", token, "rolling-update", "api", "--progress", "plain")
	t.Logf("rolling-update onto a broken image on Swarm:\n%s", r)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "Swarm rolled the update back") || strings.Contains(r.stderr, "core.api/2  Updating") {
		t.Errorf("the rolling update should fail at task 1, rolled back by Swarm, task 2 untouched:\n%s", r)
	}
	waitFor(t, "api back on version 2", 30*time.Second, func() bool {
		j := srv.job(t, "core.api")
		return j.Running == 2 && len(j.Versions) == 1 && j.Versions[0] == 2
	})
	if j := srv.job(t, "core.api"); j.Tasks[1].ID != good.Tasks[1].ID {
		t.Errorf("task 2 was replaced although task 1 failed first: %+v", j.Tasks[1])
	}
	if !hasEvent(srv.events(t), "rolling-update", "", "core.api") {
		t.Errorf("no rolling-update event")
	}
	r = srv.must(t, "ops", "rollback", "api", "--to", "2", "--progress", "plain")
	waitFor(t, "api rolled back to version 2's definition", 30*time.Second, func() bool {
		j := srv.job(t, "core.api")
		return j.State == "ok" && j.Running == 2
	})
	if h := srv.must(t, "reader", "history", "-n", "1").stdout; !strings.Contains(h, "version 4") {
		t.Errorf("rollback should push version 4:\n%s\n%s", r, h)
	}

	// Nodes: every host, its place in the swarm.
	r = srv.must(t, "reader", "status", "--json")
	var st struct {
		Nodes []status.Node `json:"nodes"`
	}
	json.Unmarshal([]byte(r.stdout), &st)
	roles := map[string]int{}
	for _, n := range st.Nodes {
		roles[strings.Split(n.Swarm, ",")[0]]++
	}
	if len(st.Nodes) != 3 || roles["manager"] != 1 || roles["worker"] != 2 {
		t.Errorf("nodes should be one manager and two workers: %+v", st.Nodes)
	}
	code, page := httpGet(t, "http://"+srv.addr+"/nodes")
	if code != 200 || !strings.Contains(page, "manager, node") || strings.Count(page, "worker, node") != 2 {
		t.Errorf("the UI's nodes page should show each node's place in the swarm (%d):\n%s", code, page)
	}
	srv.must(t, "ops", "down", "storefront")
	if j := srv.job(t, "shop.storefront"); j.Running != 0 {
		waitFor(t, "storefront down", 20*time.Second, func() bool { return srv.job(t, "shop.storefront").Running == 0 })
	}
}

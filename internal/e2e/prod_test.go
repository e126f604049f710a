package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/pooltest"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// server is a `cjob server` process under test.
type server struct {
	addr  string
	args  []string
	cmd   *exec.Cmd
	log   *bytes.Buffer
	mu    sync.Mutex
	token string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `cjob server` with args and waits until it answers.
func startServer(t *testing.T, token string, args ...string) *server {
	t.Helper()
	s := &server{addr: freeAddr(t), token: token}
	s.args = append([]string{"server", "--listen", s.addr}, args...)
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) start(t *testing.T) {
	t.Helper()
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(cjobBin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = syncWriter{s}, syncWriter{s}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cjob server did not answer on %s:\n%s", s.addr, s.output())
}

type syncWriter struct{ s *server }

func (w syncWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(b)
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) stop(t *testing.T) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
		t.Errorf("cjob server did not stop on SIGTERM within 20s:\n%s", s.output())
	}
	s.cmd = nil
}

// as runs the CLI against the server as one operator: their own state
// directory (the record of what they pushed) and token ("" for none).
func (s *server) as(t *testing.T, op, token string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cjobBin, append(args, "--host", s.addr)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CJOB_TOKEN="+token, "CJOB_AUTHOR="+op, "XDG_STATE_HOME="+filepath.Join(os.TempDir(), "cjob-e2e-op-"+op))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cjob %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func (s *server) must(t *testing.T, op string, args ...string) result {
	t.Helper()
	r := s.as(t, op, s.token, args...)
	if r.code != 0 {
		t.Fatalf("cjob %s: %s\n--- server log\n%s", strings.Join(args, " "), r, s.output())
	}
	return r
}

func (s *server) job(t *testing.T, job string) status.Job {
	t.Helper()
	r := s.must(t, "reader", "status", job, "--json")
	var j status.Job
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	return j
}

func (s *server) events(t *testing.T) []store.Event {
	t.Helper()
	r := s.must(t, "reader", "events", "--json", "-n", "500")
	var evs []store.Event
	if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil {
		t.Fatalf("events --json: %v\n%s", err, r)
	}
	return evs
}

func hasEvent(evs []store.Event, action, result, detail string) bool {
	for _, e := range evs {
		if e.Action == action && (result == "" || e.Result == result) && strings.Contains(e.Target+": "+e.Detail, detail) {
			return true
		}
	}
	return false
}

// webhook records what the server POSTs.
type webhook struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &m)
	w.mu.Lock()
	w.bodies = append(w.bodies, m)
	w.mu.Unlock()
}

func (w *webhook) versions() []float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []float64
	for _, b := range w.bodies {
		if v, ok := b["version"].(map[string]any); ok {
			out = append(out, v["number"].(float64))
		}
	}
	return out
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func prodFile(t *testing.T, dir string, pool *pooltest.Pool, reg, tag, logLevel string) string {
	t.Helper()
	h1, h2 := pool.Hosts[0], pool.Hosts[1]
	s := fmt.Sprintf(`project: cjprod
hosts:
  prod-1: {address: %s, docker: %q}
  prod-2: {address: %s, docker: %q}
services:
  core:
    jobs:
      api:
        image: %s/prod/api:%s
        port: 8000
        env: {ROLE: git, PORT: "8000", LOG_LEVEL: %s, DB_PASSWORD: hunter2-secret}
        health: {http: /healthz, interval: 200ms, timeout: 1s, retries: 10}
        critical: true
        tasks: [{host: prod-1}, {host: prod-2}]
      git:
        image: %s/prod/api:1.0.0
        port: 8090
        env: {ROLE: git}
        health: {http: /healthz, interval: 200ms}
        volumes: ["%s:/data"]
        run_on_host: prod-2
`, h1.Address, h1.Endpoint, h2.Address, h2.Endpoint, reg, tag, logLevel, reg, filepath.Join(dir, "git-store"))
	path := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProduction is the operator's story on real engines, a real
// three-member etcd cluster and a real registry: push -> the server
// notices -> up -> update from the registry's tags -> a broken tag rolls
// back by itself -> history and events tell it all -> a conflicting push is
// refused -> an etcd member goes away and nothing stops -> the server
// restarts and loses nothing -> a mutation without a token changes nothing.
func TestProduction(t *testing.T) {
	need(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cjprod", Hosts: 2, Subnet: "10.217.0.0/24"})
	reg := pool.ServeRegistry(t)
	build := func(tag, extra string) {
		ref := reg + "/prod/api:" + tag
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM coding/api:1.0.0\nLABEL cjob.e2e.tag="+tag+"\n"+extra), 0o644)
		docker(t, "build", "-q", "-t", ref, dir)
		docker(t, "push", ref)
		t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	}
	build("1.0.0", "")
	build("1.1.0", "")
	build("2.0.0-broken", "ENV DEMO_UNHEALTHY=1\n")

	cluster, err := store.StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	hook := &webhook{}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)

	dir := t.TempDir()
	token := "e2e-token-0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("# operators\nops:"+token+"\n"), 0o600)
	srv := startServer(t, token, "--etcd", strings.Join(cluster.Endpoints(), ","), "--token-file", filepath.Join(dir, "tokens"),
		"--webhook", hs.URL, "--poll", "1s", "--data-dir", filepath.Join(dir, "data"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.output())
		}
	})
	file := prodFile(t, dir, pool, reg, "1.0.0", "info")

	// A push without a token is refused and stores nothing.
	r := srv.as(t, "mallory", "", "push", "-f", file)
	if r.code == 0 || !strings.Contains(r.stderr, "token") {
		t.Fatalf("push without a token must fail with 401:\n%s", r)
	}
	if r := srv.as(t, "reader", "", "history"); !strings.Contains(r.stdout, "Nothing pushed yet") {
		t.Fatalf("a refused push stored something:\n%s", r)
	}

	// Push; the server notices the new version: event and webhook.
	r = srv.must(t, "alice", "push", "-f", file, "-m", "first")
	if !strings.Contains(r.stdout, "Pushed version 1") || !strings.Contains(r.stdout, "core.api") {
		t.Fatalf("push:\n%s", r)
	}
	waitFor(t, "the webhook for version 1", 15*time.Second, func() bool { return len(hook.versions()) >= 1 })
	waitFor(t, "the outdated event", 10*time.Second, func() bool { return hasEvent(srv.events(t), "outdated", "ok", "core.api") })
	if r := srv.must(t, "reader", "list"); !strings.Contains(r.stdout, "2 (critical)") || !strings.Contains(r.stdout, "down") {
		t.Errorf("list before up: want 2 (critical) needed and the job down:\n%s", r)
	}
	// Reads mask secrets.
	if r := srv.must(t, "reader", "history", "--json"); strings.Contains(r.stdout, "hunter2") {
		t.Errorf("history shows a secret:\n%s", r.stdout)
	}

	// up: both tasks on their hosts, healthy, version 1. git binds a host
	// folder that does not exist yet: the engine makes it.
	srv.must(t, "alice", "up", "--all", "--progress", "plain")
	if fi, err := os.Stat(filepath.Join(dir, "git-store")); err != nil || !fi.IsDir() {
		t.Errorf("the host folder git binds was not made: %v", err)
	}
	if r := srv.must(t, "alice", "reload", "git"); !strings.Contains(r.stdout+r.stderr, "the engine makes the folder when it is missing") {
		t.Errorf("reload git does not say the host path is made:\n%s", r)
	}
	if !hasEvent(srv.events(t), "reload", "ok", "git-store") {
		t.Errorf("the reload event does not name the host path")
	}
	j := srv.job(t, "core.api")
	if j.Running != 2 || j.State != "ok" || len(j.Versions) != 1 || j.Versions[0] != 1 {
		t.Fatalf("after up: %+v", j)
	}
	for _, h := range pool.Hosts {
		if code, _, err := pool.Get(h.Name, "http://"+h.Address+":8000/healthz"); err != nil || code != 200 {
			t.Errorf("api on %s: %d %v", h.Name, code, err)
		}
	}

	if r := srv.must(t, "reader", "logs", "api", "--task", "2"); !strings.Contains(r.stdout, "GET /healthz 200") {
		t.Errorf("logs api --task 2 (health checks are logged):\n%s", r)
	}

	// update without a tag lists the registry's tags, newest first, and
	// which one runs.
	r = srv.must(t, "alice", "update", "api")
	i0, i1, ib := strings.Index(r.stdout, "1.0.0"), strings.Index(r.stdout, "1.1.0 "), strings.Index(r.stdout, "2.0.0-broken")
	if i1 < 0 || ib < 0 || !strings.Contains(r.stdout, "<- running") || !(ib < i1) {
		t.Errorf("update api (tags newest first, the running one marked):\n%s", r)
	}
	_ = i0

	// update to 1.1.0: a version is pushed and every task moves.
	r = srv.must(t, "alice", "update", "api", "1.1.0", "--progress", "plain")
	j = srv.job(t, "core.api")
	for _, tk := range j.Tasks {
		if !strings.HasSuffix(tk.Image, ":1.1.0") || tk.Version != 2 || tk.State != "running" {
			t.Errorf("after update to 1.1.0, task %d: %+v\n%s", tk.Task, tk, r)
		}
	}

	// A broken tag: the first task fails its health check, is rolled back,
	// the second is never touched; a version puts 1.1.0 back.
	before := map[int]string{}
	for _, tk := range j.Tasks {
		before[tk.Task] = tk.ID
	}
	r = srv.as(t, "alice", token, "rolling-update", "api", "--image", "2.0.0-broken", "--health-timeout", "3s", "--progress", "plain")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "rolled back") {
		t.Fatalf("rolling update onto a broken tag must fail and roll back:\n%s", r)
	}
	j = srv.job(t, "core.api")
	for _, tk := range j.Tasks {
		if !strings.HasSuffix(tk.Image, ":1.1.0") || tk.State != "running" || tk.Version != 2 {
			t.Errorf("after the rollback, task %d: %+v", tk.Task, tk)
		}
	}
	if j.Tasks[1].ID != before[2] {
		t.Errorf("task 2 was touched although task 1 failed first")
	}
	head := srv.must(t, "reader", "history", "-n", "1").stdout
	if !strings.Contains(head, "version 4") || !strings.Contains(head, "automatic rollback") || !strings.Contains(head, "1.1.0") {
		t.Errorf("the pushed config should be back on 1.1.0 in version 4:\n%s", head)
	}
	if j.State != "ok" {
		t.Errorf("after the rollback the job should be ok (running = pushed): %+v", j)
	}

	// History of the job shows every version that changed it.
	r = srv.must(t, "reader", "history", "api")
	for _, want := range []string{"version 4", "version 3", "version 2", "version 1", "2.0.0-broken", "1.1.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("history api lacks %q:\n%s", want, r.stdout)
		}
	}
	evs := srv.events(t)
	for _, e := range [][3]string{{"push", "ok", "first"}, {"up", "ok", ""}, {"update", "ok", "1.1.0"}, {"rolling-update", "rolled back", "2.0.0-broken"}, {"push", "refused", "401"}} {
		if !hasEvent(evs, e[0], e[1], e[2]) {
			t.Errorf("no event %v in:\n%s", e, srv.must(t, "reader", "events").stdout)
		}
	}

	// alice's file still says 1.0.0 and is based on version 1: pushing it
	// would undo the updates, so it is refused; --force overrides.
	file = prodFile(t, dir, pool, reg, "1.1.0", "debug")
	r = srv.as(t, "alice", token, "push", "-f", file)
	if r.code == 0 || !strings.Contains(r.stderr, "was pushed by") {
		t.Fatalf("a push on a stale base must be refused:\n%s", r)
	}
	r = srv.must(t, "alice", "diff", "-f", file)
	if !strings.Contains(r.stdout, "LOG_LEVEL") || strings.Contains(r.stdout, "hunter2") {
		t.Errorf("diff (local vs pushed, secrets masked):\n%s", r.stdout)
	}
	srv.must(t, "alice", "push", "-f", file, "--force", "-m", "debug logs")
	r = srv.must(t, "reader", "diff", "-f", file)
	if !strings.Contains(r.stdout, "core.api") || !strings.Contains(r.stdout, "LOG_LEVEL") {
		t.Errorf("diff: version 5 vs production should show api's env change:\n%s", r.stdout)
	}

	// One etcd member goes away: pushes and reads go on.
	if err := cluster.Stop(cluster.Leader()); err != nil {
		t.Fatal(err)
	}
	file = prodFile(t, dir, pool, reg, "1.1.0", "warn")
	srv.must(t, "alice", "push", "-f", file, "-m", "with a member down")
	if r := srv.must(t, "reader", "history", "-n", "1"); !strings.Contains(r.stdout, "version 6") {
		t.Errorf("history with a member down:\n%s", r)
	}
	srv.must(t, "alice", "rolling-update", "api", "--max-parallel", "2", "--progress", "plain")

	// The server restarts: everything is still there.
	srv.stop(t)
	srv.start(t)
	r = srv.must(t, "reader", "history", "-n", "0")
	for v := 1; v <= 6; v++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("version %d ", v)) {
			t.Errorf("after a restart, version %d is missing:\n%s", v, r.stdout)
		}
	}
	j = srv.job(t, "core.api")
	if j.State != "ok" || j.Running != 2 || j.Versions[0] != 6 {
		t.Errorf("after the restart: %+v", j)
	}

	// A mutation with a wrong token is refused and changes nothing.
	r = srv.as(t, "mallory", "wrong-token-0123456789", "down", "api")
	if r.code == 0 || !strings.Contains(r.stderr, "token") {
		t.Errorf("down with a wrong token must fail:\n%s", r)
	}
	if j2 := srv.job(t, "core.api"); j2.Running != 2 {
		t.Errorf("a refused down changed something: %+v", j2)
	}
	if !hasEvent(srv.events(t), "down", "refused", "wrong token") {
		t.Errorf("the refused down is not in the events")
	}

	// Node data from both hosts.
	var nodes []status.Node
	r = srv.must(t, "reader", "status", "--json")
	var st struct {
		Nodes []status.Node `json:"nodes"`
	}
	json.Unmarshal([]byte(r.stdout), &st)
	nodes = st.Nodes
	if len(nodes) != 2 || !nodes[0].Reachable || nodes[0].CPUs == 0 || nodes[0].EngineVersion == "" || nodes[1].TasksRunning != 2 {
		t.Errorf("nodes: %+v", nodes)
	}

	// rollback: by default the newest earlier definition (version 5's
	// debug logs), as a new version; --to names one.
	r = srv.must(t, "alice", "rollback", "api", "--progress", "plain")
	if h := srv.must(t, "reader", "history", "-n", "1").stdout; !strings.Contains(h, "version 7") || !strings.Contains(h, "rollback core.api to version 5") || !strings.Contains(h, "LOG_LEVEL") {
		t.Errorf("rollback api:\n%s\n%s", r, h)
	}
	srv.must(t, "alice", "rollback", "api", "--to", "2", "--progress", "plain")
	j = srv.job(t, "core.api")
	if j.State != "ok" || len(j.Versions) != 1 || j.Versions[0] != 8 || !strings.HasSuffix(j.Tasks[0].Image, ":1.1.0") {
		t.Errorf("after rollback --to 2: %+v", j)
	}

	// deploy: version 6's file again, as version 9, every job up on it.
	r = srv.must(t, "alice", "deploy", "6", "--progress", "plain")
	if h := srv.must(t, "reader", "history", "-n", "1").stdout; !strings.Contains(h, "version 9") || !strings.Contains(h, "deploy version 6") {
		t.Errorf("deploy 6:\n%s\n%s", r, h)
	}
	if j := srv.job(t, "core.api"); j.State != "ok" || j.Versions[0] != 9 {
		t.Errorf("after deploy 6: %+v", j)
	}

	// down stops the job everywhere.
	srv.must(t, "alice", "down", "api", "--progress", "plain")
	if j := srv.job(t, "core.api"); j.Running != 0 || j.State != "stopped" {
		t.Errorf("after down: %+v", j)
	}
	srv.must(t, "alice", "down", "git", "--progress", "plain")

	var info api.Info
	resp, err := http.Get("http://" + srv.addr + "/api/v1/info")
	if err == nil {
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
	}
	if info.Head != 9 || info.Embedded || len(info.Etcd) != 3 {
		t.Errorf("info: %+v", info)
	}
	if got := hook.versions(); len(got) < 6 {
		t.Errorf("webhook saw versions %v, want all 6", got)
	}
}

// TestServerEmbedded: `cjob server` with nothing but a data dir is a
// complete server (embedded etcd, a generated token); a restart keeps every
// version; a second server on the same data dir is refused; a host that
// cannot be reached is reported, not waited for.
func TestServerEmbedded(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, "", "--data-dir", data, "--host-timeout", "500ms")
	b, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatalf("no generated token: %v\n%s", err, srv.output())
	}
	if fi, _ := os.Stat(filepath.Join(data, "token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	srv.token = strings.TrimSpace(string(b))
	file := jobsFileNoCleanup(t, `
project: emb
hosts:
  far-1: {address: 10.255.255.1, docker: "tcp://10.255.255.1:2375"}
services:
  s:
    jobs:
      a: {image: "coding/git:1.0.0", port: 8090, env: {ROLE: git, API_TOKEN: very-secret-value}, run_on_host: far-1}
`)
	broken := jobsFileNoCleanup(t, "project: emb\nhosts: {h: {}}\nservices:\n  s:\n    jobs:\n      a: {image: x, run_on_host: nowhere}\n      b: {image: y, run_on_host: elsewhere}\n")
	r := srv.as(t, "ops", srv.token, "push", "-f", broken)
	if r.code == 0 || strings.Count(r.stderr, "jobs.yml:") < 2 {
		t.Errorf("pushing a broken file: every error, with file:line, and a failure:\n%s", r)
	}
	srv.must(t, "ops", "push", "-f", file, "-m", "one")
	start := time.Now()
	r = srv.must(t, "ops", "status")
	if !strings.Contains(r.stdout, "down") || !strings.Contains(r.stdout, "far-1") {
		t.Errorf("status with an unreachable host:\n%s", r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("status took %s with one unreachable host (timeout 500ms)", d)
	}
	r = srv.as(t, "ops", srv.token, "up", "a")
	if r.code == 0 || !strings.Contains(r.stderr, "far-1") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("up on an unreachable host must fail, naming it:\n%s", r)
	}
	if r := srv.must(t, "ops", "history", "--json"); strings.Contains(r.stdout, "very-secret-value") {
		t.Errorf("history shows a secret")
	}

	// A second server on the same data dir is refused with a clear error.
	second := exec.Command(cjobBin, "server", "--listen", freeAddr(t), "--data-dir", data)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Errorf("a second server on the same data dir: %v\n%s", err, out)
	}

	srv.stop(t)
	srv.start(t)
	r = srv.must(t, "ops", "history")
	if !strings.Contains(r.stdout, "version 1") || !strings.Contains(r.stdout, `"one"`) {
		t.Errorf("after a restart:\n%s", r)
	}
	if r := srv.must(t, "ops", "events"); !strings.Contains(r.stdout, "up") || !strings.Contains(r.stdout, "failed") {
		t.Errorf("events after a restart:\n%s", r)
	}

	// The store is replaced at the same address (a new data dir): the
	// operator's first push is accepted, though this machine remembers
	// version 1 of the old store; then a stale base is refused again.
	srv.stop(t)
	fresh := filepath.Join(dir, "fresh")
	for i, a := range srv.args {
		if a == data {
			srv.args[i] = fresh
		}
	}
	srv.start(t)
	b, err = os.ReadFile(filepath.Join(fresh, "token"))
	if err != nil {
		t.Fatal(err)
	}
	srv.token = strings.TrimSpace(string(b))
	if r := srv.must(t, "ops", "push", "-f", file, "-m", "on the new store"); !strings.Contains(r.stdout, "Pushed version 1") {
		t.Errorf("the first push to a replaced store:\n%s", r)
	}
	edited := strings.Replace(readFile(t, file), "very-secret-value", "another-secret", 1)
	os.WriteFile(file, []byte(edited), 0o644)
	srv.must(t, "bob", "push", "-f", file, "-m", "bob's")
	os.WriteFile(file, []byte(strings.Replace(edited, "8090", "8091", 1)), 0o644)
	if r := srv.as(t, "ops", srv.token, "push", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "refused") {
		t.Errorf("a push over bob's version from a stale base must be refused:\n%s", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServerTLS: with --tls-cert the API and the UI are served over HTTPS;
// the CLI trusts a private CA with --cacert (or CJOB_CACERT) and refuses
// the server without it.
func TestServerTLS(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	ca, cert, key, err := pooltest.Certs(filepath.Join(dir, "tls"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	token := "tls-token-0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "tokens"), []byte(token+"\n"), 0o600)
	addr := freeAddr(t)
	cmd := exec.Command(cjobBin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--token-file", filepath.Join(dir, "tokens"), "--tls-cert", cert, "--tls-key", key)
	var log strings.Builder
	var mu sync.Mutex
	cmd.Stdout = writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(b) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	srv := &server{addr: "https://" + addr, token: token}
	waitFor(t, "the TLS server", 30*time.Second, func() bool {
		r := srv.as(t, "ops", "", "history", "--cacert", ca)
		return r.code == 0
	})
	mu.Lock()
	if !strings.Contains(log.String(), "listening on https://") {
		t.Errorf("server log:\n%s", log.String())
	}
	mu.Unlock()
	file := jobsFileNoCleanup(t, "project: tls\nhosts: {h: {docker: \"tcp://127.0.0.1:1\"}}\nservices:\n  s:\n    jobs:\n      a: {image: x, run_on_host: h}\n")
	if r := srv.as(t, "ops", token, "push", "-f", file, "--cacert", ca); r.code != 0 || !strings.Contains(r.stdout, "Pushed version 1") {
		t.Errorf("push over https:\n%s", r)
	}
	if r := srv.as(t, "ops", token, "history"); r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without the CA the CLI must refuse the server's certificate:\n%s", r)
	}
}

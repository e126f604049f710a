package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDependencyFailure: a job that crashes is reported with its exit code
// and log tail, the jobs that depend on it are not started, the others come
// up (one with a health check run inside its container), the exit code is
// non-zero, and a re-run after the fix converges.
func TestDependencyFailure(t *testing.T) {
	need(t)
	const project = "e2e-fail"
	file := jobsFile(t, `
project: e2e-fail
vars: {exit: "3"}
hosts:
  app-1: {address: 10.9.0.1}
  app-2: {address: 10.9.0.2}
services:
  core:
    jobs:
      broken:
        image: coding/api:1.0.0
        port: 8000
        env: {ROLE: git, PORT: "8000", DEMO_EXIT: "{{ .Vars.exit }}"}
        health: {http: /healthz}
        run_on_host: app-1
      dependent:
        image: coding/api:1.0.0
        port: 8001
        env: {ROLE: git, PORT: "8001"}
        depends_on: [broken]
        health: {http: /healthz}
        run_on_host: app-1
      independent:
        image: coding/api:1.0.0
        port: 8002
        env: {ROLE: git, PORT: "8002"}
        health: {cmd: ["/demo", "healthcheck", "http://127.0.0.1:8002/healthz"], interval: 500ms}
        run_on_host: app-2
`)
	r := cjob(t, "dev", "up", "-f", file, "--progress", "plain")
	if r.code == 0 {
		t.Fatalf("up with a crashing job should fail:\n%s", r)
	}
	for _, want := range []string{"core.broken/1", "exited with code 3", "last log lines", "core.dependent/1: not started"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	cs := observe(t, project)
	if c := cs["core.independent/1"]; c == nil || c.State.String() != "running" {
		t.Errorf("the independent job should be running: %+v", c)
	}
	if c := cs["core.dependent/1"]; c != nil {
		t.Errorf("the dependent job should not have been created: %+v", c)
	}
	// Fix it: the next up converges.
	r = cjob(t, "dev", "up", "-f", file, "--set", "exit=", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("up after the fix should converge:\n%s", r)
	}
	cs = observe(t, project)
	for _, k := range []string{"core.broken/1", "core.dependent/1", "core.independent/1"} {
		if c := cs[k]; c == nil || c.State.String() != "running" {
			t.Errorf("%s should be running after the fix: %+v", k, c)
		}
	}
}

func freePort(t *testing.T) (int, net.Listener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr().(*net.TCPAddr).Port, l
}

// TestPortConflict: a production port already in use on this machine, and a
// port used on two production hosts, are each moved to a free port,
// deterministically, shown by explain, and reachable.
func TestPortConflict(t *testing.T) {
	need(t)
	busy, l := freePort(t) // held for the whole test
	defer l.Close()
	shared, l2 := freePort(t)
	l2.Close()
	file := jobsFile(t, fmt.Sprintf(`
project: e2e-ports
hosts:
  a: {}
  b: {}
services:
  s:
    jobs:
      taken: {image: coding/api:1.0.0, port: %d, env: {ROLE: git, PORT: "%d"}, health: {http: /healthz}, run_on_host: a}
      x: {image: coding/api:1.0.0, port: %d, env: {ROLE: git, PORT: "%d"}, health: {http: /healthz}, run_on_host: a}
      y: {image: coding/api:1.0.0, port: %d, env: {ROLE: git, PORT: "%d"}, health: {http: /healthz}, run_on_host: b}
`, busy, busy, shared, shared, shared, shared))
	ex := mustCjob(t, "dev", "explain", "-f", file)
	if !strings.Contains(ex.stdout, fmt.Sprintf("port %d published on 127.0.0.1:", busy)) || !strings.Contains(ex.stdout, "in use on this machine") {
		t.Errorf("explain should show the busy port moved:\n%s", ex.stdout)
	}
	if !strings.Contains(ex.stdout, "also used by another host sandbox") {
		t.Errorf("explain should show the shared port moved:\n%s", ex.stdout)
	}
	u := parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
	seen := map[string]bool{}
	for _, j := range u.Jobs {
		if j.Local == "" || seen[j.Local] {
			t.Errorf("%s: local URL %q missing or shared", j.Job, j.Local)
			continue
		}
		seen[j.Local] = true
		if j.Job == "s.taken" && strings.HasSuffix(j.Local, fmt.Sprint(":", busy)) {
			t.Errorf("s.taken kept the busy port %d", busy)
		}
		if code, body := httpGet(t, j.Local+"/healthz"); code != 200 {
			t.Errorf("%s at %s: %d %s", j.Job, j.Local, code, body)
		}
	}
	// Deterministic and stable: a second up keeps every port.
	if r := mustCjob(t, "dev", "up", "-f", file); !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("second up should keep the moved ports and do nothing:\n%s", r)
	}
}

// TestLegacySeed: the original tool's protobuf text file runs as is.
func TestLegacySeed(t *testing.T) {
	need(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples/legacy/jobs.pb.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "e2e-legacy")
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, "jobs.pb.txt")
	os.WriteFile(file, src, 0o644)
	t.Cleanup(func() {
		cjob(t, "dev", "down", "--volumes", "--progress", "quiet", "-f", file, "--project", "e2e-legacy")
	})
	v := mustCjob(t, "validate", "-f", file)
	t.Log(v.stdout + v.stderr)
	r := mustCjob(t, "dev", "up", "-f", file, "--project", "e2e-legacy", "--progress", "plain")
	cs := observe(t, "e2e-legacy")
	for _, k := range []string{"coding-prober.coding-prober/1", "coding-blog.coding-blog/1", "webhook-listener.webhook-listener/1", "updatehook-listener.updatehook-listener/1"} {
		if c := cs[k]; c == nil || c.State.String() != "running" {
			t.Errorf("%s should be running: %+v\n%s", k, c, r)
		}
	}
	probeInside(t, "e2e-legacy", "mon", "tcp://core-app-2:9090", "tcp://git-app-1:8990", "tcp://mon:4444")
}

// TestSelectedJobs: `dev up web` starts web and what it depends on, says
// what it added, and leaves the rest of the file alone.
func TestSelectedJobs(t *testing.T) {
	need(t)
	const project = "e2e-select"
	file := demoFile(t, project, nil)
	tracePath := filepath.Join(t.TempDir(), "up.json")
	r := mustCjob(t, "dev", "up", "web", "-f", file, "--progress", "plain", "--trace", tracePath)
	if !strings.Contains(r.stderr, "adding dependencies:") || !strings.Contains(r.stderr, "infra.cache") {
		t.Errorf("up web should say which dependencies it added:\n%s", r)
	}
	checkTrace(t, tracePath, r)
	cs := observe(t, project)
	for _, k := range []string{"coding-core.web/1", "coding-core.api/1", "infra.cache/1", "infra.queue/1", "coding-git.git/1"} {
		if cs[k] == nil {
			t.Errorf("%s should have been started", k)
		}
	}
	for _, k := range []string{"edge.gateway/1", "monitoring.prober/1", "coding-notify.mail/1"} {
		if cs[k] != nil {
			t.Errorf("%s is not a dependency of web and should not run", k)
		}
	}
}

// TestInterruptedUpConverges: Ctrl-C during up stops cleanly; the next up
// finishes the job.
func TestInterruptedUpConverges(t *testing.T) {
	need(t)
	const project = "e2e-interrupt"
	file := demoFile(t, project, nil)
	cmd := exec.Command(cjobBin, "dev", "up", "-f", file, "--progress", "plain")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("up did not stop within 30s of Ctrl-C:\n%s", out)
	}
	t.Logf("interrupted up:\n%s", out)
	r := mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	cs := observe(t, project)
	for k, c := range cs {
		if c.State.String() != "running" && k != "infra.migrate/1" {
			t.Errorf("%s is %s after the converging up:\n%s", k, c.State, r)
		}
	}
	if len(cs) < 16 {
		t.Errorf("only %d containers after the converging up", len(cs))
	}
}

// checkTrace reads a `dev up --trace` file: Chrome trace-event JSON with
// the command's steps, an op per lane with its wait, engine requests and
// readiness.
func checkTrace(t *testing.T, path string, r result) {
	t.Helper()
	if !strings.Contains(r.stderr, "trace: "+path) {
		t.Errorf("up does not say where the trace is:\n%s", r)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Name, Ph string
			Dur      float64
			Tid      int
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the trace is not JSON: %v", err)
	}
	names := map[string]bool{}
	lanes := map[int]bool{}
	for _, e := range doc.TraceEvents {
		if e.Ph != "X" {
			continue
		}
		lanes[e.Tid] = true
		switch {
		case strings.HasPrefix(e.Name, "POST /") && strings.HasSuffix(e.Name, "/containers/create"):
			names["engine create"] = true
		case strings.HasPrefix(e.Name, "POST /") && strings.HasSuffix(e.Name, "/start"):
			names["engine start"] = true
		case strings.HasSuffix(e.Name, "coding-core.web/1"):
			names["web op"] = true
		default:
			names[e.Name] = true
		}
	}
	for _, want := range []string{"cjob dev up", "load", "connect", "rewrite", "observe", "plan", "apply", "engine create", "engine start", "web op", "wait for dependencies", "ready"} {
		if !names[want] {
			t.Errorf("the trace has no %q span", want)
		}
	}
	if len(lanes) < 3 {
		t.Errorf("the trace has %d lanes: ops that run at once should each have one", len(lanes))
	}
}

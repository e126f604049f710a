package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/pooltest"
	"github.com/cjob/cjob/internal/store"
)

// faultsFile is six jobs on three hosts, each slow to start (so an
// operation is still running when a fault is made), and one job with a
// task on every host for rolling updates.
func faultsFile(t *testing.T, dir string, pool *pooltest.Pool, level string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("project: cjfault\nhosts:\n")
	for i, h := range pool.Hosts {
		fmt.Fprintf(&b, "  prod-%d: {address: %s, docker: %q}\n", i+1, h.Address, h.Endpoint)
	}
	b.WriteString("services:\n  svc:\n    jobs:\n")
	for i := range 6 {
		fmt.Fprintf(&b, "      j%d:\n        image: coding/git:1.0.0\n        port: %d\n        env: {ROLE: git, PORT: \"%d\", DEMO_START_DELAY: 1500ms}\n        health: {http: /healthz, interval: 200ms, retries: 50}\n        run_on_host: prod-%d\n", i, 8100+i, 8100+i, i/2+1)
	}
	fmt.Fprintf(&b, "      roll:\n        image: coding/git:1.0.0\n        port: 8200\n        env: {ROLE: git, PORT: \"8200\", DEMO_START_DELAY: 1500ms, LOG_LEVEL: %s}\n        health: {http: /healthz, interval: 200ms, retries: 50}\n        tasks: [{host: prod-1}, {host: prod-2}, {host: prod-3}]\n", level)
	path := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// background is a CLI command running while the test makes a fault.
type background struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
}

func (s *server) background(t *testing.T, op string, args ...string) *background {
	t.Helper()
	bg := &background{done: make(chan struct{})}
	bg.cmd = exec.Command(cjobBin, append(args, "--host", s.addr)...)
	bg.cmd.Dir = repoRoot
	bg.cmd.Env = append(os.Environ(), "CJOB_TOKEN="+s.token, "CJOB_AUTHOR="+op, "XDG_STATE_HOME="+filepath.Join(os.TempDir(), "cjob-e2e-op-"+op))
	bg.cmd.Stdout, bg.cmd.Stderr = &bg.out, &bg.err
	if err := bg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { bg.cmd.Wait(); close(bg.done) }()
	return bg
}

func (bg *background) wait(t *testing.T, within time.Duration) result {
	t.Helper()
	select {
	case <-bg.done:
	case <-time.After(within):
		bg.cmd.Process.Kill()
		<-bg.done
		t.Fatalf("%v did not end within %s", bg.cmd.Args, within)
	}
	return result{stdout: bg.out.String(), stderr: bg.err.String(), code: bg.cmd.ProcessState.ExitCode()}
}

// kill9 kills the server as a crash would: no shutdown at all.
func (s *server) kill9(t *testing.T) {
	t.Helper()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// TestProductionFaults: what production does when things go wrong under
// it, on real engines (three dockerd in network namespaces) and a real
// etcd: an engine stopped in the middle of up --all, the server killed
// (-9) in the middle of a rolling update and of up --all, and etcd losing
// its quorum. After each, the server says exactly what was left, no job is
// left with no task running without an event saying so, and it all comes
// back.
func TestProductionFaults(t *testing.T) {
	need(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cjfault", Hosts: 3, Subnet: "10.220.0.0/24", Images: []string{"coding/git:1.0.0"}})
	cluster, err := store.StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	token := "e2e-token-0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("ops:"+token+"\n"), 0o600)
	srv := startServer(t, token, "--etcd", strings.Join(cluster.Endpoints(), ","), "--token-file", filepath.Join(dir, "tokens"),
		"--poll", "1s", "--host-timeout", "2s", "--data-dir", filepath.Join(dir, "data"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.output())
		}
	})
	file := faultsFile(t, dir, pool, "info")
	srv.must(t, "ops", "push", "-f", file, "-m", "v1")

	t.Run("an engine stopped in the middle of up --all", func(t *testing.T) {
		bg := srv.background(t, "ops", "up", "--all", "--progress", "plain")
		time.Sleep(800 * time.Millisecond) // sandboxes made, tasks starting
		if err := pool.Stop(pool.Hosts[2].Name); err != nil {
			t.Fatal(err)
		}
		r := bg.wait(t, 3*time.Minute)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "prod-3") {
			t.Errorf("up --all with prod-3 lost: want a failure naming it:\n%s", r)
		}
		for _, j := range []string{"svc.j0", "svc.j1", "svc.j2", "svc.j3"} {
			if st := srv.job(t, j); st.Running != 1 {
				t.Errorf("%s on a host that answered: %d running, want 1", j, st.Running)
			}
		}
		if r := srv.must(t, "ops", "status"); !strings.Contains(r.stdout, "prod-3") {
			t.Errorf("status does not show prod-3 down:\n%s", r)
		}
		if err := pool.Restart(pool.Hosts[2].Name); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "prod-3 seen again within a poll", 15*time.Second, func() bool {
			return hasEvent(srv.events(t), "host", "reachable", "answers again")
		})
		srv.must(t, "ops", "up", "--all", "--progress", "plain")
		for _, j := range []string{"svc.j4", "svc.j5", "svc.roll"} {
			if st := srv.job(t, j); st.State != "ok" {
				t.Errorf("after the second up --all, %s: %+v", j, st)
			}
		}
		if !hasEvent(srv.events(t), "host", "unreachable", "prod-3") {
			t.Errorf("no event says prod-3 went away")
		}
	})

	t.Run("an engine restarted under running jobs", func(t *testing.T) {
		host := pool.Hosts[1].Name // prod-2: svc.j2, svc.j3 and a task of svc.roll
		if err := pool.Stop(host); err != nil {
			t.Fatal(err)
		}
		if err := pool.Restart(host); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		// The poll runs every second with a 2 s host timeout.
		waitFor(t, "the stopped tasks seen within a poll", 10*time.Second, func() bool {
			evs := srv.events(t)
			return hasEvent(evs, "task", "stopped", "svc.j2") && hasEvent(evs, "task", "stopped", "svc.j3")
		})
		t.Logf("tasks stopped by the engine's restart reported %s after it answered again", time.Since(back).Round(100*time.Millisecond))
		for _, j := range []string{"svc.j2", "svc.j3"} {
			if st := srv.job(t, j); st.Running != 0 || st.State == "ok" {
				t.Errorf("%s after its engine restarted: %+v, want no task running", j, st)
			}
		}
		if st := srv.job(t, "svc.roll"); st.Running != 2 {
			t.Errorf("svc.roll after one engine restarted: %d running, want 2", st.Running)
		}
		srv.must(t, "ops", "up", "--all", "--progress", "plain")
		for _, j := range []string{"svc.j2", "svc.j3", "svc.roll"} {
			if st := srv.job(t, j); st.State != "ok" {
				t.Errorf("after up --all, %s: %+v", j, st)
			}
		}
	})

	t.Run("the server killed in the middle of a rolling update", func(t *testing.T) {
		srv.must(t, "ops", "push", "-f", faultsFile(t, dir, pool, "debug"), "-m", "v2")
		bg := srv.background(t, "ops", "rolling-update", "roll", "--progress", "plain")
		time.Sleep(2500 * time.Millisecond) // the first task replaced, the second starting
		srv.kill9(t)
		bg.wait(t, time.Minute) // the CLI sees its stream cut
		srv.start(t)
		waitFor(t, "the interrupted rolling update reported", 30*time.Second, func() bool {
			return hasEvent(srv.events(t), "rolling-update", "interrupted", "the server stopped during rolling-update")
		})
		st := srv.job(t, "svc.roll")
		if st.Running < 2 {
			t.Errorf("svc.roll after the kill: %+v", st)
		}
		noSilentOutage(t, srv)
		srv.must(t, "ops", "rolling-update", "roll", "--progress", "plain")
		if st := srv.job(t, "svc.roll"); st.State != "ok" || st.Running != 3 {
			t.Errorf("svc.roll after resuming: %+v", st)
		}
	})

	t.Run("the server killed in the middle of up --all", func(t *testing.T) {
		for i := range 6 {
			srv.must(t, "ops", "down", fmt.Sprintf("svc.j%d", i))
		}
		bg := srv.background(t, "ops", "up", "--all", "--progress", "plain")
		time.Sleep(1200 * time.Millisecond)
		srv.kill9(t)
		bg.wait(t, time.Minute)
		srv.start(t)
		waitFor(t, "the interrupted up --all reported", 30*time.Second, func() bool {
			return hasEvent(srv.events(t), "up", "interrupted", "the server stopped during up")
		})
		noSilentOutage(t, srv)
		srv.must(t, "ops", "up", "--all", "--progress", "plain")
		for i := range 6 {
			if st := srv.job(t, fmt.Sprintf("svc.j%d", i)); st.State != "ok" {
				t.Errorf("svc.j%d after up --all again: %+v", i, st)
			}
		}
	})

	t.Run("etcd loses a member, then its quorum", func(t *testing.T) {
		if err := cluster.Stop(cluster.Leader()); err != nil {
			t.Fatal(err)
		}
		srv.must(t, "ops", "push", "-f", faultsFile(t, dir, pool, "warn"), "-m", "a member down")
		srv.must(t, "ops", "list")
		srv.must(t, "ops", "status", "roll")
		srv.must(t, "ops", "up", "roll", "--progress", "plain")

		leader := cluster.Leader()
		if err := cluster.Stop(leader); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := srv.as(t, "ops", token, "push", "-f", faultsFile(t, dir, pool, "error"), "-m", "no quorum")
		if r.code == 0 || !strings.Contains(r.stderr, "etcd") {
			t.Errorf("a push without a quorum must fail, saying etcd is the cause:\n%s", r)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the failed push took %s", d)
		}
		t.Logf("push without a quorum failed in %s: %s", time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(r.stderr))
		start = time.Now()
		if r := srv.as(t, "ops", token, "list"); r.code != 0 || !strings.Contains(r.stdout, "roll") {
			t.Errorf("list without a quorum (from the job states last read) failed:\n%s", r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("list without a quorum took %s", d)
		}
		if r := srv.as(t, "ops", token, "status", "roll"); r.code != 0 || !strings.Contains(r.stdout, "prod-3") {
			t.Errorf("status without a quorum failed:\n%s", r)
		}
		t.Logf("list and status without a quorum: %s", time.Since(start).Round(10*time.Millisecond))
		start = time.Now()
		if r := srv.as(t, "ops", token, "up", "roll", "--progress", "plain"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "etcd is unavailable") {
			t.Errorf("up without a quorum must fail before changing anything, saying etcd is the cause:\n%s", r)
		} else {
			t.Logf("up without a quorum failed in %s: %s", time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(r.stderr))
		}
		if err := cluster.Restart(leader); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		waitFor(t, "pushes working again, with no restart of the server", 60*time.Second, func() bool {
			return srv.as(t, "ops", token, "push", "-f", faultsFile(t, dir, pool, "error"), "-m", "quorum back").code == 0
		})
		t.Logf("pushes work again %s after the member restarted", time.Since(back).Round(100*time.Millisecond))
		srv.must(t, "ops", "list")
	})
}

// noSilentOutage fails the test when a job the operators want up has no
// task running and no event says so.
func noSilentOutage(t *testing.T, srv *server) {
	t.Helper()
	r := srv.must(t, "ops", "list", "--json")
	evs := srv.events(t)
	for _, line := range strings.Split(r.stdout, "\"job\": ")[1:] {
		job := strings.Trim(strings.SplitN(line, ",", 2)[0], `"`)
		st := srv.job(t, job)
		if st.Desired != "up" || st.Running > 0 || st.Oneshot {
			continue
		}
		said := false
		for _, e := range evs {
			if e.Result == "interrupted" && strings.Contains(e.Detail, job+" has no task running") {
				said = true
			}
		}
		if !said {
			t.Errorf("%s has no task running and no event says so", job)
		}
	}
}

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/pooltest"
)

var demoImages = []string{
	"coding/gateway:1.0.0", "coding/web:1.0.0", "coding/api:1.0.0", "coding/git:1.0.0", "coding/mail:1.0.0",
	"coding/sms:1.0.0", "coding/worker:1.0.0", "coding/cache:1.0.0", "coding/queue:1.0.0",
	"coding/migrate:1.0.0", "coding/prober:1.0.0",
}

// stagingFile is the demo's jobs file with a staging pool of the given
// hosts (the first `listed` of them in environments.staging.pool).
func stagingFile(t *testing.T, dir, project string, pool *pooltest.Pool, listed int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/coding/jobs.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^project: coding$`).ReplaceAllString(string(b), "project: "+project)
	var hosts, names strings.Builder
	for i, h := range pool.Hosts {
		if i == 0 && h.TLSEndpoint != "" {
			// One engine is reached over TCP with TLS client certificates.
			fmt.Fprintf(&hosts, "  %s: {address: %s, docker: %q, tls: {ca: %q, cert: %q, key: %q}, memory: 4GiB}\n",
				h.Name, h.Address, h.TLSEndpoint, h.CA, h.Cert, h.Key)
		} else {
			fmt.Fprintf(&hosts, "  %s: {address: %s, docker: %q, memory: 4GiB}\n", h.Name, h.Address, h.Endpoint)
		}
		if i < listed {
			names.WriteString(h.Name + ", ")
		}
	}
	s = strings.Replace(s, "\nhosts:\n", "\nhosts:\n"+hosts.String(), 1)
	s = strings.Replace(s, "\nenvironments:\n", "\nenvironments:\n  staging:\n    pool: ["+strings.TrimSuffix(names.String(), ", ")+"]\n", 1)
	path := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStaging: the demo production spread over a pool of three engines,
// each in its own network namespace with its own address, one of them
// reached over tcp:// with TLS client certificates. Jobs reach each
// other across hosts by production names; a second up does nothing; an
// engine that goes away mid-up is reported and the next run converges;
// adding a pool host moves nothing.
func TestStaging(t *testing.T) {
	need(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cje2e", Hosts: 4, Subnet: "10.215.0.0/24", Images: demoImages, TLS: true})
	dir := t.TempDir()
	file := stagingFile(t, dir, "e2e-staging", pool, 3)
	t.Cleanup(func() { cjob(t, "staging", "down", "-v", "-f", file, "--progress", "quiet") })

	r := mustCjob(t, "staging", "up", "-f", file, "--progress", "plain")
	t.Logf("staging up on 3 engines: %s\n%s", r.elapsed, r.stdout)
	ex := mustCjob(t, "staging", "explain", "-f", file)
	t.Log(ex.stdout)

	// Where did everything land?
	where := map[string]string{} // job -> pool host
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.Contains(f[0], ".") && strings.HasPrefix(f[3], "stg-") {
			where[f[0]] = f[3]
		}
	}
	if len(where) < 10 {
		t.Fatalf("the URL table should place every job:\n%s", r.stdout)
	}
	used := map[string]bool{}
	for _, h := range where {
		used[h] = true
	}
	if len(used) < 2 {
		t.Errorf("the stack should spread over the pool, it all went to %v", used)
	}

	t.Run("production names across hosts", func(t *testing.T) {
		targets := []string{
			"http://edge-1:8080/healthz", "http://core-app-1:3000/healthz", "http://core-app-1:8000/healthz",
			"http://git-app-1:8090/healthz", "http://msg-app-1:8025/healthz", "http://data-1:6379/healthz",
			"http://data-1:5672/healthz", "http://mon-1:4444/healthz", "http://queue.infra.coding.local:5672/healthz",
			"http://edge-1:8080/", "http://core-app-1:8000/",
		}
		// From a container on every pool host that runs one.
		for _, probe := range []string{"edge.gateway", "infra.cache", "coding-git.git", "monitoring.prober"} {
			host := where[probe]
			name := "e2e-staging-staging." + strings.Replace(probe, ".", ".", 1) + ".1"
			for _, target := range targets {
				out, err := pool.Docker(host, "exec", name, "/demo", "healthcheck", target)
				if err != nil {
					t.Errorf("from %s on %s, %s: %v\n%s", probe, host, target, err, out)
				}
			}
		}
		// And from the pool hosts' network, on the printed addresses.
		for _, h := range pool.Hosts[:3] {
			gw := pool.Hosts[0].Address
			for _, hh := range pool.Hosts {
				if hh.Name == where["edge.gateway"] {
					gw = hh.Address
				}
			}
			if code, body, err := pool.Get(h.Name, "http://"+gw+":8080/"); err != nil || code != 200 {
				t.Errorf("gateway from %s: %d %v %s", h.Name, code, err, body)
			}
		}
	})

	t.Run("logs across the pool", func(t *testing.T) {
		l := mustCjob(t, "staging", "logs", "--jobs", file, "api", "cache")
		if !strings.Contains(l.stdout, "coding-core.api/1 | ") || !strings.Contains(l.stdout, "infra.cache/1") {
			t.Errorf("staging logs should show both jobs, from two pool hosts:\n%s", l.stdout)
		}
	})

	t.Run("second up is a no-op", func(t *testing.T) {
		r := mustCjob(t, "staging", "up", "-f", file)
		if !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("second staging up should do nothing:\n%s", r)
		}
	})

	t.Run("adding a pool host moves nothing", func(t *testing.T) {
		bigger := stagingFile(t, t.TempDir(), "e2e-staging", pool, 4)
		p := mustCjob(t, "staging", "plan", "-f", bigger)
		if !strings.Contains(p.stdout, "unchanged") || strings.Contains(p.stdout, "recreate") || strings.Contains(p.stdout, " create ") {
			t.Errorf("adding stg-4 should move nothing:\n%s", p.stdout)
		}
	})

	t.Run("an engine lost mid-up, then converge", func(t *testing.T) {
		mustCjob(t, "staging", "down", "-f", file, "--progress", "quiet")
		victim := where["infra.cache"]
		cmd := exec.Command(cjobBin, "staging", "up", "-f", file, "--progress", "plain")
		cmd.Dir = repoRoot
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if err := pool.Kill(victim); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).ExitStatus() == 0 {
			t.Logf("up finished before the engine went away (%v):\n%s", err, out)
		} else if !strings.Contains(out.String(), "failed") {
			t.Errorf("the lost engine should be reported:\n%s", out)
		}
		t.Logf("up with %s lost:\n%s", victim, out)
		if err := pool.Restart(victim); err != nil {
			t.Fatal(err)
		}
		r := mustCjob(t, "staging", "up", "-f", file, "--progress", "plain")
		t.Logf("converging up: %s", r.elapsed)
		ps := mustCjob(t, "staging", "ps", "-f", file)
		if strings.Contains(ps.stdout, "unhealthy") || strings.Count(ps.stdout, "running") < 10 {
			t.Errorf("after converging every job should run healthy:\n%s", ps.stdout)
		}
	})
}

// TestStagingPush: an image built on this machine is pushed to the
// registry with `staging up --push`, and the pool engine pulls it from
// there. The registry runs with TLS on the pool's bridge, trusted through
// /etc/docker/certs.d by this machine's engine and the pool's alike.
func TestStagingPush(t *testing.T) {
	need(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cjpush", Hosts: 1, Subnet: "10.216.0.0/24"})
	reg := pool.ServeRegistry(t)
	ref := reg + "/e2e/pushed:1"
	docker(t, "tag", "coding/git:1.0.0", ref)
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	h := pool.Hosts[0]
	file := jobsFileNoCleanup(t, fmt.Sprintf(`
project: e2e-push
hosts:
  app-1: {}
  %s: {address: %s, docker: %q}
services:
  s:
    jobs:
      pushed: {image: %q, port: 8090, env: {ROLE: git}, health: {http: /healthz}, run_on_host: app-1}
environments:
  staging: {pool: [%s]}
`, h.Name, h.Address, h.Endpoint, ref, h.Name))
	t.Cleanup(func() { cjob(t, "staging", "down", "-v", "-f", file, "--progress", "quiet") })

	r := cjob(t, "staging", "up", "-f", file, "--progress", "plain")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, ref) {
		t.Fatalf("without --push the pool cannot have the image:\n%s", r)
	}
	r = mustCjob(t, "staging", "up", "--push", "-f", file, "--progress", "plain")
	if !strings.Contains(r.stderr, "Pushed") || !strings.Contains(r.stderr, "Pulling "+ref) {
		t.Errorf("up --push should push here and pull there:\n%s", r)
	}
	if out, err := pool.Docker(h.Name, "image", "inspect", "-f", "{{.Id}}", ref); err != nil {
		t.Errorf("the pool engine lacks %s: %v %s", ref, err, out)
	}
	if code, body, err := pool.Get(h.Name, "http://"+h.Address+":8090/healthz"); err != nil || code != 200 {
		t.Errorf("pushed job on the pool: %d %v %s", code, err, body)
	}
}

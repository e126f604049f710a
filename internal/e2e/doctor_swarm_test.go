package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/engine"
)

type doctorCheck struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Warn   bool   `json:"warning"`
	Detail string `json:"detail"`
}

// doctorJSON runs `cjob doctor --json` with args and returns its checks by
// name (the last of each name). Doctor exits 1 when any check fails (a
// missing jobs file, an image): the JSON is read whatever the exit code.
func doctorJSON(t *testing.T, args ...string) map[string]doctorCheck {
	t.Helper()
	r := cjob(t, append([]string{"doctor", "--json"}, args...)...)
	var checks []doctorCheck
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatalf("doctor --json printed no JSON: %v\n%s", err, r)
	}
	byName := map[string]doctorCheck{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	if r.elapsed > 30*time.Second {
		t.Errorf("doctor took %s", r.elapsed)
	}
	t.Logf("doctor %s: exit %d in %s; swarm: %s; ipvs: %s", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond), byName["swarm"].Detail, byName["ipvs"].Detail)
	return byName
}

// TestDoctorSwarm: doctor reads the engine's kernel through a one-off
// container of the host sandbox image (ipvs) and says where the engine
// stands in a swarm, with the commands to run when a jobs file names
// orchestrator: swarm and the engine is in none.
func TestDoctorSwarm(t *testing.T) {
	need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	info, err := eng.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kind, err := eng.Kind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inSwarm := info.Swarm.State == "active"
	before := kernelContainers(t)

	dir := t.TempDir()
	checks := doctorJSON(t, "-f", filepath.Join(dir, "none.yml"))

	ipvs, ok := checks["ipvs"]
	if !ok {
		t.Fatalf("doctor has no ipvs check: %v", checks)
	}
	if !ipvs.OK {
		t.Errorf("the ipvs check fails doctor: %+v", ipvs)
	}
	// The engine shares this machine's kernel unless it runs elsewhere (a
	// VM, a remote host): then only the check's presence is asserted.
	if kind.Name == "Docker Engine" && !kind.Remote && strings.HasPrefix(info.Host, "unix://") {
		if exists("/sys/module/ip_vs") || exists("/proc/net/ip_vs") {
			if ipvs.Warn || ipvs.Detail != "IPVS present" {
				t.Errorf("this kernel has ip_vs loaded; doctor says %+v", ipvs)
			}
		} else {
			if !ipvs.Warn || !strings.Contains(ipvs.Detail, "the engine's kernel has no IPVS") || !strings.Contains(ipvs.Detail, "dnsrr") {
				t.Errorf("this kernel has no ip_vs (no /sys/module/ip_vs); doctor says %+v", ipvs)
			}
		}
	} else {
		t.Logf("the engine (%s at %s) may run another kernel: ipvs says %q", kind, info.Host, ipvs.Detail)
	}
	if strings.Contains(ipvs.Detail, "could not read") {
		t.Errorf("doctor could not run its kernel check: %s", ipvs.Detail)
	}

	sw, ok := checks["swarm"]
	if !ok {
		t.Fatalf("doctor has no swarm check: %v", checks)
	}
	switch {
	case !sw.OK:
		t.Errorf("the swarm check fails doctor: %+v", sw)
	case inSwarm && !strings.Contains(sw.Detail, "a swarm (node "+info.Swarm.NodeID):
		t.Errorf("the engine is in a swarm; doctor says %+v", sw)
	case !inSwarm && info.Swarm.State == "inactive" && (sw.Warn || sw.Detail != "not in a swarm (only needed for orchestrator: swarm)"):
		t.Errorf("the engine is not in a swarm and no jobs file asks for one; doctor says %+v", sw)
	}

	// A jobs file whose staging runs on Docker Swarm, with this machine's
	// engine as its one pool host.
	file := filepath.Join(dir, "jobs.yml")
	content := fmt.Sprintf(`project: e2e-doctor-swarm
hosts:
  app-1: {address: 10.0.1.10}
  stg-1: {address: 127.0.0.1, docker: %q, memory: 4GiB}
services:
  core:
    jobs:
      api:
        image: %s
        port: 8000
        env: {ROLE: api}
        health: {http: /healthz}
        run_on_host: app-1
environments:
  staging:
    pool: [stg-1]
    orchestrator: swarm
`, eng.Host(), demoImage)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	checks = doctorJSON(t, "-f", file)
	sw = checks["swarm"]
	pool := checks["pool stg-1"]
	if !checks["jobs file"].OK || !pool.OK || !sw.OK {
		t.Errorf("jobs file, pool host and swarm checks should pass: %+v", checks)
	}
	if inSwarm {
		if sw.Warn || !strings.Contains(pool.Detail, "; swarm ") {
			t.Errorf("the engine is in a swarm: swarm %+v, pool %+v", sw, pool)
		}
	} else {
		for _, want := range []string{"orchestrator: swarm for staging", "docker swarm init --advertise-addr ADDRESS", "docker swarm join --token TOKEN ADDRESS:2377", "docker swarm join-token worker"} {
			if !sw.Warn || !strings.Contains(sw.Detail, want) {
				t.Errorf("the engine is in no swarm and staging asks for one: want a warning saying %q, got %+v", want, sw)
			}
		}
		if !pool.Warn || !strings.Contains(pool.Detail, "not in a swarm: ") {
			t.Errorf("the pool host is in no swarm: %+v", pool)
		}
	}
	if ipvs := checks["ipvs"]; !ipvs.OK || ipvs.Detail == "" {
		t.Errorf("ipvs: %+v", ipvs)
	}

	if after := kernelContainers(t); after > before {
		t.Errorf("doctor left %d kernel containers behind", after-before)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// kernelContainers counts the containers of doctor's kernel check that
// are still there.
func kernelContainers(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=cjob.doctor=kernel").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return len(strings.Fields(string(out)))
}

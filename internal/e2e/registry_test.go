package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/engine"
)

// startRegistry runs Debian's docker-registry on a free loopback port and
// returns its address.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker-registry is not installed (apt-get install docker-registry); .ci/run installs it")
		}
		t.Skipf("SKIPPING registry test: docker-registry not installed (apt-get install docker-registry)")
	}
	port, l := freePort(t)
	l.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}
http: {addr: %s}
`, filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	t.Fatalf("registry did not start on %s:\n%s", addr, b)
	return ""
}

func docker(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestRegistryPull: images missing locally are pulled from the jobs file's
// registry, with progress.
func TestRegistryPull(t *testing.T) {
	need(t)
	reg := startRegistry(t)
	ref := reg + "/e2e/pulled:1"
	docker(t, "tag", demoImage, ref)
	docker(t, "push", ref)
	docker(t, "rmi", ref)
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })

	file := jobsFile(t, fmt.Sprintf(`
project: e2e-registry
registry: %s
hosts:
  app-1: {}
services:
  svc:
    jobs:
      pulled: {image: "e2e/pulled:1", port: 8090, env: {ROLE: git}, health: {http: /healthz}, run_on_host: app-1}
`, reg))
	doc := cjob(t, "doctor", "-f", file)
	if !strings.Contains(doc.stdout, "pullable") {
		t.Errorf("doctor should find the image pullable:\n%s", doc)
	}
	r := mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	if !strings.Contains(r.stderr, "Pulling "+ref) || !strings.Contains(r.stderr, "Pulled "+ref+" (") {
		t.Errorf("up should show the pull, its bytes and its time:\n%s", r)
	}
	ctx := context.Background()
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if ok, _ := eng.ImageExists(ctx, ref); !ok {
		t.Errorf("%s was not pulled", ref)
	}
	if c := observe(t, "e2e-registry")["svc.pulled/1"]; c == nil || c.State.String() != "running" {
		t.Errorf("pulled job should run: %+v", c)
	}
}

// TestMissingImage: an image that is neither local nor pullable fails with
// a clear error naming it.
func TestMissingImage(t *testing.T) {
	need(t)
	file := jobsFile(t, `
project: e2e-missing
hosts: {app-1: {}}
services:
  svc:
    jobs:
      ghost: {image: "127.0.0.1:1/nothing/here:1", port: 8090, run_on_host: app-1}
`)
	r := cjob(t, "dev", "up", "-f", file, "--progress", "plain")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "127.0.0.1:1/nothing/here:1") {
		t.Errorf("up with a missing image should fail naming it:\n%s", r)
	}
}

// TestAPINegotiation: the pinned client negotiates down to this engine.
func TestAPINegotiation(t *testing.T) {
	need(t)
	ctx := context.Background()
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	info, err := eng.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	server := strings.TrimSpace(string(out))
	if info.APIVersion != server {
		t.Errorf("negotiated API %s, engine speaks %s", info.APIVersion, server)
	}
	t.Logf("engine %s, negotiated API %s", info.ServerVersion, info.APIVersion)
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodman brings the demo up on Podman's Docker-compatible API
// (`podman system service`, started by .ci/run and named by
// CJOB_PODMAN_HOST): up, a second up that changes nothing, ps, logs, a swap
// from a local folder, restore and down.
func TestPodman(t *testing.T) {
	need(t)
	host := os.Getenv("CJOB_PODMAN_HOST")
	if host == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CJOB_PODMAN_HOST is not set: .ci/run starts `podman system service` and sets it")
		}
		t.Skip("SKIPPING: no Podman service (set CJOB_PODMAN_HOST=unix:///path/to/podman.sock; .ci/run starts one)")
	}
	// The demo's images, from Docker's store into Podman's.
	imgs, err := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=coding/*").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Saved from Docker (this process's engine), loaded into Podman.
	load := exec.Command("sh", "-c", "docker save "+strings.Join(strings.Fields(string(imgs)), " ")+` | DOCKER_HOST="$PODMAN_HOST" docker load`)
	load.Env = append(os.Environ(), "PODMAN_HOST="+host)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("loading the demo images into Podman: %v\n%s", err, out)
	}
	t.Setenv("DOCKER_HOST", host)

	const project = "e2e-podman"
	file := demoFile(t, project, nil) // its cleanup runs dev down on Podman too
	r := mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	t.Logf("cold up on Podman: %s", r.elapsed)
	if r := mustCjob(t, "dev", "up", "-f", file); !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("a second up on Podman changed something:\n%s", r)
	}
	ps := mustCjob(t, "doctor", "-f", file)
	if !strings.Contains(ps.stdout, "Podman") {
		t.Errorf("doctor does not name Podman:\n%s", ps)
	}
	ps = mustCjob(t, "dev", "ps", "-f", file)
	if strings.Contains(ps.stdout, "unhealthy") || strings.Count(ps.stdout, "healthy") < 8 {
		t.Errorf("dev ps on Podman:\n%s", ps)
	}
	gateway := localURL(t, file, "edge.gateway")
	if code, body := httpGet(t, gateway+"/api/hello"); code != 200 || !strings.Contains(body, "hello from api") {
		t.Errorf("the gateway on Podman answers %d %q", code, body)
	}
	if logs := mustCjob(t, "dev", "logs", "--jobs", file, "api", "--tail", "5"); !strings.Contains(logs.stdout, "coding-core.api/1 | ") {
		t.Errorf("dev logs on Podman:\n%s", logs)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/api\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"net/http"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "swapped on podman") })
	http.ListenAndServe(":8000", nil)
}
`), 0o644)
	apiURL := localURL(t, file, "coding-core.api")
	mustCjob(t, "dev", "swap", "api", dir, "-f", file)
	waitBody(t, apiURL+"/", "swapped on podman", time.Minute)
	mustCjob(t, "dev", "restore", "api", "-f", file)
	if code, body := httpGet(t, apiURL+"/api/hello"); code != 200 || !strings.Contains(body, "hello from api") {
		t.Errorf("after restore on Podman, api answers %d %q", code, body)
	}
	down := mustCjob(t, "dev", "down", "--volumes", "-f", file)
	if !strings.Contains(down.stdout, "to remove") {
		t.Errorf("dev down on Podman:\n%s", down)
	}
}

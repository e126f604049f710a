package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoRouteToContainers runs cjob as it runs against Docker Desktop,
// colima, Podman machine or a remote engine: it reaches the engine's API
// but has no route into the containers' networks (`unshare -n`: a network
// namespace of its own, which still reaches the engine's unix socket). The
// whole demo comes up healthy, a swap builds and answers and rebuilds on a
// save, and restore works: every check goes through the engine.
func TestNoRouteToContainers(t *testing.T) {
	need(t)
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare -n: %v (CI runs as root)", err)
		}
		t.Skipf("SKIPPING: unshare -n needs root here: %v", err)
	}
	const project = "e2e-noroute"
	file := demoFile(t, project, nil)
	isolated := func(args ...string) result {
		t.Helper()
		return cjobVia(t, []string{"unshare", "-n"}, args...)
	}

	r := isolated("dev", "up", "-f", file, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("dev up with no route to the containers: %s", r)
	}
	if !strings.Contains(r.stderr, "healthy") {
		t.Errorf("dev up reports no health check:\n%s", r)
	}
	ps := isolated("dev", "ps", "-f", file)
	if ps.code != 0 || strings.Contains(ps.stdout, "unhealthy") || strings.Count(ps.stdout, "healthy") < 8 {
		t.Errorf("dev ps with no route: every checked task should read healthy:\n%s", ps)
	}
	apiURL := localURL(t, file, "coding-core.api")

	// Swap api for a local Go program on the api's port, watched.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/api\n\ngo 1.22\n"), 0o644)
	writeMain8000 := func(msg string) {
		src := `package main

import (
	"fmt"
	"net/http"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "` + msg + `") })
	http.ListenAndServe(":8000", nil)
}
`
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeMain8000("swapped one")
	w := startWatchVia(t, []string{"unshare", "-n"}, "dev", "swap", "api", dir, "--watch", "-f", file)
	w.waitOutput(t, "round 1", 3*time.Minute)
	waitBody(t, apiURL+"/", "swapped one", time.Minute)
	writeMain8000("swapped two")
	w.waitOutput(t, "round 2", 3*time.Minute)
	waitBody(t, apiURL+"/", "swapped two", time.Minute)
	if strings.Contains(w.output(), "rolled back") || strings.Contains(w.output(), "failed") {
		t.Errorf("a round failed with no route to the containers:\n%s", w.output())
	}
	w.stop(t)

	if r := isolated("dev", "restore", "api", "-f", file); r.code != 0 {
		t.Fatalf("restore with no route: %s", r)
	}
	if code, body := httpGet(t, apiURL+"/api/hello"); code != 200 || !strings.Contains(body, "hello from api") {
		t.Errorf("after restore, api answers %d %q", code, body)
	}
	if r := isolated("dev", "down", "-f", file); r.code != 0 {
		t.Errorf("down with no route: %s", r)
	}
}

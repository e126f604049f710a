package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposeRoundTrip: a Compose project imported with `cjob import`
// comes up with `cjob dev up` and works: names, a healthy dependency, a
// one-shot that must complete, a named volume. Its containers carry the
// Compose labels, and `cjob dev export --compose` gives a Compose file back.
func TestComposeRoundTrip(t *testing.T) {
	need(t)
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yml")
	os.WriteFile(compose, []byte(`
name: e2e-compose
services:
  cache:
    image: coding/cache:1.0.0
    environment: {ROLE: cache, DATA_DIR: /data}
    volumes: [cachedata:/data]
    expose: ["6379"]
    healthcheck: {test: ["CMD", "/demo", "healthcheck", "http://127.0.0.1:6379/healthz"], interval: 1s, retries: 20}
  migrate:
    image: coding/migrate:1.0.0
    command: ["/demo", "migrate"]
    environment: {CACHE_URL: "http://cache:6379", SCHEMA_VERSION: "${SCHEMA:-7}"}
    depends_on: {cache: {condition: service_healthy}}
  git:
    image: coding/git:1.0.0
    environment: {ROLE: git}
    ports: ["8090:8090"]
    depends_on:
      migrate: {condition: service_completed_successfully}
volumes: {cachedata: {}}
`), 0o644)
	imp := mustCjob(t, "import", compose)
	file := jobsFile(t, imp.stdout)
	if v := mustCjob(t, "validate", "-f", file); !strings.Contains(v.stdout, "valid") {
		t.Fatalf("imported file does not validate:\n%s\n%s", v, imp.stdout)
	}
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	cs := observe(t, "e2e-compose")
	if c := cs["migrate.migrate/1"]; c == nil || c.State.String() != "exited" || c.ExitCode != 0 {
		t.Errorf("migrate should have completed: %+v", c)
	}
	out := probeInside(t, "e2e-compose", "git", "http://cache:6379/healthz", "http://git:8090/healthz", "http://cache:6379/kv/schema_version")
	t.Log(out)
	if c := cs["git.git/1"]; c == nil || c.Labels["com.docker.compose.project"] != "e2e-compose-dev" || c.Labels["com.docker.compose.service"] == "" {
		t.Errorf("containers should carry the Compose labels: %v", c.Labels)
	}
	ex := mustCjob(t, "dev", "export", "--compose", "-f", file)
	for _, want := range []string{"name: e2e-compose-dev", "network_mode: service:git", "condition: service_completed_successfully"} {
		if !strings.Contains(ex.stdout, want) {
			t.Errorf("export lacks %q:\n%s", want, ex.stdout)
		}
	}
}

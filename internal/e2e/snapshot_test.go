package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/registrytest"
)

// TestSnapshot: the demo's data (the cache's volume) saved as a snapshot,
// the stack taken down with its volumes, `dev up --seed` brings the data
// back; a load over data is refused without --force and replaces it with;
// a snapshot does not load into a stack whose volumes differ.
func TestSnapshot(t *testing.T) {
	need(t)
	const project = "e2e-snap"
	file := demoFile(t, project, nil)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	cacheURL := func(r result) string {
		for _, j := range parseUp(t, r).Jobs {
			if j.Job == "infra.cache" {
				return j.Local
			}
		}
		t.Fatalf("no infra.cache in dev up's answer:\n%s", r)
		return ""
	}
	put := func(base, val string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", base+"/kv/greeting", strings.NewReader(val))
		resp, err := httpClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("PUT greeting: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	get := func(base string) string {
		t.Helper()
		_, body := httpGet(t, base+"/kv/greeting")
		return strings.TrimSpace(body)
	}

	cache := cacheURL(mustCjob(t, "dev", "up", "-f", file, "--json"))
	put(cache, "hello snapshot")
	r := mustCjob(t, "dev", "snapshot", "save", "s1", "-f", file)
	if !strings.Contains(r.stdout, "saved s1: 1 volume(s)") || !strings.Contains(r.stdout, "infra.cache/1") {
		t.Errorf("save:\n%s", r)
	}
	if c := observe(t, project)["infra.cache/1"]; c == nil || c.State.String() != "running" {
		t.Errorf("the cache is not running again after the save: %+v", c)
	}
	if r := mustCjob(t, "dev", "snapshot", "ls", "-f", file); !strings.Contains(r.stdout, "s1") || !strings.Contains(r.stdout, project+"-dev.data-1.data_cache") {
		t.Errorf("ls:\n%s", r)
	}
	if r := cjob(t, "dev", "snapshot", "save", "s1", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("saving over a snapshot without --force:\n%s", r)
	}

	t.Run("dev up --seed brings the data back", func(t *testing.T) {
		mustCjob(t, "dev", "down", "--volumes", "-f", file)
		r := mustCjob(t, "dev", "up", "-f", file, "--json", "--seed", "s1")
		if got := get(cacheURL(r)); got != "hello snapshot" {
			t.Errorf("after up --seed the cache holds %q", got)
		}
	})

	t.Run("a load over data needs --force", func(t *testing.T) {
		put(cache, "changed")
		r := cjob(t, "dev", "snapshot", "load", "s1", "-f", file)
		if r.code == 0 || !strings.Contains(r.stderr, "--force replaces them") {
			t.Fatalf("load over data without --force:\n%s", r)
		}
		if got := get(cache); got != "changed" {
			t.Errorf("a refused load changed the data: %q", got)
		}
		mustCjob(t, "dev", "snapshot", "load", "s1", "--force", "-f", file, "--progress", "plain")
		if got := get(cache); got != "hello snapshot" {
			t.Errorf("after load --force the cache holds %q", got)
		}
	})

	t.Run("dev reset puts one job's volumes back to the seed", func(t *testing.T) {
		put(cache, "changed again")
		if r := cjob(t, "dev", "reset", "infra.cache", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "--force") {
			t.Errorf("reset over data without --force:\n%s", r)
		}
		r := mustCjob(t, "dev", "reset", "infra.cache", "--force", "-f", file, "--progress", "plain")
		if !strings.Contains(r.stdout, "reset infra.cache to s1") {
			t.Errorf("reset:\n%s", r)
		}
		if got := get(cache); got != "hello snapshot" {
			t.Errorf("after reset the cache holds %q", got)
		}
		if r := cjob(t, "dev", "reset", "edge.gateway", "--force", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "mounts no volume") {
			t.Errorf("reset of a job with no volume:\n%s", r)
		}
	})

	t.Run("a stack with other volumes is refused", func(t *testing.T) {
		other := demoFile(t, project, func(s string) string {
			return strings.Replace(s, "        env:\n          ROLE: git\n", "        env:\n          ROLE: git\n        volumes: [\"/data/git:/repos\"]\n", 1)
		})
		r := cjob(t, "dev", "snapshot", "load", "s1", "--force", "-f", other)
		if r.code == 0 || !strings.Contains(r.stderr, "holds the volumes") || !strings.Contains(r.stderr, "data_git") {
			t.Errorf("load into a stack with other volumes:\n%s", r)
		}
	})

	t.Run("through the team's registry", func(t *testing.T) {
		reg := registrytest.Start(t, registrytest.Options{User: "dev", Password: "snap-pw", InMemory: true})
		cfg := t.TempDir()
		as := []string{"env", "DOCKER_CONFIG=" + cfg}
		ref := reg.Addr + "/team/snapshots:demo"
		if r := cjobVia(t, as, "dev", "snapshot", "push", "s1", ref, "-f", file); r.code == 0 || !strings.Contains(r.stderr, "docker login") {
			t.Errorf("push without a login:\n%s", r)
		}
		login := exec.Command("docker", "login", "-u", reg.User, "--password-stdin", reg.Addr)
		login.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		login.Stdin = strings.NewReader(reg.Password)
		if out, err := login.CombinedOutput(); err != nil {
			t.Fatalf("docker login: %v\n%s", err, out)
		}
		if r := cjobVia(t, as, "dev", "snapshot", "push", "s1", ref, "-f", file); r.code != 0 || !strings.Contains(r.stdout, "pushed s1 to "+ref) {
			t.Fatalf("push:\n%s", r)
		}
		// Another developer: the snapshot pulled (as team), the stack
		// started empty, then seeded from it.
		if r := cjobVia(t, as, "dev", "snapshot", "pull", ref, "team", "-f", file); r.code != 0 || !strings.Contains(r.stdout, "as team") {
			t.Fatalf("pull:\n%s", r)
		}
		mustCjob(t, "dev", "down", "--volumes", "-f", file)
		r := mustCjob(t, "dev", "up", "-f", file, "--json", "--seed", "team")
		if got := get(cacheURL(r)); got != "hello snapshot" {
			t.Errorf("after up --seed from the registry's snapshot the cache holds %q", got)
		}
		if r := cjobVia(t, as, "dev", "snapshot", "pull", ref, "team", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "--force") {
			t.Errorf("pulling over a snapshot without --force:\n%s", r)
		}
	})

	if r := mustCjob(t, "dev", "snapshot", "rm", "s1", "-f", file); !strings.Contains(r.stdout, "removed s1") {
		t.Errorf("rm:\n%s", r)
	}
	mustCjob(t, "dev", "snapshot", "rm", "team", "-f", file)
	if r := mustCjob(t, "dev", "snapshot", "ls", "-f", file); !strings.Contains(r.stdout, "No snapshots") {
		t.Errorf("ls after rm:\n%s", r)
	}
}

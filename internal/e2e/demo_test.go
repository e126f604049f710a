package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestDemoStack is the acceptance test of `cjob dev up`: the demo's whole
// production comes up, every job answers on its production address from
// inside the stack and on its printed URL from the host, a second up does
// nothing, an env change recreates only that job, and data in volumes
// survives down and up.
func TestDemoStack(t *testing.T) {
	need(t)
	const project = "e2e-demo"
	file := demoFile(t, project, nil)

	r := mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	t.Logf("cold up: %s", r.elapsed)
	for _, want := range []string{"edge.gateway", "http://127.0.0.1:", "core-app-1:8000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("up output lacks %q:\n%s", want, r)
		}
	}
	before := observe(t, project)
	if n := len(before); n < 16 {
		t.Fatalf("want 10 tasks + 6 sandboxes, have %d containers", n)
	}
	if c := before["infra.migrate/1"]; c == nil || c.State.String() != "exited" || c.ExitCode != 0 {
		t.Errorf("migrate should have run to completion: %+v", c)
	}

	t.Run("production addresses answer inside the stack", func(t *testing.T) {
		out := probeInside(t, project, "mon-1",
			"http://edge-1:8080/healthz",
			"http://core-app-1:3000/healthz",
			"http://core-app-1:8000/healthz",
			"http://git-app-1:8090/healthz",
			"http://msg-app-1:8025/healthz",
			"http://msg-app-1:8030/healthz",
			"http://msg-app-1:9000/healthz",
			"http://data-1:6379/healthz",
			"http://data-1:5672/healthz",
			"http://mon-1:4444/healthz",
			"http://core-app-1.coding.local:8000/healthz",
			"http://gateway.edge.coding.local:8080/healthz",
			"http://gateway.coding.local:8080/healthz",
			"http://queue.infra.coding.local:5672/healthz",
			// The gateway's / calls web and api; api calls cache, queue and
			// git; web calls api on localhost: 200 means the wiring holds.
			"http://edge-1:8080/",
			"http://core-app-1:8000/",
		)
		t.Log(out)
	})

	t.Run("second up is a no-op", func(t *testing.T) {
		r := mustCjob(t, "dev", "up", "-f", file)
		t.Logf("no-op up: %s", r.elapsed)
		if !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("second up should do nothing:\n%s", r)
		}
		after := observe(t, project)
		for k, c := range before {
			if a := after[k]; a == nil || a.ID != c.ID {
				t.Errorf("%s was replaced by a no-op up", k)
			}
		}
	})

	t.Run("printed URLs answer from the host", func(t *testing.T) {
		u := parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
		if u.Changed {
			t.Errorf("up --json changed something: %s", u.Summary)
		}
		n := 0
		for _, j := range u.Jobs {
			if j.Local == "" {
				continue
			}
			n++
			if code, body := httpGet(t, j.Local+"/healthz"); code != http.StatusOK {
				t.Errorf("%s at %s: %d %s", j.Job, j.Local, code, body)
			}
		}
		if n < 9 {
			t.Errorf("only %d jobs have a local URL", n)
		}
	})

	t.Run("ps and logs", func(t *testing.T) {
		ps := mustCjob(t, "dev", "ps", "-f", file)
		for _, want := range []string{"coding-core.api", "running", "healthy", "completed"} {
			if !strings.Contains(ps.stdout, want) {
				t.Errorf("dev ps lacks %q:\n%s", want, ps.stdout)
			}
		}
		if strings.Contains(ps.stdout, "unhealthy") {
			t.Errorf("dev ps shows an unhealthy job:\n%s", ps.stdout)
		}
		logs := mustCjob(t, "dev", "logs", "--jobs", file, "api")
		if !strings.Contains(logs.stdout, "coding-core.api/1 | ") || !strings.Contains(logs.stdout, "listening") {
			t.Errorf("dev logs api lacks the prefixed startup line:\n%s", logs.stdout)
		}
	})

	t.Run("env change recreates only that job", func(t *testing.T) {
		changed := demoFile(t, project, func(s string) string {
			return strings.Replace(s, "ROLE: api\n", "ROLE: api\n          FEATURE_FLAG: \"on\"\n", 1)
		})
		p := mustCjob(t, "dev", "plan", "-f", changed)
		if !strings.Contains(p.stdout, "recreate coding-core.api/1 (env FEATURE_FLAG changed)") || !strings.Contains(p.stdout, "1 to recreate") {
			t.Fatalf("plan should recreate only api:\n%s", p.stdout)
		}
		old := observe(t, project)
		mustCjob(t, "dev", "up", "-f", changed)
		now := observe(t, project)
		for k, c := range old {
			replaced := now[k] == nil || now[k].ID != c.ID
			if replaced != (k == "coding-core.api/1") {
				t.Errorf("%s replaced=%v", k, replaced)
			}
		}
	})

	t.Run("volume data survives down and up", func(t *testing.T) {
		u := parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
		var cache string
		for _, j := range u.Jobs {
			if j.Job == "infra.cache" {
				cache = j.Local
			}
		}
		req, _ := http.NewRequest(http.MethodPut, cache+"/kv/e2e", strings.NewReader("kept"))
		resp, err := httpClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("PUT to cache: %v %v", err, resp)
		}
		resp.Body.Close()
		d := mustCjob(t, "dev", "down", "-f", file, "--progress", "plain")
		t.Logf("down: %s\n%s", d.elapsed, d.stderr)
		if !strings.Contains(d.stdout, "Volumes are kept") {
			t.Errorf("down should say volumes are kept:\n%s", d)
		}
		if n := len(observe(t, project)); n != 0 {
			t.Fatalf("%d containers left after down", n)
		}
		u = parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
		for _, j := range u.Jobs {
			if j.Job == "infra.cache" {
				cache = j.Local
			}
		}
		if code, body := httpGet(t, cache+"/kv/e2e"); code != 200 || body != "kept" {
			t.Errorf("after down and up, GET /kv/e2e = %d %q, want 200 \"kept\"", code, body)
		}
		mustCjob(t, "dev", "down", "--volumes", "-f", file)
		u = parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
		for _, j := range u.Jobs {
			if j.Job == "infra.cache" {
				cache = j.Local
			}
		}
		if code, _ := httpGet(t, cache+"/kv/e2e"); code == 200 {
			t.Errorf("after down --volumes the data should be gone")
		}
	})
}

package export

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/internal/stack"
)

// testStack is a dev stack by hand: two hosts, four jobs.
//
//	core-app-1: coding-core.api (HTTP check), coding-core.web (Cmd check, needs api and migrate)
//	data-1:     coding-data.migrate (one-shot), coding-data.db (named volume + bind, TCP check)
func testStack() *stack.Stack {
	const img = "cjob-sandbox:0123abcd"
	sandbox := func(host string, aliases []string, pub ...stack.Publish) *stack.Unit {
		return &stack.Unit{
			Key: "host/" + host, Name: "coding-dev.host." + host, Kind: stack.KindSandbox, Host: host,
			Spec: stack.Spec{Image: img, Hostname: host, Aliases: aliases, Publish: pub, StopTimeout: time.Second},
		}
	}
	task := func(service, job, host string, spec stack.Spec, deps ...string) *stack.Unit {
		spec.JoinSandbox = "coding-dev.host." + host
		spec.StopTimeout = 10 * time.Second
		return &stack.Unit{
			Key: service + "." + job + "/1", Name: "coding-dev." + service + "." + job + ".1", Kind: stack.KindTask,
			Service: service, Job: service + "." + job, Task: 1, Host: host, Sandbox: "host/" + host,
			Spec: spec, DependsOn: append([]string{"host/" + host}, deps...),
		}
	}
	api := task("coding-core", "api", "core-app-1", stack.Spec{
		Image:   "registry.local/coding/api:1.4.2",
		Command: []string{"serve", "--port", "8000"},
		Env:     []string{"DB_URL=postgres://db.coding.local:5432/app", "PASSWORD=pa$word"},
		Memory:  256 << 20,
	}, "coding-data.db/1", "coding-data.migrate/1")
	api.Health = &stack.Check{HTTP: "/healthz", Port: 8000, Interval: 2 * time.Second, Timeout: time.Second, Retries: 30, StartPeriod: 5 * time.Second}

	web := task("coding-core", "web", "core-app-1", stack.Spec{
		Image:      "registry.local/coding/web:2.0.0",
		Entrypoint: []string{"/web"},
		Env:        []string{"API=http://localhost:8000"},
	}, "coding-core.api/1")
	web.Health = &stack.Check{Cmd: []string{"/web", "-check"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 3}

	migrate := task("coding-data", "migrate", "data-1", stack.Spec{
		Image:   "registry.local/coding/migrate:7",
		Command: []string{"up"},
	}, "coding-data.db/1")
	migrate.Oneshot = true

	db := task("coding-data", "db", "data-1", stack.Spec{
		Image: "postgres:16",
		Env:   []string{"POSTGRES_PASSWORD=dev"},
		Mounts: []stack.Mount{
			{Type: "volume", Source: "coding-dev.data-1.var-lib-postgresql", Target: "/var/lib/postgresql/data"},
			{Type: "bind", Source: "/etc/ssl/certs", Target: "/etc/ssl/certs", ReadOnly: true},
		},
		Memory: 1 << 30,
	})
	db.Health = &stack.Check{Port: 5432, Interval: 2 * time.Second, Timeout: 2 * time.Second, Retries: 30, Implicit: true}

	st := &stack.Stack{
		Project: "coding", Env: stack.Dev, Network: "coding-dev",
		Volumes: []stack.Volume{{Name: "coding-dev.data-1.var-lib-postgresql"}},
		Units: []*stack.Unit{
			sandbox("core-app-1", []string{"core-app-1", "core-app-1.coding.local", "api.coding-core.coding.local", "web.coding-core.coding.local"},
				stack.Publish{ContainerPort: 8000, HostPort: 18000}, stack.Publish{ContainerPort: 3000, HostPort: 3000}),
			sandbox("data-1", []string{"data-1", "data-1.coding.local", "db.coding-data.coding.local"},
				stack.Publish{ContainerPort: 5432, HostPort: 15432}),
			api, web, db, migrate,
		},
	}
	st.Sort()
	return st
}

func TestComposeGolden(t *testing.T) {
	_, data, warnings, err := Compose(testStack())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "export.golden"), string(data))
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	// Deterministic: a second run gives the same bytes.
	_, again, _, err := Compose(testStack())
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("two exports of the same stack differ")
	}
}

// load reads the YAML back with compose-go's loader, as `docker compose`
// does: schema validation, interpolation, normalisation, consistency checks.
func load(t *testing.T, data []byte) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yml", Content: data}},
		Environment: types.Mapping{},
	})
	if err != nil {
		t.Fatalf("compose-go rejects the export: %v\n%s", err, data)
	}
	return p
}

func TestComposeLoads(t *testing.T) {
	st := testStack()
	want, data, _, err := Compose(st)
	if err != nil {
		t.Fatal(err)
	}
	got := load(t, data)
	if got.Name != "coding-dev" {
		t.Errorf("project name %q", got.Name)
	}
	if g, w := strings.Join(got.ServiceNames(), " "), strings.Join(want.ServiceNames(), " "); g != w {
		t.Errorf("services %s, want %s", g, w)
	}
	wantNames := "coding-core-api-1 coding-core-api-1-ready coding-core-web-1 coding-data-db-1 coding-data-db-1-ready coding-data-migrate-1 core-app-1 data-1"
	if g := strings.Join(got.ServiceNames(), " "); g != wantNames {
		t.Errorf("services %s, want %s", g, wantNames)
	}

	api := got.Services["coding-core-api-1"]
	if api.NetworkMode != "service:core-app-1" || api.Pid != "service:core-app-1" {
		t.Errorf("api network_mode %q pid %q", api.NetworkMode, api.Pid)
	}
	// '$' survives interpolation.
	if v := api.Environment["PASSWORD"]; v == nil || *v != "pa$word" {
		t.Errorf("PASSWORD = %v", v)
	}
	if api.MemLimit != 256<<20 {
		t.Errorf("api mem_limit %d", api.MemLimit)
	}
	for dep, cond := range map[string]string{
		"core-app-1":             types.ServiceConditionStarted,
		"coding-data-db-1":       types.ServiceConditionStarted,
		"coding-data-db-1-ready": types.ServiceConditionHealthy,
		"coding-data-migrate-1":  types.ServiceConditionCompletedSuccessfully,
	} {
		if d, ok := api.DependsOn[dep]; !ok || d.Condition != cond {
			t.Errorf("api depends_on %s = %+v, want %s", dep, d, cond)
		}
	}
	web := got.Services["coding-core-web-1"]
	if d := web.DependsOn["coding-core-api-1-ready"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("web waits for api with %+v", d)
	}
	if web.HealthCheck == nil || strings.Join(web.HealthCheck.Test, " ") != "CMD /web -check" {
		t.Errorf("web healthcheck %+v", web.HealthCheck)
	}
	probe := got.Services["coding-core-api-1-ready"]
	if probe.HealthCheck == nil || strings.Join(probe.HealthCheck.Test, " ") != "CMD /cjob-sandbox probe http://127.0.0.1:8000/healthz" {
		t.Errorf("api probe healthcheck %+v", probe.HealthCheck)
	}
	if probe.Image != "cjob-sandbox:0123abcd" || probe.NetworkMode != "service:core-app-1" {
		t.Errorf("api probe image %q network_mode %q", probe.Image, probe.NetworkMode)
	}
	if h := got.Services["coding-data-db-1-ready"].HealthCheck; h == nil || h.Test[len(h.Test)-1] != "tcp://127.0.0.1:5432" {
		t.Errorf("db probe healthcheck %+v", h)
	}

	sb := got.Services["core-app-1"]
	if sb.ContainerName != "coding-dev.host.core-app-1" || sb.Hostname != "core-app-1" {
		t.Errorf("sandbox container_name %q hostname %q", sb.ContainerName, sb.Hostname)
	}
	if n := sb.Networks["coding-dev"]; n == nil || len(n.Aliases) != 4 {
		t.Errorf("sandbox networks %+v", sb.Networks)
	}
	if len(sb.Ports) != 2 || sb.Ports[0].HostIP != "127.0.0.1" || sb.Ports[0].Published != "18000" || sb.Ports[0].Target != 8000 {
		t.Errorf("sandbox ports %+v", sb.Ports)
	}
	if got.Networks["coding-dev"].Name != "coding-dev" {
		t.Errorf("networks %+v", got.Networks)
	}

	db := got.Services["coding-data-db-1"]
	if len(db.Volumes) != 2 {
		t.Fatalf("db volumes %+v", db.Volumes)
	}
	vol, bind := db.Volumes[0], db.Volumes[1]
	if vol.Type != "volume" || got.Volumes[vol.Source].Name != "coding-dev.data-1.var-lib-postgresql" {
		t.Errorf("db volume %+v -> %+v", vol, got.Volumes[vol.Source])
	}
	if bind.Type != "bind" || bind.Source != "/etc/ssl/certs" || !bind.ReadOnly {
		t.Errorf("db bind %+v", bind)
	}
}

func TestComposeWarnsAndRefuses(t *testing.T) {
	st := testStack()
	st.Unit("coding-core.api/1").Spec.Labels = map[string]string{stack.LabelSwapped: "./api", stack.LabelSwappedImage: "coding/coding-core.api:dev-1"}
	_, data, warnings, err := Compose(st)
	if err != nil {
		t.Fatal(err)
	}
	load(t, data)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "cjob dev swap") {
		t.Errorf("warnings %q", warnings)
	}

	st = testStack()
	st.Unit("coding-core.api/1").Engine = "stg-1"
	if _, _, _, err := Compose(st); err == nil || !strings.Contains(err.Error(), "single-engine") {
		t.Errorf("pool stack: err = %v", err)
	}

	st = testStack()
	st.Units[0].Host = "data-1" // two sandboxes, one service name
	if _, _, _, err := Compose(st); err == nil || !strings.Contains(err.Error(), "both map") {
		t.Errorf("collision: err = %v", err)
	}
}

func TestServiceName(t *testing.T) {
	for _, c := range []struct {
		u    *stack.Unit
		want string
	}{
		{&stack.Unit{Kind: stack.KindTask, Job: "coding-core.api", Task: 1}, "coding-core-api-1"},
		{&stack.Unit{Kind: stack.KindTask, Job: "Billing.Worker_X", Task: 12}, "billing-worker_x-12"},
		{&stack.Unit{Kind: stack.KindSandbox, Host: "core-app-1"}, "core-app-1"},
		{&stack.Unit{Kind: stack.KindSandbox, Host: "db1.dc2"}, "db1-dc2"},
	} {
		if got := ServiceName(c.u); got != c.want {
			t.Errorf("ServiceName(%+v) = %q, want %q", c.u, got, c.want)
		}
	}
}

func TestLabels(t *testing.T) {
	st := testStack()
	for _, u := range st.Units {
		l := Labels(st, u, u.Hash())
		want := map[string]string{
			"com.docker.compose.project":          "coding-dev",
			"com.docker.compose.service":          ServiceName(u),
			"com.docker.compose.container-number": "1",
			"com.docker.compose.oneoff":           "False",
			"com.docker.compose.config-hash":      u.Hash(),
			"com.docker.compose.version":          ComposeVersionValue,
		}
		if len(l) != len(want) {
			t.Errorf("%s: labels %v", u.Key, l)
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: %s = %q, want %q", u.Key, k, l[k], v)
			}
		}
	}
	// The names match the export's services.
	p, _, _, err := Compose(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range st.Units {
		svc := Labels(st, u, "")[ComposeService]
		if _, ok := p.Services[svc]; !ok {
			t.Errorf("%s: label service %q is not a service of the export", u.Key, svc)
		}
	}
}

// TestDockerComposeConfig validates the export with the real Compose CLI
// when one is installed and an engine answers.
func TestDockerComposeConfig(t *testing.T) {
	var argv []string
	if _, err := exec.LookPath("docker"); err == nil && exec.Command("docker", "compose", "version").Run() == nil {
		argv = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		out, _ := exec.Command("docker-compose", "version", "--short").Output()
		if v := strings.TrimSpace(string(out)); strings.HasPrefix(v, "1.") {
			t.Skipf("SKIPPED: docker-compose %s is Compose v1, which predates the Compose Specification (top-level name, depends_on.required, ports.host_ip); the export targets Compose v2 and was not checked by a Compose CLI", v)
		}
		argv = []string{"docker-compose"}
	} else {
		t.Skip("SKIPPED: neither `docker compose` nor `docker-compose` is on PATH; the export was not checked by the Compose CLI")
	}
	if exec.Command("docker", "version").Run() != nil {
		t.Skip("SKIPPED: no Docker engine answers; the export was not checked by the Compose CLI")
	}
	_, data, _, err := Compose(testStack())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(argv[0], append(argv[1:], "-f", path, "config", "--quiet")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

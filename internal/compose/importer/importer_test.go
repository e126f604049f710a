package importer

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/prodspec"
)

type importCase struct {
	name     string
	files    []string // relative to testdata
	profiles []string
	env      map[string]string
	project  string
}

var cases = []importCase{
	{name: "stack", files: []string{"stack/compose.yml"}},
	{name: "stack-debug", files: []string{"stack/compose.yml"}, profiles: []string{"debug"}, env: map[string]string{"LOG_LEVEL": "debug"}},
	{name: "override", files: []string{"override/base.yml", "override/override.yml"}, project: "My_App"},
	{name: "base-only", files: []string{"override/base.yml"}, project: "my-app"},
	{name: "misc", files: []string{"misc/compose.yml"}},
}

func runCase(t *testing.T, c importCase) *Result {
	t.Helper()
	var files []string
	for _, f := range c.files {
		files = append(files, filepath.Join("testdata", f))
	}
	res, err := Import(context.Background(), Options{Files: files, Profiles: c.profiles, Env: c.env, ProjectName: c.project})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

// goldenText is the YAML, then the warnings, with this machine's testdata
// path replaced by $TESTDATA.
func goldenText(t *testing.T, res *Result) []byte {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(res.YAML)
	b.WriteString("\n# ---- warnings ----\n")
	for _, w := range res.Warnings {
		b.WriteString(w + "\n")
	}
	return bytes.ReplaceAll(b.Bytes(), []byte(filepath.ToSlash(abs)), []byte("$TESTDATA"))
}

func TestImportGolden(t *testing.T) {
	t.Setenv("COMPOSE_PROJECT_NAME", "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runCase(t, c)
			golden.Check(t, filepath.Join("testdata", c.name+".golden"), string(goldenText(t, res)))
		})
	}
}

func TestImportLoadsAndRoundTrips(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runCase(t, c)
			f, err := prodspec.Parse("imported.yml", res.YAML, prodspec.LoadOptions{})
			if err != nil {
				t.Fatalf("imported file does not load: %v\n%s", err, res.YAML)
			}
			if len(f.Warnings) > 0 {
				t.Errorf("imported file loads with warnings: %q", f.Warnings)
			}
			out, err := prodspec.Render(f)
			if err != nil {
				t.Fatal(err)
			}
			g, err := prodspec.Parse("rendered.yml", out, prodspec.LoadOptions{})
			if err != nil {
				t.Fatalf("rendered file does not load: %v", err)
			}
			out2, err := prodspec.Render(g)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, out2) {
				t.Errorf("Render->Parse->Render changed the file:\n%s\n----\n%s", out, out2)
			}
			// The import is Render's output behind a comment header.
			if !bytes.HasSuffix(res.YAML, out) {
				t.Errorf("import is not in Render's canonical form:\n%s\n----\n%s", res.YAML, out)
			}
		})
	}
}

func TestImportDeterministic(t *testing.T) {
	for _, c := range cases {
		a, b := runCase(t, c), runCase(t, c)
		if !bytes.Equal(goldenText(t, a), goldenText(t, b)) {
			t.Errorf("%s: two imports differ", c.name)
		}
	}
}

func TestImportMapping(t *testing.T) {
	res := runCase(t, cases[0])
	f, err := prodspec.Parse("imported.yml", res.YAML, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Project != "shop-stack" {
		t.Errorf("project = %q, want shop-stack", f.Project)
	}
	api := f.Job("api.api")
	if api == nil {
		t.Fatal("no api.api")
	}
	if api.Image != "ghcr.io/acme/shop-api:1.4.2" {
		t.Errorf("api image = %q (interpolation from .env)", api.Image)
	}
	if api.Env["FEATURE_FLAGS"] != "search,checkout" || api.Env["DATABASE_URL"] != "postgres://shop:s3cret@db:5432/shop" {
		t.Errorf("api env = %v", api.Env)
	}
	if got := strings.Join(api.DependsOn, ","); got != "db.db,migrate.migrate,redis.redis" {
		t.Errorf("api depends_on = %s", got)
	}
	if api.Health == nil || api.Health.HTTP != "/ready" || api.Health.StartPeriod.String() != "20s" {
		t.Errorf("api health = %+v, want http /ready", api.Health)
	}
	if api.Memory != 512<<20 {
		t.Errorf("api memory = %d", api.Memory)
	}
	if m := f.Job("migrate.migrate"); m == nil || !m.Oneshot {
		t.Errorf("migrate should be oneshot: %+v", m)
	}
	db := f.Job("db.db")
	if db.Health == nil || strings.Join(db.Health.Cmd, " ") != "/bin/sh -c pg_isready -U shop -d shop" || db.Health.Retries != 10 {
		t.Errorf("db health = %+v", db.Health)
	}
	if w := f.Job("worker.worker"); len(w.Tasks) != 3 || w.Tasks[2].Host != "worker-3" || w.Image != "shop-stack-worker:dev" {
		t.Errorf("worker = %+v", w)
	}
	if f.Job("adminer.adminer") != nil {
		t.Error("adminer is in an inactive profile")
	}
	if f.Host("web") == nil || f.Job("web.web").Tasks[0].Host != "web" {
		t.Error("web should run on host web")
	}
	wantWarn := []string{
		"adminer: profiles:",
		"web: restart:",
		"web: ports: 8080:3000: published on host port 8080",
		"worker: cap_add:",
		"redis: tmpfs: /tmp not imported",
		"api: labels:",
		"api: logging:",
		"db: shm_size:",
	}
	all := strings.Join(res.Warnings, "\n")
	for _, w := range wantWarn {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q in:\n%s", w, all)
		}
	}

	dbg := runCase(t, cases[1])
	g, err := prodspec.Parse("imported.yml", dbg.YAML, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Job("adminer.adminer") == nil {
		t.Error("profile debug should import adminer")
	}
	if g.Job("web.web").Env["LOG_LEVEL"] != "debug" {
		t.Errorf("Options.Env should interpolate LOG_LEVEL: %v", g.Job("web.web").Env)
	}
}

func TestImportOverride(t *testing.T) {
	res := runCase(t, cases[2])
	f, err := prodspec.Parse("imported.yml", res.YAML, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Project != "my-app" {
		t.Errorf("project = %q", f.Project)
	}
	app := f.Job("app.app")
	if app.Env["MODE"] != "development" || app.Env["UPSTREAM"] != "http://backend:5000" {
		t.Errorf("app env = %v", app.Env)
	}
	if f.Job("mailhog.mailhog") == nil {
		t.Error("override should add mailhog")
	}
	if app.Health == nil || app.Health.HTTP != "/" {
		t.Errorf("app health = %+v", app.Health)
	}
	if f.Job("backend.backend").Health != nil {
		t.Error("disabled healthcheck should be none")
	}
}

func TestImportErrors(t *testing.T) {
	for _, files := range [][]string{
		{"testdata/bad/compose.yml"},
		{"testdata/override/base.yml", "testdata/bad/compose.yml"},
		{"testdata/missing.yml"},
	} {
		_, err := Import(context.Background(), Options{Files: files})
		if err == nil {
			t.Errorf("%v: no error", files)
			continue
		}
		if !strings.HasPrefix(err.Error(), "import "+strings.Join(files, ", ")+": ") || !strings.Contains(err.Error(), files[len(files)-1]) {
			t.Errorf("%v: error does not name the files: %v", files, err)
		}
		t.Logf("%v", err)
	}
	if _, err := Import(context.Background(), Options{}); err == nil {
		t.Error("no files: no error")
	}
}

func TestHTTPProbe(t *testing.T) {
	for _, c := range []struct {
		test []string
		port int
		want string
	}{
		{[]string{"CMD-SHELL", "curl -f http://localhost:3000/healthz || exit 1"}, 3000, "/healthz"},
		{[]string{"CMD", "curl", "--fail", "http://127.0.0.1:3000/"}, 3000, "/"},
		{[]string{"CMD", "wget", "-qO-", "http://localhost:8000/ready"}, 8000, "/ready"},
		{[]string{"CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8000"}, 8000, "/"},
		{[]string{"CMD-SHELL", "curl -f http://localhost/"}, 80, "/"},
		{[]string{"CMD", "curl", "http://localhost:3000/"}, 3000, ""},                     // no -f: 500 would pass
		{[]string{"CMD", "curl", "-f", "http://localhost:3001/"}, 3000, ""},               // not the main port
		{[]string{"CMD", "curl", "-f", "http://localhost:3000/x"}, 0, ""},                 // no port
		{[]string{"CMD-SHELL", "curl -f http://localhost:3000/ && echo ok"}, 3000, ""},    // shell
		{[]string{"CMD", "curl", "-f", "-H", "X: y", "http://localhost:3000/"}, 3000, ""}, // unknown flag
		{[]string{"CMD", "curl", "-f", "https://localhost:3000/"}, 3000, ""},
		{[]string{"CMD", "pg_isready"}, 5432, ""},
	} {
		got, ok := httpProbe(c.test, c.port)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("httpProbe(%q, %d) = %q, %v; want %q", c.test, c.port, got, ok, c.want)
		}
	}
}

func TestProjectName(t *testing.T) {
	for in, want := range map[string]string{
		"shop_stack": "shop-stack", "My App!": "my-app", "__": "compose", "a--b": "a-b",
		strings.Repeat("x", 70): strings.Repeat("x", 63),
	} {
		if got := ProjectName(in); got != want {
			t.Errorf("ProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

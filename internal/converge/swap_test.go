package converge_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// srcDir is a source folder that builds with a Dockerfile, straight on the
// engine (no host tool).
func srcDir(t *testing.T, app string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app /app\n",
		"app":        app,
	})
	return dir
}

// builtImage is the image a folder builds to for a job of demoFile: the
// name is a content hash, so it is known before Swap builds it (to make it
// crash, say).
func builtImage(t *testing.T, f *prodspec.File, job, dir string) string {
	t.Helper()
	j := f.Job(job)
	r, err := build.Build(context.Background(), enginetest.New("scratch"), build.Options{Dir: dir, Repo: f.Project + "/" + job, Port: j.MainPort(), Command: j.Command})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return r.Image
}

// swapRun is one Swap with everything it reported.
type swapRun struct {
	res     *converge.SwapResult
	err     error
	records []localstate.SwapRecord
	status  []string
	log     strings.Builder
}

func swap(eng converge.Engine, f *prodspec.File, job, dir string, probe func(context.Context, *stack.Check, string) error) *swapRun {
	r := &swapRun{}
	var mu sync.Mutex
	r.res, r.err = converge.Swap(context.Background(), eng, converge.SwapOptions{
		File: f, Job: job, Build: build.Options{Dir: dir}, Log: &r.log, Probe: probe,
		Status: func(s string) { r.status = append(r.status, s) },
		Record: func(rec localstate.SwapRecord) {
			mu.Lock()
			defer mu.Unlock()
			r.records = append(r.records, rec)
		},
	})
	return r
}

func TestSwap(t *testing.T) {
	eng, f := demoUp(t)
	before := eng.Containers()
	oldAPI, _ := eng.Container(cAPI)
	started := len(eng.Started())
	dir := srcDir(t, "v1")

	r := swap(eng, f, "svc.api", dir, healthy)
	if r.err != nil {
		t.Fatalf("Swap: %v\n%s", r.err, r.log.String())
	}
	img := r.res.Image
	if !strings.HasPrefix(img, "demo/svc.api:dev-") || r.res.Reused || r.res.Unchanged || r.res.Template != "" {
		t.Errorf("result %+v", r.res)
	}
	if diff := cmp.Diff([]string{"svc.api/1"}, r.res.Tasks); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"building " + dir, "swapping svc.api/1"}, r.status); diff != "" {
		t.Errorf("status lines (-want +got):\n%s", diff)
	}

	t.Run("the job's container is replaced in place", func(t *testing.T) {
		c, ok := eng.Container(cAPI)
		if !ok {
			t.Fatalf("no container %s", cAPI)
		}
		if c.ID == oldAPI.ID || c.Image != img || c.State != stack.StateRunning {
			t.Errorf("%s: id %s image %s state %s; want a new running container of %s", cAPI, c.ID[:8], c.Image, c.State, img)
		}
		if c.Spec.JoinSandbox != sbApp || c.Labels[stack.LabelHost] != "app-1" {
			t.Errorf("%s joins %q on %q, want %s", cAPI, c.Spec.JoinSandbox, c.Labels[stack.LabelHost], sbApp)
		}
		want := map[string]string{stack.LabelSwapped: dir, stack.LabelSwappedImage: img, stack.LabelKey: "svc.api/1", stack.LabelJob: "svc.api"}
		for k, v := range want {
			if c.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
			}
		}
		if c.Labels["com.docker.compose.config-hash"] != c.Labels[stack.LabelHash] {
			t.Errorf("compose hash %q, cjob hash %q", c.Labels["com.docker.compose.config-hash"], c.Labels[stack.LabelHash])
		}
		// Everything else of the spec is production's.
		wantSpec := oldAPI.Spec
		wantSpec.Image = img
		wantSpec.Labels = map[string]string{stack.LabelSwapped: dir, stack.LabelSwappedImage: img}
		if diff := cmp.Diff(wantSpec, c.Spec); diff != "" {
			t.Errorf("spec (-want +got):\n%s", diff)
		}
	})

	t.Run("nothing else is touched", func(t *testing.T) {
		for _, b := range before {
			if b.Name == cAPI {
				continue
			}
			a, ok := eng.Container(b.Name)
			if !ok || a.ID != b.ID || a.Starts != b.Starts || a.State != b.State {
				t.Errorf("%s changed: %+v -> %+v", b.Name, b.State, a.State)
			}
		}
		if diff := cmp.Diff([]string{cAPI}, eng.Started()[started:]); diff != "" {
			t.Errorf("started by the swap (-want +got):\n%s", diff)
		}
		if _, ok := eng.Container(cAPI + ".prev"); ok {
			t.Errorf("the previous container is left as %s.prev", cAPI)
		}
		if len(eng.Containers()) != len(before) {
			t.Errorf("%d containers, want %d", len(eng.Containers()), len(before))
		}
	})

	t.Run("the swap is recorded", func(t *testing.T) {
		if len(r.records) != 1 {
			t.Fatalf("%d records, want 1", len(r.records))
		}
		rec := r.records[0]
		if rec.Job != "svc.api" || rec.Dir != dir || rec.Image != img || rec.Err != "" || rec.Reused || rec.At.IsZero() {
			t.Errorf("record %+v", rec)
		}
		if !strings.Contains(rec.BuildLog, "built "+img) || !strings.Contains(r.log.String(), "built "+img) {
			t.Errorf("build log %q (written %q), want the engine's output", rec.BuildLog, r.log.String())
		}
	})

	t.Run("the same folder again changes nothing", func(t *testing.T) {
		calls := len(eng.Calls())
		again := swap(eng, f, "svc.api", dir, healthy)
		if again.err != nil {
			t.Fatal(again.err)
		}
		if !again.res.Reused || !again.res.Unchanged || again.res.Image != img {
			t.Errorf("result %+v, want the image reused and the job unchanged", again.res)
		}
		if got := eng.Calls()[calls:]; len(got) != 0 {
			t.Errorf("calls: %q", got)
		}
		if len(again.records) != 1 || !again.records[0].Reused {
			t.Errorf("records %+v", again.records)
		}
	})

	t.Run("dev up keeps the swap", func(t *testing.T) {
		p := prepare(t, eng, opts(f))
		if !p.Plan.Empty() {
			t.Errorf("plan after the swap:\n%s", p.Plan)
		}
		if !contains(noteTexts(p), "svc.api: swapped: runs "+img+", built from "+dir) {
			t.Errorf("no swapped note in %q", noteTexts(p))
		}
		// Even a change elsewhere in the job keeps the built image.
		f2 := parse(t, demoFile)
		f2.Job("svc.api").Env["TRACE"] = "1"
		p = prepare(t, eng, opts(f2))
		if diff := cmp.Diff([]string{"recreate svc.api/1"}, actions(p)); diff != "" {
			t.Fatalf("plan (-want +got):\n%s", diff)
		}
		if got := p.Rewrite.Stack.Unit("svc.api/1").Spec.Image; got != img {
			t.Errorf("desired image %s, want the swapped %s", got, img)
		}
	})

	t.Run("a new build replaces the swap and its old image", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"app": "v2"})
		r2 := swap(eng, f, "svc.api", dir, healthy)
		if r2.err != nil {
			t.Fatal(r2.err)
		}
		if r2.res.Image == img || r2.res.Reused {
			t.Errorf("result %+v, want a new image", r2.res)
		}
		if c, _ := eng.Container(cAPI); c.Image != r2.res.Image || c.Labels[stack.LabelSwappedImage] != r2.res.Image {
			t.Errorf("%s runs %s (label %s), want %s", cAPI, c.Image, c.Labels[stack.LabelSwappedImage], r2.res.Image)
		}
		if eng.HasImage(img) {
			t.Errorf("the previous build %s is still there", img)
		}
		if !eng.HasImage("demo/api:1") {
			t.Errorf("production's image was removed")
		}
		img = r2.res.Image
	})

	t.Run("RestoreAll puts production's image back", func(t *testing.T) {
		o := opts(f)
		o.RestoreAll = true
		p := prepare(t, eng, o)
		if diff := cmp.Diff([]string{"recreate svc.api/1"}, actions(p)); diff != "" {
			t.Fatalf("plan (-want +got):\n%s", diff)
		}
		if !contains(noteTexts(p), "svc.api: restored: production image demo/api:1 replaces the local build from "+dir) {
			t.Errorf("no restored note in %q", noteTexts(p))
		}
		ids0 := ids(eng)
		if err := up(t, eng, p).Err(); err != nil {
			t.Fatal(err)
		}
		c, _ := eng.Container(cAPI)
		if c.Image != "demo/api:1" || c.Labels[stack.LabelSwapped] != "" || c.Labels[stack.LabelSwappedImage] != "" {
			t.Errorf("%s runs %s with labels swapped=%q image=%q", cAPI, c.Image, c.Labels[stack.LabelSwapped], c.Labels[stack.LabelSwappedImage])
		}
		if diff := cmp.Diff([]string{cAPI}, changed(ids0, ids(eng))); diff != "" {
			t.Errorf("changed (-want +got):\n%s", diff)
		}
		if again := prepare(t, eng, opts(f)); !again.Plan.Empty() {
			t.Errorf("plan after restoring:\n%s", again.Plan)
		}
	})
}

func TestSwapRestoreOption(t *testing.T) {
	// Options.Restore names the jobs to restore; other swaps stay.
	eng, f := demoUp(t)
	apiDir, soloDir := srcDir(t, "api"), srcDir(t, "solo")
	for _, s := range []struct{ job, dir string }{{"svc.api", apiDir}, {"svc.solo", soloDir}} {
		if r := swap(eng, f, s.job, s.dir, healthy); r.err != nil {
			t.Fatalf("swap %s: %v", s.job, r.err)
		}
	}
	o := opts(f)
	o.Restore = []string{"svc.solo"}
	p := prepare(t, eng, o)
	if diff := cmp.Diff([]string{"recreate svc.solo/1"}, actions(p)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if err := up(t, eng, p).Err(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range []string{cAPI, cSolo} {
		c, _ := eng.Container(n)
		got[n] = c.Labels[stack.LabelSwapped]
	}
	if diff := cmp.Diff(map[string]string{cAPI: apiDir, cSolo: ""}, got); diff != "" {
		t.Errorf("swapped labels (-want +got):\n%s", diff)
	}
}

func TestSwapRollback(t *testing.T) {
	tests := []struct {
		name string
		// fault breaks the new container; img is the image it runs.
		fault       func(t *testing.T, eng *enginetest.Engine, img string)
		probe       func(eng *enginetest.Engine) func(context.Context, *stack.Check, string) error
		wantErr     string // in the RollbackError's cause
		wantLogTail string
		wantIs      error
	}{
		{
			name: "the new image crashes",
			fault: func(t *testing.T, eng *enginetest.Engine, img string) {
				eng.Crash(img, 2)
				eng.SetLog(img, "loading config", "panic: nil map")
			},
			wantErr:     "exited with code 2 before it was healthy",
			wantLogTail: "loading config\npanic: nil map",
		},
		{
			name: "the new container never becomes healthy",
			probe: func(eng *enginetest.Engine) func(context.Context, *stack.Check, string) error {
				return func(context.Context, *stack.Check, string) error {
					if c, _ := eng.Container(cAPI); strings.Contains(c.Image, ":dev-") {
						return errors.New("GET /healthz: 503 Service Unavailable")
					}
					return nil
				}
			},
			wantErr: "503 Service Unavailable",
		},
		{
			name:    "the new container cannot be created",
			fault:   func(t *testing.T, eng *enginetest.Engine, img string) { eng.Fail("Create", errNoSpace) },
			wantErr: "no space left on device",
			wantIs:  errNoSpace,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, f := demoUp(t)
			old, _ := eng.Container(cAPI)
			dir := srcDir(t, "broken")
			img := builtImage(t, f, "svc.api", dir)
			if tt.fault != nil {
				tt.fault(t, eng, img)
			}
			probe := healthy
			if tt.probe != nil {
				probe = tt.probe(eng)
			}
			before := ids(eng)
			r := swap(eng, f, "svc.api", dir, probe)
			eng.Fail("Create", nil)

			var rb *converge.RollbackError
			if !errors.As(r.err, &rb) {
				t.Fatalf("Swap: %v, want a *converge.RollbackError", r.err)
			}
			if rb.Task != "svc.api/1" || !strings.Contains(rb.Err.Error(), tt.wantErr) || rb.LogTail != tt.wantLogTail {
				t.Errorf("rollback %q (task %s, log tail %q), want %q with log tail %q", rb.Err, rb.Task, rb.LogTail, tt.wantErr, tt.wantLogTail)
			}
			if !strings.Contains(r.err.Error(), "the previous container was put back") {
				t.Errorf("error %q", r.err)
			}
			if tt.wantIs != nil && !errors.Is(r.err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", r.err, tt.wantIs)
			}
			if r.res == nil || r.res.Image != img {
				t.Errorf("result %+v, want the image %s it tried", r.res, img)
			}

			c, ok := eng.Container(cAPI)
			if !ok || c.ID != old.ID || c.Image != "demo/api:1" || c.State != stack.StateRunning || c.Labels[stack.LabelSwapped] != "" {
				t.Errorf("%s after the rollback: %+v; want the old container running", cAPI, c)
			}
			if c.Starts != old.Starts+1 {
				t.Errorf("the old container was started %d times, want once more than %d", c.Starts, old.Starts)
			}
			if _, ok := eng.Container(cAPI + ".prev"); ok {
				t.Errorf("a .prev container is left")
			}
			if diff := cmp.Diff([]string(nil), changed(before, ids(eng))); diff != "" {
				t.Errorf("containers changed (-want +got):\n%s", diff)
			}
			for _, ct := range eng.Containers() {
				if ct.Image == img {
					t.Errorf("%s still runs the failed image", ct.Name)
				}
			}
			if len(r.records) != 1 || !strings.Contains(r.records[0].Err, tt.wantErr) || !strings.Contains(r.records[0].Err, tt.wantLogTail) {
				t.Errorf("records %+v, want the error and log tail", r.records)
			}
			if p := prepare(t, eng, opts(f)); !p.Plan.Empty() {
				t.Errorf("dev up after the rollback plans:\n%s", p.Plan)
			}
		})
	}
}

var errNoSpace = errors.New("no space left on device")

func TestSwapRollbackFails(t *testing.T) {
	// The old container cannot start again either: the error says so and
	// what to run; the next dev up starts it.
	eng, f := demoUp(t)
	dir := srcDir(t, "v1")
	eng.Fail("Start", errors.New("OCI runtime create failed"))
	r := swap(eng, f, "svc.api", dir, healthy)
	eng.Fail("Start", nil)
	var rb *converge.RollbackError
	if !errors.As(r.err, &rb) {
		t.Fatalf("Swap: %v, want a wrapped *converge.RollbackError", r.err)
	}
	if !strings.Contains(r.err.Error(), "and restarting the previous container failed: OCI runtime create failed (run `cjob dev up`)") {
		t.Errorf("error %q", r.err)
	}
	c, ok := eng.Container(cAPI)
	if !ok || c.Image != "demo/api:1" || c.State != stack.StateExited {
		t.Fatalf("%s: %+v, want the old container back under its name, stopped", cAPI, c)
	}
	p := prepare(t, eng, opts(f))
	if diff := cmp.Diff([]string{"start svc.api/1"}, actions(p)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if err := up(t, eng, p).Err(); err != nil {
		t.Fatal(err)
	}
	if c, _ := eng.Container(cAPI); c.State != stack.StateRunning {
		t.Errorf("%s is %s after dev up", cAPI, c.State)
	}
}

func TestSwapNotRunning(t *testing.T) {
	eng := newEngine()
	f := parse(t, demoFile)
	o := opts(f)
	o.Rewrite.Only = []string{"svc.db"}
	upOK(t, eng, o)
	calls := len(eng.Calls())
	r := swap(eng, f, "svc.api", srcDir(t, "x"), healthy)
	if !errors.Is(r.err, converge.ErrNotRunning) || !strings.Contains(r.err.Error(), "run `cjob dev up svc.api` first") {
		t.Errorf("Swap: %v, want ErrNotRunning", r.err)
	}
	if len(r.records) != 1 || r.records[0].Err == "" || r.records[0].Image != "" {
		t.Errorf("records %+v, want the failure recorded", r.records)
	}
	if got := eng.Calls()[calls:]; len(got) != 0 {
		t.Errorf("calls: %q", got)
	}
}

func TestSwapOneshot(t *testing.T) {
	// A one-shot job's new container must run to completion (exit 0).
	eng, p := codingUp(t)
	f := p.File
	dir := srcDir(t, "migrate v4")
	img := builtImage(t, f, "infra.migrate", dir)
	eng.Crash(img, 0)
	r := swap(eng, f, "infra.migrate", dir, healthy)
	if r.err != nil {
		t.Fatal(r.err)
	}
	c, _ := eng.Container("coding-dev.infra.migrate.1")
	if c.Image != img || c.State != stack.StateExited || c.ExitCode != 0 {
		t.Errorf("migrate: image %s state %s code %d", c.Image, c.State, c.ExitCode)
	}
	// The production command is kept for a Dockerfile build.
	if diff := cmp.Diff([]string{"/demo", "migrate"}, c.Spec.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if p := prepare(t, eng, opts(f)); !p.Plan.Empty() {
		t.Errorf("plan:\n%s", p.Plan)
	}
}

// toolFile has a job whose production command names its binary.
const toolFile = `
project: demo
hosts: {app-1: {}}
services:
  svc:
    jobs:
      tool:
        image: demo/tool:1
        command: ["/tool", "serve", "--port", "8080"]
        port: 8080
        volumes: ["/etc/cjob-test-absent.conf:/etc/tool.conf:ro"]
        run_on_host: app-1
`

func TestSwapTemplateKeptByDevUp(t *testing.T) {
	// `dev swap` from a template drops production's command (the
	// template's image starts its own artefact), and `dev up` must keep
	// that swap as it is.
	eng := newEngine()
	f := parse(t, toolFile)
	// Swap checks host-config paths on this machine, as dev up does by
	// default: so does this test's dev up.
	o := opts(f)
	o.Rewrite.HostPathExists = nil
	upOK(t, eng, o)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "<h1>hi</h1>"})
	r, err := converge.Swap(context.Background(), eng, converge.SwapOptions{
		File: f, Job: "svc.tool", Probe: healthy,
		Build: build.Options{Dir: dir, Template: "static", StaticServer: []byte("static server")},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := eng.Container("demo-dev.svc.tool.1")
	if r.Template != "static" || c.Image != r.Image || c.Spec.Command != nil || c.Spec.Entrypoint != nil {
		t.Fatalf("after the swap: template %q, %s runs %s with entrypoint %q command %q", r.Template, c.Name, c.Image, c.Spec.Entrypoint, c.Spec.Command)
	}
	if c.Labels[stack.LabelSwappedTemplate] != "static" {
		t.Errorf("the swapped container does not record its template: %v", c.Labels)
	}
	if p := prepare(t, eng, o); !p.Plan.Empty() {
		t.Errorf("dev up after a template swap should keep it as it is:\n%s", p.Plan)
	}
}

func TestSwapHostConfigMountAbsent(t *testing.T) {
	// A host-config bind mount whose source this machine lacks is dropped
	// by dev up; swap must make the new container the same way.
	eng := newEngine()
	f := parse(t, toolFile)
	o := opts(f)
	o.Rewrite.HostPathExists = func(p string) bool { return p != "/etc/cjob-test-absent.conf" }
	upOK(t, eng, o)
	old, _ := eng.Container("demo-dev.svc.tool.1")
	if len(old.Spec.Mounts) != 0 {
		t.Fatalf("dev up mounts %v, want the absent path dropped", old.Spec.Mounts)
	}
	r := swap(eng, f, "svc.tool", srcDir(t, "tool"), healthy)
	if r.err != nil {
		t.Fatal(r.err)
	}
	c, _ := eng.Container("demo-dev.svc.tool.1")
	if diff := cmp.Diff(old.Spec.Mounts, c.Spec.Mounts, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("swap must rewrite as dev up does: the swapped container mounts a host-config path this machine lacks (-dev up +swap):\n%s", diff)
	}
	if p := prepare(t, eng, o); !p.Plan.Empty() {
		t.Errorf("plan after the swap:\n%s", p.Plan)
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	eng, f := demoUp(t)

	t.Run("nothing swapped", func(t *testing.T) {
		calls := len(eng.Calls())
		got, err := converge.Restore(ctx, eng, f, nil, converge.UpOptions{Probe: healthy})
		if err != nil || got != nil {
			t.Errorf("Restore = %q, %v; want nothing", got, err)
		}
		if n := eng.Calls()[calls:]; len(n) != 0 {
			t.Errorf("calls: %q", n)
		}
	})

	for _, s := range []struct{ job, dir string }{{"svc.api", srcDir(t, "api")}, {"svc.solo", srcDir(t, "solo")}} {
		if r := swap(eng, f, s.job, s.dir, healthy); r.err != nil {
			t.Fatalf("swap %s: %v", s.job, r.err)
		}
	}

	t.Run("a job that is not swapped", func(t *testing.T) {
		_, err := converge.Restore(ctx, eng, f, []string{"svc.web"}, converge.UpOptions{Probe: healthy})
		if err == nil || err.Error() != "svc.web is not swapped" {
			t.Errorf("Restore(svc.web) = %v", err)
		}
	})

	t.Run("one job", func(t *testing.T) {
		before := ids(eng)
		got, err := converge.Restore(ctx, eng, f, []string{"svc.solo"}, converge.UpOptions{Probe: healthy})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"svc.solo"}, got); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{cSolo}, changed(before, ids(eng))); diff != "" {
			t.Errorf("changed (-want +got):\n%s", diff)
		}
		solo, _ := eng.Container(cSolo)
		api, _ := eng.Container(cAPI)
		if solo.Image != "demo/solo:1" || solo.Labels[stack.LabelSwapped] != "" || api.Labels[stack.LabelSwapped] == "" {
			t.Errorf("solo runs %s (swapped %q), api swapped %q", solo.Image, solo.Labels[stack.LabelSwapped], api.Labels[stack.LabelSwapped])
		}
	})

	t.Run("every swapped job", func(t *testing.T) {
		got, err := converge.Restore(ctx, eng, f, nil, converge.UpOptions{Probe: healthy})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"svc.api"}, got); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		for _, c := range eng.Containers() {
			if c.Labels[stack.LabelSwapped] != "" || strings.Contains(c.Image, ":dev-") {
				t.Errorf("%s still swapped: %s", c.Name, c.Image)
			}
		}
		if p := prepare(t, eng, opts(f)); !p.Plan.Empty() {
			t.Errorf("plan after restoring:\n%s", p.Plan)
		}
	})
}

// replicasFile has a job with two tasks on two hosts.
const replicasFile = `
project: demo
hosts: {app-1: {}, app-2: {}}
services:
  svc:
    jobs:
      api:
        image: demo/api:1
        port: 8000
        tasks: [{host: app-1}, {host: app-2}]
`

func TestSwapKeptReplicas(t *testing.T) {
	// With --replicas keep, swap replaces every task of the job.
	eng := newEngine()
	f := parse(t, replicasFile)
	o := opts(f)
	o.Rewrite.KeepReplicas = true
	upOK(t, eng, o)
	r := swap(eng, f, "svc.api", srcDir(t, "v1"), healthy)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if diff := cmp.Diff([]string{"svc.api/1", "svc.api/2"}, r.res.Tasks); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	for _, n := range []string{"demo-dev.svc.api.1", "demo-dev.svc.api.2"} {
		if c, _ := eng.Container(n); c.Image != r.res.Image {
			t.Errorf("%s runs %s, want %s", n, c.Image, r.res.Image)
		}
	}
	if p := prepare(t, eng, o); !p.Plan.Empty() {
		t.Errorf("plan:\n%s", p.Plan)
	}

	t.Run("restore puts every task back", func(t *testing.T) {
		got, err := converge.Restore(context.Background(), eng, f, []string{"svc.api"}, converge.UpOptions{Probe: healthy})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"svc.api"}, got); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		var still []string
		for _, c := range eng.Containers() {
			if c.Labels[stack.LabelSwapped] != "" {
				still = append(still, c.Name)
			}
		}
		if len(still) > 0 {
			t.Errorf("with --replicas keep every task must be restored; %q keep the local build", still)
		}
	})
}

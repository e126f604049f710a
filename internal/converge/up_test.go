package converge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/compose/export"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// demoFile is a small stack on two hosts: api needs db, web needs api,
// solo needs nothing.
const demoFile = `
project: demo
hosts:
  app-1: {address: 10.0.0.1}
  db-1:  {address: 10.0.0.2}
services:
  svc:
    jobs:
      db:
        image: demo/db:1
        port: 5432
        health: {tcp: 5432}
        volumes: ["/var/lib/db:/data"]
        run_on_host: db-1
      api:
        image: demo/api:1
        port: 8000
        env: {DB_URL: "tcp://10.0.0.2:5432"}
        depends_on: [svc.db]
        health: {http: /healthz, interval: 20ms, retries: 5}
        run_on_host: app-1
      web:
        image: demo/web:1
        port: 3000
        depends_on: [svc.api]
        run_on_host: app-1
      solo:
        image: demo/solo:1
        run_on_host: app-1
`

// Container names of demoFile's stack.
const (
	sbApp = "demo-dev.host.app-1"
	sbDB  = "demo-dev.host.db-1"
	cDB   = "demo-dev.svc.db.1"
	cAPI  = "demo-dev.svc.api.1"
	cWeb  = "demo-dev.svc.web.1"
	cSolo = "demo-dev.svc.solo.1"
)

// demoUp is an engine running the whole of demoFile.
func demoUp(t *testing.T) (*enginetest.Engine, *prodspec.File) {
	t.Helper()
	eng := newEngine()
	f := parse(t, demoFile)
	upOK(t, eng, opts(f))
	return eng, f
}

// codingUp is an engine running the whole coding example. Its one-shot
// migration exits 0 at once, as a finished migration does.
func codingUp(t *testing.T) (*enginetest.Engine, *converge.Prepared) {
	t.Helper()
	eng := newEngine()
	eng.Crash("coding/migrate:1.0.0", 0)
	p := upOK(t, eng, opts(coding(t)))
	return eng, p
}

func TestUpColdCodingStack(t *testing.T) {
	eng := newEngine()
	eng.Crash("coding/migrate:1.0.0", 0) // a one-shot that completes
	p := prepare(t, eng, opts(coding(t)))
	res := up(t, eng, p)
	if err := res.Err(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	st := p.Rewrite.Stack

	t.Run("every sandbox and task runs", func(t *testing.T) {
		want := map[string]stack.State{}
		for _, u := range st.Units {
			want[u.Name] = stack.StateRunning
		}
		want["coding-dev.infra.migrate.1"] = stack.StateExited
		got := map[string]stack.State{}
		for _, c := range eng.Containers() {
			got[c.Name] = c.State
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("container states (-want +got):\n%s", diff)
		}
		if c, _ := eng.Container("coding-dev.infra.migrate.1"); c.ExitCode != 0 {
			t.Errorf("migrate exit code %d, want 0", c.ExitCode)
		}
		if len(st.Units) != 6+11 {
			t.Errorf("%d units, want 6 sandboxes and 11 tasks", len(st.Units))
		}
	})

	t.Run("tasks join their host's sandbox", func(t *testing.T) {
		for _, c := range eng.Containers() {
			switch c.Labels[stack.LabelKind] {
			case "task":
				want := devenv.SandboxName("coding", c.Labels[stack.LabelHost])
				if c.Spec.JoinSandbox != want || c.Network != "" {
					t.Errorf("%s joins %q (network %q), want the namespaces of %s", c.Name, c.Spec.JoinSandbox, c.Network, want)
				}
			case "sandbox":
				if c.Network != "coding-dev" || c.IP == "" {
					t.Errorf("sandbox %s on network %q at %q, want coding-dev with an address", c.Name, c.Network, c.IP)
				}
			default:
				t.Errorf("%s has kind %q", c.Name, c.Labels[stack.LabelKind])
			}
		}
	})

	t.Run("network and volumes", func(t *testing.T) {
		if diff := cmp.Diff([]string{"coding-dev"}, eng.Networks()); diff != "" {
			t.Errorf("networks (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"coding-dev.data-1.data_cache"}, eng.Volumes()); diff != "" {
			t.Errorf("volumes (-want +got):\n%s", diff)
		}
		cache, _ := eng.Container("coding-dev.infra.cache.1")
		wantMounts := []stack.Mount{
			{Type: "volume", Source: "coding-dev.data-1.data_cache", Target: "/data"},
			{Type: "bind", Source: "/etc/localtime", Target: "/etc/localtime", ReadOnly: true},
		}
		if diff := cmp.Diff(wantMounts, cache.Spec.Mounts); diff != "" {
			t.Errorf("cache mounts (-want +got):\n%s", diff)
		}
	})

	t.Run("dependencies start first", func(t *testing.T) {
		started := eng.Started()
		at := map[string]int{}
		for i, n := range started {
			if _, dup := at[n]; dup {
				t.Errorf("%s started twice", n)
			}
			at[n] = i
		}
		if len(at) != len(st.Units) {
			t.Errorf("%d containers started, want %d: %q", len(at), len(st.Units), started)
		}
		edges := 0
		for _, u := range st.Units {
			for _, d := range u.DependsOn {
				dn := st.Unit(d).Name
				if at[dn] >= at[u.Name] {
					t.Errorf("%s started before its dependency %s: %q", u.Name, dn, started)
				}
				edges++
			}
		}
		// gateway -> web -> api -> migrate -> cache, spelled out.
		chain := []string{"coding-dev.infra.cache.1", "coding-dev.infra.migrate.1", "coding-dev.coding-core.api.1", "coding-dev.coding-core.web.1", "coding-dev.edge.gateway.1"}
		for i := 1; i < len(chain); i++ {
			if at[chain[i-1]] >= at[chain[i]] {
				t.Errorf("%s started before %s", chain[i], chain[i-1])
			}
		}
		if edges < 11+10 {
			t.Errorf("only %d dependency edges checked", edges)
		}
	})

	t.Run("labels", func(t *testing.T) {
		for _, u := range st.Units {
			c, ok := eng.Container(u.Name)
			if !ok {
				t.Errorf("no container %s", u.Name)
				continue
			}
			want := map[string]string{
				export.ComposeProject:         "coding-dev",
				export.ComposeService:         export.ServiceName(u),
				export.ComposeContainerNumber: "1",
				export.ComposeOneoff:          "False",
				export.ComposeConfigHash:      u.Hash(),
				export.ComposeVersion:         export.ComposeVersionValue,
				stack.LabelProject:            "coding",
				stack.LabelEnv:                "dev",
				stack.LabelKind:               u.Kind.String(),
				stack.LabelKey:                u.Key,
				stack.LabelHost:               u.Host,
				stack.LabelHash:               u.Hash(),
			}
			got := map[string]string{}
			for k := range want {
				if v, ok := c.Labels[k]; ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s labels (-want +got):\n%s", u.Name, diff)
			}
			if u.Kind == stack.KindTask && c.Labels[stack.LabelJob] != u.Job {
				t.Errorf("%s: cjob.job %q, want %q", u.Name, c.Labels[stack.LabelJob], u.Job)
			}
		}
		if svc := eng.Containers()[0].Labels[export.ComposeService]; strings.ContainsAny(svc, "./") {
			t.Errorf("compose service %q is not a Compose name", svc)
		}
	})

	t.Run("images pulled once each", func(t *testing.T) {
		pulled := eng.Pulled()
		want := []string{"coding/api:1.0.0", "coding/cache:1.0.0", "coding/gateway:1.0.0", "coding/git:1.0.0", "coding/mail:1.0.0",
			"coding/migrate:1.0.0", "coding/prober:1.0.0", "coding/queue:1.0.0", "coding/sms:1.0.0", "coding/web:1.0.0", "coding/worker:1.0.0"}
		slices.Sort(pulled)
		if diff := cmp.Diff(want, pulled); diff != "" {
			t.Errorf("pulls (-want +got):\n%s", diff)
		}
	})
}

// TestUpMakesSandboxImage pins what Up does before it applies: it makes
// the host sandbox image for the engine's architecture, and the sandboxes
// run it, however the test binary (or cjob) was built.
func TestUpMakesSandboxImage(t *testing.T) {
	eng := newEngine()
	p := prepare(t, eng, opts(parse(t, demoFile)))
	res, err := converge.Up(context.Background(), eng, p, converge.UpOptions{Probe: healthy})
	if err != nil || res.Err() != nil {
		t.Fatalf("Up: %v, %v", err, res.Err())
	}
	_, hash, _ := sandbox.Payload("amd64") // enginetest reports amd64
	ref := sandbox.ImageRef(hash)
	if !eng.HasImage(ref) {
		t.Errorf("the engine lacks the sandbox image %s after Up", ref)
	}
	for _, c := range eng.Containers() {
		if c.Labels[stack.LabelKind] == "sandbox" && c.Image != ref {
			t.Errorf("sandbox %s runs %s, want %s", c.Name, c.Image, ref)
		}
	}
	// An empty plan makes nothing, not even the image.
	calls := len(eng.Calls())
	p2 := prepare(t, eng, opts(parse(t, demoFile)))
	if _, err := converge.Up(context.Background(), eng, p2, converge.UpOptions{Probe: healthy}); err != nil {
		t.Fatal(err)
	}
	if got := eng.Calls()[calls:]; len(got) != 0 {
		t.Errorf("an empty plan made calls: %q", got)
	}
}

func TestPrepareAgain(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(eng *enginetest.Engine) // after the first up
		change      func(f *prodspec.File)
		wantActions []string
		wantCause   string   // of the first action
		wantChanged []string // containers replaced or removed
		wantStarted []string // containers started by the second up
		wantNote    string
	}{
		{
			name:   "nothing changed plans nothing",
			change: func(*prodspec.File) {},
		},
		{
			name:        "env of one job recreates that job only",
			change:      func(f *prodspec.File) { f.Job("coding-core.web").Env["FEATURE"] = "on" },
			wantActions: []string{"recreate coding-core.web/1"},
			wantCause:   "env FEATURE changed",
			wantChanged: []string{"coding-dev.coding-core.web.1"},
			wantStarted: []string{"coding-dev.coding-core.web.1"},
		},
		{
			name:        "image of a job others depend on recreates it alone",
			change:      func(f *prodspec.File) { f.Job("coding-core.api").Image = "coding/api:1.0.1" },
			wantActions: []string{"recreate coding-core.api/1"},
			wantCause:   "image coding/api:1.0.0 -> coding/api:1.0.1",
			wantChanged: []string{"coding-dev.coding-core.api.1"},
			wantStarted: []string{"coding-dev.coding-core.api.1"},
		},
		{
			name: "a job excluded from dev is removed with its empty host",
			change: func(f *prodspec.File) {
				d := f.Environments["dev"]
				d.Exclude = append(d.Exclude, "monitoring.prober")
			},
			wantActions: []string{"remove monitoring.prober/1", "remove host/mon-1"},
			wantCause:   "orphan: not in the jobs file for this environment",
			wantChanged: []string{"coding-dev.host.mon-1", "coding-dev.monitoring.prober.1"},
			wantNote:    "excluded monitoring.prober",
		},
		{
			name:        "a stopped task is started again, not recreated",
			setup:       func(eng *enginetest.Engine) { eng.Kill("coding-dev.coding-git.git.1", 137) },
			change:      func(*prodspec.File) {},
			wantActions: []string{"start coding-git.git/1"},
			wantCause:   "stopped",
			wantStarted: []string{"coding-dev.coding-git.git.1"},
		},
		{
			name:        "a restarted sandbox's tasks are recreated in its namespaces",
			setup:       func(eng *enginetest.Engine) { eng.Kill("coding-dev.host.git-app-1", 137) },
			change:      func(*prodspec.File) {},
			wantActions: []string{"start host/git-app-1", "recreate coding-git.git/1"},
			wantCause:   "stopped",
			wantChanged: []string{"coding-dev.coding-git.git.1"},
			wantStarted: []string{"coding-dev.host.git-app-1", "coding-dev.coding-git.git.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := codingUp(t)
			if tt.setup != nil {
				tt.setup(eng)
			}
			before := ids(eng)
			f := coding(t)
			tt.change(f)
			p := prepare(t, eng, opts(f))
			if diff := cmp.Diff(tt.wantActions, actions(p)); diff != "" {
				t.Fatalf("plan (-want +got):\n%s\n%s", diff, p.Plan)
			}
			if got := p.Plan.Empty(); got != (len(tt.wantActions) == 0) {
				t.Errorf("Plan.Empty() = %v", got)
			}
			if tt.wantCause != "" {
				for _, o := range p.Plan.Ops {
					if o.Changes() {
						if o.Cause != tt.wantCause {
							t.Errorf("cause %q, want %q", o.Cause, tt.wantCause)
						}
						break
					}
				}
			}
			if tt.wantNote != "" && !contains(noteTexts(p), tt.wantNote) {
				t.Errorf("no note %q in %q", tt.wantNote, noteTexts(p))
			}
			started := len(eng.Started())
			if err := up(t, eng, p).Err(); err != nil {
				t.Fatalf("Up: %v", err)
			}
			if diff := cmp.Diff(tt.wantChanged, changed(before, ids(eng))); diff != "" {
				t.Errorf("containers replaced or removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStarted, eng.Started()[started:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("started by the second up (-want +got):\n%s", diff)
			}
			if again := prepare(t, eng, opts(f)); !again.Plan.Empty() {
				t.Errorf("the plan after Up is not empty:\n%s", again.Plan)
			}
		})
	}
}

func noteTexts(p *converge.Prepared) []string {
	var out []string
	for _, n := range p.Notes() {
		out = append(out, n.String())
	}
	return out
}

func TestPrepareOffline(t *testing.T) {
	p := prepare(t, converge.Offline, opts(parse(t, demoFile)))
	want := []string{
		"create network demo-dev",
		"create volume demo-dev.db-1.var_lib_db",
		"create host/app-1", "create host/db-1",
		"create svc.db/1", "create svc.api/1", "create svc.solo/1", "create svc.web/1",
	}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("offline plan (-want +got):\n%s", diff)
	}
	if !contains(noteTexts(p), `env DB_URL: "tcp://10.0.0.2:5432" -> "tcp://db-1:5432"`) {
		t.Errorf("no note of the address rewrite in %q", noteTexts(p))
	}
}

func TestUpFailures(t *testing.T) {
	tests := []struct {
		name        string
		fault       func(eng *enginetest.Engine)
		wantErr     string
		wantLogTail string
	}{
		{
			name: "a job that crashes at start",
			fault: func(eng *enginetest.Engine) {
				eng.Crash("demo/db:1", 3)
				eng.SetLog("demo/db:1", "starting db", "FATAL: data directory has wrong ownership")
			},
			wantErr:     "exited with code 3 before it was healthy",
			wantLogTail: "starting db\nFATAL: data directory has wrong ownership",
		},
		{
			name:    "a job whose image no registry has",
			fault:   func(eng *enginetest.Engine) { eng.NoPull("demo/db:1") },
			wantErr: "manifest unknown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newEngine()
			tt.fault(eng)
			p := prepare(t, eng, opts(parse(t, demoFile)))
			res := up(t, eng, p)
			err := res.Err()
			var ae *apply.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Up: %v, want an *apply.Error", err)
			}
			if len(res.Failures) != 1 || res.Failures[0].Subject != "svc.db/1" {
				t.Fatalf("failures %+v, want svc.db/1 alone", res.Failures)
			}
			if f := res.Failures[0]; !strings.Contains(f.Err.Error(), tt.wantErr) || f.LogTail != tt.wantLogTail {
				t.Errorf("failure %q with log tail %q, want %q with %q", f.Err, f.LogTail, tt.wantErr, tt.wantLogTail)
			}
			if diff := cmp.Diff([]string{"svc.api/1", "svc.web/1"}, res.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{sbApp, sbDB, cSolo}, eng.Names(stack.StateRunning)); diff != "" {
				t.Errorf("running (-want +got):\n%s", diff)
			}
			for _, n := range []string{cAPI, cWeb} {
				if _, ok := eng.Container(n); ok {
					t.Errorf("%s was created although its dependency failed", n)
				}
			}
			// The next run converges from what was left: with a fixed
			// image, the failed job and its dependents are made and
			// nothing that runs is touched.
			before := ids(eng)
			f := parse(t, demoFile)
			f.Job("svc.db").Image = "demo/db:2"
			upOK(t, eng, opts(f))
			if diff := cmp.Diff([]string{cAPI, cDB, cWeb}, changed(before, ids(eng))); diff != "" {
				t.Errorf("changed by the next run (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{sbApp, sbDB, cAPI, cDB, cSolo, cWeb}, eng.Names(stack.StateRunning)); diff != "" {
				t.Errorf("running after the next run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrepareOnlyKeepsOtherContainers(t *testing.T) {
	eng, f := demoUp(t)
	before := ids(eng)
	// Everything changes in the file; only solo (which depends on nothing)
	// is brought up.
	f.Job("svc.db").Env = map[string]string{"TUNING": "fast"}
	f.Job("svc.web").Env = map[string]string{"THEME": "dark"}
	f.Job("svc.solo").Env = map[string]string{"MODE": "batch"}
	o := opts(f)
	o.Rewrite.Only = []string{"solo"}
	p := prepare(t, eng, o)
	if diff := cmp.Diff([]string{"recreate svc.solo/1"}, actions(p)); diff != "" {
		t.Fatalf("plan (-want +got):\n%s\n%s", diff, p.Plan)
	}
	if err := up(t, eng, p).Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{cSolo}, changed(before, ids(eng))); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{sbApp, sbDB, cAPI, cDB, cSolo, cWeb}, eng.Names(stack.StateRunning)); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}

	t.Run("a job with its dependencies on an empty engine", func(t *testing.T) {
		eng := newEngine()
		o := opts(parse(t, demoFile))
		o.Rewrite.Only = []string{"svc.api"}
		p := prepare(t, eng, o)
		if diff := cmp.Diff([]string{"svc.db"}, p.Rewrite.Added); diff != "" {
			t.Errorf("added (-want +got):\n%s", diff)
		}
		if err := up(t, eng, p).Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{sbApp, sbDB, cAPI, cDB}, eng.Names(stack.StateRunning)); diff != "" {
			t.Errorf("running (-want +got):\n%s", diff)
		}
		// Then the whole file: the rest is added, nothing replaced.
		before := ids(eng)
		upOK(t, eng, opts(parse(t, demoFile)))
		if diff := cmp.Diff([]string{cSolo, cWeb}, changed(before, ids(eng))); diff != "" {
			t.Errorf("changed by the full up (-want +got):\n%s", diff)
		}
	})
}

// otherFile is another project, sharing the engine with demoFile's.
const otherFile = `
project: other
hosts: {x-1: {}}
services:
  svc:
    jobs:
      o: {image: other/o:1, volumes: ["/srv:/srv"], run_on_host: x-1}
`

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestDown(t *testing.T) {
	tests := []struct {
		name        string
		opts        converge.DownOptions
		wantNames   []string
		wantNets    []string
		wantVolumes []string
		wantImages  []string // dev images left of the two made before
	}{
		{
			name:        "whole stack keeps volumes",
			opts:        converge.DownOptions{Project: "demo"},
			wantVolumes: []string{"demo-dev.db-1.var_lib_db"},
			wantImages:  []string{"demo/svc.api:dev-111111111111", "demo/svc.api:dev-222222222222"},
		},
		{
			name:       "with volumes removes them",
			opts:       converge.DownOptions{Project: "demo", Volumes: true},
			wantImages: []string{"demo/svc.api:dev-111111111111", "demo/svc.api:dev-222222222222"},
		},
		{
			name:        "only some jobs removes just their containers",
			opts:        converge.DownOptions{Project: "demo", Only: map[string]bool{"svc.api": true, "svc.web": true}, Volumes: true},
			wantNames:   []string{sbApp, sbDB, cDB, cSolo},
			wantNets:    []string{"demo-dev"},
			wantVolumes: []string{"demo-dev.db-1.var_lib_db"},
			wantImages:  []string{"demo/svc.api:dev-111111111111", "demo/svc.api:dev-222222222222"},
		},
		{
			name:        "remove images removes swap builds",
			opts:        converge.DownOptions{Project: "demo", RemoveImages: true},
			wantVolumes: []string{"demo-dev.db-1.var_lib_db"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := demoUp(t)
			eng.AddImage("demo/svc.api:dev-111111111111", "demo/svc.api:dev-222222222222")
			// Another project on the same engine is never touched.
			upOK(t, eng, opts(parse(t, otherFile)))
			p, res, err := converge.Down(context.Background(), eng, tt.opts)
			if err != nil || res.Err() != nil {
				t.Fatalf("Down: %v, %v", err, res.Err())
			}
			if p.Stack != nil {
				t.Errorf("a down plan has a stack")
			}
			var names []string
			for _, c := range eng.Containers() {
				names = append(names, c.Name)
			}
			wantNames := sorted(append(tt.wantNames, "other-dev.host.x-1", "other-dev.svc.o.1"))
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sorted(append(tt.wantNets, "other-dev")), eng.Networks()); diff != "" {
				t.Errorf("networks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sorted(append(tt.wantVolumes, "other-dev.x-1.srv")), eng.Volumes()); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
			var images []string
			for _, img := range []string{"demo/svc.api:dev-111111111111", "demo/svc.api:dev-222222222222"} {
				if eng.HasImage(img) {
					images = append(images, img)
				}
			}
			if diff := cmp.Diff(tt.wantImages, images); diff != "" {
				t.Errorf("dev images (-want +got):\n%s", diff)
			}
			if !eng.HasImage("demo/api:1") {
				t.Errorf("Down removed a production image")
			}
		})
	}

	t.Run("an unreachable engine", func(t *testing.T) {
		eng, _ := demoUp(t)
		calls := len(eng.Calls())
		eng.SetDown(true)
		_, _, err := converge.Down(context.Background(), eng, converge.DownOptions{Project: "demo"})
		if err == nil {
			t.Fatal("Down on a down engine succeeded")
		}
		eng.SetDown(false)
		if len(eng.Containers()) != 6 || len(eng.Calls()) != calls {
			t.Errorf("%d containers left, want all 6", len(eng.Containers()))
		}
	})
}

func TestPorts(t *testing.T) {
	const twoHosts = `
project: demo
hosts:
  a-1: {}
  b-1: {}
services:
  svc:
    jobs:
      a:   {image: demo/a:1, port: 8080, run_on_host: a-1}
      b:   {image: demo/b:1, port: 8080, run_on_host: b-1}
      api: {image: demo/api:1, port: 9000, run_on_host: a-1}
`
	tests := []struct {
		name      string
		taken     []int // ports this machine already uses
		wantPorts map[string]string
		wantNotes []string
	}{
		{
			name:      "free ports stay production's, a second sandbox moves",
			wantPorts: map[string]string{"demo-dev.host.a-1": "8080:8080,9000:9000", "demo-dev.host.b-1": "8080:8081"},
			wantNotes: []string{"host b-1: port 8080 published on 127.0.0.1:8081 (8080 is also used by another host sandbox)"},
		},
		{
			name:      "a port in use moves to the next free one",
			taken:     []int{9000, 9001},
			wantPorts: map[string]string{"demo-dev.host.a-1": "8080:8080,9000:9002", "demo-dev.host.b-1": "8080:8081"},
			wantNotes: []string{
				"host a-1: port 9000 published on 127.0.0.1:9002 (9000 is in use on this machine)",
				"host b-1: port 8080 published on 127.0.0.1:8081 (8080 is also used by another host sandbox)",
			},
		},
		{
			name:      "both sandboxes' wanted port in use",
			taken:     []int{8080},
			wantPorts: map[string]string{"demo-dev.host.a-1": "8080:8081,9000:9000", "demo-dev.host.b-1": "8080:8082"},
			wantNotes: []string{
				"host a-1: port 8080 published on 127.0.0.1:8081 (8080 is in use on this machine)",
				"host b-1: port 8080 published on 127.0.0.1:8082 (8080 is also used by another host sandbox)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newEngine()
			f := parse(t, twoHosts)
			o := opts(f)
			var asked []int
			o.PortFree = func(p int) bool {
				asked = append(asked, p)
				return !slices.Contains(tt.taken, p)
			}
			p := upOK(t, eng, o)
			var notes []string
			for _, n := range p.Notes() {
				if strings.Contains(n.Text, "published on") {
					notes = append(notes, n.String())
				}
			}
			if diff := cmp.Diff(tt.wantNotes, notes); diff != "" {
				t.Errorf("port notes (-want +got):\n%s", diff)
			}
			got := map[string]string{}
			for _, n := range []string{"demo-dev.host.a-1", "demo-dev.host.b-1"} {
				c, _ := eng.Container(n)
				got[n] = c.Labels[stack.LabelPorts]
				if c.Labels[stack.LabelPorts] != stack.FormatPorts(c.Spec.Publish) {
					t.Errorf("%s: label %q, publishes %v", n, c.Labels[stack.LabelPorts], c.Spec.Publish)
				}
			}
			if diff := cmp.Diff(tt.wantPorts, got); diff != "" {
				t.Errorf("published ports (-want +got):\n%s", diff)
			}
			api := p.Rewrite.Stack.Unit("svc.api/1")
			if want := "127.0.0.1:" + strings.Split(got["demo-dev.host.a-1"], ":")[2]; api.URLs[0].Local != want {
				t.Errorf("api answers at %q, want %q", api.URLs[0].Local, want)
			}

			// Next run: every port is free now, and busy ones would not
			// matter: the sandboxes keep what they publish.
			asked = nil
			o.PortFree = func(int) bool { return false }
			again := prepare(t, eng, o)
			if !again.Plan.Empty() {
				t.Errorf("second plan is not empty:\n%s", again.Plan)
			}
			if len(asked) != 0 {
				t.Errorf("ports probed again: %v", asked)
			}
			for _, u := range again.Rewrite.Stack.Units {
				if u.Kind == stack.KindSandbox && stack.FormatPorts(u.Spec.Publish) != tt.wantPorts[u.Name] {
					t.Errorf("%s: second run publishes %v, want %s", u.Name, u.Spec.Publish, tt.wantPorts[u.Name])
				}
			}
		})
	}
}

func TestElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0ms",
		250 * time.Millisecond:  "250ms",
		time.Second:             "1.0s",
		1500 * time.Millisecond: "1.5s",
		90 * time.Second:        "90.0s",
	} {
		if got := converge.Elapsed(d); got != want {
			t.Errorf("Elapsed(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	f := parse(t, demoFile)
	t.Run("a selected job the file does not have", func(t *testing.T) {
		o := opts(f)
		o.Rewrite.Only = []string{"svc.nope"}
		if _, err := converge.Prepare(context.Background(), newEngine(), o); err == nil || !strings.Contains(err.Error(), "svc.nope") {
			t.Errorf("Prepare: %v, want an error naming svc.nope", err)
		}
	})
	t.Run("an unreachable engine", func(t *testing.T) {
		eng := newEngine()
		eng.SetDown(true)
		if _, err := converge.Prepare(context.Background(), eng, opts(f)); !errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("Prepare: %v, want ErrUnreachable", err)
		}
	})
	t.Run("no sandbox image given", func(t *testing.T) {
		// The plan names the image's repository; Up makes and tags it
		// for the engine's architecture.
		o := opts(f)
		o.Rewrite.SandboxImage = ""
		p, err := converge.Prepare(context.Background(), converge.Offline, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Rewrite.Stack.Unit("host/app-1").Spec.Image; got != sandbox.Name {
			t.Errorf("sandbox image %s, want %s", got, sandbox.Name)
		}
	})
}

package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/stack"
)

// withEngine is an in-memory engine for host app-1 holding one running
// container: task 1 of core.api, made from version 1 with a config that is
// not the current one, its env and command carrying secrets.
func withEngine(t *testing.T) (*enginetest.Engine, string) {
	e := enginetest.New("tcp://app-1:2376")
	e.AddImage("example/api:1.0.0")
	labels := map[string]string{
		stack.LabelProject: "srvtest", stack.LabelEnv: production.Env.String(), stack.LabelKind: "task",
		stack.LabelService: "core", stack.LabelJob: "core.api", stack.LabelTask: "1", stack.LabelHost: "app-1",
		stack.LabelKey: "core.api/1", stack.LabelVersion: "1", stack.LabelHash: "not-the-current-hash",
		// What cjob records: the spec with the env unmasked.
		stack.LabelSpec: `{"Env":{"DB_PASSWORD":"s3cret"}}`,
	}
	spec := stack.Spec{Image: "example/api:1.0.0", HostNetwork: true, Command: []string{"--db-password=s3cret"},
		Env: []string{"LOG_LEVEL=info", "DB_PASSWORD=s3cret", "DATABASE_URL=postgres://u:pw@db/x", "NOVALUE"}}
	ctx := context.Background()
	id, err := e.Create(ctx, stack.CreateRequest{Name: "srvtest-core-api-1", Spec: spec, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.SetLog("srvtest-core-api-1", "listening on :8000", "DB_PASSWORD=s3cret")
	e.SetMemory("srvtest-core-api-1", 2<<20)
	return e, id
}

// TestWithEngine reads a host whose engine holds one task (app-1, an
// in-memory engine) next to one that cannot be reached (app-2).
func TestWithEngine(t *testing.T) {
	eng, fakeID := withEngine(t)
	f := newFixture(t, func(o *Options) { o.Dial = enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng}) })
	f.push(api.PushRequest{File: v1File}, 201)
	ctx := tctx(t)

	nodes, err := f.cl.Nodes(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || !nodes[0].Reachable || nodes[0].CPUs != 4 || nodes[0].EngineVersion != "27.0.0-enginetest" || nodes[0].TasksRunning != 1 ||
		nodes[0].Containers != 1 || nodes[1].Reachable || !strings.Contains(nodes[1].Error, "app-2") || !strings.Contains(nodes[1].Error, "unreachable") {
		t.Errorf("nodes: %+v", nodes)
	}

	// Memory use comes from the periodic poll of Run.
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the memory use from the periodic poll", 10*time.Second, func() bool {
		nodes, err := f.cl.Nodes(ctx, false)
		return err == nil && len(nodes) == 2 && nodes[0].MemoryUsed == 2<<20
	})

	j, err := f.cl.Job(ctx, "api", false)
	if err != nil {
		t.Fatal(err)
	}
	t1 := j.Tasks[0]
	if j.Running != 1 || j.State != "degraded" || j.Outdated != 1 || len(j.Versions) != 1 || j.Versions[0] != 1 ||
		t1.ID != fakeID || t1.Container != "srvtest-core-api-1" || t1.State != "running" || !t1.Outdated || t1.Memory != 2<<20 || t1.Health != "healthy" || t1.Version != 1 ||
		j.Tasks[1].State != "missing" {
		t.Errorf("core.api: %+v", j)
	}

	var cs []api.Container
	decode(t, f.get("/containers", 200), &cs)
	if len(cs) != 1 || cs[0].Job != "core.api" || cs[0].ID != fakeID || cs[0].Host != "app-1" {
		t.Errorf("GET /containers: %+v", cs)
	}

	// Logs by name, by ID prefix; a prefix shorter than 6 is no match.
	code, h, b := f.do("GET", "/containers/srvtest-core-api-1/logs?tail=5", "", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(string(b), "listening on :8000\n") {
		t.Errorf("logs: %d %s %q", code, h.Get("Content-Type"), b)
	}
	if b := f.get("/containers/"+fakeID[:12]+"/logs", 200); !strings.Contains(string(b), "listening") {
		t.Errorf("logs by ID prefix: %q", b)
	}
	f.get("/containers/"+fakeID[:5]+"/logs", 404)

	// Inspect: the env masked, the spec label (the env unmasked) gone.
	b = f.get("/containers/srvtest-core-api-1/inspect", 200)
	var doc struct {
		Config struct {
			Env    []string
			Cmd    []string
			Labels map[string]string
		}
		Args []string
	}
	decode(t, b, &doc)
	wantEnv := []string{"LOG_LEVEL=info", "DB_PASSWORD=********", "DATABASE_URL=postgres://u:********@db/x", "NOVALUE"}
	if strings.Join(doc.Config.Env, " ") != strings.Join(wantEnv, " ") {
		t.Errorf("inspect env %q, want %q", doc.Config.Env, wantEnv)
	}
	if _, ok := doc.Config.Labels[stack.LabelSpec]; ok || doc.Config.Labels[stack.LabelJob] != "core.api" {
		t.Errorf("inspect labels: %v", doc.Config.Labels)
	}
	t.Run("inspect masks the command", func(t *testing.T) {
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("inspect masks Config.Env only; Config.Cmd %q and Args %q show the secret", doc.Config.Cmd, doc.Args)
		}
		noSecret(t, "inspect", b)
	})

	// The diff: task 1 runs another config, task 2 is missing.
	diff, err := f.cl.Diff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var api1 []string
	for _, d := range diff {
		if d.Job == "core.api" {
			api1 = d.Tasks
		}
	}
	if len(api1) != 2 || !strings.Contains(strings.Join(api1, "\n"), "core.api/1: recreate") || !strings.Contains(strings.Join(api1, "\n"), "core.api/2: create") {
		t.Errorf("diff of core.api: %q", api1)
	}
}

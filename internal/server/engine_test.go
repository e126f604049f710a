package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/stack"
)

// fakeEngine answers the Docker Engine API calls the server's reads make
// (ping, info, the three list calls of Observe, stats, inspect, logs) for
// one running container: task 1 of core.api, made from version 1.
type fakeEngine struct {
	id, name string
	labels   map[string]string
	inspect  map[string]any
}

const fakeID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newFakeEngine(t *testing.T) (*fakeEngine, *httptest.Server) {
	labels := map[string]string{
		stack.LabelProject: "srvtest", stack.LabelEnv: production.Env, stack.LabelKind: "task",
		stack.LabelService: "core", stack.LabelJob: "core.api", stack.LabelTask: "1", stack.LabelHost: "app-1",
		stack.LabelKey: "core.api/1", stack.LabelVersion: "1", stack.LabelHash: "not-the-current-hash",
		// What cjob records: the spec with the env unmasked.
		stack.LabelSpec: `{"Env":{"DB_PASSWORD":"s3cret"}}`,
	}
	fe := &fakeEngine{id: fakeID, name: "srvtest-core-api-1", labels: labels}
	fe.inspect = map[string]any{
		"Id": fakeID, "Name": "/" + fe.name, "Path": "api",
		"Args": []string{"--db-password=s3cret"},
		"Config": map[string]any{
			"Image":  "example/api:1.0.0",
			"Env":    []string{"LOG_LEVEL=info", "DB_PASSWORD=s3cret", "DATABASE_URL=postgres://u:pw@db/x", "NOVALUE"},
			"Cmd":    []string{"--db-password=s3cret"},
			"Labels": labels,
		},
		"State": map[string]any{"Status": "running", "Running": true},
	}
	version := regexp.MustCompile(`^/v1\.[0-9]+`)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := version.ReplaceAllString(r.URL.Path, "")
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Content-Type", "application/json")
		js := func(v any) { json.NewEncoder(w).Encode(v) }
		switch {
		case p == "/_ping":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("OK"))
		case p == "/info":
			js(map[string]any{"ID": "fake", "NCPU": 4, "MemTotal": 8 << 30, "ServerVersion": "27.0.0-fake", "Containers": 3, "ContainersRunning": 1})
		case p == "/containers/json":
			js([]map[string]any{{"Id": fe.id, "Names": []string{"/" + fe.name}, "Image": "example/api:1.0.0", "ImageID": "sha256:" + strings.Repeat("a", 64),
				"Labels": fe.labels, "State": "running", "Status": "Up 5 minutes", "Created": 1700000000}})
		case p == "/networks":
			js([]any{})
		case p == "/volumes":
			js(map[string]any{"Volumes": []any{}, "Warnings": []any{}})
		case p == "/containers/"+fe.id+"/stats":
			js(map[string]any{"memory_stats": map[string]any{"usage": 3 << 20, "stats": map[string]any{"inactive_file": 1 << 20}}})
		case p == "/containers/"+fe.id+"/json":
			js(fe.inspect)
		case p == "/containers/"+fe.id+"/logs":
			w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
			for _, l := range []string{"listening on :8000\n", "DB_PASSWORD=s3cret\n"} {
				var hdr [8]byte
				hdr[0] = 1 // stdout
				binary.BigEndian.PutUint32(hdr[4:], uint32(len(l)))
				w.Write(hdr[:])
				w.Write([]byte(l))
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			js(map[string]string{"message": "fake engine: no " + r.Method + " " + r.URL.Path})
		}
	}))
	t.Cleanup(hs.Close)
	return fe, hs
}

// TestWithEngine reads a host whose engine holds one task (app-1, a fake
// engine) next to one that cannot be reached (app-2).
func TestWithEngine(t *testing.T) {
	_, eng := newFakeEngine(t)
	f := newFixture(t)
	file := strings.Replace(v1File, `docker: "tcp://127.0.0.1:1"`, `docker: "tcp://`+strings.TrimPrefix(eng.URL, "http://")+`"`, 1)
	f.push(api.PushRequest{File: file}, 201)
	ctx := tctx(t)

	nodes, err := f.cl.Nodes(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || !nodes[0].Reachable || nodes[0].CPUs != 4 || nodes[0].EngineVersion != "27.0.0-fake" || nodes[0].TasksRunning != 1 ||
		nodes[0].Containers != 3 || nodes[1].Reachable || !strings.Contains(nodes[1].Error, "app-2") {
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

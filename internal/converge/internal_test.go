package converge

// Tests of unexported helpers whose branches the engine-level tests cannot
// reach (enginetest always ends log lines with a newline, say).

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/watch"
)

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	p := &prefixWriter{w: &out, mu: &mu, prefix: "svc.api/1 | "}
	// Writes split anywhere; only whole lines go out, each with the
	// prefix, and the last partial line on flush.
	for _, chunk := range []string{"hel", "lo\nwor", "ld\n\nno newline"} {
		if n, err := p.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if diff := cmp.Diff("svc.api/1 | hello\nsvc.api/1 | world\nsvc.api/1 | \n", out.String()); diff != "" {
		t.Errorf("before flush (-want +got):\n%s", diff)
	}
	p.flush()
	p.flush() // nothing left: writes nothing
	if got := out.String(); !strings.HasSuffix(got, "svc.api/1 | \nsvc.api/1 | no newline\n") || strings.Count(got, "no newline") != 1 {
		t.Errorf("after flush: %q", got)
	}

	t.Run("a failing writer", func(t *testing.T) {
		p := &prefixWriter{w: failWriter{}, mu: &mu, prefix: "x | "}
		if n, err := p.Write([]byte("a\n")); err == nil || n != 0 {
			t.Errorf("Write = %d, %v; want 0 and the error", n, err)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"0123", "4567", "89ab"} {
		if n, err := b.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "456789ab" {
		t.Errorf("tail %q, want the last 8 bytes", got)
	}
	b.Write([]byte("0123456789abcdef-one-write-longer-than-max"))
	if got := b.String(); got != "than-max" {
		t.Errorf("tail %q after a long write", got)
	}
}

func TestTemplateCommand(t *testing.T) {
	tests := []struct {
		name           string
		template       string
		command        []string
		wantEntrypoint []string
		wantCommand    []string
	}{
		{"go keeps production's arguments", "go", []string{"/api", "migrate", "--dry-run"}, []string{"/app"}, []string{"migrate", "--dry-run"}},
		{"go without arguments runs the image's", "go", []string{"/api"}, nil, nil},
		{"go with no command", "go", nil, nil, nil},
		{"other templates run the image's command", "node", []string{"node", "server.js"}, nil, nil},
		{"static", "static", []string{"/tool", "serve"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &stack.Unit{Spec: stack.Spec{Command: tt.command, Entrypoint: []string{"/entry"}}}
			templateCommand(u, tt.template)
			if diff := cmp.Diff(tt.wantEntrypoint, u.Spec.Entrypoint); diff != "" {
				t.Errorf("entrypoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCommand, u.Spec.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	rules := []SyncRule{{Src: "static", Dest: "/srv/www"}, {Src: "views", Dest: "/app/views"}}
	tests := []struct {
		name  string
		batch watch.Batch
		want  bool
	}{
		{"every path under a rule", watch.Batch{Changed: []string{"static/a.css", "views/x.html"}}, true},
		{"a removal under a rule", watch.Batch{Removed: []string{"static/old.css"}}, true},
		{"one changed path outside", watch.Batch{Changed: []string{"static/a.css", "main.go"}}, false},
		{"one removed path outside", watch.Batch{Changed: []string{"static/a.css"}, Removed: []string{"go.mod"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covered(rules, tt.batch); got != tt.want {
				t.Errorf("covered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSwappedCopiesLabels(t *testing.T) {
	u := &stack.Unit{Key: "svc.api/1", Spec: stack.Spec{Image: "demo/api:1", Labels: map[string]string{"team": "core"}}}
	s := swapped(u, "/src/api", "demo/svc.api:dev-1", "")
	want := map[string]string{"team": "core", stack.LabelSwapped: "/src/api", stack.LabelSwappedImage: "demo/svc.api:dev-1"}
	if diff := cmp.Diff(want, s.Spec.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if s.Spec.Image != "demo/svc.api:dev-1" || u.Spec.Image != "demo/api:1" || len(u.Spec.Labels) != 1 {
		t.Errorf("the original unit changed: %+v", u.Spec)
	}
}

func TestSwappedFromTemplateRecordsIt(t *testing.T) {
	u := &stack.Unit{Key: "svc.api/1", Spec: stack.Spec{Image: "demo/api:1", Command: []string{"/api", "--port", "80"}}}
	s := swapped(u, "/src/api", "demo/svc.api:dev-1", "go")
	if s.Spec.Labels[stack.LabelSwappedTemplate] != "go" {
		t.Errorf("labels %v: want the template recorded", s.Spec.Labels)
	}
	if diff := cmp.Diff([]string{"/app"}, s.Spec.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"--port", "80"}, s.Spec.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
}

// TestLocalEnv: a job's env for a process on this machine: addresses of
// other hosts, their DNS aliases and localhost (the job's own host) become
// the ports dev publishes on 127.0.0.1; other text is left alone; PORT is
// where the local process listens.
func TestLocalEnv(t *testing.T) {
	st := &stack.Stack{Units: []*stack.Unit{
		{Key: "host/data-1", Kind: stack.KindSandbox, Host: "data-1", Spec: stack.Spec{
			Aliases: []string{"cache.infra.coding.local"},
			Publish: []stack.Publish{{ContainerPort: 6379, HostPort: 16379}, {ContainerPort: 5672, HostPort: 5672}}}},
		{Key: "host/core-app-1", Kind: stack.KindSandbox, Host: "core-app-1", Spec: stack.Spec{
			Publish: []stack.Publish{{ContainerPort: 8000, HostPort: 8000}, {ContainerPort: 3000, HostPort: 13000}}}},
	}}
	api := &stack.Unit{Key: "core.api/1", Sandbox: "host/core-app-1", Spec: stack.Spec{Env: []string{
		"CACHE_URL=http://data-1:6379",
		"CACHE_DNS=redis://CACHE.infra.coding.local:6379/0",
		"QUEUE=data-1:5672,data-1:9999",
		"WEB=http://localhost:3000/x",
		"PORT=8000",
		"NOTE=ratio 3:2 at 10:30",
	}}}
	env, notes := localEnv(st, api, 41234)
	want := []string{
		"CACHE_DNS=redis://127.0.0.1:16379/0",
		"CACHE_URL=http://127.0.0.1:16379",
		"NOTE=ratio 3:2 at 10:30",
		"PORT=41234",
		"QUEUE=127.0.0.1:5672,data-1:9999",
		"WEB=http://127.0.0.1:13000/x",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if len(notes) != 5 || !strings.Contains(notes[len(notes)-1], `env PORT: "8000" -> "41234"`) {
		t.Errorf("notes: %q", notes)
	}
	// No PORT in the job's env: one is added.
	env, notes = localEnv(st, &stack.Unit{Sandbox: "host/core-app-1"}, 8001)
	if diff := cmp.Diff([]string{"PORT=8001"}, env); diff != "" || len(notes) != 1 {
		t.Errorf("env (-want +got):\n%s\nnotes %q", diff, notes)
	}
}

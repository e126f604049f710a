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

package converge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// sandboxImage is the host sandbox image Up makes on enginetest (amd64);
// Prepare is given it, so plans name it as Up will.
var sandboxImage = func() string {
	_, hash, err := sandbox.Payload("amd64") // enginetest reports amd64
	if err != nil {
		panic(err)
	}
	return sandbox.ImageRef(hash)
}()

// healthy is a probe that answers at once without the network: every
// HTTP and TCP check passes.
func healthy(context.Context, *stack.Check, string) error { return nil }

// allFree says every local port can be published, without binding one.
func allFree(int) bool { return true }

// parse reads an inline jobs file.
func parse(t *testing.T, src string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Parse("jobs.yml", []byte(src), prodspec.LoadOptions{})
	if err != nil {
		var l prodspec.ErrorList
		if errors.As(err, &l) {
			t.Fatalf("parse:\n%s", l.Format())
		}
		t.Fatalf("parse: %v", err)
	}
	return f
}

// coding loads the example of the repository: 11 jobs on 6 hosts.
func coding(t *testing.T) *prodspec.File {
	t.Helper()
	f, err := prodspec.Load(filepath.Join("..", "..", "examples", "coding", "jobs.yml"), prodspec.LoadOptions{})
	if err != nil {
		t.Fatalf("load examples/coding/jobs.yml: %v", err)
	}
	return f
}

// newEngine is an empty engine holding the sandbox image. Job images are
// left to the pull the plan makes (enginetest's Pull makes them present).
func newEngine() *enginetest.Engine {
	eng := enginetest.New("local")
	eng.AddImage(sandboxImage)
	return eng
}

// opts are Prepare's options that never touch this machine: the sandbox
// image is given, every host path exists and every port is free.
func opts(f *prodspec.File) converge.Options {
	return converge.Options{
		File: f,
		Rewrite: devenv.Options{
			SandboxImage:   sandboxImage,
			HostPathExists: func(string) bool { return true },
		},
		PortFree: allFree,
	}
}

func prepare(t *testing.T, eng converge.Observer, o converge.Options) *converge.Prepared {
	t.Helper()
	p, err := converge.Prepare(context.Background(), eng, o)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

// up applies a prepared plan as `cjob dev up` does.
func up(t *testing.T, eng converge.Engine, p *converge.Prepared) *apply.Result {
	t.Helper()
	uo := converge.UpOptions{Probe: healthy}
	res, err := converge.Up(context.Background(), eng, p, uo)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	return res
}

// upOK prepares and applies o, and fails the test unless every op succeeded.
func upOK(t *testing.T, eng converge.Engine, o converge.Options) *converge.Prepared {
	t.Helper()
	p := prepare(t, eng, o)
	if err := up(t, eng, p).Err(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	return p
}

// ids are the engine's container IDs by name.
func ids(eng *enginetest.Engine) map[string]string {
	m := map[string]string{}
	for _, c := range eng.Containers() {
		m[c.Name] = c.ID
	}
	return m
}

// changed are the names whose container is new or gone between two ids.
func changed(before, after map[string]string) []string {
	var out []string
	for n, id := range after {
		if before[n] != id {
			out = append(out, n)
		}
	}
	for n := range before {
		if _, ok := after[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// actions are a plan's changing ops as "action subject", in plan order.
func actions(p *converge.Prepared) []string {
	var out []string
	for _, o := range p.Plan.Ops {
		if o.Changes() {
			out = append(out, o.Action.String()+" "+o.Subject)
		}
	}
	return out
}

// recorder is a progress.Reporter that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *recorder) Report(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Close() error { return nil }

// lines are the events as "unit: status text".
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, fmt.Sprintf("%s: %s %s", e.Unit, e.Status, e.Text))
	}
	return out
}

// writeFiles writes files (slash paths relative to dir) into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// contains reports whether any of ss contains sub.
func contains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

package devenv

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

func load(t *testing.T, path string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Load(path, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func exists(p string) bool { return p != "/etc/missing.conf" }

// describe renders a stack for golden files: every unit's spec, deps and
// checks, one block per unit.
func describe(s *stack.Stack) string {
	var b strings.Builder
	fmt.Fprintf(&b, "network %s\n", s.Network)
	for _, v := range s.Volumes {
		fmt.Fprintf(&b, "volume %s\n", v.Name)
	}
	for _, u := range s.Units {
		fmt.Fprintf(&b, "\n%s %s (%s)\n", u.Kind, u.Key, u.Name)
		sp := u.Spec
		fmt.Fprintf(&b, "  image %s\n", sp.Image)
		if sp.Hostname != "" {
			fmt.Fprintf(&b, "  hostname %s\n", sp.Hostname)
		}
		if len(sp.Aliases) > 0 {
			fmt.Fprintf(&b, "  aliases %s\n", strings.Join(sp.Aliases, " "))
		}
		for _, p := range sp.Publish {
			fmt.Fprintf(&b, "  publish 127.0.0.1:%d -> %d\n", p.HostPort, p.ContainerPort)
		}
		if sp.JoinSandbox != "" {
			fmt.Fprintf(&b, "  joins %s\n", sp.JoinSandbox)
		}
		if len(sp.Command) > 0 {
			fmt.Fprintf(&b, "  command %q\n", sp.Command)
		}
		for _, e := range sp.Env {
			fmt.Fprintf(&b, "  env %s\n", e)
		}
		for _, m := range sp.Mounts {
			fmt.Fprintf(&b, "  mount %s %s -> %s ro=%v\n", m.Type, m.Source, m.Target, m.ReadOnly)
		}
		if len(u.DependsOn) > 0 {
			fmt.Fprintf(&b, "  depends on %s\n", strings.Join(u.DependsOn, " "))
		}
		if c := u.Health; c != nil {
			fmt.Fprintf(&b, "  check http=%q port=%d cmd=%q implicit=%v deadline-retries=%d\n", c.HTTP, c.Port, c.Cmd, c.Implicit, c.Retries)
		}
		if u.Oneshot {
			b.WriteString("  oneshot\n")
		}
		for _, url := range u.URLs {
			fmt.Fprintf(&b, "  url %s -> %s\n", url.Production, url.Local)
		}
	}
	return b.String()
}

func TestRewriteGolden(t *testing.T) {
	tests := []struct {
		name string
		file string
		opts Options
		busy map[int]bool
	}{
		{"rewrite", "testdata/rewrite.yml", Options{SandboxImage: "cjob-sandbox:test"}, nil},
		{"rewrite-replicas", "testdata/rewrite.yml", Options{SandboxImage: "cjob-sandbox:test", KeepReplicas: true}, map[int]bool{8000: true}},
		{"rewrite-only", "testdata/rewrite.yml", Options{SandboxImage: "cjob-sandbox:test", Only: []string{"migrate"}}, nil},
		{"demo", "../examples/coding/jobs.yml", Options{SandboxImage: "cjob-sandbox:test"}, nil},
		{"legacy", "../examples/legacy/jobs.pb.txt", Options{SandboxImage: "cjob-sandbox:test"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := load(t, tt.file)
			tt.opts.HostPathExists = exists
			res, err := Rewrite(f, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			res.Notes = append(res.Notes, AssignPorts(res.Stack, nil, func(p int) bool { return !tt.busy[p] })...)
			p := plan.Reconcile(res.Stack, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
			got := "# explain\n" + rewrite.FormatNotes(res.Notes) + "\n# stack\n" + describe(res.Stack) + "\n# plan\n" + p.String()
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

func TestRewriteDeterministic(t *testing.T) {
	f := load(t, "../examples/coding/jobs.yml")
	first := ""
	for i := range 10 {
		res, err := Rewrite(f, Options{SandboxImage: "x"})
		if err != nil {
			t.Fatal(err)
		}
		AssignPorts(res.Stack, nil, nil)
		got := describe(res.Stack) + rewrite.FormatNotes(res.Notes)
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("rewrite is not deterministic:\n%s", cmp.Diff(first, got))
		}
	}
}

func TestPortsStableAcrossRuns(t *testing.T) {
	f := load(t, "testdata/rewrite.yml")
	busy := func(p int) bool { return p != 8000 && p != 8001 } // both taken by something else
	res, _ := Rewrite(f, Options{SandboxImage: "x", KeepReplicas: true})
	AssignPorts(res.Stack, nil, busy)
	// The stack now runs: every port it publishes looks taken to a new probe.
	obs := &stack.Observed{}
	held := map[int]bool{}
	for _, u := range res.Stack.Units {
		if u.Kind == stack.KindSandbox {
			obs.Containers = append(obs.Containers, &stack.Container{Labels: res.Stack.Labels(u), Ports: u.Spec.Publish})
			for _, p := range u.Spec.Publish {
				held[p.HostPort] = true
			}
		}
	}
	again, _ := Rewrite(f, Options{SandboxImage: "x", KeepReplicas: true})
	AssignPorts(again.Stack, obs, func(p int) bool { return !held[p] && busy(p) })
	if diff := cmp.Diff(describe(res.Stack), describe(again.Stack)); diff != "" {
		t.Errorf("ports moved on the second run (-first +second):\n%s", diff)
	}
}

// TestSandboxAPI: every sandbox's spec names the sandbox API, so sandboxes
// made for another one (an older cjob's) are recreated once, while the
// sandbox image itself stays out of the hash.
func TestSandboxAPI(t *testing.T) {
	f := load(t, "testdata/rewrite.yml")
	a, err := Rewrite(f, Options{SandboxImage: "cjob-sandbox:aaa", HostPathExists: exists})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Rewrite(f, Options{SandboxImage: "cjob-sandbox:bbb", HostPathExists: exists})
	for i, u := range a.Stack.Units {
		if u.Kind != stack.KindSandbox {
			continue
		}
		if u.Spec.Labels[stack.LabelSandboxAPI] != stack.SandboxAPI {
			t.Errorf("%s labels %v", u.Key, u.Spec.Labels)
		}
		if u.Hash() != b.Stack.Units[i].Hash() {
			t.Errorf("%s: the sandbox image changed its hash", u.Key)
		}
		old := *u
		old.Spec.Labels = nil
		if old.Hash() == u.Hash() {
			t.Errorf("%s: a sandbox of another API has the same hash", u.Key)
		}
	}
}

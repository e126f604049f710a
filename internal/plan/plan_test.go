package plan

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/internal/stack"
)

// desired is a small stack: two hosts, cache on data-1, api and web on app-1.
func desired() *stack.Stack {
	sb := func(host string) *stack.Unit {
		return &stack.Unit{Key: "host/" + host, Name: "p-dev.host." + host, Kind: stack.KindSandbox, Host: host,
			Spec: stack.Spec{Image: "cjob-sandbox:x", Hostname: host, Aliases: []string{host}}}
	}
	task := func(job, host string, deps ...string) *stack.Unit {
		return &stack.Unit{Key: job + "/1", Name: "p-dev." + job + ".1", Kind: stack.KindTask, Job: job, Task: 1, Host: host,
			Sandbox: "host/" + host, DependsOn: append([]string{"host/" + host}, deps...),
			Spec: stack.Spec{Image: "img/" + job, Env: []string{"A=1"}, JoinSandbox: "p-dev.host." + host}}
	}
	s := &stack.Stack{Project: "p", Env: stack.Dev, Network: "p-dev",
		Volumes: []stack.Volume{{Name: "p-dev.data-1.data"}},
		Units: []*stack.Unit{
			sb("app-1"), sb("data-1"),
			task("infra.cache", "data-1"),
			task("core.api", "app-1", "infra.cache/1"),
			task("core.web", "app-1", "core.api/1"),
		}}
	s.Units[2].Spec.Mounts = []stack.Mount{{Type: "volume", Source: "p-dev.data-1.data", Target: "/data"}}
	s.Sort()
	return s
}

// running returns an observed snapshot in which every unit of s runs as
// desired.
func running(s *stack.Stack) *stack.Observed {
	o := &stack.Observed{NetworkExists: true, Volumes: map[string]bool{}}
	for _, v := range s.Volumes {
		o.Volumes[v.Name] = true
	}
	for _, u := range s.Units {
		o.Containers = append(o.Containers, &stack.Container{ID: "id-" + u.Name, Name: u.Name, Labels: s.Labels(u), State: stack.StateRunning})
	}
	o.Sort()
	return o
}

func find(o *stack.Observed, key string) *stack.Container {
	for _, c := range o.Containers {
		if c.Key() == key {
			return c
		}
	}
	return nil
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name    string
		desired func() *stack.Stack
		observe func(*stack.Stack) *stack.Observed
		opts    Options
	}{
		{"cold", desired, func(*stack.Stack) *stack.Observed { return &stack.Observed{Volumes: map[string]bool{}} }, Options{}},
		{"noop", desired, running, Options{}},
		{"env-change", func() *stack.Stack {
			s := desired()
			s.Unit("core.api/1").Spec.Env = []string{"A=1", "DEBUG=1"}
			return s
		}, func(*stack.Stack) *stack.Observed { return running(desired()) }, Options{}},
		{"image-change", func() *stack.Stack {
			s := desired()
			s.Unit("core.web/1").Spec.Image = "img/core.web:2"
			return s
		}, func(*stack.Stack) *stack.Observed { return running(desired()) }, Options{}},
		{"sandbox-recreated", func() *stack.Stack {
			s := desired()
			s.Unit("host/app-1").Spec.Publish = []stack.Publish{{ContainerPort: 8000, HostPort: 18000}}
			return s
		}, func(*stack.Stack) *stack.Observed { return running(desired()) }, Options{}},
		{"stopped-and-orphan", desired, func(s *stack.Stack) *stack.Observed {
			o := running(s)
			find(o, "core.web/1").State = stack.StateExited
			o.Containers = append(o.Containers, &stack.Container{ID: "old", Name: "p-dev.old.gone.1", State: stack.StateRunning,
				Labels: map[string]string{stack.LabelKey: "old.gone/1", stack.LabelKind: "task", stack.LabelHost: "old-host"}},
				&stack.Container{ID: "oldsb", Name: "p-dev.host.old-host", State: stack.StateRunning,
					Labels: map[string]string{stack.LabelKey: "host/old-host", stack.LabelKind: "sandbox", stack.LabelHost: "old-host"}})
			o.Sort()
			return o
		}, Options{}},
		{"keep-orphans", desired, func(s *stack.Stack) *stack.Observed {
			o := running(s)
			o.Containers = append(o.Containers, &stack.Container{ID: "old", Name: "p-dev.old.gone.1", State: stack.StateRunning,
				Labels: map[string]string{stack.LabelKey: "old.gone/1", stack.LabelKind: "task"}})
			return o
		}, Options{KeepOrphans: true}},
		{"oneshot", func() *stack.Stack {
			s := desired()
			s.Unit("infra.cache/1").Oneshot = true
			return s
		}, func(*stack.Stack) *stack.Observed {
			s := desired()
			s.Unit("infra.cache/1").Oneshot = true
			o := running(s)
			c := find(o, "infra.cache/1")
			c.State, c.ExitCode, c.ExitKnown = stack.StateExited, 0, true
			return o
		}, Options{}},
		{"oneshot-failed", func() *stack.Stack {
			s := desired()
			s.Unit("infra.cache/1").Oneshot = true
			return s
		}, func(*stack.Stack) *stack.Observed {
			s := desired()
			s.Unit("infra.cache/1").Oneshot = true
			o := running(s)
			c := find(o, "infra.cache/1")
			c.State, c.ExitCode, c.ExitKnown = stack.StateExited, 2, true
			return o
		}, Options{}},
		{"force", desired, running, Options{Force: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.desired()
			p := Reconcile(d, tt.observe(d), tt.opts)
			got := p.String() + "\n" + p.Summary() + "\n"
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), got)
			checkDepsOrdered(t, p)
		})
	}
}

func TestNoopIsEmpty(t *testing.T) {
	d := desired()
	if p := Reconcile(d, running(d), Options{}); !p.Empty() {
		t.Fatalf("second up should change nothing, got:\n%s", p)
	}
}

func TestDeterministic(t *testing.T) {
	a := Reconcile(desired(), &stack.Observed{Volumes: map[string]bool{}}, Options{}).String()
	for range 20 {
		if b := Reconcile(desired(), &stack.Observed{Volumes: map[string]bool{}}, Options{}).String(); a != b {
			t.Fatalf("plans differ:\n%s", cmp.Diff(a, b))
		}
	}
}

func TestDown(t *testing.T) {
	d := desired()
	o := running(d)
	p := Down("p", stack.Dev, o, DownOptions{Network: "p-dev", Volumes: true})
	golden.Check(t, filepath.Join("testdata", "down.golden"), p.String())
	checkDepsOrdered(t, p)
	p = Down("p", stack.Dev, o, DownOptions{Network: "p-dev", Only: map[string]bool{"core.web": true}})
	golden.Check(t, filepath.Join("testdata", "down-only.golden"), p.String())
}

func checkDepsOrdered(t *testing.T, p *Plan) {
	t.Helper()
	for _, o := range p.Ops {
		for _, d := range o.Deps {
			if d >= o.ID {
				t.Errorf("op %d depends on later op %d", o.ID, d)
			}
		}
	}
}

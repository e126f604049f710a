package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

func TestSwarmEnvs(t *testing.T) {
	if got := swarmEnvs(nil); got != nil {
		t.Errorf("no file: %v", got)
	}
	f := &prodspec.File{Environments: map[string]*prodspec.Environment{
		"dev":     {Name: "dev"},
		"staging": {Name: "staging", Orchestrator: prodspec.OrchestratorSwarm},
	}}
	if diff := cmp.Diff([]string{"staging"}, swarmEnvs(f)); diff != "" {
		t.Errorf("staging on swarm (-want +got):\n%s", diff)
	}
	f.Environments["production"] = &prodspec.Environment{Name: "production", Orchestrator: prodspec.OrchestratorSwarm}
	f.Environments["staging"].Orchestrator = prodspec.OrchestratorCjob
	if diff := cmp.Diff([]string{"production"}, swarmEnvs(f)); diff != "" {
		t.Errorf("production on swarm (-want +got):\n%s", diff)
	}
	if got := swarmEnvs(&prodspec.File{}); got != nil {
		t.Errorf("no environments: %v", got)
	}
}

func TestSwarmCheck(t *testing.T) {
	active := stack.SwarmInfo{NodeID: "n0d3", NodeAddr: "10.0.0.5", State: "active", Managers: []string{"10.0.0.5:2377"}}
	manager := active
	manager.Manager = true
	tests := []struct {
		name     string
		sw       stack.SwarmInfo
		envs     []string
		warn     bool
		contains []string
	}{
		{"inactive, not asked", stack.SwarmInfo{State: "inactive"}, nil, false,
			[]string{"not in a swarm (only needed for orchestrator: swarm)"}},
		{"no swarm at all (Podman), not asked", stack.SwarmInfo{}, nil, false,
			[]string{"not in a swarm (only needed for orchestrator: swarm)"}},
		{"inactive, staging asks", stack.SwarmInfo{State: "inactive"}, []string{"staging"}, true,
			[]string{"not in a swarm", "orchestrator: swarm for staging", "docker swarm init --advertise-addr ADDRESS", "docker swarm join --token TOKEN ADDRESS:2377", "docker swarm join-token worker"}},
		{"inactive, both ask", stack.SwarmInfo{State: "inactive"}, []string{"staging", "production"}, true,
			[]string{"for staging and production", "docker swarm init"}},
		{"manager", manager, nil, false, []string{"a manager of a swarm", "node n0d3 at 10.0.0.5", "managers 10.0.0.5:2377"}},
		{"worker, asked", active, []string{"staging"}, false, []string{"a worker in a swarm", "node n0d3"}},
		{"pending", stack.SwarmInfo{State: "pending", NodeID: "n0d3"}, nil, true, []string{"joining a swarm (pending)"}},
		{"locked", stack.SwarmInfo{State: "locked", NodeID: "n0d3"}, nil, true, []string{"docker swarm unlock"}},
		{"error, asked", stack.SwarmInfo{State: "error", Error: "certificate expired"}, []string{"staging"}, true,
			[]string{"state error: certificate expired", "docker swarm leave --force", "docker swarm init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := swarmCheck(tt.sw, tt.envs)
			if c.Name != "swarm" || !c.OK || c.Warn != tt.warn {
				t.Errorf("check %+v: want name swarm, ok, warning %v", c, tt.warn)
			}
			for _, s := range tt.contains {
				if !strings.Contains(c.Detail, s) {
					t.Errorf("detail %q lacks %q", c.Detail, s)
				}
			}
		})
	}
}

func TestPoolSwarm(t *testing.T) {
	for _, tt := range []struct {
		sw   stack.SwarmInfo
		want string
	}{
		{stack.SwarmInfo{State: "active", Manager: true}, "swarm manager"},
		{stack.SwarmInfo{State: "active"}, "swarm worker"},
		{stack.SwarmInfo{State: "inactive"}, "not in a swarm: " + swarmJoin},
		{stack.SwarmInfo{State: "locked"}, "swarm locked"},
	} {
		if got := poolSwarm(tt.sw); got != tt.want {
			t.Errorf("poolSwarm(%+v) = %q, want %q", tt.sw, got, tt.want)
		}
	}
}

func TestIPVSCheck(t *testing.T) {
	c := ipvsCheck(map[string]bool{"ipvs": true, "vxlan": true}, nil)
	if c.Name != "ipvs" || !c.OK || c.Warn || c.Detail != "IPVS present" {
		t.Errorf("ipvs=yes: %+v", c)
	}
	c = ipvsCheck(map[string]bool{"ipvs": false, "vxlan": true}, nil)
	if !c.OK || !c.Warn || !strings.Contains(c.Detail, "has no IPVS") || !strings.Contains(c.Detail, "dnsrr") {
		t.Errorf("ipvs=no: %+v", c)
	}
	c = ipvsCheck(nil, errors.New("make host sandbox image: boom"))
	if !c.OK || !c.Warn || !strings.Contains(c.Detail, "could not read the engine's kernel: make host sandbox image: boom") {
		t.Errorf("no answer: %+v", c)
	}
}

func TestParseKernel(t *testing.T) {
	got := parseKernel("ipvs=no\nvxlan=yes\n\nnoise\nother=maybe\n  tun=yes  \n")
	if diff := cmp.Diff(map[string]bool{"ipvs": false, "vxlan": true, "tun": true}, got); diff != "" {
		t.Errorf("parseKernel (-want +got):\n%s", diff)
	}
}

// kernelFake is an engine whose containers print out and exit with code.
type kernelFake struct {
	out       string
	code      int
	state     stack.State
	failStart error

	imported   []string
	created    []stack.CreateRequest
	removed    []string
	inspects   int
	running    int // how many inspections see the container still running
	logsCalled bool
}

func (k *kernelFake) Info(context.Context) (stack.EngineInfo, error) {
	return stack.EngineInfo{Arch: "x86_64"}, nil
}
func (k *kernelFake) ImageExists(_ context.Context, ref string) (bool, error) {
	for _, r := range k.imported {
		if r == ref {
			return true, nil
		}
	}
	return false, nil
}
func (k *kernelFake) ImportFiles(_ context.Context, ref string, _ []sandbox.ImageFile, _ []string) error {
	k.imported = append(k.imported, ref)
	return nil
}
func (k *kernelFake) Create(_ context.Context, r stack.CreateRequest) (string, error) {
	k.created = append(k.created, r)
	return fmt.Sprintf("c%d", len(k.created)), nil
}
func (k *kernelFake) Start(context.Context, string) error { return k.failStart }
func (k *kernelFake) Inspect(context.Context, string, string) (stack.Status, error) {
	k.inspects++
	if k.inspects <= k.running {
		return stack.Status{State: stack.StateRunning}, nil
	}
	st := k.state
	if st == stack.StateUnknown {
		st = stack.StateExited
	}
	return stack.Status{State: st, ExitCode: k.code}, nil
}
func (k *kernelFake) Logs(_ context.Context, _ string, _ string, _, _ bool, w io.Writer) error {
	k.logsCalled = true
	_, err := io.WriteString(w, k.out)
	return err
}
func (k *kernelFake) Remove(_ context.Context, id string) error {
	k.removed = append(k.removed, id)
	return nil
}

func TestEngineKernel(t *testing.T) {
	ctx := context.Background()
	k := &kernelFake{out: "ipvs=no\nvxlan=yes\n", running: 2}
	feats, err := engineKernel(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"ipvs": false, "vxlan": true}, feats); diff != "" {
		t.Errorf("features (-want +got):\n%s", diff)
	}
	if len(k.imported) != 1 || !strings.HasPrefix(k.imported[0], sandbox.Name+":") {
		t.Errorf("imported %v, want the sandbox image", k.imported)
	}
	if len(k.created) != 1 {
		t.Fatalf("created %d containers", len(k.created))
	}
	r := k.created[0]
	if r.Network != "none" || r.Spec.HostNetwork || r.Spec.JoinSandbox != "" || len(r.Spec.Publish) > 0 {
		t.Errorf("the kernel container is attached to a network: %+v", r)
	}
	if r.Spec.Image != k.imported[0] || !cmp.Equal(r.Spec.Command, []string{"kernel"}) {
		t.Errorf("container runs %s %v, want %s kernel", r.Spec.Image, r.Spec.Command, k.imported[0])
	}
	if k.inspects != 3 || !k.logsCalled {
		t.Errorf("inspected %d times (want 3: twice running, then exited); logs read: %v", k.inspects, k.logsCalled)
	}
	if !cmp.Equal(k.removed, []string{"c1"}) {
		t.Errorf("removed %v, want [c1]", k.removed)
	}

	for _, tt := range []struct {
		name string
		k    *kernelFake
		want string
	}{
		{"exits non-zero", &kernelFake{out: `cjob-sandbox: unknown command "kernel"`, code: 1}, `cjob-sandbox kernel ended exited with code 1: cjob-sandbox: unknown command "kernel"`},
		{"says nothing of ipvs", &kernelFake{out: "vxlan=yes\n"}, `did not report ipvs (it wrote "vxlan=yes")`},
		{"dies", &kernelFake{state: stack.StateOther, code: 137}, "ended other with code 137"},
		{"does not start", &kernelFake{failStart: errors.New("start c1: no such image")}, "start c1: no such image"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engineKernel(ctx, tt.k)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
			if !cmp.Equal(tt.k.removed, []string{"c1"}) {
				t.Errorf("removed %v, want [c1]", tt.k.removed)
			}
		})
	}

	t.Run("never exits", func(t *testing.T) {
		k := &kernelFake{running: 1 << 30}
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := engineKernel(ctx, k)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish") {
			t.Errorf("err %v, want a deadline", err)
		}
		if !cmp.Equal(k.removed, []string{"c1"}) {
			t.Errorf("removed %v, want [c1] even after the deadline", k.removed)
		}
	})
}

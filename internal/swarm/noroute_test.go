package swarm

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
)

// runnerNode is a node engine that also runs one-off sandbox containers:
// each one "exits" with code.
type runnerNode struct {
	*fakeNode
	code    int
	created []stack.CreateRequest
	removed []string
}

func (n *runnerNode) ImageExists(context.Context, string) (bool, error) { return true, nil }
func (n *runnerNode) ImportFiles(context.Context, string, []sandbox.ImageFile, []string) error {
	return nil
}
func (n *runnerNode) Create(_ context.Context, r stack.CreateRequest) (string, error) {
	n.created = append(n.created, r)
	return fmt.Sprintf("chk%d", len(n.created)), nil
}
func (n *runnerNode) Start(context.Context, string) error { return nil }
func (n *runnerNode) Inspect(context.Context, string, string) (stack.Status, error) {
	return stack.Status{State: stack.StateExited, ExitCode: n.code}, nil
}
func (n *runnerNode) Logs(_ context.Context, _ string, _ string, _, _ bool, w io.Writer) error {
	if n.code != 0 {
		io.WriteString(w, "FAIL http://127.0.0.1:8080/healthz: connection refused\n")
	}
	return nil
}
func (n *runnerNode) Remove(_ context.Context, id string) error {
	n.removed = append(n.removed, id)
	return nil
}

// With no route from this machine to the hosts (a laptop that reaches
// only the engines' APIs), health is checked from the node itself, through
// its engine, by a `cjob-sandbox wait` container in the node's network.
func TestUpHealthWithoutRoute(t *testing.T) {
	for _, code := range []int{0, 1} {
		f := newFixture(t, 1)
		rn := &runnerNode{fakeNode: f.nodes["pool-1"], code: code}
		rn.info.Arch = "x86_64"
		f.c.Engines["pool-1"] = rn
		api := httpCheck(task("edge.api", 1, "web-1", "pool-1", "shop/api:1"), 8080, 1)
		probes := 0
		unreachable := func(context.Context, *stack.Check, string) error {
			probes++
			return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ENETUNREACH}
		}
		res := f.up(t, newStack(api), UpOptions{Probe: unreachable})
		if probes != 1 || len(rn.created) != 1 || !slices.Equal(rn.removed, []string{"chk1"}) {
			t.Fatalf("code %d: %d probes, created %+v, removed %v: want one probe, then one check container, removed", code, probes, rn.created, rn.removed)
		}
		r := rn.created[0]
		if !r.Spec.HostNetwork || !slices.Equal(r.Spec.Command[:1], []string{"wait"}) || r.Spec.Command[len(r.Spec.Command)-1] != "http://127.0.0.1:8080/healthz" {
			t.Errorf("check container %+v: want `wait http://127.0.0.1:8080/healthz` in the node's network", r)
		}
		if code == 0 && res.Err() != nil {
			t.Errorf("healthy on the node: %v", res.Err())
		}
		if code != 0 && (res.Err() == nil || !strings.Contains(res.Err().Error(), "connection refused")) {
			t.Errorf("unhealthy on the node: %v, want the reason the node gave", res.Err())
		}
	}
}

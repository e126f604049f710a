package stack

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHashChangesWithSpecOnly(t *testing.T) {
	u := &Unit{Key: "a.b/1", Spec: Spec{Image: "x:1", Env: []string{"A=1"}}}
	h := u.Hash()
	if h != u.Hash() {
		t.Fatal("hash is not stable")
	}
	u.URLs = []URL{{Port: 80, Local: "http://127.0.0.1:80"}}
	u.DependsOn = []string{"host/h"}
	if u.Hash() != h {
		t.Error("hash changed with fields that need no recreate")
	}
	u.Spec.Env = []string{"A=2"}
	if u.Hash() == h {
		t.Error("hash did not change with env")
	}
}

func TestPortsLabelRoundTrip(t *testing.T) {
	ps := []Publish{{8080, 18080}, {3000, 3000}}
	if diff := cmp.Diff(ps, ParsePorts(FormatPorts(ps))); diff != "" {
		t.Error(diff)
	}
	if got := ParsePorts("junk,80:x,:,9:9"); !cmp.Equal(got, []Publish{{9, 9}}) {
		t.Errorf("ParsePorts skips junk: %v", got)
	}
}

func TestLabelsCarrySpec(t *testing.T) {
	s := &Stack{Project: "p", Env: Dev}
	u := &Unit{Key: "a.b/1", Kind: KindTask, Job: "a.b", Task: 1, Spec: Spec{Image: "x:1", Env: []string{"A=1"}}}
	c := &Container{Labels: s.Labels(u)}
	got, ok := c.Spec()
	if !ok || !cmp.Equal(got, u.Spec) {
		t.Errorf("spec label round trip: %v %+v", ok, got)
	}
	if c.Hash() != u.Hash() || c.Key() != "a.b/1" || c.Kind() != KindTask {
		t.Errorf("labels: %v", c.Labels)
	}
}

func TestSandboxHashIgnoresImage(t *testing.T) {
	a := &Unit{Kind: KindSandbox, Spec: Spec{Image: "cjob-sandbox:aaa", Hostname: "h"}}
	b := &Unit{Kind: KindSandbox, Spec: Spec{Image: "cjob-sandbox:bbb", Hostname: "h"}}
	if a.Hash() != b.Hash() {
		t.Error("a new cjob binary must not recreate host sandboxes")
	}
}

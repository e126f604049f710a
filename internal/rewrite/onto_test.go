package rewrite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/golden"
	"github.com/cjob/cjob/internal/plan"
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

func TestRewriteStagingGolden(t *testing.T) {
	f := load(t, "../../examples/coding/jobs.yml")
	assign := map[string]string{
		"edge-1": "stg-1", "core-app-1": "stg-1", "git-app-1": "stg-2",
		"msg-app-1": "stg-2", "data-1": "stg-3", "mon-1": "stg-3",
	}
	addr := map[string]string{"stg-1": "10.213.0.11", "stg-2": "10.213.0.12", "stg-3": "10.213.0.13"}
	res, err := Staging(f, StagingOptions{Assign: assign, Address: addr, HostPathExists: exists})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range res.Stack.Units {
		fmt.Fprintf(&b, "%s @%s host-network=%v probe=%s\n", u.Key, u.Engine, u.Spec.HostNetwork, u.Probe)
	}
	fmt.Fprintf(&b, "\nextra hosts of every container:\n  %s\n", strings.Join(res.Stack.Units[0].Spec.ExtraHosts, "\n  "))
	p := plan.Reconcile(res.Stack, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
	golden.Check(t, filepath.Join("testdata", "staging.golden"), "# explain\n"+FormatNotes(res.Notes)+"\n# units\n"+b.String()+"\n# plan\n"+p.String())

	if _, err := Staging(f, StagingOptions{Assign: assign, Address: map[string]string{"stg-1": "10.0.0.1"}}); err == nil || !strings.Contains(err.Error(), "has no address") {
		t.Errorf("a pool host without an address should be an error, got %v", err)
	}
}

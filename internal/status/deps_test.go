package status

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/prodspec"
)

// TestDependencies on the demo: depends_on, and the addresses env values
// name (host:port, localhost:port on the same host, DNS names).
func TestDependencies(t *testing.T) {
	b, err := os.ReadFile("../../examples/coding/jobs.yml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := prodspec.Parse("jobs.yml", b, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deps := Dependencies(f)
	want := map[string][]Dep{
		"edge.gateway":    {{"coding-core.api", "depends_on"}, {"coding-core.web", "depends_on"}},
		"coding-core.web": {{"coding-core.api", "depends_on"}},
		"coding-core.api": {{"coding-git.git", "depends_on"}, {"infra.cache", "depends_on"}, {"infra.migrate", "depends_on"}, {"infra.queue", "depends_on"}},
	}
	for job, w := range want {
		if diff := cmp.Diff(w, deps[job]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", job, diff)
		}
	}
	if len(deps) != len(f.Jobs()) {
		t.Errorf("%d jobs in the graph, want %d", len(deps), len(f.Jobs()))
	}

	// Addresses alone (no depends_on): host:port, localhost, DNS names.
	f2, err := prodspec.Parse("x.yml", []byte(`project: x
hosts: {a: {}, b: {}}
services:
  s:
    jobs:
      db: {image: i, port: 5432, run_on_host: b}
      cache: {image: i, port: 6379, run_on_host: a}
      api: {image: i, port: 8000, run_on_host: a, env: {DB: "postgres://u:p@b:5432/x", CACHE: "localhost:6379", SELF: "localhost:8000", OTHER: "db.s.coding.local:5432", NOPE: "b:1234"}}
`), prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Dep{{"s.cache", "CACHE"}, {"s.db", "DB"}}, Dependencies(f2)["s.api"]); diff != "" {
		t.Errorf("s.api (-want +got):\n%s", diff)
	}
}

package devenv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// bigFile generates a jobs file of services x jobs on hosts hosts, each job
// depending on the previous one of its service.
func bigFile(b *testing.B, services, jobs, hosts int) *prodspec.File {
	var s strings.Builder
	s.WriteString("project: big\nvars: {tag: \"1\"}\nhosts:\n")
	for h := range hosts {
		fmt.Fprintf(&s, "  h%d: {address: 10.0.%d.%d}\n", h, h/250, h%250+1)
	}
	s.WriteString("services:\n")
	n := 0
	for sv := range services {
		fmt.Fprintf(&s, "  s%d:\n    jobs:\n", sv)
		for j := range jobs {
			fmt.Fprintf(&s, "      j%d:\n        image: img/s%d-j%d:{{ .Vars.tag }}\n        port: %d\n        env: {PEER: \"http://10.0.0.1:80\", N: \"%d\"}\n        health: {http: /healthz}\n        run_on_host: h%d\n", j, sv, j, 10000+n%50000, n, n%hosts)
			if j > 0 {
				fmt.Fprintf(&s, "        depends_on: [s%d.j%d]\n", sv, j-1)
			}
			n++
		}
	}
	f, err := prodspec.Parse("big.yml", []byte(s.String()), prodspec.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkRewrite10k rewrites a 10,000-job file for dev.
func BenchmarkRewrite10k(b *testing.B) {
	f := bigFile(b, 1000, 10, 100)
	b.ResetTimer()
	for b.Loop() {
		res, err := Rewrite(f, Options{SandboxImage: "x"})
		if err != nil {
			b.Fatal(err)
		}
		AssignPorts(res.Stack, nil, nil)
	}
}

// BenchmarkPlan10k plans a 10,000-job stack, cold and as a no-op.
func BenchmarkPlan10k(b *testing.B) {
	f := bigFile(b, 1000, 10, 100)
	res, err := Rewrite(f, Options{SandboxImage: "x"})
	if err != nil {
		b.Fatal(err)
	}
	AssignPorts(res.Stack, nil, nil)
	st := res.Stack
	running := &stack.Observed{NetworkExists: true, Volumes: map[string]bool{}}
	for _, u := range st.Units {
		running.Containers = append(running.Containers, &stack.Container{ID: u.Name, Name: u.Name, Labels: st.Labels(u), State: stack.StateRunning})
	}
	running.Sort()
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			plan.Reconcile(st, &stack.Observed{Volumes: map[string]bool{}}, plan.Options{})
		}
	})
	b.Run("noop", func(b *testing.B) {
		for b.Loop() {
			if p := plan.Reconcile(st, running, plan.Options{}); !p.Empty() {
				b.Fatal("no-op plan changes something")
			}
		}
	})
}

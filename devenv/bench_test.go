package devenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// bigFile generates a jobs file of services x jobs on hosts hosts, each job
// depending on the previous one of its service.
func bigFile(b *testing.B, services, jobs, hosts int) *prodspec.File {
	f, err := prodspec.Parse("big.yml", bigYAML(services, jobs, hosts), prodspec.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func bigYAML(services, jobs, hosts int) []byte {
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
	return []byte(s.String())
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

// BenchmarkPlanning10k is what `cjob dev up` spends before its first engine
// change on a 10,000-job file that already runs: load, rewrite, ports, and
// a plan against the observed state (a no-op), with each step's share.
// "parse" loads the file as on its first use; "cached" as on every later
// command while it does not change (prodspec.Cache).
func BenchmarkPlanning10k(b *testing.B) {
	data := bigYAML(1000, 10, 100)
	path := filepath.Join(b.TempDir(), "big.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f := bigFile(b, 1000, 10, 100)
	res, err := Rewrite(f, Options{SandboxImage: "x"})
	if err != nil {
		b.Fatal(err)
	}
	AssignPorts(res.Stack, nil, nil)
	running := &stack.Observed{NetworkExists: true, Volumes: map[string]bool{}}
	for _, u := range res.Stack.Units {
		running.Containers = append(running.Containers, &stack.Container{ID: u.Name, Name: u.Name, Labels: res.Stack.Labels(u), State: stack.StateRunning})
	}
	running.Sort()
	cache := &prodspec.Cache{Dir: b.TempDir(), Stamp: "bench"}
	if _, err := cache.Load(path, prodspec.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, way := range []struct {
		name string
		load func() (*prodspec.File, error)
	}{
		{"parse", func() (*prodspec.File, error) { return prodspec.Load(path, prodspec.LoadOptions{}) }},
		{"cached", func() (*prodspec.File, error) { return cache.Load(path, prodspec.LoadOptions{}) }},
	} {
		b.Run(way.name, func(b *testing.B) {
			var load, rewrite, planning time.Duration
			for b.Loop() {
				t0 := time.Now()
				f, err := way.load()
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				res, err := Rewrite(f, Options{SandboxImage: "x"})
				if err != nil {
					b.Fatal(err)
				}
				AssignPorts(res.Stack, running, nil)
				t2 := time.Now()
				if p := plan.Reconcile(res.Stack, running, plan.Options{}); !p.Empty() {
					b.Fatal("no-op plan changes something")
				}
				load, rewrite, planning = load+t1.Sub(t0), rewrite+t2.Sub(t1), planning+time.Since(t2)
			}
			n := float64(b.N) * float64(time.Millisecond)
			b.ReportMetric(float64(load)/n, "load-ms")
			b.ReportMetric(float64(rewrite)/n, "rewrite-ms")
			b.ReportMetric(float64(planning)/n, "plan-ms")
		})
	}
}

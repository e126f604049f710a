package status

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// synthetic is a file of jobs×tasks spread over hosts, and what the hosts
// hold when every task runs the version (outdated: every 10th task runs an
// older config; missing: every 25th task has no container).
func synthetic(tb testing.TB, jobs, tasks, hosts int) (*Desired, *stack.Observed) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("project: syn\nhosts:\n")
	for h := 0; h < hosts; h++ {
		fmt.Fprintf(&b, "  h%d: {address: 10.9.%d.%d, docker: \"tcp://10.9.%d.%d:2376\"}\n", h, h/250, h%250+1, h/250, h%250+1)
	}
	b.WriteString("services:\n  svc:\n    jobs:\n")
	for j := 0; j < jobs; j++ {
		fmt.Fprintf(&b, "      j%d:\n        image: reg:5000/j%d:1.0.0\n        port: %d\n        env: {ROLE: x, DB_PASSWORD: p}\n        health: {http: /healthz}\n        tasks: [", j, j, 10000+j)
		for k := 0; k < tasks; k++ {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{host: h%d}", (j*tasks+k)%hosts)
		}
		b.WriteString("]\n")
	}
	f, err := prodspec.Parse("syn.yml", []byte(b.String()), prodspec.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	res, err := rewrite.Production(f, 7)
	if err != nil {
		tb.Fatal(err)
	}
	st := res.Stack
	obs := &stack.Observed{Volumes: map[string]bool{}}
	for i, u := range st.Units {
		if i%25 == 24 {
			continue
		}
		labels := st.Labels(u)
		if i%10 == 9 {
			labels[stack.LabelHash] = "old"
			labels[stack.LabelVersion] = "6"
		}
		obs.Containers = append(obs.Containers, &stack.Container{ID: fmt.Sprintf("%064d", i), Name: u.Name, Image: u.Spec.Image,
			Labels: labels, State: stack.StateRunning, Status: "Up 2 hours", Engine: u.Engine})
	}
	obs.Sort()
	return Desire(f, 7, st), obs
}

func TestStatus(t *testing.T) {
	d, obs := synthetic(t, 20, 2, 4)
	jobs := d.Jobs(obs, func(job string) string {
		if job == "svc.j0" {
			return "down"
		}
		return ""
	})
	if len(jobs) != 20 {
		t.Fatalf("%d jobs", len(jobs))
	}
	byName := map[string]Job{}
	for _, j := range jobs {
		byName[j.Job] = j
		if j.Needed != 2 || len(j.Tasks) != 2 {
			t.Errorf("%s: %+v", j.Job, j)
		}
	}
	// Unit i is task i%2+1 of job i/2 (units sorted by key: svc.j0/1,
	// svc.j0/2, svc.j1/1, ... but keys sort as strings: j0, j1, j10, ...).
	outdated, missing := 0, 0
	for _, j := range jobs {
		outdated += j.Outdated
		for _, tk := range j.Tasks {
			if tk.State == "missing" {
				missing++
			}
		}
		switch {
		case j.Running < j.Needed && j.State != "degraded" && j.State != "down" && j.State != "stopped":
			t.Errorf("%s: %d/%d running but state %s", j.Job, j.Running, j.Needed, j.State)
		case j.Running == j.Needed && j.Outdated > 0 && j.State != "outdated":
			t.Errorf("%s: outdated tasks but state %s", j.Job, j.State)
		case j.Running == j.Needed && j.Outdated == 0 && j.State != "ok":
			t.Errorf("%s: all current but state %s", j.Job, j.State)
		}
	}
	if outdated != 4 || missing != 1 {
		t.Errorf("outdated %d (want 4), missing %d (want 1)", outdated, missing)
	}
	if byName["svc.j0"].Desired != "down" || byName["svc.j1"].Desired != "up" {
		t.Errorf("desired: %q %q", byName["svc.j0"].Desired, byName["svc.j1"].Desired)
	}
}

// BenchmarkStatus: the state of 500 jobs, 1,000 tasks on 50 hosts, as
// `cjob status` and every UI page compute it.
func BenchmarkStatus(b *testing.B) {
	d, obs := synthetic(b, 500, 2, 50)
	for b.Loop() {
		d.Jobs(obs, nil)
	}
}

// BenchmarkDesire: once per pushed version (the production rewrite and
// the hashes).
func BenchmarkDesire(b *testing.B) {
	d, _ := synthetic(b, 500, 2, 50)
	for b.Loop() {
		res, err := rewrite.Production(d.File, 7)
		if err != nil {
			b.Fatal(err)
		}
		Desire(d.File, 7, res.Stack)
	}
}

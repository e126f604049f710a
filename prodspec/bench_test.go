package prodspec

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigFile generates a jobs file of services*jobs jobs on the given number
// of hosts. Each job has a templated image, a port, env, memory, a health
// check and a dependency on the job before it in its service.
func bigFile(services, jobs, hosts int) []byte {
	var b strings.Builder
	b.WriteString("project: big\nregistry: registry.example.com:5000\nvars: {tag: abc123}\nhosts:\n")
	for h := range hosts {
		fmt.Fprintf(&b, "  host-%d: {address: 10.0.%d.%d, docker: \"tcp://10.0.%d.%d:2376\", memory: 64GiB, labels: {rack: r%d}}\n",
			h, h/250, h%250, h/250, h%250, h%10)
	}
	b.WriteString("services:\n")
	for s := range services {
		fmt.Fprintf(&b, "  service-%d:\n    jobs:\n", s)
		for j := range jobs {
			fmt.Fprintf(&b, "      job-%d:\n", j)
			fmt.Fprintf(&b, "        image: service-%d:{{ .Vars.tag }}\n", s)
			fmt.Fprintf(&b, "        command: [/bin/job, --id, \"%d\"]\n", j)
			fmt.Fprintf(&b, "        port: %d\n", 10000+j)
			fmt.Fprintf(&b, "        env: {SERVICE: service-%d, JOB: \"%d\", DEBUG: false}\n", s, j)
			b.WriteString("        volumes: [\"/data:/data:ro\"]\n")
			b.WriteString("        memory: 256MiB\n")
			b.WriteString("        health: {http: /healthz, interval: 1s}\n")
			if j > 0 {
				fmt.Fprintf(&b, "        depends_on: [service-%d.job-%d]\n", s, j-1)
			}
			fmt.Fprintf(&b, "        run_on_host: host-%d\n", (s*jobs+j)%hosts)
		}
	}
	b.WriteString("environments:\n  dev:\n    exclude: [service-0.job-9]\n    jobs: {service-1.job-1: {env: {DEBUG: \"1\"}}}\n")
	return []byte(b.String())
}

func TestLoad10k(t *testing.T) {
	data := bigFile(1000, 10, 100)
	start := time.Now()
	f, err := Parse("big.yml", data, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parsed %d bytes, %d jobs in %v", len(data), len(f.Jobs()), time.Since(start))
	if n := len(f.Jobs()); n != 10000 {
		t.Fatalf("got %d jobs, want 10000", n)
	}
	if testing.Short() {
		return
	}
	out, err := Render(f)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, f, out)
}

func BenchmarkLoad10k(b *testing.B) {
	data := bigFile(1000, 10, 100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yml", data, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender10k(b *testing.B) {
	f, err := Parse("big.yml", bigFile(1000, 10, 100), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(f); err != nil {
			b.Fatal(err)
		}
	}
}

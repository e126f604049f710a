package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkStagingOrchestrators brings the same staging stack (a
// storefront, an API, a data store and a one-shot migration on three
// engines in network namespaces, pinned one production host per engine) up
// and down with cjob's own orchestrator and with Docker Swarm, alternating,
// and reports the median of each step: a cold up, a second up (nothing to
// do) and a down. Every round ends with nothing running.
//
//	go test -run '^$' -bench StagingOrchestrators -benchtime 3x ./internal/e2e/
func BenchmarkStagingOrchestrators(b *testing.B) {
	if setupErr != nil {
		b.Skipf("needs a Docker engine: %v", setupErr)
	}
	pool := startSwarm(b, "cjbsw", "10.223.0.0/24", 3)
	dir := b.TempDir()
	swarmFile := shopFile(b, dir, pool, "coding/api:1.0.0")
	data, _ := os.ReadFile(swarmFile)
	ownFile := filepath.Join(dir, "own.yml")
	os.WriteFile(ownFile, []byte(strings.Replace(string(data), "    orchestrator: swarm\n", "", 1)), 0o644)
	run := func(args ...string) time.Duration {
		start := time.Now()
		out, err := exec.Command(cjobBin, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("cjob %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	times := map[string][]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, o := range []struct{ name, file string }{{"cjob", ownFile}, {"swarm", swarmFile}} {
			times[o.name+"-up"] = append(times[o.name+"-up"], run("staging", "up", "-f", o.file, "--progress", "quiet"))
			times[o.name+"-noop"] = append(times[o.name+"-noop"], run("staging", "up", "-f", o.file, "--progress", "quiet"))
			times[o.name+"-down"] = append(times[o.name+"-down"], run("staging", "down", "-v", "-f", o.file, "--progress", "quiet"))
		}
	}
	b.StopTimer()
	for name, ds := range times {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(ds[len(ds)/2].Seconds(), name+"-s")
	}
}

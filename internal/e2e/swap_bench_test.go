package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSwapSaveToServing measures the edit loop of `cjob dev swap
// --watch` on a Go service: from writing a source file to the new code
// answering on its production address (the host sandbox's address, which
// the production host name resolves to inside the stack). The docker-cli
// case does the same swap by hand, as a developer would without cjob:
// go build, docker build, docker rm -f, docker run joined to the sandbox.
//
//	go test -run '^$' -bench SwapSaveToServing -benchtime 10x ./internal/e2e/
func BenchmarkSwapSaveToServing(b *testing.B) {
	if setupErr != nil {
		b.Skipf("needs a Docker engine: %v", setupErr)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "jobs.yml")
	os.WriteFile(file, []byte(swapBenchJobs), 0o644)
	run := func(args ...string) {
		cmd := exec.Command(cjobBin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("cjob %v: %v\n%s", args, err, out)
		}
	}
	run("dev", "up", "-f", file, "--progress", "quiet")
	b.Cleanup(func() { exec.Command(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet").Run() })
	ipOut, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "e2e-swapbench-dev.host.app-1").Output()
	if err != nil {
		b.Fatal(err)
	}
	prodAddr := "http://" + string(ipOut[:len(ipOut)-1]) + ":18701/"

	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644)
	write := func(msg string) {
		writeMain(b, src, fmt.Sprintf("%q", msg))
	}
	waitFor := func(msg string) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			if code, body := tryGet(prodAddr); code == 200 && body == msg {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s never answered %q", prodAddr, msg)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// cjob-watch: a live update on every save (the Go binary built here,
	// copied into the running container, which restarts); cjob-watch-image:
	// an image built and swapped on every save (--no-live).
	for _, way := range []struct {
		name  string
		flags []string
	}{{"cjob-watch", nil}, {"cjob-watch-image", []string{"--no-live"}}} {
		b.Run(way.name, func(b *testing.B) {
			write("start " + way.name)
			cmd := exec.Command(cjobBin, append([]string{"dev", "swap", "api", src, "--jobs", file, "--watch", "--quiet"}, way.flags...)...)
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
				// Every round's times: build, copy, restart, check.
				for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					if strings.Contains(l, "round") {
						b.Log(l)
					}
				}
			}()
			waitFor("start " + way.name)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				msg := fmt.Sprintf("%s %d", way.name, i)
				write(msg)
				waitFor(msg)
			}
		})
	}

	b.Run("docker-cli", func(b *testing.B) {
		df := filepath.Join(dir, "Dockerfile")
		os.WriteFile(df, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), 0o644)
		sh := func(name string, args ...string) {
			cmd := exec.Command(name, args...)
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s %v: %v\n%s", name, args, err, out)
			}
		}
		// The job's container is replaced by hand from here on.
		exec.Command("docker", "rm", "-f", "e2e-swapbench-dev.core.api.1").Run()
		b.Cleanup(func() {
			exec.Command("docker", "rm", "-f", "bench-by-hand").Run()
			exec.Command("docker", "rmi", "bench/by-hand:latest").Run()
		})
		for i := 0; b.Loop(); i++ {
			msg := fmt.Sprintf("cli %d", i)
			write(msg)
			sh("go", "build", "-o", filepath.Join(dir, "app"), ".")
			sh("docker", "build", "-q", "-t", "bench/by-hand:latest", "-f", df, dir)
			sh("docker", "rm", "-f", "bench-by-hand")
			sh("docker", "run", "-d", "--name", "bench-by-hand", "--network", "container:e2e-swapbench-dev.host.app-1",
				"-e", "PORT=18701", "bench/by-hand:latest")
			waitFor(msg)
		}
	})
}

const swapBenchJobs = `
project: e2e-swapbench
hosts: {app-1: {}}
services:
  core:
    jobs:
      api: {image: coding/git:1.0.0, port: 18701, env: {ROLE: git, PORT: "18701"}, health: {http: /healthz}, run_on_host: app-1}
`

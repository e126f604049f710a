package e2e

import (
	"strings"
	"testing"
)

// TestUserErrors: bad input gets a clear error that says where and what,
// exits non-zero, and never shows a Go stack trace.
func TestUserErrors(t *testing.T) {
	needBinary(t)
	bad := jobsFileNoCleanup(t, `project: e2e-bad
hosts:
  core-app-1: {address: 10.0.0.1}
services:
  coding-blog:
    jobs:
      blog:
        image: blog:1
        port: 99999
        memory: 12 parsecs
        depends_on: [cache.redsi]
        run_on_host: core-app-9
  cache:
    jobs:
      redis: {image: redis:3, port: 6379, run_on_host: core-app-1, colour: red}
`)
	good := jobsFileNoCleanup(t, `project: e2e-good
hosts: {h: {}}
services: {s: {jobs: {api: {image: "a:1", port: 8000, run_on_host: h}, web: {image: "w:1", port: 3000, run_on_host: h}}}}
`)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"invalid file", []string{"validate", "-f", bad}, []string{
			bad + ":9:15: services.coding-blog.jobs.blog.port",
			`unknown job "cache.redsi" (did you mean "cache.redis"?)`,
			"core-app-9",
			"colour",
			"errors in the jobs file",
		}},
		{"invalid file stops dev up before the engine", []string{"dev", "up", "-f", bad, "-H", "tcp://127.0.0.1:1"}, []string{"did you mean"}},
		{"missing file", []string{"validate", "-f", "/nonexistent/jobs.yml"}, []string{"/nonexistent/jobs.yml"}},
		{"unknown job", []string{"dev", "up", "apx", "-f", good, "-H", "tcp://127.0.0.1:1"}, []string{`unknown job "apx" (did you mean "s.api"?)`}},
		{"unreachable engine", []string{"dev", "up", "-f", good, "-H", "tcp://127.0.0.1:1"}, []string{"docker engine unreachable at tcp://127.0.0.1:1", "cjob doctor"}},
		{"bad --set", []string{"render", "-f", good, "--set", "novalue"}, []string{`--set "novalue": want key=value`}},
		{"bad replicas", []string{"dev", "plan", "-f", good, "--replicas", "many"}, []string{`--replicas "many"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cjob(t, tt.args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit:\n%s", r)
			}
			out := r.stdout + r.stderr
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, r)
				}
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
				t.Errorf("Go stack trace shown to the user:\n%s", r)
			}
		})
	}
}

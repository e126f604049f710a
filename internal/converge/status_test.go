package converge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/stack"
)

func TestStatus(t *testing.T) {
	eng, f := demoUp(t)
	eng.Kill(cWeb, 1)
	ip := map[string]string{}
	for _, n := range []string{sbApp, sbDB} {
		c, _ := eng.Container(n)
		ip[n] = c.IP
	}
	// The database does not answer; everything else does. The probe
	// records where each check went.
	var mu sync.Mutex
	probed := map[int]string{}
	probe := func(_ context.Context, c *stack.Check, addr string) error {
		mu.Lock()
		defer mu.Unlock()
		probed[c.Port] = fmt.Sprintf("%s %s", addr, c.Timeout)
		if c.Port == 5432 {
			return errors.New("connection refused")
		}
		return nil
	}
	rows, err := converge.Status(context.Background(), eng, f, probe)
	if err != nil {
		t.Fatal(err)
	}
	want := []converge.Row{
		{Kind: "sandbox", Host: "app-1", Container: sbApp, Image: sandboxImage, State: "running", Status: "Up", Health: "-",
			Ports: "127.0.0.1:3000->3000, 127.0.0.1:8000->8000"},
		{Kind: "sandbox", Host: "db-1", Container: sbDB, Image: sandboxImage, State: "running", Status: "Up", Health: "-",
			Ports: "127.0.0.1:5432->5432"},
		{Kind: "task", Job: "svc.api", Task: 1, Host: "app-1", Container: cAPI, Image: "demo/api:1", State: "running", Status: "Up", Health: "healthy", Ports: "8000"},
		{Kind: "task", Job: "svc.db", Task: 1, Host: "db-1", Container: cDB, Image: "demo/db:1", State: "running", Status: "Up", Health: "unhealthy", Ports: "5432"},
		{Kind: "task", Job: "svc.solo", Task: 1, Host: "app-1", Container: cSolo, Image: "demo/solo:1", State: "running", Status: "Up", Health: "-"},
		{Kind: "task", Job: "svc.web", Task: 1, Host: "app-1", Container: cWeb, Image: "demo/web:1", State: "exited", Status: "Exited (1)", ExitCode: 1, Health: "-", Ports: "3000"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// Checks go to the task's host sandbox, with a short timeout; the
	// exited web is not checked.
	wantProbed := map[int]string{8000: ip[sbApp] + " 1s", 5432: ip[sbDB] + " 1s"}
	if diff := cmp.Diff(wantProbed, probed); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}

	t.Run("orphans and swaps", func(t *testing.T) {
		dir := srcDir(t, "api")
		if r := swap(eng, f, "svc.api", dir, healthy); r.err != nil {
			t.Fatal(r.err)
		}
		// solo is no longer in the file.
		f2 := parse(t, demoFile+"environments:\n  dev:\n    exclude: [svc.solo]\n")
		rows, err := converge.Status(context.Background(), eng, f2, healthy)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rows {
			got[r.Container] = r.Health + " " + r.Swapped
		}
		want := map[string]string{
			sbApp: "- ", sbDB: "- ",
			cAPI:  "healthy " + dir,
			cDB:   "healthy ",
			cSolo: "orphan ",
			cWeb:  "- ",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("health and swapped (-want +got):\n%s", diff)
		}
	})

	t.Run("an unreachable engine", func(t *testing.T) {
		eng.SetDown(true)
		defer eng.SetDown(false)
		if _, err := converge.Status(context.Background(), eng, f, healthy); err == nil {
			t.Error("Status on a down engine succeeded")
		}
	})
}

func TestRowsOneshotAndCmdChecks(t *testing.T) {
	// A completed one-shot shows its exit; a check run in the container
	// (cmd) is not made by Rows.
	const src = `
project: demo
hosts: {app-1: {}}
services:
  svc:
    jobs:
      migrate: {image: demo/migrate:1, oneshot: true, run_on_host: app-1}
      api:
        image: demo/api:1
        port: 8000
        health: {cmd: "/api check"}
        depends_on: [svc.migrate]
        run_on_host: app-1
`
	eng := newEngine()
	eng.Crash("demo/migrate:1", 0)
	p := upOK(t, eng, opts(parse(t, src)))
	obs, err := eng.Observe(context.Background(), "demo", stack.Dev, p.Rewrite.Stack.Network)
	if err != nil {
		t.Fatal(err)
	}
	probe := func(context.Context, *stack.Check, string) error {
		t.Error("Rows made a check it should not")
		return nil
	}
	rows := converge.Rows(context.Background(), p.Rewrite.Stack, obs, converge.HealthFrom{Probe: probe})
	got := map[string]string{}
	for _, r := range rows {
		got[r.Container] = fmt.Sprintf("%s %s oneshot=%v health=%s", r.State, r.Status, r.Oneshot, r.Health)
	}
	want := map[string]string{
		"demo-dev.host.app-1":    "running Up oneshot=false health=-",
		"demo-dev.svc.api.1":     "running Up oneshot=false health=-",
		"demo-dev.svc.migrate.1": "exited Exited (0) oneshot=true health=-",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// logClock gives containers creation times 1.25 ms apart from a base with
// nanoseconds, so that every log timestamp enginetest writes has nine
// fraction digits, as the engine's (fixed-width RFC 3339) do.
func logClock() func() time.Time {
	base := time.Date(2026, 3, 1, 12, 0, 0, 111, time.UTC)
	n := 0
	return func() time.Time {
		t := base.Add(time.Duration(n) * 1250 * time.Microsecond)
		n++
		return t
	}
}

// logsUp is demoFile's db and then api brought up one after the other,
// with logs whose lines interleave in time: db's lines are at 1.25, 2.25,
// 3.25 and 4.25 ms, api's at 3.75, 4.75 and 5.75 ms.
func logsUp(t *testing.T) *enginetest.Engine {
	t.Helper()
	eng := newEngine()
	eng.Now = logClock()
	eng.SetLog("demo/db:1", "db 1", "db 2", "db 3", "db 4")
	eng.SetLog("demo/api:1", "api 1", "api 2", "api 3")
	f := parse(t, demoFile)
	for _, only := range []string{"svc.db", "svc.api"} {
		o := opts(f)
		o.Rewrite.Only = []string{only}
		upOK(t, eng, o)
	}
	return eng
}

func TestLogs(t *testing.T) {
	eng := logsUp(t)
	ts := func(ms float64) string {
		return time.Date(2026, 3, 1, 12, 0, 0, 111, time.UTC).Add(time.Duration(ms * float64(time.Millisecond))).Format(time.RFC3339Nano)
	}
	tests := []struct {
		name string
		opts converge.LogOptions
		want []string
		sort bool // lines of concurrent followers come in any order
	}{
		{
			name: "merged by time",
			want: []string{
				"svc.db/1  | db 1", "svc.db/1  | db 2", "svc.db/1  | db 3",
				"svc.api/1 | api 1", "svc.db/1  | db 4", "svc.api/1 | api 2", "svc.api/1 | api 3",
			},
		},
		{
			name: "one job",
			opts: converge.LogOptions{Jobs: []string{"svc.api"}},
			want: []string{"svc.api/1 | api 1", "svc.api/1 | api 2", "svc.api/1 | api 3"},
		},
		{
			name: "the last line of each",
			opts: converge.LogOptions{Tail: "1"},
			want: []string{"svc.db/1  | db 4", "svc.api/1 | api 3"},
		},
		{
			name: "with timestamps",
			opts: converge.LogOptions{Jobs: []string{"svc.db"}, Timestamps: true},
			want: []string{
				"svc.db/1 | " + ts(1.25) + " db 1", "svc.db/1 | " + ts(2.25) + " db 2",
				"svc.db/1 | " + ts(3.25) + " db 3", "svc.db/1 | " + ts(4.25) + " db 4",
			},
		},
		{
			name: "coloured prefixes",
			opts: converge.LogOptions{Color: true, Tail: "1"},
			want: []string{"\x1b[33msvc.db/1  | \x1b[0mdb 4", "\x1b[36msvc.api/1 | \x1b[0mapi 3"},
		},
		{
			name: "followed",
			opts: converge.LogOptions{Follow: true},
			want: []string{
				"svc.api/1 | api 1", "svc.api/1 | api 2", "svc.api/1 | api 3",
				"svc.db/1  | db 1", "svc.db/1  | db 2", "svc.db/1  | db 3", "svc.db/1  | db 4",
			},
			sort: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := converge.Logs(context.Background(), eng, "demo", tt.opts, &b); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if tt.sort {
				slices.Sort(got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("logs (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("no dev stack", func(t *testing.T) {
		for _, o := range []converge.LogOptions{{}, {Follow: true}} {
			err := converge.Logs(context.Background(), newEngine(), "demo", o, &bytes.Buffer{})
			if err == nil || err.Error() != "no containers to show logs of; is the dev stack up? (`cjob dev ps`)" {
				t.Errorf("Logs(%+v) on an empty engine: %v", o, err)
			}
		}
	})

	t.Run("a job with no container", func(t *testing.T) {
		err := converge.Logs(context.Background(), eng, "demo", converge.LogOptions{Jobs: []string{"svc.web"}}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "is the dev stack up?") {
			t.Errorf("Logs(svc.web): %v", err)
		}
	})

	t.Run("an engine that fails to give logs", func(t *testing.T) {
		eng := logsUp(t)
		eng.Fail("Logs", errors.New("log driver none"))
		for _, o := range []converge.LogOptions{{}, {Follow: true}} {
			if err := converge.Logs(context.Background(), eng, "demo", o, &bytes.Buffer{}); err == nil || err.Error() != "log driver none" {
				t.Errorf("Logs(%+v): %v", o, err)
			}
		}
	})

	t.Run("a follow ended by the caller", func(t *testing.T) {
		eng := logsUp(t)
		eng.Fail("Logs", context.Canceled)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := converge.Logs(ctx, eng, "demo", converge.LogOptions{Follow: true}, &bytes.Buffer{}); err != nil {
			t.Errorf("Logs after cancel: %v, want nil", err)
		}
	})
}

// TestStatusChecksInsideSandboxes: with no probe, dev ps reads health from
// inside each host sandbox through the engine: one `cjob-sandbox probe` per
// sandbox naming every checked task there, at 127.0.0.1.
func TestStatusChecksInsideSandboxes(t *testing.T) {
	eng := newEngine()
	f := parse(t, demoFile)
	upOK(t, eng, opts(f))
	var mu sync.Mutex
	var execs []string
	eng.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
		mu.Lock()
		execs = append(execs, c.Name+": "+strings.Join(cmd, " "))
		mu.Unlock()
		var out strings.Builder
		for _, target := range cmd[4:] {
			if strings.Contains(target, ":8000") {
				fmt.Fprintf(&out, "FAIL %s: status 503 Service Unavailable\n", target)
			} else {
				fmt.Fprintf(&out, "ok   %s\n", target)
			}
		}
		return 1, out.String()
	})
	rows, err := converge.Status(context.Background(), eng, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		if r.Kind == "task" {
			got[r.Job] = r.Health
		}
	}
	want := map[string]string{"svc.api": "unhealthy", "svc.db": "healthy", "svc.web": "healthy", "svc.solo": "-"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	sort.Strings(execs)
	wantExecs := []string{
		"demo-dev.host.app-1: /cjob-sandbox probe --timeout 1s http://127.0.0.1:8000/healthz tcp://127.0.0.1:3000",
		"demo-dev.host.db-1: /cjob-sandbox probe --timeout 1s tcp://127.0.0.1:5432",
	}
	if diff := cmp.Diff(wantExecs, execs); diff != "" {
		t.Errorf("execs (-want +got):\n%s", diff)
	}
}

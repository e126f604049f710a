package converge_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/watch"
)

func TestParseSyncRule(t *testing.T) {
	tests := []struct {
		in      string
		want    converge.SyncRule
		wantErr bool
	}{
		{in: "static:/srv/www", want: converge.SyncRule{Src: "static", Dest: "/srv/www"}},
		{in: "./static/:/srv/www/", want: converge.SyncRule{Src: "static", Dest: "/srv/www"}},
		{in: ".:/app", want: converge.SyncRule{Src: ".", Dest: "/app"}},
		{in: "./:/app", want: converge.SyncRule{Src: ".", Dest: "/app"}},
		{in: "static", wantErr: true},
		{in: ":/app", wantErr: true},
		{in: "static:relative", wantErr: true},
		{in: "static/css:/srv/www/css", want: converge.SyncRule{Src: "static/css", Dest: "/srv/www/css"}},
		{in: `C:\src\static:/srv/www`, wantErr: true}, // a drive, not a path in the folder
		{in: "/abs/static:/srv/www", wantErr: true},
		{in: "../elsewhere:/srv/www", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := converge.ParseSyncRule(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSyncRule(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "want SRC:DEST") {
					t.Errorf("error %q does not say the form", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rule (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncRuleMap(t *testing.T) {
	static := converge.SyncRule{Src: "static", Dest: "/srv/www"}
	all := converge.SyncRule{Src: ".", Dest: "/app"}
	tests := []struct {
		name string
		rule converge.SyncRule
		rel  string
		want string
		ok   bool
	}{
		{"a file under the folder", static, "static/css/app.css", "/srv/www/css/app.css", true},
		{"the folder itself", static, "static", "/srv/www", true},
		{"a sibling with the same prefix", static, "staticfiles/x", "", false},
		{"outside the folder", static, "main.go", "", false},
		{"everything", all, "cmd/main.go", "/app/cmd/main.go", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.rule.Map(tt.rel)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Map(%q) = %q, %v; want %q, %v", tt.rel, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// execLog records the commands run through Exec, by container name.
type execLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *execLog) on(eng *enginetest.Engine, code int, out string) {
	eng.OnExec(func(c *enginetest.Container, cmd []string) (int, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cmds = append(l.cmds, c.Name+": "+strings.Join(cmd, " "))
		return code, out
	})
}

func TestSync(t *testing.T) {
	src := map[string]string{
		"Dockerfile":       "FROM scratch\nCOPY . /\n",
		"static/app.css":   "body{}",
		"static/js/app.js": "main()",
		"main.go":          "package main",
	}
	rules := []converge.SyncRule{{Src: "static", Dest: "/srv/www"}}
	tests := []struct {
		name        string
		batch       watch.Batch
		restart     bool
		execCode    int
		execOut     string
		probe       func(context.Context, *stack.Check, string) error
		wantFiles   map[string]string
		wantExec    []string // %ID% is the task's container ID
		wantStarts  int      // starts of the task after Sync, from 1
		wantErr     string
		wantNoCalls bool
	}{
		{
			name:       "changed files are copied in",
			batch:      watch.Batch{Changed: []string{"static/app.css", "static/js/app.js"}},
			wantFiles:  map[string]string{"/srv/www/app.css": "body{}", "/srv/www/js/app.js": "main()"},
			wantStarts: 1,
		},
		{
			name:       "paths no rule covers, folders and vanished files are left",
			batch:      watch.Batch{Changed: []string{"main.go", "static/js", "static/gone.css", "static/app.css"}},
			wantFiles:  map[string]string{"/srv/www/app.css": "body{}"},
			wantStarts: 1,
		},
		{
			name:       "removed files are removed through the host sandbox",
			batch:      watch.Batch{Removed: []string{"static/old.css", "main.go", "static/a/older.js"}},
			wantExec:   []string{sbApp + ": /cjob-sandbox rm --container %ID% /srv/www/a/older.js /srv/www/old.css"},
			wantStarts: 1,
		},
		{
			name:     "a removal that fails",
			batch:    watch.Batch{Removed: []string{"static/old.css"}},
			execCode: 1,
			execOut:  "rm: /srv/www/old.css: permission denied",
			wantExec: []string{sbApp + ": /cjob-sandbox rm --container %ID% /srv/www/old.css"},
			wantErr:  "sync: remove [/srv/www/old.css] in svc.api/1: rm: /srv/www/old.css: permission denied",
		},
		{
			name:       "restart restarts and waits until ready",
			batch:      watch.Batch{Changed: []string{"static/app.css"}},
			restart:    true,
			wantFiles:  map[string]string{"/srv/www/app.css": "body{}"},
			wantStarts: 2,
		},
		{
			name:    "a restarted task that is not ready again",
			batch:   watch.Batch{Changed: []string{"static/app.css"}},
			restart: true,
			probe: func(context.Context, *stack.Check, string) error {
				return errors.New("connection refused")
			},
			wantFiles: map[string]string{"/srv/www/app.css": "body{}"},
			wantErr:   "svc.api/1 after restart: not healthy after 100ms: connection refused",
		},
		{
			name:        "nothing to copy or remove",
			batch:       watch.Batch{Changed: []string{"main.go"}},
			wantStarts:  1,
			wantNoCalls: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, f := demoUp(t)
			dir := t.TempDir()
			writeFiles(t, dir, src)
			var ex execLog
			ex.on(eng, tt.execCode, tt.execOut)
			probe := healthy
			if tt.probe != nil {
				probe = tt.probe
			}
			calls := len(eng.Calls())
			err := converge.Sync(context.Background(), eng, converge.SyncOptions{
				Swap:  converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: dir}, Probe: probe},
				Rules: rules, Batch: tt.batch, Restart: tt.restart,
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Sync: %v, want error %q", err, tt.wantErr)
			}
			c, _ := eng.Container(cAPI)
			files := map[string]string{}
			for k, v := range c.Files {
				files[k] = string(v)
			}
			if diff := cmp.Diff(tt.wantFiles, files, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("files in %s (-want +got):\n%s", cAPI, diff)
			}
			var wantExec []string
			for _, e := range tt.wantExec {
				wantExec = append(wantExec, strings.ReplaceAll(e, "%ID%", c.ID))
			}
			if diff := cmp.Diff(wantExec, ex.cmds); diff != "" {
				t.Errorf("exec (-want +got):\n%s", diff)
			}
			if tt.wantStarts != 0 && (c.Starts != tt.wantStarts || c.State != stack.StateRunning) {
				t.Errorf("%s: %d starts, %s; want %d, running", cAPI, c.Starts, c.State, tt.wantStarts)
			}
			if tt.wantNoCalls && len(eng.Calls()) != calls {
				t.Errorf("calls: %q", eng.Calls()[calls:])
			}
			// Sync never rebuilds nor replaces a container.
			if got := eng.Names(stack.StateRunning); len(got) != 6 {
				t.Errorf("running: %q", got)
			}
		})
	}

	t.Run("a job that does not run", func(t *testing.T) {
		eng := newEngine()
		f := parse(t, demoFile)
		err := converge.Sync(context.Background(), eng, converge.SyncOptions{
			Swap:  converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: t.TempDir()}, Probe: healthy},
			Rules: rules, Batch: watch.Batch{Changed: []string{"static/app.css"}},
		})
		if !errors.Is(err, converge.ErrNotRunning) {
			t.Errorf("Sync: %v, want ErrNotRunning", err)
		}
	})
}

func TestWatch(t *testing.T) {
	// One swap at once, then a round per burst of saves: a sync when a
	// rule covers every path, else a rebuild and swap. Real files and a
	// real watcher; the engine is in memory.
	eng, f := demoUp(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":     "FROM scratch\nCOPY . /\n",
		"app":            "v1",
		"static/app.css": "body{}",
	})
	ctx, cancel := context.WithCancel(context.Background())
	rounds := make(chan converge.Round, 10)
	done := make(chan error, 1)
	go func() {
		done <- converge.Watch(ctx, eng, converge.WatchOptions{
			Swap:     converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: dir}, Probe: healthy},
			Sync:     []converge.SyncRule{{Src: "static", Dest: "/srv/www"}},
			Debounce: 50 * time.Millisecond,
		}, func(r converge.Round) { rounds <- r })
	}()
	next := func(what string) converge.Round {
		t.Helper()
		select {
		case r := <-rounds:
			return r
		case <-time.After(10 * time.Second):
			cancel()
			t.Fatalf("no round for %s", what)
		}
		return converge.Round{}
	}

	r1 := next("the first swap")
	if r1.N != 1 || r1.Err != nil || r1.Swap == nil || r1.Synced {
		t.Fatalf("round 1: %+v", r1)
	}
	first := r1.Swap.Image
	if c, _ := eng.Container(cAPI); c.Image != first {
		t.Errorf("after round 1 %s runs %s, want %s", cAPI, c.Image, first)
	}

	if err := os.WriteFile(filepath.Join(dir, "static", "app.css"), []byte("body{color:red}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r2 := next("a save under static/")
	if r2.N != 2 || !r2.Synced || r2.Err != nil || r2.Swap != nil {
		t.Fatalf("round 2: %+v", r2)
	}
	if diff := cmp.Diff([]string{"static/app.css"}, r2.Changed); diff != "" {
		t.Errorf("round 2 changed (-want +got):\n%s", diff)
	}
	c, _ := eng.Container(cAPI)
	if got := string(c.Files["/srv/www/app.css"]); got != "body{color:red}" || c.Image != first {
		t.Errorf("after round 2: %s runs %s with app.css %q", cAPI, c.Image, got)
	}

	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	r3 := next("a save outside the sync rules")
	if r3.N != 3 || r3.Synced || r3.Err != nil || r3.Swap == nil || r3.Swap.Image == first {
		t.Fatalf("round 3: %+v (swap %+v)", r3, r3.Swap)
	}
	if c, _ := eng.Container(cAPI); c.Image != r3.Swap.Image {
		t.Errorf("after round 3 %s runs %s, want %s", cAPI, c.Image, r3.Swap.Image)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatchFailedRoundKeepsLastGood(t *testing.T) {
	// A round whose image crashes is reported; the last good container
	// keeps running and Watch goes on.
	eng, f := demoUp(t)
	dir := srcDir(t, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	rounds := make(chan converge.Round, 10)
	done := make(chan error, 1)
	go func() {
		done <- converge.Watch(ctx, eng, converge.WatchOptions{
			Swap:     converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: dir}, Probe: healthy},
			Debounce: 50 * time.Millisecond,
		}, func(r converge.Round) { rounds <- r })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	next := func() converge.Round {
		t.Helper()
		select {
		case r := <-rounds:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no round")
		}
		return converge.Round{}
	}
	r1 := next()
	if r1.Err != nil {
		t.Fatal(r1.Err)
	}
	good := r1.Swap.Image
	// The image the next save builds to (a content hash) crashes.
	eng.Crash(builtImage(t, f, "svc.api", srcDir(t, "v2")), 1)
	writeFiles(t, dir, map[string]string{"app": "v2"})
	r2 := next()
	var rb *converge.RollbackError
	if !errors.As(r2.Err, &rb) {
		t.Fatalf("round 2 error %v, want a rollback", r2.Err)
	}
	if c, _ := eng.Container(cAPI); c.Image != good || c.State != stack.StateRunning {
		t.Errorf("%s runs %s (%s), want the last good %s", cAPI, c.Image, c.State, good)
	}
}

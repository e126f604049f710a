package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeClock is a Clock that only moves when Advance is called. Timer
// callbacks run synchronously inside Advance, in deadline order, with the
// clock set to their deadline; timers armed by a callback fire in the same
// Advance if they fall within it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk  *fakeClock
	when time.Time
	f    func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, when: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop removes the timer if it has not fired yet.
func (t *fakeTimer) Stop() bool {
	c := t.clk
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d, firing every timer that falls due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		i := -1
		for j, t := range c.timers {
			if !t.when.After(target) && (i < 0 || t.when.Before(c.timers[i].when)) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

// pending returns the number of armed timers.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// --- fsnotify-backed tests (real time, short debounce) ---

const testDebounce = 50 * time.Millisecond

// ignoreStub ignores node_modules (and everything below it) and *.log files.
type ignoreStub struct{}

func (ignoreStub) Ignored(rel string, isDir bool) bool {
	if rel == "node_modules" || strings.HasPrefix(rel, "node_modules/") {
		return true
	}
	return !isDir && strings.HasSuffix(rel, ".log")
}

// startWatcher watches root and closes the watcher when the test ends.
func startWatcher(t *testing.T, root string, ign Ignorer) *Watcher {
	t.Helper()
	w, err := New(Options{Root: root, Ignore: ign, Debounce: testDebounce})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// nextBatch waits for the next batch, failing on errors or timeout.
func nextBatch(t *testing.T, w *Watcher) Batch {
	t.Helper()
	select {
	case b, ok := <-w.Batches():
		if !ok {
			t.Fatal("Batches closed")
		}
		return b
	case err := <-w.Errors():
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("timed out waiting for a batch")
	}
	return Batch{}
}

// expectBatch waits for the next batch and compares it with want.
func expectBatch(t *testing.T, w *Watcher, want Batch) {
	t.Helper()
	if got := nextBatch(t, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// expectQuiet fails if a batch or error arrives within a few debounce periods.
func expectQuiet(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case b := <-w.Batches():
		t.Fatalf("unexpected batch %+v", b)
	case err := <-w.Errors():
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(4 * testDebounce):
	}
}

// watched returns the watched folders, relative to root.
func watched(t *testing.T, w *Watcher) []string {
	t.Helper()
	var rels []string
	for _, p := range w.fsw.WatchList() {
		rel, ok := w.rel(p)
		if !ok {
			t.Fatalf("watching %s, outside the root", p)
		}
		rels = append(rels, rel)
	}
	slices.Sort(rels)
	return rels
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSingleWrite(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), "1")
	w := startWatcher(t, root, nil)

	write(t, filepath.Join(root, "a.txt"), "2")
	expectBatch(t, w, Batch{Changed: []string{"a.txt"}})
	expectQuiet(t, w)
}

func TestBurstGivesOneBatch(t *testing.T) {
	root := t.TempDir()
	w := startWatcher(t, root, nil)

	var want []string
	for i := range 50 {
		name := fmt.Sprintf("f%02d.txt", i)
		write(t, filepath.Join(root, name), "x")
		want = append(want, name)
	}
	expectBatch(t, w, Batch{Changed: want})
	expectQuiet(t, w)
}

func TestNewFolderIsWalkedAndWatched(t *testing.T) {
	root := t.TempDir()
	w := startWatcher(t, root, nil)

	// A folder moved in with its contents: only a walk can see the files.
	outside := filepath.Join(t.TempDir(), "sub")
	write(t, filepath.Join(outside, "a.txt"), "a")
	write(t, filepath.Join(outside, "deeper", "b.txt"), "b")
	if err := os.Rename(outside, filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Changed: []string{"sub", "sub/a.txt", "sub/deeper", "sub/deeper/b.txt"}})

	write(t, filepath.Join(root, "sub", "deeper", "b.txt"), "b2")
	expectBatch(t, w, Batch{Changed: []string{"sub/deeper/b.txt"}})

	// mkdir -p and an immediate write race the new watches.
	write(t, filepath.Join(root, "x", "y", "z", "f.txt"), "f")
	expectBatch(t, w, Batch{Changed: []string{"x", "x/y", "x/y/z", "x/y/z/f.txt"}})
	write(t, filepath.Join(root, "x", "y", "z", "f.txt"), "f2")
	expectBatch(t, w, Batch{Changed: []string{"x/y/z/f.txt"}})

	if got, want := watched(t, w), []string{".", "sub", "sub/deeper", "x", "x/y", "x/y/z"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("watching %v, want %v", got, want)
	}
}

func TestIgnoredPathsProduceNothing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "node_modules", "pkg", "index.js"), "")
	write(t, filepath.Join(root, ".git", "HEAD"), "ref: refs/heads/main")
	write(t, filepath.Join(root, ".cjob", "state"), "")
	w := startWatcher(t, root, ignoreStub{})

	if got, want := watched(t, w), []string{"."}; !reflect.DeepEqual(got, want) {
		t.Fatalf("watching %v, want %v", got, want)
	}

	write(t, filepath.Join(root, "node_modules", "pkg", "index.js"), "changed")
	write(t, filepath.Join(root, "node_modules", "new", "index.js"), "")
	write(t, filepath.Join(root, "debug.log"), "log")
	write(t, filepath.Join(root, ".git", "HEAD"), "ref: refs/heads/other")
	write(t, filepath.Join(root, ".git", "refs", "heads", "other"), "abc")
	write(t, filepath.Join(root, ".cjob", "state"), "changed")
	expectQuiet(t, w)

	// Ignored entries inside a new folder are skipped too, including a
	// nested repository's .git.
	write(t, filepath.Join(root, "lib", ".git", "config"), "")
	write(t, filepath.Join(root, "lib", "trace.log"), "")
	write(t, filepath.Join(root, "lib", "lib.go"), "package lib")
	expectBatch(t, w, Batch{Changed: []string{"lib", "lib/lib.go"}})
	write(t, filepath.Join(root, "lib", ".git", "config"), "changed")
	expectQuiet(t, w)

	if got, want := watched(t, w), []string{".", "lib"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("watching %v, want %v", got, want)
	}
}

func TestTransientFilesProduceNothing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "main.go"), "package main")
	w := startWatcher(t, root, nil)

	for _, name := range []string{"4913", ".main.go.swp", "main.go~", ".#main.go", "build.tmp"} {
		p := filepath.Join(root, name)
		write(t, p, "tmp")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	expectQuiet(t, w)

	// An editor's atomic save: write a temp file, rename it over the target.
	tmp := filepath.Join(root, ".main.go.tmp")
	write(t, tmp, "package main // edited")
	if err := os.Rename(tmp, filepath.Join(root, "main.go")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Changed: []string{"main.go"}})
	expectQuiet(t, w)
}

func TestRemovals(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), "")
	write(t, filepath.Join(root, "dir", "b.txt"), "")
	write(t, filepath.Join(root, "dir", "sub", "c.txt"), "")
	write(t, filepath.Join(root, "moved", "d.txt"), "")
	w := startWatcher(t, root, nil)

	if err := os.Remove(filepath.Join(root, "a.txt")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Removed: []string{"a.txt"}})

	if err := os.RemoveAll(filepath.Join(root, "dir")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Removed: []string{"dir", "dir/b.txt", "dir/sub", "dir/sub/c.txt"}})

	// Renamed out of the tree: no events for the contents, yet they are gone.
	away := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(filepath.Join(root, "moved"), away); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Removed: []string{"moved", "moved/d.txt"}})
	if got, want := watched(t, w), []string{"."}; !reflect.DeepEqual(got, want) {
		t.Fatalf("watching %v, want %v", got, want)
	}

	// Writes in the folder's new home outside the tree are not seen...
	write(t, filepath.Join(away, "d.txt"), "outside")
	expectQuiet(t, w)

	// ...and once it comes back under another name it is watched again.
	if err := os.Rename(away, filepath.Join(root, "back")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{Changed: []string{"back", "back/d.txt"}})
	write(t, filepath.Join(root, "back", "d.txt"), "inside")
	expectBatch(t, w, Batch{Changed: []string{"back/d.txt"}})
}

func TestRenameFolderWithinTree(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "old", "sub", "f.txt"), "")
	w := startWatcher(t, root, nil)

	if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
		t.Fatal(err)
	}
	expectBatch(t, w, Batch{
		Changed: []string{"new", "new/sub", "new/sub/f.txt"},
		Removed: []string{"old", "old/sub", "old/sub/f.txt"},
	})
	write(t, filepath.Join(root, "new", "sub", "f.txt"), "x")
	expectBatch(t, w, Batch{Changed: []string{"new/sub/f.txt"}})
	if got, want := watched(t, w), []string{".", "new", "new/sub"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("watching %v, want %v", got, want)
	}
}

func TestRootRemoved(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	write(t, filepath.Join(root, "a", "b.txt"), "")
	w := startWatcher(t, root, nil)

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	var gotErr error
	var got Batch
	deadline := time.After(2 * time.Second)
	for gotErr == nil || got.Removed == nil {
		select {
		case got = <-w.Batches():
		case gotErr = <-w.Errors():
		case <-deadline:
			t.Fatalf("timed out; batch %+v, error %v", got, gotErr)
		}
	}
	if want := (Batch{Removed: []string{"a", "a/b.txt"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	root := t.TempDir()
	w, err := New(Options{Root: root, Debounce: testDebounce})
	if err != nil {
		t.Fatal(err)
	}
	// Leave a burst pending so a timer is armed at Close.
	write(t, filepath.Join(root, "a.txt"), "")
	time.Sleep(10 * time.Millisecond)

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Batches(); ok {
		t.Fatal("Batches not closed")
	}
	if _, ok := <-w.Errors(); ok {
		t.Fatal("Errors not closed")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before New, %d after Close:\n%s",
				before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New with no root: want error")
	}
	if _, err := New(Options{Root: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New with missing root: want error")
	}
	f := filepath.Join(t.TempDir(), "file")
	write(t, f, "")
	if _, err := New(Options{Root: f}); err == nil {
		t.Error("New with a file as root: want error")
	}
}

func TestBuiltinIgnored(t *testing.T) {
	for rel, want := range map[string]bool{
		".git":                            true,
		".git/HEAD":                       true,
		"lib/.git":                        true,
		"lib/.git/index":                  true,
		".cjob":                           true,
		".cjob/state":                     true,
		"lib/.cjob":                       false, // only the root's own .cjob
		".github":                         false,
		"a.git":                           false,
		"src/main.go":                     false,
		"node_modules":                    true,
		"web/node_modules/react/index.js": true,
		"node_modules_notes.md":           false,
	} {
		if got := builtinIgnored(rel); got != want {
			t.Errorf("builtinIgnored(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestLimitHint(t *testing.T) {
	if got := limitHint(syscall.ENOSPC).Error(); !strings.Contains(got, "fs.inotify.max_user_watches") || !errors.Is(limitHint(syscall.ENOSPC), syscall.ENOSPC) {
		t.Errorf("ENOSPC: %q", got)
	}
	if got := limitHint(syscall.EMFILE).Error(); !strings.Contains(got, "ulimit -n") || !strings.Contains(got, ".dockerignore") {
		t.Errorf("EMFILE: %q", got)
	}
}

func TestNoWarningOnALocalFolder(t *testing.T) {
	w, err := New(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Warning() != "" && remoteFS(os.TempDir()) == "" {
		t.Errorf("warning on a local folder: %q", w.Warning())
	}
}

// TestStirringComesFirst: a change is announced on Stirring before its
// batch (which waits for the debounce); an ignored path announces nothing.
func TestStirringComesFirst(t *testing.T) {
	root := t.TempDir()
	w := startWatcher(t, root, ignoreStub{})

	write(t, filepath.Join(root, "skip.log"), "x")
	select {
	case <-w.Stirring():
		t.Fatal("an ignored path stirred the watcher")
	case <-time.After(4 * testDebounce):
	}
	write(t, filepath.Join(root, "a.txt"), "1")
	start := time.Now()
	select {
	case <-w.Stirring():
	case b := <-w.Batches():
		t.Fatalf("the batch %+v came before Stirring", b)
	case <-time.After(5 * time.Second):
		t.Fatal("no Stirring")
	}
	expectBatch(t, w, Batch{Changed: []string{"a.txt"}})
	if d := time.Since(start); d < testDebounce/2 {
		t.Errorf("the batch came %s after Stirring; the debounce is %s", d, testDebounce)
	}
}

package localstate

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
)

// stateHome points XDG_STATE_HOME at a fresh folder and returns cjob's
// root in it.
func stateHome(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	return filepath.Join(dir, "cjob")
}

func TestRoot(t *testing.T) {
	for _, c := range []struct {
		name      string
		xdg, home string
		want, err string
	}{
		{name: "XDG_STATE_HOME", xdg: "/srv/state", home: "/home/alice", want: "/srv/state/cjob"},
		{name: "the home folder's default", home: "/home/alice", want: "/home/alice/.local/state/cjob"},
		{name: "neither", err: "cjob's state folder: $HOME is not defined (set XDG_STATE_HOME)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", c.xdg)
			t.Setenv("HOME", c.home)
			got, err := Root()
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Errorf("Root() = %q, %v; want the error %q", got, err, c.err)
				}
				if _, err := ForEnv("shop", stack.Dev); err == nil {
					t.Errorf("ForEnv without a state folder: no error")
				}
				if _, err := LoadPushes(); err == nil {
					t.Errorf("LoadPushes without a state folder: no error")
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("Root() = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestForEnv(t *testing.T) {
	root := stateHome(t)
	for _, c := range []struct {
		env  stack.Env
		want string
	}{
		{stack.Dev, "shop-dev"},
		{stack.Staging, "shop-staging"},
		{stack.Production, "shop-production"},
	} {
		t.Run(c.env.String(), func(t *testing.T) {
			e, err := ForEnv("shop", c.env)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, c.want); e.Dir != want {
				t.Errorf("Dir %q, want %q", e.Dir, want)
			}
		})
	}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestSwaps(t *testing.T) {
	stateHome(t)
	t.Setenv("USER", "alice")
	e, err := ForEnv("shop", stack.Dev)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.Swaps(); err != nil || len(got) != 0 {
		t.Errorf("Swaps() before any: %v, %v", got, err)
	}
	if got, err := e.Events(0); err != nil || got != nil {
		t.Errorf("Events() before any: %v, %v", got, err)
	}
	records := []SwapRecord{
		{Job: "core.api", Dir: "./api", Image: "shop/api:dev-1", At: t0, Build: time.Second, Total: 1234567 * time.Microsecond, BuildLog: "step 1\nstep 2\n"},
		{Job: "core.web", Dir: "./web", Image: "shop/web:dev-9", At: t0.Add(time.Minute), Reused: true, Total: 300 * time.Millisecond,
			Err: "core.web/1 exited with code 1\nlog tail line"},
		{Job: "core.api", Dir: "./api", Image: "shop/api:dev-2", At: t0.Add(2 * time.Minute), Build: 2 * time.Second, Total: 5 * time.Second},
	}
	for _, r := range records {
		if err := e.RecordSwap(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.Swaps()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SwapRecord{"core.api": records[2], "core.web": records[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("swaps (-want +got):\n%s", diff)
	}

	evs, err := e.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.ID, "0") || ev.Who != "alice" {
			t.Errorf("event %+v: want an ID and who = $USER", ev)
		}
	}
	wantEvs := []store.Event{
		{Time: t0.Add(2 * time.Minute), Who: "alice", Action: "swap", Target: "core.api", Result: "ok", Detail: "from ./api: shop/api:dev-2 in 5s"},
		{Time: t0.Add(time.Minute), Who: "alice", Action: "swap", Target: "core.web", Result: "failed", Detail: "from ./web: core.web/1 exited with code 1"},
		{Time: t0, Who: "alice", Action: "swap", Target: "core.api", Result: "ok", Detail: "from ./api: shop/api:dev-1 in 1.235s"},
	}
	if diff := cmp.Diff(wantEvs, evs, cmpopts.IgnoreFields(store.Event{}, "ID")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Another environment of the project has its own.
	other, _ := ForEnv("shop", stack.Staging)
	if got, err := other.Swaps(); err != nil || len(got) != 0 {
		t.Errorf("staging's swaps: %v, %v", got, err)
	}
}

func TestSwapsCorrupt(t *testing.T) {
	stateHome(t)
	e, _ := ForEnv("shop", stack.Dev)
	if err := e.RecordSwap(SwapRecord{Job: "core.api", Image: "shop/api:dev-1", At: t0}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.Dir, "swaps", "core.web.json")
	if err := os.WriteFile(bad, []byte(`{"job": "core.web", "at": `), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := e.Swaps()
	if err == nil || !strings.Contains(err.Error(), "swap record "+bad+": ") {
		t.Errorf("error %v, want one naming %s", err, bad)
	}
	if _, ok := got["core.api"]; !ok || len(got) != 1 {
		t.Errorf("swaps %v, want core.api's, which reads", got)
	}
	// A record left half-written (the .tmp of an interrupted write) is
	// not read.
	if err := os.WriteFile(filepath.Join(e.Dir, "swaps", "core.db.json.tmp"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(bad)
	if _, err := e.Swaps(); err != nil {
		t.Errorf("a .tmp file is read: %v", err)
	}
}

func TestEvents(t *testing.T) {
	stateHome(t)
	t.Setenv("USER", "bob")
	e, _ := ForEnv("shop", stack.Dev)
	// Recorded out of order: Events sorts by time.
	for _, m := range []int{3, 1, 4, 1, 5} {
		if err := e.RecordEvent(store.Event{Time: t0.Add(time.Duration(m) * time.Minute), Action: "up", Target: "m" + string(rune('0'+m)), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// A line that does not parse is skipped.
	f, err := os.OpenFile(filepath.Join(e.Dir, "events.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not json\n{\"time\": 12}\n")
	f.Close()
	now := time.Now()
	if err := e.RecordEvent(store.Event{Action: "down", Who: "carol", ID: "given"}); err != nil {
		t.Fatal(err)
	}
	targets := func(evs []store.Event) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Action+" "+ev.Target+" "+ev.Who)
		}
		return out
	}
	for _, c := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"down  carol", "up m5 bob", "up m4 bob", "up m3 bob", "up m1 bob", "up m1 bob"}},
		{2, []string{"down  carol", "up m5 bob"}},
		{6, []string{"down  carol", "up m5 bob", "up m4 bob", "up m3 bob", "up m1 bob", "up m1 bob"}},
		{100, []string{"down  carol", "up m5 bob", "up m4 bob", "up m3 bob", "up m1 bob", "up m1 bob"}},
	} {
		evs, err := e.Events(c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, targets(evs)); diff != "" {
			t.Errorf("Events(%d) (-want +got):\n%s", c.limit, diff)
		}
	}
	evs, _ := e.Events(1)
	if ev := evs[0]; ev.ID != "given" || ev.Time.Before(now.Add(-time.Second)) || ev.Time.After(time.Now()) {
		t.Errorf("newest event %+v: want its own ID and the time it was recorded", ev)
	}
	if err := os.Chmod(filepath.Join(e.Dir, "events.jsonl"), 0); err == nil && os.Geteuid() != 0 {
		if _, err := e.Events(0); err == nil || !strings.HasPrefix(err.Error(), "read events: ") {
			t.Errorf("an unreadable log: %v", err)
		}
	}
}

// TestEventsLongLine: one event longer than the scanner's 1 MiB buffer
// must not hide the events after it.
func TestEventsLongLine(t *testing.T) {
	stateHome(t)
	e, _ := ForEnv("shop", stack.Dev)
	for i, detail := range []string{"first", strings.Repeat("x", 1<<20), "third"} {
		if err := e.RecordEvent(store.Event{Time: t0.Add(time.Duration(i) * time.Minute), Action: "swap", Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := e.Events(0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Detail[:min(5, len(ev.Detail))])
	}
	if diff := cmp.Diff([]string{"third", "xxxxx", "first"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWriteErrors(t *testing.T) {
	root := stateHome(t)
	p, err := LoadPushes() // no record yet
	if err != nil {
		t.Fatalf("LoadPushes: %v", err)
	}
	// A file where the state folder should be: no folder can be made in
	// it, even by root.
	if err := os.WriteFile(root, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, _ := ForEnv("shop", stack.Dev)
	if err := e.RecordSwap(SwapRecord{Job: "core.api"}); err == nil || !strings.HasPrefix(err.Error(), "record the swap of core.api: ") {
		t.Errorf("RecordSwap: %v", err)
	}
	if err := e.RecordEvent(store.Event{Action: "up"}); err == nil || !strings.HasPrefix(err.Error(), "record event: ") {
		t.Errorf("RecordEvent: %v", err)
	}
	p.Set("https://cjob.example.com", "/srv/jobs.yml", 3)
	if err := p.Save(); err == nil || !strings.HasPrefix(err.Error(), "remember the pushed version in "+filepath.Join(root, "pushed.json")+": ") {
		t.Errorf("Save: %v", err)
	}
	// Reading is an error too, not an empty record: pushing without it
	// would turn the base check off.
	if _, err := LoadPushes(); err == nil || !strings.Contains(err.Error(), "(fix or remove it, or give --base)") {
		t.Errorf("LoadPushes: %v", err)
	}
	if _, err := e.Swaps(); err != nil {
		t.Errorf("Swaps: %v; a folder that cannot exist holds no swaps", err)
	}
}

func TestPushes(t *testing.T) {
	root := stateHome(t)
	work := t.TempDir()
	t.Chdir(work)
	p, err := LoadPushes()
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Base("https://a.example.com", "jobs.yml"); ok || v != 0 {
		t.Errorf("Base with no record: %d, %v", v, ok)
	}
	p.Set("https://a.example.com", "jobs.yml", 7) // relative: made absolute
	p.Set("https://a.example.com", "/srv/other.yml", 2)
	p.Set("https://b.example.com", filepath.Join(work, "jobs.yml"), 40)
	p.Set("https://a.example.com", "./sub/../jobs.yml", 8) // the same file: replaces 7
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}

	again, err := LoadPushes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		server, file string
		want         int64
		ok           bool
	}{
		{"https://a.example.com", "jobs.yml", 8, true},
		{"https://a.example.com", filepath.Join(work, "jobs.yml"), 8, true},
		{"https://a.example.com", "/srv/other.yml", 2, true},
		{"https://b.example.com", "jobs.yml", 40, true},
		{"https://b.example.com", "/srv/other.yml", 0, false},
		{"https://c.example.com", "jobs.yml", 0, false},
	} {
		if v, ok := again.Base(c.server, c.file); v != c.want || ok != c.ok {
			t.Errorf("Base(%s, %s) = %d, %v; want %d, %v", c.server, c.file, v, ok, c.want, c.ok)
		}
	}
	path := filepath.Join(root, "pushed.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"store:https://a.example.com " + filepath.Join(work, "jobs.yml"): 8,
		"store:https://a.example.com /srv/other.yml":                     2,
		"store:https://b.example.com " + filepath.Join(work, "jobs.yml"): 40,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", path, fi.Mode(), err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.tmp left behind: %v", path, err)
	}
}

func TestPushesCorrupt(t *testing.T) {
	root := stateHome(t)
	path := filepath.Join(root, "pushed.json")
	for _, c := range []struct {
		name, content string
	}{
		{"truncated", `{"https://a /jobs.yml": `},
		{"not a map of versions", `{"https://a /jobs.yml": "seven"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.MkdirAll(root, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := LoadPushes()
			if p != nil || err == nil {
				t.Fatalf("LoadPushes: %v, %v; want an error", p, err)
			}
			for _, s := range []string{"the record of pushed versions " + path + ": ", "(fix or remove it, or give --base)"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: a file without read permission can still be read")
		}
		os.WriteFile(path, []byte(`{}`), 0o600)
		os.Chmod(path, 0)
		if _, err := LoadPushes(); err == nil || !strings.Contains(err.Error(), "fix or remove it") {
			t.Errorf("LoadPushes of an unreadable record: %v", err)
		}
	})
}

func TestSaveReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: root writes into a read-only folder, so Save cannot be made to fail this way (TestWriteErrors covers a folder that cannot be made)")
	}
	root := stateHome(t)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o700) })
	p, err := LoadPushes()
	if err != nil {
		t.Fatal(err)
	}
	p.Set("https://a.example.com", "/srv/jobs.yml", 1)
	err = p.Save()
	if err == nil || !strings.HasPrefix(err.Error(), "remember the pushed version in "+filepath.Join(root, "pushed.json")+": ") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Save into a read-only folder: %v", err)
	}
}

package converge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/store"
)

// The dev environment keeps a little state of its own beside the engine's
// labels, for `cjob dev ui`: the last swap of each job (folder, image,
// timings, build log) and an event log of what was done to the stack.

// StateDir is the state folder of a project's environment:
// $XDG_STATE_HOME/cjob/<project>-<env> (default ~/.local/state).
func StateDir(project, env string) string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(h, ".local", "state")
	}
	return filepath.Join(dir, "cjob", project+"-"+env)
}

// SwapRecord is the last swap of a job.
type SwapRecord struct {
	Job      string        `json:"job"`
	Dir      string        `json:"dir"`
	Image    string        `json:"image"`
	At       time.Time     `json:"at"`
	Build    time.Duration `json:"build_ns"`
	Total    time.Duration `json:"total_ns"`
	Reused   bool          `json:"reused"`
	BuildLog string        `json:"build_log"`
	Err      string        `json:"error,omitempty"`
}

var stateMu sync.Mutex

// RecordSwap keeps r as the job's last swap, and logs it as an event.
// Failing to write state never fails a swap.
func RecordSwap(project string, r SwapRecord) {
	dir := StateDir(project, "dev")
	if dir == "" {
		return
	}
	stateMu.Lock()
	defer stateMu.Unlock()
	if err := os.MkdirAll(filepath.Join(dir, "swaps"), 0o700); err != nil {
		return
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	tmp := filepath.Join(dir, "swaps", r.Job+".json.tmp")
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, filepath.Join(dir, "swaps", r.Job+".json"))
	}
	e := store.Event{Time: r.At, Action: "swap", Target: r.Job, Result: "ok",
		Detail: "from " + r.Dir + ": " + r.Image + " in " + r.Total.Round(time.Millisecond).String()}
	if r.Err != "" {
		e.Result, e.Detail = "failed", "from "+r.Dir+": "+firstLine(r.Err)
	}
	appendEvent(dir, e)
}

// SwapRecords are the last swap of every job that has one.
func SwapRecords(project string) map[string]SwapRecord {
	out := map[string]SwapRecord{}
	dir := StateDir(project, "dev")
	files, _ := filepath.Glob(filepath.Join(dir, "swaps", "*.json"))
	for _, f := range files {
		var r SwapRecord
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &r) == nil {
			out[r.Job] = r
		}
	}
	return out
}

// RecordEvent appends an event to the environment's log (who defaults to
// the user).
func RecordEvent(project, env string, e store.Event) {
	dir := StateDir(project, env)
	if dir == "" {
		return
	}
	stateMu.Lock()
	defer stateMu.Unlock()
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	appendEvent(dir, e)
}

func appendEvent(dir string, e store.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Who == "" {
		e.Who = os.Getenv("USER")
	}
	if e.ID == "" {
		e.ID = store.EventID(e.Time)
	}
	f, err := os.OpenFile(filepath.Join(dir, "events.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(e)
	f.Write(append(b, '\n'))
}

// Events are the environment's recorded events, newest first.
func Events(project, env string, limit int) []store.Event {
	b, err := os.ReadFile(filepath.Join(StateDir(project, env), "events.jsonl"))
	if err != nil {
		return nil
	}
	var out []store.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e store.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

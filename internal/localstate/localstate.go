// Package localstate is what cjob remembers on this machine, beside the
// engines' labels (which stay the record of what runs): per dev or staging
// environment, the last swap of each job and an event log for the UI; and
// per server and jobs file, the version last pushed from here (the base of
// the next push). It lives under $XDG_STATE_HOME/cjob (default
// ~/.local/state/cjob). Every read and write returns its error: the
// callers decide whether a failure stops them or is only said.
package localstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
)

// Root is the folder of cjob's state on this machine.
func Root() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cjob's state folder: %w (set XDG_STATE_HOME)", err)
		}
		dir = filepath.Join(h, ".local", "state")
	}
	return filepath.Join(dir, "cjob"), nil
}

// mu serialises writes from one process; files are replaced atomically or
// appended to, so other processes see whole records.
var mu sync.Mutex

// writeFile replaces path with b atomically.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Env is the state of one project's environment.
type Env struct {
	Dir string // <root>/<project>-<env>
}

// ForEnv is the state of project's environment env.
func ForEnv(project string, env stack.Env) (Env, error) {
	root, err := Root()
	if err != nil {
		return Env{}, err
	}
	return Env{Dir: filepath.Join(root, project+"-"+env.String())}, nil
}

// SwapRecord is the last swap of a job (`cjob dev swap`).
type SwapRecord struct {
	Job    string        `json:"job"`
	Dir    string        `json:"dir"`
	Image  string        `json:"image"`
	At     time.Time     `json:"at"`
	Build  time.Duration `json:"build_ns"`
	Total  time.Duration `json:"total_ns"`
	Reused bool          `json:"reused"`
	// Live: the artefact was put into the running container (no image
	// was built); Image is still the image the container was made from.
	Live     bool   `json:"live,omitempty"`
	BuildLog string `json:"build_log"`
	Err      string `json:"error,omitempty"`
}

// RecordSwap keeps r as its job's last swap and logs it as an event.
func (e Env) RecordSwap(r SwapRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	mu.Lock()
	err = writeFile(filepath.Join(e.Dir, "swaps", r.Job+".json"), b)
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("record the swap of %s: %w", r.Job, err)
	}
	ev := store.Event{Time: r.At, Action: "swap", Target: r.Job, Result: "ok",
		Detail: "from " + r.Dir + ": " + r.Image + " in " + r.Total.Round(time.Millisecond).String()}
	if r.Err != "" {
		ev.Result, ev.Detail = "failed", "from "+r.Dir+": "+firstLine(r.Err)
	}
	return e.RecordEvent(ev)
}

// Swaps are the last swap of every job that has one. A record that cannot
// be read is an error naming its file.
func (e Env) Swaps() (map[string]SwapRecord, error) {
	out := map[string]SwapRecord{}
	files, err := filepath.Glob(filepath.Join(e.Dir, "swaps", "*.json"))
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, f := range files {
		var r SwapRecord
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("swap record %s: %w", f, err))
			continue
		}
		out[r.Job] = r
	}
	return out, errors.Join(errs...)
}

// RecordEvent appends an event to the environment's log (its time
// defaults to now, who to $USER).
func (e Env) RecordEvent(ev store.Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Who == "" {
		ev.Who = os.Getenv("USER")
	}
	if ev.ID == "" {
		ev.ID = store.EventID(ev.Time)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := os.MkdirAll(e.Dir, 0o700); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(e.Dir, "events.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("record event: %w", err)
	}
	return f.Close()
}

// Events are the environment's events, newest first (at most limit; 0:
// all). No log yet is no events; a line that does not parse is skipped.
func (e Env) Events(limit int) ([]store.Event, error) {
	b, err := os.ReadFile(filepath.Join(e.Dir, "events.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []store.Event
	for line := range bytes.Lines(b) {
		var ev store.Event
		if json.Unmarshal(line, &ev) == nil {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Pushes are the versions last pushed (or seen) from this machine, per
// store (the server's store identity, so a replaced store at the same
// address starts afresh) and jobs file: the base of the next push, so that
// a push over someone else's newer version is refused.
type Pushes struct {
	path string
	m    map[string]int64
}

// LoadPushes reads the record; none yet is an empty one. A record that
// cannot be read is an error: pushing without it would turn the check off.
func LoadPushes() (*Pushes, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	p := &Pushes{path: filepath.Join(root, "pushed.json"), m: map[string]int64{}}
	b, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &p.m)
	}
	if err != nil {
		return nil, fmt.Errorf("the record of pushed versions %s: %w (fix or remove it, or give --base)", p.path, err)
	}
	return p, nil
}

func pushKey(store, file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	return "store:" + store + " " + file
}

// Base is the version last pushed from file to the store.
func (p *Pushes) Base(store, file string) (int64, bool) {
	v, ok := p.m[pushKey(store, file)]
	return v, ok
}

// Set remembers version v as the last pushed from file to the store.
func (p *Pushes) Set(store, file string, v int64) { p.m[pushKey(store, file)] = v }

// Save writes the record.
func (p *Pushes) Save() error {
	b, err := json.MarshalIndent(p.m, "", "  ")
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := writeFile(p.path, b); err != nil {
		return fmt.Errorf("remember the pushed version in %s: %w", p.path, err)
	}
	return nil
}

package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// runTool runs a host build tool in dir, its output going to log. what
// names the step in messages ("go build"). A failure returns an error
// carrying the output's end (the compiler's errors), e.g.
// "go build in ./src failed:\n./main.go:12:2: undefined: foo".
func runTool(ctx context.Context, log io.Writer, dir string, env []string, what, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%s in %s: %s is not on PATH", what, display(dir), name)
	}
	fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	tail := newTail(60)
	w := io.MultiWriter(log, tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out := tail.String()
		if out == "" {
			out = err.Error()
		}
		return fmt.Errorf("%s in %s failed:\n%s", what, display(dir), out)
	}
	return nil
}

// toolID identifies the host tool a template runs (its path, size and
// modification time), so a new toolchain makes a new content hash. It is
// "" when the tool is not on PATH.
func toolID(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	fi, err := os.Stat(p)
	if err != nil {
		return p
	}
	return fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano())
}

// goEnv are the environment variables that change what `go build` makes.
var goEnv = []string{"GOARCH", "GOAMD64", "GOARM", "GOARM64", "GOFLAGS", "GOEXPERIMENT", "GOTOOLCHAIN", "GOWORK"}

// packageJSON is what the node template reads from package.json.
type packageJSON struct {
	Main    string            `json:"main"`
	Scripts map[string]string `json:"scripts"`
}

// readPackageJSON reads dir/package.json.
func readPackageJSON(dir string) (packageJSON, error) {
	var p packageJSON
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s: %w", display(filepath.Join(dir, "package.json")), err)
	}
	return p, nil
}

// pickJar chooses the application jar among candidates: the largest (a
// shaded or Spring Boot jar is larger than the thin one beside it).
func pickJar(candidates []string) (string, error) {
	best, size := "", int64(-1)
	for _, j := range candidates {
		fi, err := os.Stat(j)
		if err != nil {
			return "", err
		}
		if fi.Size() > size {
			best, size = j, fi.Size()
		}
	}
	if best == "" {
		return "", errors.New("no jar")
	}
	return best, nil
}

// tail keeps the last lines written to it, without terminal escapes.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func newTail(lines int) *tail { return &tail{max: lines} }

// Write keeps p's complete lines (and a pending partial one).
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(t.part) < 4096 {
				t.part = append(t.part, p[:min(len(p), 4096-len(t.part))]...)
			}
			break
		}
		t.push(string(append(t.part, p[:i]...)))
		t.part = t.part[:0]
		p = p[i+1:]
	}
	return n, nil
}

// ansi matches terminal escape sequences (colours), which some tools write
// even to a pipe.
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")

func (t *tail) push(line string) {
	line = ansi.ReplaceAllString(strings.TrimRight(line, "\r"), "")
	if len(t.lines) == t.max {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:t.max-1]
	}
	t.lines = append(t.lines, line)
}

// String returns the kept lines, trimmed of blank lines at either end.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.part) > 0 {
		lines = append(lines[:len(lines):len(lines)], ansi.ReplaceAllString(string(t.part), ""))
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

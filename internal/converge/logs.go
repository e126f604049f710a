package converge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/stack"
)

// LogOptions tune Logs.
type LogOptions struct {
	Jobs       []string // full job names; empty means all
	Follow     bool
	Tail       string
	Timestamps bool
	Color      bool
}

var prefixColors = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// LogReader is what Logs needs of an engine.
type LogReader interface {
	Observer
	Logs(ctx context.Context, id, tail string, follow, timestamps bool, w io.Writer) error
}

// Logs writes the logs of the dev stack's tasks, each line prefixed with
// its job and task. Without Follow, lines of all tasks are merged in time
// order; with Follow, they are interleaved as they come.
func Logs(ctx context.Context, eng LogReader, project string, opts LogOptions, w io.Writer) error {
	obs, err := eng.Observe(ctx, project, devenv.Env, "")
	if err != nil {
		return err
	}
	return logs(ctx, func(string) LogReader { return eng }, obs, devenv.Env, opts, w)
}

// PoolLogs is Logs across every engine of a staging pool.
func PoolLogs(ctx context.Context, pool *Pool, project string, opts LogOptions, w io.Writer) error {
	obs, err := pool.Observe(ctx, project)
	if err != nil {
		return err
	}
	return logs(ctx, func(name string) LogReader { return pool.Set[name].Engine }, obs, stack.Staging, opts, w)
}

func logs(ctx context.Context, engineOf func(string) LogReader, obs *stack.Observed, env stack.Env, opts LogOptions, w io.Writer) error {
	want := map[string]bool{}
	for _, j := range opts.Jobs {
		want[j] = true
	}
	var cs []*stack.Container
	width := 0
	for _, c := range obs.Containers {
		if c.Kind() != stack.KindTask || (len(want) > 0 && !want[c.Labels[stack.LabelJob]]) {
			continue
		}
		cs = append(cs, c)
		width = max(width, len(c.Key()))
	}
	if len(cs) == 0 {
		return fmt.Errorf("no containers to show logs of; is the %s stack up? (`cjob %s ps`)", env, env)
	}
	prefix := func(i int, c *stack.Container) string {
		p := fmt.Sprintf("%-*s | ", width, c.Key())
		if opts.Color {
			p = "\x1b[" + prefixColors[i%len(prefixColors)] + "m" + p + "\x1b[0m"
		}
		return p
	}
	tail := opts.Tail
	if tail == "" {
		tail = "all"
	}
	if !opts.Follow {
		type line struct {
			ts   time.Time // the engine's timestamp; lines without one keep their place
			text string
		}
		var lines []line
		for i, c := range cs {
			var buf bytes.Buffer
			if err := engineOf(c.Engine).Logs(ctx, c.ID, tail, false, true, &buf); err != nil {
				return err
			}
			sc := bufio.NewScanner(&buf)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				raw, text, _ := strings.Cut(sc.Text(), " ")
				if opts.Timestamps {
					text = raw + " " + text
				}
				// Engines write RFC 3339 times, fixed-width or not: compare
				// them as times, not as text.
				ts, _ := time.Parse(time.RFC3339Nano, raw)
				lines = append(lines, line{ts, prefix(i, c) + text})
			}
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts.Before(lines[j].ts) })
		for _, l := range lines {
			if _, err := fmt.Fprintln(w, l.text); err != nil {
				return err
			}
		}
		return nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := &prefixWriter{w: w, mu: &mu, prefix: prefix(i, c)}
			if err := engineOf(c.Engine).Logs(ctx, c.ID, tail, true, opts.Timestamps, pw); err != nil && ctx.Err() == nil {
				errs <- err
			}
			pw.flush()
		}()
	}
	wg.Wait()
	close(errs)
	if ctx.Err() != nil {
		return nil
	}
	return <-errs
}

// prefixWriter writes whole lines, each with a prefix, under a shared lock.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.mu.Lock()
		_, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
		if err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.mu.Unlock()
		p.buf = nil
	}
}

package apply

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/trace"
)

// Waiter judges whether a started task is ready.
type Waiter struct {
	Engine  Engine
	Network string
	// Probe makes HTTP and TCP checks from cjob's side, at the sandbox's
	// address. nil: a task that joins a host sandbox is checked from here
	// when the engine's network is routable from this machine (a local
	// Linux engine), else from inside the sandbox, through the engine (an
	// exec of cjob-sandbox: Desktop, a VM, a remote engine); any other unit
	// with health.Probe.
	Probe Prober
	Now   func() time.Time // nil: time.Now
	// Call wraps each engine call (the executor bounds parallelism with
	// it); nil calls directly.
	Call func(ctx context.Context, f func() error) error
	// Working reports progress text ("Waiting healthy"); may be nil.
	Working func(text string)
}

// WaitTask waits until the started task is ready: it passes its check (or,
// with none, is running), or, for a one-shot task, has exited 0. sandboxIP
// is the address of the task's host sandbox, where HTTP and TCP checks go.
// It returns the text of the final state ("healthy", "listening",
// "completed", "running").
func (w Waiter) WaitTask(ctx context.Context, u *stack.Unit, id, sandboxIP string) (string, error) {
	inside := w.Probe == nil && u.Spec.JoinSandbox != "" && u.Health != nil && len(u.Health.Cmd) == 0
	if inside && sandboxIP != "" && Routable(ctx, w.Network, sandboxIP) {
		inside = false // faster from here than an exec per task
	}
	if w.Probe == nil {
		w.Probe = health.Probe
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Call == nil {
		w.Call = func(_ context.Context, f func() error) error { return f() }
	}
	if w.Working == nil {
		w.Working = func(string) {}
	}
	if u.Oneshot {
		return w.waitExit(ctx, id)
	}
	if u.Health == nil {
		return "running", nil
	}
	w.Working("Waiting healthy")
	if inside {
		return w.waitInside(ctx, u, id)
	}
	c := u.Health
	start := w.Now()
	deadline := start.Add(health.Deadline(c))
	lastState := start
	var lastErr error
	for attempt := 0; ; attempt++ {
		// Check the container is still alive, at most twice a second.
		if attempt == 0 || w.Now().Sub(lastState) >= 500*time.Millisecond {
			lastState = w.Now()
			st, err := w.inspect(ctx, id)
			if err != nil {
				return "", err
			}
			if st.State == stack.StateExited {
				return "", exitedEarly(st)
			}
		}
		var err error
		if len(c.Cmd) > 0 {
			var code int
			var out string
			code, out, err = w.Engine.Exec(ctx, id, c.Cmd)
			if err == nil && code != 0 {
				err = fmt.Errorf("%s exited %d: %s", strings.Join(c.Cmd, " "), code, strings.TrimSpace(out))
			}
		} else {
			if sandboxIP == "" {
				return "", fmt.Errorf("no address to check %s at: host sandbox %s has none on network %s", u.Key, u.Host, w.Network)
			}
			err = w.Probe(ctx, c, sandboxIP)
		}
		if err == nil {
			if c.Implicit {
				return "listening", nil
			}
			return "healthy", nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if w.Now().After(deadline) {
			return "", fmt.Errorf("not healthy after %s: %v", roundDuration(health.Deadline(c)), lastErr)
		}
		select {
		case <-time.After(health.Backoff(attempt, c.Interval)):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Target is what a check dials from inside the task's network namespace:
// http://127.0.0.1:PORT/PATH or tcp://127.0.0.1:PORT.
func Target(c *stack.Check) string {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))
	if c.HTTP != "" {
		return "http://" + addr + c.HTTP
	}
	return "tcp://" + addr
}

// WaitCommand is the cjob-sandbox command that waits, inside a host
// sandbox, until the check passes or its deadline is past.
func WaitCommand(c *stack.Check) []string {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	interval := c.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return []string{"/cjob-sandbox", "wait", "--timeout", timeout.String(), "--interval", interval.String(),
		"--deadline", health.Deadline(c).String(), Target(c)}
}

// waitInside waits for the task's check from inside its host sandbox: one
// exec of `cjob-sandbox wait`, which retries there, while the task's own
// state is watched here (a task that exits fails at once).
func (w Waiter) waitInside(ctx context.Context, u *stack.Unit, id string) (string, error) {
	c := u.Health
	ectx, cancel := context.WithTimeout(ctx, health.Deadline(c)+30*time.Second)
	defer cancel()
	type result struct {
		code int
		out  string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, out, err := w.Engine.Exec(ectx, u.Spec.JoinSandbox, WaitCommand(c))
		done <- result{code, out, err}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			switch {
			case r.err != nil:
				return "", fmt.Errorf("check through host sandbox %s: %w", u.Spec.JoinSandbox, r.err)
			case r.code != 0:
				return "", fmt.Errorf("not healthy after %s: %s", roundDuration(health.Deadline(c)), lastLine(r.out, c))
			case c.Implicit:
				return "listening", nil
			}
			return "healthy", nil
		case <-tick.C:
			st, err := w.inspect(ctx, id)
			if err != nil {
				return "", err
			}
			if st.State == stack.StateExited {
				return "", exitedEarly(st)
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// CheckFailure is the reason `cjob-sandbox wait` gave for a check that
// did not pass, from its output.
func CheckFailure(out string, c *stack.Check) string { return lastLine(out, c) }

// lastLine is the reason cjob-sandbox wait gave ("FAIL TARGET: why").
func lastLine(out string, c *stack.Check) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if rest, ok := strings.CutPrefix(out, "FAIL "+Target(c)+": "); ok {
		return rest
	}
	if out == "" {
		return "no answer"
	}
	return out
}

func exitedEarly(st stack.Status) error {
	msg := fmt.Sprintf("exited with code %d before it was healthy", st.ExitCode)
	if st.OOM {
		msg += " (out of memory)"
	}
	return errors.New(msg)
}

func (w Waiter) waitExit(ctx context.Context, id string) (string, error) {
	w.Working("Running to completion")
	for attempt := 0; ; attempt++ {
		st, err := w.inspect(ctx, id)
		if err != nil {
			return "", err
		}
		if st.State == stack.StateExited {
			if st.ExitCode != 0 {
				return "", fmt.Errorf("one-shot job exited with code %d", st.ExitCode)
			}
			return "completed", nil
		}
		select {
		case <-time.After(health.Backoff(attempt, 500*time.Millisecond)):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (w Waiter) inspect(ctx context.Context, id string) (stack.Status, error) {
	var st stack.Status
	err := w.Call(ctx, func() error {
		var err error
		st, err = w.Engine.Inspect(ctx, id, w.Network)
		return err
	})
	return st, err
}

// ready waits until the started unit is ready and reports it: a sandbox
// has its address; a task is ready as WaitTask says.
func (r *runner) ready(ctx context.Context, eng Engine, n *node, verb string) (err error) {
	o := n.op
	u := o.Unit
	ctx, sp := trace.Start(ctx, "ready")
	defer func() { sp.EndErr(err) }()
	w := Waiter{
		Engine: eng, Network: r.p.Stack.Network, Probe: r.opts.Probe, Now: r.opts.Now, Call: r.call,
		Working: func(text string) { r.working(o, text) },
	}
	if u.Kind == stack.KindSandbox {
		st, err := w.inspect(ctx, n.id)
		if err != nil {
			return err
		}
		if st.State != stack.StateRunning {
			return fmt.Errorf("host sandbox %s is %s", u.Host, st.State)
		}
		r.mu.Lock()
		r.ips[u.Key] = st.IP
		r.mu.Unlock()
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: verb + cause(o.Cause)})
		return nil
	}
	ip := u.Probe
	if ip == "" {
		r.mu.Lock()
		ip = r.ips[u.Sandbox]
		r.mu.Unlock()
	}
	state, err := w.WaitTask(ctx, u, n.id, ip)
	if err != nil {
		return err
	}
	text := verb + ", " + state
	switch state {
	case "running":
		text = verb
	case "completed":
		text = "Completed"
	}
	r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: text + cause(o.Cause)})
	return nil
}

func cause(c string) string {
	if c == "" || c == "new" {
		return ""
	}
	return " (" + c + ")"
}

// roundDuration is d as people read it: whole seconds, or milliseconds
// below a second.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// routes caches Routable's answer per network: the whole network is
// routable from here, or none of it.
var routes sync.Map // network name -> bool

// Routable reports whether this machine reaches ip, an address on the
// engine's network: it dials a port nothing listens on, and a refusal
// means the packet got there (a local Linux engine); a timeout or "no
// route" means checks must go through the engine (Docker Desktop, colima,
// Podman machine, a remote engine, cjob in a network namespace of its own).
// The answer is kept for the network.
func Routable(ctx context.Context, network, ip string) bool {
	if v, ok := routes.Load(network); ok {
		return v.(bool)
	}
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", net.JoinHostPort(ip, "1"))
	ok := err == nil || errors.Is(err, syscall.ECONNREFUSED)
	if c != nil {
		c.Close()
	}
	if ctx.Err() == nil {
		routes.Store(network, ok)
	}
	return ok
}

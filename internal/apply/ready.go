package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
)

// ready waits until the started unit is ready: a sandbox has its address;
// a task passes its check (or, with none, is running); a one-shot task has
// exited 0.
func (r *runner) ready(ctx context.Context, n *node, verb string) error {
	o := n.op
	u := o.Unit
	net := r.p.Stack.Network
	if u.Kind == stack.KindSandbox {
		st, err := r.inspect(ctx, n.id)
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
	if u.Oneshot {
		return r.waitExit(ctx, n, verb)
	}
	if u.Health == nil {
		// Nothing to check but that it keeps running a moment.
		r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: verb + cause(o.Cause)})
		return nil
	}
	r.working(o, "Waiting healthy")
	c := u.Health
	start := r.opts.Now()
	deadline := start.Add(health.Deadline(c))
	lastState := start
	var lastErr error
	for attempt := 0; ; attempt++ {
		// Check the container is still alive, at most twice a second.
		if attempt == 0 || r.opts.Now().Sub(lastState) >= 500*time.Millisecond {
			lastState = r.opts.Now()
			st, err := r.inspect(ctx, n.id)
			if err != nil {
				return err
			}
			if st.State == stack.StateExited {
				msg := fmt.Sprintf("exited with code %d before it was healthy", st.ExitCode)
				if st.OOM {
					msg += " (out of memory)"
				}
				return fmt.Errorf("%s", msg)
			}
		}
		var err error
		if len(c.Cmd) > 0 {
			var code int
			var out string
			code, out, err = r.eng.Exec(ctx, n.id, c.Cmd)
			if err == nil && code != 0 {
				err = fmt.Errorf("%s exited %d: %s", strings.Join(c.Cmd, " "), code, strings.TrimSpace(out))
			}
		} else {
			r.mu.Lock()
			ip := r.ips[u.Sandbox]
			r.mu.Unlock()
			if ip == "" {
				return fmt.Errorf("host sandbox %s has no address on network %s", u.Host, net)
			}
			err = r.opts.Probe(ctx, c, ip)
		}
		if err == nil {
			text := "Healthy"
			if c.Implicit {
				text = "Listening"
			}
			r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: verb + ", " + strings.ToLower(text) + cause(o.Cause)})
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.opts.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %v", health.Deadline(c).Round(time.Second), lastErr)
		}
		select {
		case <-time.After(health.Backoff(attempt, c.Interval)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *runner) waitExit(ctx context.Context, n *node, verb string) error {
	o := n.op
	r.working(o, "Running to completion")
	for attempt := 0; ; attempt++ {
		st, err := r.inspect(ctx, n.id)
		if err != nil {
			return err
		}
		if st.State == stack.StateExited {
			if st.ExitCode != 0 {
				return fmt.Errorf("one-shot job exited with code %d", st.ExitCode)
			}
			r.report(progress.Event{Unit: o.Subject, Status: progress.Done, Text: "Completed" + cause(o.Cause)})
			return nil
		}
		select {
		case <-time.After(health.Backoff(attempt, 500*time.Millisecond)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *runner) inspect(ctx context.Context, id string) (engine.Status, error) {
	var st engine.Status
	err := r.call(ctx, func() error {
		var err error
		st, err = r.eng.Inspect(ctx, id, r.p.Stack.Network)
		return err
	})
	return st, err
}

func cause(c string) string {
	if c == "" || c == "new" {
		return ""
	}
	return " (" + c + ")"
}

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

// Runner is what Run needs of an engine.
type Runner interface {
	ImageMaker
	Create(ctx context.Context, r stack.CreateRequest) (string, error)
	Start(ctx context.Context, id string) error
	Inspect(ctx context.Context, id, networkName string) (stack.Status, error)
	Logs(ctx context.Context, id string, tail string, follow bool, timestamps bool, w io.Writer) error
	Remove(ctx context.Context, id string) error
}

// Run runs one cjob-sandbox command (args after the program's name) in a
// one-off container of the sandbox image on eng, named prefix-<time> and
// carrying labels, and returns its exit code and output; the container is
// removed. With hostNetwork it runs in the
// engine host's network (it dials what listens there at 127.0.0.1), else
// with no network. Only the engine's API is used: nothing needs a route to
// the engine's host.
func Run(ctx context.Context, eng Runner, prefix string, labels map[string]string, args []string, hostNetwork bool) (int, string, error) {
	ref, err := Ensure(ctx, eng)
	if err != nil {
		return -1, "", err
	}
	req := stack.CreateRequest{
		Name:   prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Spec:   stack.Spec{Image: ref, Command: args, HostNetwork: hostNetwork},
		Labels: labels,
	}
	if !hostNetwork {
		req.Network = "none"
	}
	id, err := eng.Create(ctx, req)
	if err != nil {
		return -1, "", err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = eng.Remove(rctx, id)
	}()
	if err := eng.Start(ctx, id); err != nil {
		return -1, "", err
	}
	var st stack.Status
	for {
		if st, err = eng.Inspect(ctx, id, ""); err != nil {
			return -1, "", err
		}
		if st.State != stack.StateRunning && st.State != stack.StateCreated {
			break
		}
		select {
		case <-ctx.Done():
			return -1, "", fmt.Errorf("cjob-sandbox %s did not finish: %w", strings.Join(args, " "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	var b bytes.Buffer
	if err := eng.Logs(ctx, id, "all", false, false, &b); err != nil {
		return -1, "", err
	}
	out := strings.TrimSpace(b.String())
	if st.State != stack.StateExited {
		return -1, out, fmt.Errorf("cjob-sandbox %s ended %s with code %d", strings.Join(args, " "), st.State, st.ExitCode)
	}
	return st.ExitCode, out, nil
}

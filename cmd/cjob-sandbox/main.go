// Command cjob-sandbox is what cjob runs inside a dev stack: the host
// sandbox (PID 1 of one production host's namespaces, reaping the zombies
// its tasks leave) and the tools cjob runs there through the engine (an
// exec), so that nothing cjob does needs a route from its own machine into
// the containers' networks: probes and waits for health checks, removing
// files from a task for `dev swap --sync`, and the static template's file
// server.
//
// It is built for linux/amd64 and linux/arm64 (`make payloads`) and carried
// inside every cjob build (internal/sandbox/payload); cjob picks the one the
// engine's architecture runs and imports it as a one-file image.
//
//	cjob-sandbox                                       run as the host sandbox
//	cjob-sandbox probe [--timeout 2s] TARGET...        http://HOST:PORT/PATH or tcp://HOST:PORT, once each
//	cjob-sandbox wait [--timeout 2s] [--interval 2s] [--deadline 60s] [--stdin] TARGET
//	cjob-sandbox rm --container ID PATH...             remove paths in a task of this sandbox
//	cjob-sandbox serve-static DIR [--listen :8080]     serve a folder over HTTP
//	cjob-sandbox relay --hosts H[,H...] PORT=PORT...   forward ports to the first host that answers
//	cjob-sandbox kernel                                what the engine's kernel has loaded: ipvs=yes|no, vxlan=yes|no
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cjob/cjob/internal/sandbox/inside"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cjob-sandbox:", err)
		os.Exit(1)
	}
}

// flags splits args into --name value pairs and the rest.
func flags(args []string, names ...string) (map[string]string, []string, error) {
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	out := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(name, "=")
		if !known[name] {
			return nil, nil, fmt.Errorf("unknown flag --%s", name)
		}
		if name == "stdin" {
			out[name] = "true"
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out, rest, nil
}

func duration(f map[string]string, name string, def time.Duration) (time.Duration, error) {
	v, ok := f[name]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s %q: want a duration such as 2s", name, v)
	}
	return d, nil
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "sandbox" {
		return inside.Run(os.Stdout)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "probe":
		f, targets, err := flags(args, "timeout")
		if err != nil {
			return err
		}
		timeout, err := duration(f, "timeout", 2*time.Second)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			return errors.New("probe: name at least one target (http://HOST:PORT/PATH or tcp://HOST:PORT)")
		}
		return inside.Probe(context.Background(), os.Stdout, targets, timeout)
	case "wait":
		f, targets, err := flags(args, "timeout", "interval", "deadline", "stdin")
		if err != nil {
			return err
		}
		var w inside.Wait
		if w.Timeout, err = duration(f, "timeout", 2*time.Second); err != nil {
			return err
		}
		if w.Interval, err = duration(f, "interval", 2*time.Second); err != nil {
			return err
		}
		if w.Deadline, err = duration(f, "deadline", time.Minute); err != nil {
			return err
		}
		if len(targets) != 1 {
			return errors.New("wait: name one target")
		}
		ctx := context.Background()
		if f["stdin"] != "" {
			// cjob closes the exec's stdin when it stops waiting (the
			// task died, or the user pressed Ctrl-C): stop too.
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			go func() {
				io.Copy(io.Discard, os.Stdin)
				cancel()
			}()
		}
		return w.Until(ctx, os.Stdout, targets[0])
	case "rm":
		f, paths, err := flags(args, "container")
		if err != nil {
			return err
		}
		return inside.RemoveInTask(f["container"], paths)
	case "serve-static":
		f, dirs, err := flags(args, "listen")
		if err != nil {
			return err
		}
		if len(dirs) != 1 {
			return errors.New("serve-static: name one folder")
		}
		listen := f["listen"]
		if listen == "" {
			listen = ":8080"
		}
		return inside.ServeStatic(os.Stdout, dirs[0], listen)
	case "relay":
		f, pairs, err := flags(args, "hosts")
		if err != nil {
			return err
		}
		var hosts []string
		if f["hosts"] != "" {
			hosts = strings.Split(f["hosts"], ",")
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		return inside.Relay(ctx, os.Stdout, hosts, pairs)
	case "kernel":
		if len(args) > 0 {
			return errors.New("kernel: takes no arguments")
		}
		return inside.Kernel(os.Stdout, "/")
	}
	return fmt.Errorf("unknown command %q (commands: probe, wait, rm, serve-static, relay, kernel; none runs the sandbox)", cmd)
}

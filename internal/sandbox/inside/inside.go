// Package inside is the code of cmd/cjob-sandbox: what runs inside a dev
// stack, in the namespaces of a host sandbox (or of a template image).
// It is built into a small static program per engine architecture, so it
// uses only the standard library and nothing of cjob's.
package inside

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Run is the sandbox's main loop: reap every child that exits, and exit
// promptly on SIGTERM or SIGINT.
func Run(w io.Writer) error {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	fmt.Fprintln(w, "host sandbox ready")
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			Reap()
		default:
			return nil
		}
	}
	return nil
}

// Reap collects every exited child without blocking.
func Reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Check makes one check of target: an http:// URL answers with a status
// below 400, a tcp://host:port accepts a connection.
func Check(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if addr, ok := strings.CutPrefix(target, "tcp://"); ok {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return fmt.Errorf("%q: want http://HOST:PORT/PATH or tcp://HOST:PORT", target)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// Probe checks each target once, from inside the sandbox's network, and
// writes one line per target to w. It fails if any target does not answer.
func Probe(ctx context.Context, w io.Writer, targets []string, timeout time.Duration) error {
	failed := 0
	for _, t := range targets {
		if err := Check(ctx, t, timeout); err != nil {
			failed++
			fmt.Fprintf(w, "FAIL %s: %v\n", t, err)
			continue
		}
		fmt.Fprintf(w, "ok   %s\n", t)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d targets did not answer", failed, len(targets))
	}
	return nil
}

// Wait checks a target until it answers: the first check at once, then
// after a back-off that grows from 25 ms to Interval, until Deadline.
type Wait struct {
	Timeout  time.Duration // per check
	Interval time.Duration // the longest wait between checks
	Deadline time.Duration // from the first check
}

// ErrNotReady means the target did not answer before the deadline.
var ErrNotReady = errors.New("not ready")

// Until waits for target and writes one line: "ok TARGET after D" or
// "FAIL TARGET: the last error".
func (wt Wait) Until(ctx context.Context, w io.Writer, target string) error {
	start := time.Now()
	deadline := start.Add(wt.Deadline)
	var last error
	for attempt := 0; ; attempt++ {
		last = Check(ctx, target, wt.Timeout)
		if last == nil {
			fmt.Fprintf(w, "ok %s after %s\n", target, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			fmt.Fprintf(w, "FAIL %s: stopped\n", target)
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "FAIL %s: %v\n", target, last)
			return fmt.Errorf("%w after %s: %v", ErrNotReady, wt.Deadline, last)
		}
		d := min(25*time.Millisecond<<min(attempt, 8), wt.Interval)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// ErrNoProcess means no process of the container runs in this sandbox.
var ErrNoProcess = errors.New("no process of the container found in the host sandbox")

// RemoveInTask removes paths from the filesystem of a task that shares this
// sandbox's PID namespace, through /proc/<pid>/root. Images FROM scratch
// hold no rm, so `cjob dev swap --sync` removes files this way. The task is
// found by its container ID in /proc/<pid>/cgroup.
func RemoveInTask(containerID string, paths []string) error {
	pid, err := findPID(containerID)
	if err != nil {
		return err
	}
	root := "/proc/" + pid + "/root"
	var failed []string
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Trim(p, "/") == "" {
			failed = append(failed, p+": not an absolute clean path")
			continue
		}
		if err := os.RemoveAll(root + p); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("remove in %s: %s", containerID[:min(12, len(containerID))], strings.Join(failed, "; "))
	}
	return nil
}

func findPID(containerID string) (string, error) {
	if containerID == "" {
		// Every cgroup file contains "": it would match any process.
		return "", errors.New("no container ID")
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/cgroup")
		if err == nil && strings.Contains(string(b), containerID) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w (%s)", ErrNoProcess, containerID)
}

// ServeStatic serves dir over HTTP on listen, with /healthz answering ok,
// until SIGTERM or SIGINT.
func ServeStatic(w io.Writer, dir, listen string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(w, "serving %s on %s\n", dir, listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// kernelFeatures are the kernel features `cjob-sandbox kernel` reports, in
// the order it prints them, each with the paths (relative to the root) any
// one of which existing means the running kernel has the feature loaded:
// ipvs (IP Virtual Server: Docker Swarm's virtual IPs and ingress routing
// mesh) and vxlan (overlay networks). A container sees the engine host's
// kernel in /sys and /proc, so this answers for the engine, however remote.
var kernelFeatures = []struct {
	Name  string
	Paths []string
}{
	{"ipvs", []string{"sys/module/ip_vs", "proc/net/ip_vs"}},
	{"vxlan", []string{"sys/module/vxlan"}},
}

// Kernel writes one line per kernel feature, "ipvs=yes" or "ipvs=no", as
// seen under root ("/" inside a container; tests give a folder). A module
// the kernel could load but has not loaded reads as no.
func Kernel(w io.Writer, root string) error {
	for _, f := range kernelFeatures {
		has := false
		for _, p := range f.Paths {
			if _, err := os.Stat(filepath.Join(root, p)); err == nil {
				has = true
				break
			}
		}
		word := "no"
		if has {
			word = "yes"
		}
		if _, err := fmt.Fprintf(w, "%s=%s\n", f.Name, word); err != nil {
			return err
		}
	}
	return nil
}

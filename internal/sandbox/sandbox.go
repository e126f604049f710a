// Package sandbox is the host sandbox: the small long-running process that
// owns the network and PID namespaces of one production host in dev. Tasks
// placed on that host join its namespaces, so it is PID 1 for them and reaps
// the zombies their processes leave (images without an init leave many).
//
// The sandbox image is made locally from the running cjob binary itself
// (`cjob sandbox`), so nothing is pulled.
package sandbox

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Run is the sandbox's main loop: reap every child that exits, and exit
// promptly on SIGTERM or SIGINT.
func Run() error {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("host sandbox ready")
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default:
			return nil
		}
	}
	return nil
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// ImageMaker is what Ensure needs of an engine.
type ImageMaker interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	ImportFiles(ctx context.Context, ref string, files []ImageFile, changes []string) error
}

// ImageFile is one file of the sandbox image.
type ImageFile struct {
	Name string
	Mode int64
	Data []byte
}

// ErrDynamicBinary means the cjob binary cannot run in an empty image.
var ErrDynamicBinary = errors.New("cjob binary is dynamically linked")

// Binary reads the running cjob binary and checks that it can run alone in
// an empty image. It returns the bytes and a short content hash.
func Binary() ([]byte, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("find cjob binary: %w", err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		return nil, "", fmt.Errorf("read cjob binary: %w", err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return nil, "", fmt.Errorf("read cjob binary %s: %w (the host sandbox needs a Linux build of cjob)", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, "", fmt.Errorf("%w (%s): the host sandbox image runs it alone, with no libc; build it with CGO_ENABLED=0 (`make build` does)", ErrDynamicBinary, exe)
		}
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:])[:12], nil
}

// ImageRef is the tag of the sandbox image made from a binary with this hash.
func ImageRef(hash string) string { return "cjob-sandbox:" + hash }

// Ensure makes the sandbox image from the running binary unless the engine
// already has it, and returns its reference.
func Ensure(ctx context.Context, m ImageMaker) (string, error) {
	data, hash, err := Binary()
	if err != nil {
		return "", err
	}
	ref := ImageRef(hash)
	ok, err := m.ImageExists(ctx, ref)
	if err != nil {
		return "", err
	}
	if ok {
		return ref, nil
	}
	err = m.ImportFiles(ctx, ref, []ImageFile{{Name: "cjob", Mode: 0o755, Data: data}},
		[]string{`ENTRYPOINT ["/cjob", "sandbox"]`, `LABEL cjob.sandbox=` + hash})
	if err != nil {
		return "", fmt.Errorf("make host sandbox image %s: %w", ref, err)
	}
	return ref, nil
}

// Probe fetches each URL (http://...) or connects to each address
// (tcp://host:port) from inside the sandbox's network and reports one line
// per target to w. It fails if any target does not answer: an HTTP status of
// 400 or more, or a refused connection. It lets a check run from inside the
// stack, where production addresses resolve.
func Probe(ctx context.Context, w io.Writer, targets []string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	failed := 0
	for _, t := range targets {
		var err error
		if addr, ok := strings.CutPrefix(t, "tcp://"); ok {
			var c net.Conn
			c, err = net.DialTimeout("tcp", addr, timeout)
			if err == nil {
				c.Close()
			}
		} else {
			var req *http.Request
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, t, nil)
			if err == nil {
				var resp *http.Response
				resp, err = client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode >= 400 {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
			}
		}
		if err != nil {
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

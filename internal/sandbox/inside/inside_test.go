package inside

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// outputLines splits what Probe wrote into lines, checking that every line
// ends with a newline.
func outputLines(t *testing.T, s string) []string {
	t.Helper()
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		t.Errorf("output does not end with a newline: %q", s)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// statusServer is an HTTP server that answers every request with code.
func statusServer(t *testing.T, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/healthz"
}

// listening is a loopback address that accepts TCP connections.
func listening(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// closedAddr is a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestProbe(t *testing.T) {
	ok200 := statusServer(t, http.StatusOK)
	ok204 := statusServer(t, http.StatusNoContent)
	err404 := statusServer(t, http.StatusNotFound)
	err500 := statusServer(t, http.StatusInternalServerError)
	redirect := httptest.NewServer(http.RedirectHandler(ok200, http.StatusFound))
	t.Cleanup(redirect.Close)
	open := listening(t)
	refused := closedAddr(t)
	refusedLine := fmt.Sprintf("FAIL tcp://%s: dial tcp %s: connect: connection refused", refused, refused)

	tests := []struct {
		name    string
		targets []string
		want    []string // the lines written to w
		wantErr string
	}{
		{
			name:    "http 200 passes",
			targets: []string{ok200},
			want:    []string{"ok   " + ok200},
		},
		{
			name:    "http 204 passes",
			targets: []string{ok204},
			want:    []string{"ok   " + ok204},
		},
		{
			name:    "redirect to a 200 is followed and passes",
			targets: []string{redirect.URL},
			want:    []string{"ok   " + redirect.URL},
		},
		{
			name:    "http 404 fails",
			targets: []string{err404},
			want:    []string{"FAIL " + err404 + ": status 404 Not Found"},
			wantErr: "1 of 1 targets did not answer",
		},
		{
			name:    "http 500 fails",
			targets: []string{err500},
			want:    []string{"FAIL " + err500 + ": status 500 Internal Server Error"},
			wantErr: "1 of 1 targets did not answer",
		},
		{
			name:    "tcp to a listening port passes",
			targets: []string{"tcp://" + open},
			want:    []string{"ok   tcp://" + open},
		},
		{
			name:    "tcp to a closed port fails",
			targets: []string{"tcp://" + refused},
			want:    []string{refusedLine},
			wantErr: "1 of 1 targets did not answer",
		},
		{
			name:    "host:port without tcp:// is taken as a URL and fails",
			targets: []string{"db:5432"},
			want:    []string{`FAIL db:5432: "db:5432": want http://HOST:PORT/PATH or tcp://HOST:PORT`},
			wantErr: "1 of 1 targets did not answer",
		},
		{
			name:    "one line per target, in order, and every target is tried",
			targets: []string{err500, ok200, "tcp://" + refused, "tcp://" + open},
			want: []string{
				"FAIL " + err500 + ": status 500 Internal Server Error",
				"ok   " + ok200,
				refusedLine,
				"ok   tcp://" + open,
			},
			wantErr: "2 of 4 targets did not answer",
		},
		{
			name:    "no targets",
			targets: nil,
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Probe(context.Background(), &out, tt.targets, 5*time.Second)
			if diff := cmp.Diff(tt.want, outputLines(t, out.String())); diff != "" {
				t.Errorf("output lines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbeDeadlines checks that a target which does not answer in time,
// or whose context ends, fails instead of hanging.
func TestProbeDeadlines(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets handlers return

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		want    string // the line written to w, up to the error detail
		detail  string // in the error detail
	}{
		{"timeout", context.Background(), 100 * time.Millisecond, "FAIL " + slow.URL + `: Get "` + slow.URL + `": `, "context deadline exceeded"},
		{"canceled context", canceled, 10 * time.Second, "FAIL " + slow.URL + `: Get "` + slow.URL + `": `, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			err := Probe(tt.ctx, &out, []string{slow.URL}, tt.timeout)
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Probe took %v, want about %v", elapsed, tt.timeout)
			}
			if diff := cmp.Diff("1 of 1 targets did not answer", errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			lines := outputLines(t, out.String())
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) || !strings.Contains(lines[0], tt.detail) {
				t.Errorf("output = %q, want one line starting %q and containing %q", lines, tt.want, tt.detail)
			}
		})
	}
}

// procState is the state letter of /proc/<pid>/stat ('Z' for a zombie),
// or 0 when there is no such process.
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) S ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		t.Fatalf("cannot parse /proc/%d/stat: %q", pid, b)
	}
	return b[i+2]
}

// TestReap checks that reap collects an exited child that nobody waited
// for, as Run does on each SIGCHLD.
func TestReap(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// The child must be single-threaded: Linux shows the leader of a
	// thread group (a Go program, say) as a zombie while its other threads
	// still exit, and wait cannot collect it until they have. Run is told
	// by SIGCHLD, which comes only then.
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no single-threaded program to start: %v", err)
	}
	cmd := exec.Command(truePath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Process.Release()
	deadline := time.Now().Add(10 * time.Second)
	for procState(t, pid) != 'Z' {
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not become a zombie (state %q)", pid, procState(t, pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	Reap()
	if s := procState(t, pid); s != 0 {
		t.Errorf("after reap, child %d is still there in state %q", pid, s)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("Wait after reap succeeded; the child should already have been collected")
	}
	Reap() // nothing left to collect: must return at once
}

func TestRemoveInTaskWithoutTask(t *testing.T) {
	const unknown = "cjob-test-no-such-container-5f1c0e7a"
	tests := []struct {
		name    string
		id      string
		wantErr string
		wantIs  error
	}{
		{"unknown container ID", unknown, "no process of the container found in the host sandbox (" + unknown + ")", ErrNoProcess},
		// An empty ID is in every cgroup file: it must not pick a process.
		{"empty container ID", "", "no container ID", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := findPID(tt.id)
			if pid != "" {
				t.Errorf("findPID(%q) = %q, want no process", tt.id, pid)
			}
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("findPID error (-want +got):\n%s", diff)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}

			keep := filepath.Join(t.TempDir(), "keep")
			if err := os.WriteFile(keep, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			err = RemoveInTask(tt.id, []string{keep})
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("RemoveInTask error (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(keep); err != nil {
				t.Errorf("RemoveInTask failed but touched %s: %v", keep, err)
			}
		})
	}
}

// ownCgroupID is the last element of a cgroup path of this process, which
// findPID can match the way it matches a container ID in a cgroup path.
func ownCgroupID(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("cannot read /proc/self/cgroup: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		if id := filepath.Base(parts[2]); id != "" && id != "/" && id != "." {
			return id
		}
	}
	t.Skipf("this process is in no named cgroup (%q), so there is nothing for findPID to match", b)
	return ""
}

// TestRemoveInTask stands this process's cgroup in for a container: findPID
// finds a process in it, and RemoveInTask removes paths through that
// process's /proc/<pid>/root, which must be this filesystem.
func TestRemoveInTask(t *testing.T) {
	id := ownCgroupID(t)
	pid, err := findPID(id)
	if err != nil {
		t.Fatalf("findPID(%q): %v", id, err)
	}
	cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cg), id) {
		t.Fatalf("findPID(%q) = %s, whose cgroup does not name it:\n%s", id, pid, cg)
	}
	ours, err := os.Stat("/")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.Stat("/proc/" + pid + "/root/")
	if err != nil || !os.SameFile(ours, theirs) {
		t.Skipf("process %s of cgroup %q does not share this root filesystem (%v), so removals cannot be checked here", pid, id, err)
	}

	dir := t.TempDir()
	for _, f := range []string{"file", "tree/a/b", "keep", "dot..dot"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dotdot := dir + "/../" + filepath.Base(dir) + "/keep"
	paths := []string{
		dir + "/file",
		dir + "/tree",     // a directory and all under it
		dir + "/missing",  // already gone: not an error
		"relative/keep",   // refused
		dotdot,            // refused, though it names keep
		dir + "/dot..dot", // refused: any ".." is
	}
	err = RemoveInTask(id, paths)
	wantErr := fmt.Sprintf("remove in %s: relative/keep: not an absolute clean path; %s: not an absolute clean path; %s/dot..dot: not an absolute clean path",
		id[:min(12, len(id))], dotdot, dir)
	if diff := cmp.Diff(wantErr, errText(err)); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if diff := cmp.Diff([]string{"dot..dot", "keep"}, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}

func TestWaitUntil(t *testing.T) {
	t.Run("answers later", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // refused until it listens again
		go func() {
			time.Sleep(150 * time.Millisecond)
			if l2, err := net.Listen("tcp", addr); err == nil {
				t.Cleanup(func() { l2.Close() })
			}
		}()
		var out bytes.Buffer
		err = Wait{Timeout: time.Second, Interval: 50 * time.Millisecond, Deadline: 5 * time.Second}.Until(context.Background(), &out, "tcp://"+addr)
		if err != nil || !strings.HasPrefix(out.String(), "ok tcp://"+addr+" after ") {
			t.Errorf("Until = %v, output %q", err, out.String())
		}
	})
	t.Run("never answers", func(t *testing.T) {
		var out bytes.Buffer
		addr := closedAddr(t)
		start := time.Now()
		err := Wait{Timeout: 100 * time.Millisecond, Interval: 20 * time.Millisecond, Deadline: 200 * time.Millisecond}.Until(context.Background(), &out, "tcp://"+addr)
		if !errors.Is(err, ErrNotReady) || !strings.HasPrefix(out.String(), "FAIL tcp://"+addr+": ") {
			t.Errorf("Until = %v, output %q", err, out.String())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s, past its deadline", d)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		var out bytes.Buffer
		err := Wait{Timeout: 50 * time.Millisecond, Interval: 20 * time.Millisecond, Deadline: time.Minute}.Until(ctx, &out, "tcp://"+closedAddr(t))
		if !errors.Is(err, context.Canceled) || !strings.Contains(out.String(), "stopped") {
			t.Errorf("Until = %v, output %q", err, out.String())
		}
	})
}

func TestParseRoutes(t *testing.T) {
	routes := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	if gw, err := parseRoutes(strings.NewReader(routes)); err != nil || gw != "172.18.0.1" {
		t.Errorf("parseRoutes = %q, %v; want 172.18.0.1", gw, err)
	}
	if _, err := parseRoutes(strings.NewReader("Iface\tDestination\n")); err == nil {
		t.Error("no default route: no error")
	}
}

// TestRelay: connections to the listen port reach the first host that
// answers on the target port; a host that does not answer is skipped.
func TestRelay(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	_, target, _ := net.SplitHostPort(backend.Addr().String())
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	_, listen, _ := net.SplitHostPort(free.Addr().String())
	free.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log strings.Builder
	go Relay(ctx, &log, []string{"nowhere.invalid", "127.0.0.1"}, []string{listen + "=" + target})
	var c net.Conn
	for range 50 {
		if c, err = net.Dial("tcp", "127.0.0.1:"+listen); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if string(b) != "ping" {
		t.Errorf("through the relay: %q, want ping", b)
	}
}

// TestKernel reads the features from a fake root: a module's folder under
// sys/module, or IPVS's table in proc/net, means the kernel has it loaded.
func TestKernel(t *testing.T) {
	tests := []struct {
		name  string
		paths []string // made under the root; a trailing / makes a folder
		want  string
	}{
		{"nothing loaded", nil, "ipvs=no\nvxlan=no\n"},
		{"other modules only", []string{"sys/module/overlay/", "sys/module/ip_tables/", "proc/net/tcp"}, "ipvs=no\nvxlan=no\n"},
		{"ip_vs module", []string{"sys/module/ip_vs/"}, "ipvs=yes\nvxlan=no\n"},
		{"ip_vs table only", []string{"proc/net/ip_vs"}, "ipvs=yes\nvxlan=no\n"},
		{"vxlan only", []string{"sys/module/vxlan/"}, "ipvs=no\nvxlan=yes\n"},
		{"both", []string{"sys/module/ip_vs/", "proc/net/ip_vs", "sys/module/vxlan/"}, "ipvs=yes\nvxlan=yes\n"},
		{"a similar name is not ip_vs", []string{"sys/module/ip_vs_rr_x/", "proc/net/ip_vs_stats_x"}, "ipvs=no\nvxlan=no\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, p := range tt.paths {
				full := filepath.Join(root, p)
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(full, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, nil, 0o444); err != nil {
					t.Fatal(err)
				}
			}
			var b bytes.Buffer
			if err := Kernel(&b, root); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("Kernel (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKernelHere runs Kernel on this machine's own root: one line per
// feature, each yes or no, agreeing with /sys/module.
func TestKernelHere(t *testing.T) {
	var b bytes.Buffer
	if err := Kernel(&b, "/"); err != nil {
		t.Fatal(err)
	}
	lines := outputLines(t, b.String())
	if len(lines) != len(kernelFeatures) {
		t.Fatalf("Kernel wrote %q, want %d lines", b.String(), len(kernelFeatures))
	}
	_, err := os.Stat("/sys/module/vxlan")
	want := "vxlan=no"
	if err == nil {
		want = "vxlan=yes"
	}
	if lines[1] != want {
		t.Errorf("Kernel wrote %q, want %q", lines[1], want)
	}
}

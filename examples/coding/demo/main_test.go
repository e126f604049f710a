package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDemoExit(t *testing.T) {
	var out logBuf
	env := map[string]string{"ROLE": "git", "DEMO_EXIT": "3"}
	if rc := run(context.Background(), nil, func(k string) string { return env[k] }, &out); rc != 3 {
		t.Errorf("run = %d, want 3", rc)
	}
	if !strings.Contains(out.String(), "git: exiting with code 3 (DEMO_EXIT)") {
		t.Errorf("output:\n%s", out.String())
	}

	// The real process exits with the code, too.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "DEMO_TEST_MAIN=1", "ROLE=queue", "DEMO_EXIT=4")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Errorf("process: err = %v, want exit status 4\n%s", err, b)
	}
}

func TestUnknownRole(t *testing.T) {
	var out logBuf
	if rc := run(context.Background(), []string{"nope"}, func(string) string { return "" }, &out); rc != 2 {
		t.Errorf("run nope = %d, want 2", rc)
	}
	if !strings.Contains(out.String(), `unknown role "nope"`) {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestProcess runs the demo as a process: start delay, startup line, a
// request, a log line per request, and a prompt graceful SIGTERM.
func TestProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "git") // role from the first argument
	cmd.Env = append(os.Environ(), "DEMO_TEST_MAIN=1", "ROLE=web", "PORT=0", "DEMO_START_DELAY=300ms",
		"GORACE=atexit_sleep_ms=0") // under -race, exiting would otherwise take 1s
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(re string) []string {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q", re)
				}
				if m := regexp.MustCompile(re).FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("no line matching %q", re)
			}
		}
	}
	port := next(`^git listening on :(\d+)$`)[1]
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("listening after %s despite DEMO_START_DELAY=300ms", d)
	}
	if code, body := do(t, "GET", "http://127.0.0.1:"+port+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	next(`^git: GET /healthz 200 [0-9.]+ms from 127\.0\.0\.1:\d+$`)

	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		if d := time.Since(stopped); d > time.Second {
			t.Errorf("took %s to stop", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("did not stop within 2s of SIGTERM")
	}
}

func TestGenericPorts(t *testing.T) {
	g := roles["generic"]
	for _, tc := range []struct {
		env  map[string]string
		want []int
	}{
		{map[string]string{}, []int{9090, 9999, 4444}},
		{map[string]string{"http_port": "8990", "PORT": "9999"}, []int{8990}},
		{map[string]string{"HTTP_PORT": "8991"}, []int{8991}},
		{map[string]string{"PORT": "7000"}, []int{7000}},
		{map[string]string{"LISTEN": "9999, 8990,9999", "http_port": "1"}, []int{9999, 8990}},
	} {
		got, tolerant, err := listenPorts(g, func(k string) string { return tc.env[k] })
		if err != nil || !tolerant || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("listenPorts(%v) = %v, %v, %v; want %v", tc.env, got, tolerant, err, tc.want)
		}
	}
	if _, _, err := listenPorts(g, func(k string) string { return map[string]string{"LISTEN": "80,x"}[k] }); err == nil {
		t.Error("LISTEN=80,x accepted")
	}
	// Other roles: PORT, else their own port.
	if got, tolerant, _ := listenPorts(roles["api"], func(string) string { return "" }); !reflect.DeepEqual(got, []int{8000}) || tolerant {
		t.Errorf("api ports = %v %v", got, tolerant)
	}
}

func TestGenericSkipsPortsInUse(t *testing.T) {
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bp := busy.Addr().(*net.TCPAddr).Port

	var out logBuf
	env := map[string]string{"LISTEN": fmt.Sprintf("%d,0", bp), "NAME": "webhook-listener"}
	ctx, cancel := context.WithCancel(context.Background())
	rc := make(chan int, 1)
	go func() { rc <- run(ctx, nil, func(k string) string { return env[k] }, &out) }()
	re := regexp.MustCompile(`generic listening on :(\d+)`)
	eventually(t, "generic to listen", func() bool { return re.MatchString(out.String()) })
	port := re.FindStringSubmatch(out.String())[1]
	if !strings.Contains(out.String(), fmt.Sprintf("generic: skipping port %d: address already in use", bp)) {
		t.Errorf("output:\n%s", out.String())
	}
	_, st := status(t, "http://127.0.0.1:"+port)
	if st["role"] != "generic" || st["name"] != "webhook-listener" {
		t.Errorf("status = %v", st)
	}
	cancel()
	if code := <-rc; code != 0 {
		t.Errorf("run = %d after shutdown", code)
	}

	// Nothing bindable is fatal.
	env = map[string]string{"LISTEN": fmt.Sprint(bp)}
	out = logBuf{}
	if code := run(context.Background(), nil, func(k string) string { return env[k] }, &out); code != 1 {
		t.Errorf("run with every port busy = %d, want 1\n%s", code, out.String())
	}
}

func TestHealthcheckCommand(t *testing.T) {
	srv, _ := start(t, "git", nil)
	var out logBuf
	if rc := run(context.Background(), []string{"healthcheck", srv.URL + "/healthz"}, func(string) string { return "" }, &out); rc != 0 {
		t.Errorf("healthcheck = %d: %s", rc, out.String())
	}
	if rc := run(context.Background(), []string{"healthcheck", unreachable + "/healthz"}, func(string) string { return "" }, &out); rc != 1 {
		t.Errorf("healthcheck of nothing = %d, want 1", rc)
	}
}

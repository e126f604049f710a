package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSSH is an `ssh` that checks it was asked for `docker system
// dial-stdio` and relays stdin/stdout to the local engine's socket, as the
// remote docker CLI would.
const fakeSSH = `#!/bin/sh
echo "$@" > "$(dirname "$0")/args"
case "$*" in *"-- me@pool-1 docker system dial-stdio") ;; *) echo "unexpected: $*" >&2; exit 2;; esac
exec python3 -c '
import socket, sys, threading
s = socket.socket(socket.AF_UNIX); s.connect("/var/run/docker.sock")
def up():
    while True:
        b = sys.stdin.buffer.read1(65536)
        if not b: s.shutdown(socket.SHUT_WR); return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b: break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
'
`

func TestDialSSH(t *testing.T) {
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no engine socket under CI")
		}
		t.Skip("SKIPPING: no local engine socket")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("SKIPPING: python3 (the fake ssh's relay) is missing")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(fakeSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_HOST", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := Dial(ctx, Options{Host: "ssh://me@pool-1:2222"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	info, err := e.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ServerVersion == "" || e.Host() != "ssh://me@pool-1:2222" {
		t.Errorf("info over ssh: %+v, host %s", info, e.Host())
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if !strings.Contains(string(args), "-p 2222") {
		t.Errorf("ssh args lack the port: %s", args)
	}
}

func TestDialUnreachableNamesTheHost(t *testing.T) {
	ctx := context.Background()
	_, err := Dial(ctx, Options{Host: "tcp://127.0.0.1:1", PingTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "tcp://127.0.0.1:1") {
		t.Errorf("Dial error should name the endpoint: %v", err)
	}
}

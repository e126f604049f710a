package pooltest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ServeRegistry runs Debian's docker-registry with TLS on the pool's bridge
// address, where this machine's engine and every pool engine reach it under
// one name, and makes both trust it (/etc/docker/certs.d/ADDR/ca.crt, which
// every engine reads, removed at cleanup). It returns the registry's
// address, e.g. "10.213.0.1:5043". Without docker-registry it skips, or
// fails under CI=true.
func (p *Pool) ServeRegistry(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pooltest: docker-registry is not installed (apt-get install docker-registry)")
		}
		t.Skip("SKIPPING: pooltest: docker-registry is not installed")
	}
	ip := p.bridge.Addr().String()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	c, err := makeCerts(filepath.Join(dir, "tls"), ip)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: %s}}
http: {addr: %q, tls: {certificate: %q, key: %q}}
`, filepath.Join(dir, "data"), addr, c.ServerCert, c.ServerKey)), 0o644)
	trust := filepath.Join("/etc/docker/certs.d", addr)
	if err := os.MkdirAll(trust, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(c.CA)
	if err := os.WriteFile(filepath.Join(trust, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(trust)
	})
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS(c.CA)}}
	for range 100 {
		if resp, err := client.Get("https://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	t.Fatalf("pooltest: registry did not start on %s:\n%s", addr, strings.TrimSpace(string(b)))
	return ""
}

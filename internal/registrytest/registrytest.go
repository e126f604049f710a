// Package registrytest runs a real Docker registry (Debian's docker-registry,
// i.e. distribution v2) on a loopback port for tests, and pushes small images
// into it through the registry HTTP API, so that no Docker engine is needed.
//
// It is a normal package so that the tests of several packages can share it;
// only tests should import it.
package registrytest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Options configure the registry Start runs.
type Options struct {
	// User and Password, when User is non-empty, protect the registry with
	// basic authentication (an htpasswd file with a bcrypt hash).
	User, Password string
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost,
	// signed by a throw-away CA (Registry.RootCAs, Registry.CAFile).
	TLS bool
	// InMemory keeps the registry's blobs and manifests in its memory
	// rather than under Dir/data: pushes are then about ten times faster,
	// for tests that push many images.
	InMemory bool
}

// Registry is a running docker-registry.
type Registry struct {
	// Addr is the registry's host:port, e.g. "127.0.0.1:40123": prefix
	// image names with it ("127.0.0.1:40123/coding/api:1.0").
	Addr string
	// Dir is the registry's directory: its config, log and (without
	// Options.InMemory) storage, under data/.
	Dir string
	// User and Password are Options.User and Options.Password.
	User, Password string
	// RootCAs trusts the registry's certificate when Options.TLS was set;
	// it is nil otherwise.
	RootCAs *x509.CertPool
	// CAFile is the PEM file of the CA behind RootCAs ("" without TLS).
	CAFile string

	client *http.Client
}

// Start runs docker-registry serve on a free loopback port with its storage
// in a temporary directory, waits until it answers GET /v2/, and kills it
// when the test ends (showing its log if the test failed).
//
// The registry accepts schema1 manifests (see PushSchema1); like any
// registry so configured, it converts schema2 manifests to schema1 for
// clients that do not Accept schema2.
//
// Without the docker-registry binary the test fails when CI=true and is
// skipped otherwise.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker-registry is not installed (apt-get install docker-registry); .ci/run installs it")
		}
		t.Skipf("SKIPPING %s: docker-registry is not installed (apt-get install docker-registry); this test needs a real registry", t.Name())
	}
	r := &Registry{Dir: t.TempDir(), User: o.User, Password: o.Password}
	var extra strings.Builder
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(r.Dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&extra, "auth: {htpasswd: {realm: cjob, path: %q}}\n", htpasswd)
	}
	var tlsConf string
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if o.TLS {
		c, err := makeCerts(filepath.Join(r.Dir, "tls"))
		if err != nil {
			t.Fatal(err)
		}
		r.RootCAs, r.CAFile = c.pool, c.ca
		tlsConf = fmt.Sprintf(", tls: {certificate: %q, key: %q}", c.cert, c.key)
		transport.TLSClientConfig = &tls.Config{RootCAs: c.pool}
	}
	r.client = &http.Client{Timeout: 10 * time.Second, Transport: transport}
	t.Cleanup(transport.CloseIdleConnections)

	storage := fmt.Sprintf("filesystem: {rootdirectory: %q}", filepath.Join(r.Dir, "data"))
	if o.InMemory {
		storage = "inmemory: {}"
	}

	// A port found free may be taken before the registry binds it: retry
	// with another one.
	for attempt := 0; ; attempt++ {
		r.Addr = freeAddr(t)
		cfg := filepath.Join(r.Dir, "config.yml")
		yml := fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {%s, delete: {enabled: true}}
http: {addr: %q, secret: registrytest%s}
compatibility: {schema1: {enabled: true}}
%s`, storage, r.Addr, tlsConf, extra.String())
		if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(r.Dir, "registry.log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(exited) }()
		stop := func() { cmd.Process.Kill(); <-exited }
		err = r.wait(exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					if b, _ := os.ReadFile(logPath); len(b) > 0 {
						t.Logf("registrytest: log of the registry on %s:\n%s", r.Addr, tail(b, 40))
					}
				}
			})
			return r
		}
		stop()
		b, _ := os.ReadFile(logPath)
		if attempt < 3 && bytes.Contains(b, []byte("address already in use")) {
			continue
		}
		t.Fatalf("registrytest: docker-registry did not start on %s: %v\n%s", r.Addr, err, tail(b, 40))
	}
}

// wait polls GET /v2/ until the registry answers (200, or 401 when it
// demands credentials), it exits, or 10 seconds pass.
func (r *Registry) wait(exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("it exited")
		default:
		}
		if resp, err := r.client.Get(r.URL() + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("GET /v2/ did not answer within 10s")
}

// URL is the registry's base URL, "http://ADDR" or "https://ADDR".
func (r *Registry) URL() string {
	if r.RootCAs != nil {
		return "https://" + r.Addr
	}
	return "http://" + r.Addr
}

// Image names repo:tag in this registry, e.g. "127.0.0.1:40123/coding/api:1.0".
func (r *Registry) Image(repo, tag string) string {
	if tag == "" {
		return r.Addr + "/" + repo
	}
	return r.Addr + "/" + repo + ":" + tag
}

// Client returns an HTTP client that trusts the registry's certificate.
// It sends no credentials by itself.
func (r *Registry) Client() *http.Client { return r.client }

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

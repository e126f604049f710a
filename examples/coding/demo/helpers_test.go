package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets tests run the real program as a subprocess: the test binary
// re-executed with DEMO_TEST_MAIN=1 is the demo.
func TestMain(m *testing.M) {
	if os.Getenv("DEMO_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// logBuf is a log sink safe to read while a role writes to it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// build builds a role from env, as run does.
func build(t *testing.T, name string, env map[string]string) (*config, *service, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	c := newConfig(name, func(k string) string { return env[k] }, lb)
	svc, err := roles[name].build(c)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return c, svc, lb
}

// start serves a role on a test server and runs its background loops until
// the test ends.
func start(t *testing.T, name string, env map[string]string) (*httptest.Server, *logBuf) {
	t.Helper()
	c, svc, lb := build(t, name, env)
	srv := httptest.NewServer(handler(c, svc))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, loop := range svc.background {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	return srv, lb
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// status GETs a role's / and decodes it.
func status(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	code, body := do(t, "GET", base+"/", "")
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s/: not JSON: %v\n%s", base, err, body)
	}
	return code, m
}

// upstreamsOf returns the "upstreams" of a status by name.
func upstreamsOf(t *testing.T, st map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := st["upstreams"].([]any)
	for _, u := range list {
		m := u.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unreachable is an address nothing listens on.
const unreachable = "http://127.0.0.1:1"

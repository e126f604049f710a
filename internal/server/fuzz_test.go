package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/prodspec"
)

// fuzzEndpoints are the endpoints FuzzAPIRequest sends to; "{}" is the
// fuzzed argument, put in the path as is (so it may hold /, .., %2f, ?).
var fuzzEndpoints = []string{
	"/versions",
	"/versions/{}",
	"/versions/{}/deploy",
	"/versions?limit={}&before={}",
	"/jobs",
	"/jobs/{}",
	"/jobs/{}/history",
	"/jobs/{}/tags",
	"/jobs/{}/up",
	"/jobs/{}/down",
	"/jobs/{}/reload",
	"/jobs/core.api/{}",
	"/jobs/core.api/rollback",
	"/jobs/core.api/update",
	"/up",
	"/diff",
	"/nodes{}",
	"/containers",
	"/containers/{}/logs",
	"/containers/{}/inspect",
	"/events{}",
	"/info",
	"/{}",
}

// unavailable are the endpoints that may answer 502: the registry (none in
// tests: every request to it fails) and an engine that fails.
var unavailable = map[string]bool{"/jobs/{}/tags": true, "/containers/{}/logs": true, "/containers/{}/inspect": true}

// fuzzServer is one server for every iteration: a store with version 1
// (hostileV1), app-1 an in-memory engine holding a container, app-2 not
// answering, no registry.
type fuzzServer struct {
	st      *store.Store
	eng     *spyEngine
	handler http.Handler
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	eng, _ := hostileEngine(tb)
	dial := enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng.Engine})
	srv, err := New(Options{
		Store:        st,
		Tokens:       map[string]string{testToken: "ops"},
		PollInterval: time.Hour,
		PollTimeout:  time.Second,
		Registry: registry.New(registry.Options{
			HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("no registry in tests")
			})},
			Auth: func(string) (string, string, bool) { return "", "", false },
		}),
		Probe: func(context.Context, *stack.Check, string) error { return nil },
		Dial: func(ctx context.Context, h *prodspec.Host, timeout time.Duration) (fleet.Engine, error) {
			if _, err := dial(ctx, h, timeout); err != nil {
				return nil, err
			}
			return eng, nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	fz := &fuzzServer{st: st, eng: eng, handler: srv.Handler()}
	body, _ := json.Marshal(api.PushRequest{File: hostileV1})
	req := httptest.NewRequest("POST", api.Prefix+"/versions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	fz.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		tb.Fatalf("push: %d %s", rec.Code, rec.Body)
	}
	return fz
}

// state is what a request without the token must not change.
type fuzzState struct {
	head, calls, states int
}

func (fz *fuzzServer) state(t *testing.T) fuzzState {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := fz.st.Head(ctx)
	if err != nil && !errors.Is(err, store.ErrEmpty) {
		t.Fatal(err)
	}
	js, err := fz.st.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fuzzState{head: int(h.Number), calls: len(fz.eng.Calls()), states: len(js)}
}

// printable reports whether s holds no control character but tab (what an
// HTTP server accepts in a request line or header value).
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}

// FuzzAPIRequest sends fuzzed requests to the API's handler, in process:
// a method, one of fuzzEndpoints with a fuzzed argument, a body and a
// bearer token. Whatever they hold: no panic; no 5xx but a 502 where the
// registry or an engine legitimately fails (unavailable); every answer is
// JSON (an action's stream JSON lines ending in a result; a container's
// log the only text); and a request without the token changes nothing:
// not the store's head, not the job states, no engine call. A request with
// the token may change them (the seeds push, deploy, roll back).
func FuzzAPIRequest(f *testing.F) {
	fz := newFuzzServer(f)
	// The seeds are in testdata/fuzz/FuzzAPIRequest.
	f.Fuzz(func(t *testing.T, method string, endpoint uint8, arg string, body []byte, token string) {
		tpl := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		target := api.Prefix + strings.ReplaceAll(tpl, "{}", arg)
		// What a server would refuse before any handler: too long, or not
		// an HTTP request line or header.
		if len(target) > 4096 || len(body) > 64<<10 || len(token) > 1024 || !printable(target) || strings.Contains(target, " ") || !printable(token) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: cjob.test\r\n\r\n")))
		if err != nil {
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("X-Cjob-Author", "fuzz")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req = req.WithContext(ctx)
		authorized := strings.TrimSpace(token) == testToken

		before := fz.state(t)
		rec := httptest.NewRecorder()
		fz.handler.ServeHTTP(rec, req)
		code, b, ctype := rec.Code, rec.Body.Bytes(), rec.Header().Get("Content-Type")

		what := req.Method + " " + target
		switch {
		case code >= 500 && !(code == http.StatusBadGateway && unavailable[tpl]):
			t.Fatalf("%s: %d: %.500s", what, code, b)
		case code >= 300 && code < 400:
			t.Fatalf("%s: a redirect (%d to %s): the API answers in JSON", what, code, rec.Header().Get("Location"))
		}
		if req.Method != "HEAD" {
			switch {
			case strings.HasPrefix(ctype, "application/json"):
				if !json.Valid(b) {
					t.Fatalf("%s: %d, not JSON: %.500s", what, code, b)
				}
			case ctype == "application/x-ndjson":
				lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
				for _, l := range lines {
					if !json.Valid(l) {
						t.Fatalf("%s: a stream line is not JSON: %.500s", what, l)
					}
				}
				var last api.StreamLine
				if json.Unmarshal(lines[len(lines)-1], &last); last.Result == nil {
					t.Fatalf("%s: a stream without a result: %.500s", what, b)
				}
			case strings.HasPrefix(ctype, "text/plain") && tpl == "/containers/{}/logs" && code == 200:
			default:
				t.Fatalf("%s: %d with Content-Type %q: %.500s", what, code, ctype, b)
			}
		}
		if !authorized {
			if after := fz.state(t); after != before {
				t.Fatalf("%s without the token changed the state: %+v -> %+v: %.500s", what, before, after, b)
			}
		}
	})
}

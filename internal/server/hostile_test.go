package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// The hostile-input suite: what a client without a token, or with one and
// bad input, can send to the API and the UI. What must hold: a clear 4xx
// answer in JSON, nothing stored, no engine call, HTML escaped on every
// page, secrets masked in every read.

const (
	xss        = "<script>alert(1)</script>"
	xssEscaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
	imgXSS     = `"><img src=x onerror=alert(1)>`
)

// hostileSecrets are the secret values of hostileFile and hostileEngine:
// no answer, page, event or webhook may show them.
var hostileSecrets = []string{
	"envpass11", "envpass12", // DB_PASSWORD in versions 1 and 2
	"envtok22", "envsecret33", // API_TOKEN, APP_SECRET
	"urlpass44",               // DATABASE_URL's password
	"flagpass55", "flagtok66", // --db-password=..., --token ...
	"dsnpass77",            // --dsn=postgres://u:...@db/x
	"d0ckpw88", "d0ckpw89", // app-2's docker endpoint password in versions 1 and 2
	"labelkey99", // a host label named api_key
	"taskpass10", // a task's env
	"ctrpass13",  // the running container's env (and its cjob.spec label)
}

// hostileFile is a jobs file whose core.api carries HTML in env values and
// an env key, and secrets in env (job and task), command line, a host label
// and a docker endpoint.
func hostileFile(note, dbPassword, dockerPassword string) string {
	return fmt.Sprintf(`project: srvtest
hosts:
  app-1: {address: 10.0.0.1, docker: "tcp://127.0.0.1:1", labels: {api_key: labelkey99, rack: %q}}
  app-2: {address: 10.0.0.2, docker: "tcp://admin:%s@127.0.0.1:1"}
services:
  core:
    jobs:
      api:
        image: example/api:1.0.0
        port: 8000
        command: [/app, --db-password=flagpass55, --token, flagtok66, "--dsn=postgres://u:dsnpass77@db/x"]
        env:
          LOG_LEVEL: %q
          NOTE: %q
          XSS2: %q
          %q: "an env key with HTML"
          DB_PASSWORD: %s
          API_TOKEN: envtok22
          APP_SECRET: envsecret33
          DATABASE_URL: "postgres://u:urlpass44@db/x"
        tasks: [{host: app-1, env: {TASK_PASSWORD: taskpass10}}, {host: app-2}]
      web:
        image: example/web:1.0.0
        run_on_host: app-1
  mail:
    jobs:
      sms:
        image: example/sms:1.0.0
        run_on_host: app-2
`, xss, dockerPassword, xss, note, imgXSS, xss, dbPassword)
}

var (
	hostileV1 = hostileFile("plain", "envpass11", "d0ckpw88")
	// hostileV2 puts HTML in NOTE (a field of the diff) and changes two
	// secrets.
	hostileV2 = hostileFile(xss, "envpass12", "d0ckpw89")
)

// spyEngine is an in-memory engine that also records the container
// references its reads are given: no crafted name may reach it.
type spyEngine struct {
	*enginetest.Engine
	mu   sync.Mutex
	refs []string
}

func (s *spyEngine) note(method, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs = append(s.refs, method+" "+ref)
}

func (s *spyEngine) reads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refs)
}

func (s *spyEngine) Logs(ctx context.Context, id, tail string, follow, timestamps bool, w io.Writer) error {
	s.note("Logs", id)
	return s.Engine.Logs(ctx, id, tail, follow, timestamps, w)
}

func (s *spyEngine) InspectRaw(ctx context.Context, id string) (json.RawMessage, error) {
	s.note("InspectRaw", id)
	return s.Engine.InspectRaw(ctx, id)
}

func (s *spyEngine) Inspect(ctx context.Context, id, network string) (stack.Status, error) {
	s.note("Inspect", id)
	return s.Engine.Inspect(ctx, id, network)
}

func (s *spyEngine) MemoryUsage(ctx context.Context, id string) (int64, error) {
	s.note("MemoryUsage", id)
	return s.Engine.MemoryUsage(ctx, id)
}

func (s *spyEngine) LogTail(ctx context.Context, id string, n int) string {
	s.note("LogTail", id)
	return s.Engine.LogTail(ctx, id, n)
}

// hostileEngine is app-1's engine holding task 1 of core.api, made from
// version 1 with another config, its env, command and cjob.spec label
// carrying secrets and HTML.
func hostileEngine(t testing.TB) (*spyEngine, string) {
	e := enginetest.New("tcp://app-1:2376")
	e.AddImage("example/api:1.0.0")
	labels := map[string]string{
		stack.LabelProject: "srvtest", stack.LabelEnv: production.Env.String(), stack.LabelKind: "task",
		stack.LabelService: "core", stack.LabelJob: "core.api", stack.LabelTask: "1", stack.LabelHost: "app-1",
		stack.LabelKey: "core.api/1", stack.LabelVersion: "1", stack.LabelHash: "not-the-current-hash",
		stack.LabelSpec: `{"Env":{"DB_PASSWORD":"ctrpass13"}}`,
	}
	spec := stack.Spec{Image: "example/api:1.0.0", HostNetwork: true,
		Command: []string{"/app", "--db-password=flagpass55", "--token", "flagtok66"},
		Env:     []string{"LOG_LEVEL=" + xss, "XSS2=" + imgXSS, "DB_PASSWORD=ctrpass13", "DATABASE_URL=postgres://u:urlpass44@db/x", "API_TOKEN=envtok22"}}
	ctx := context.Background()
	id, err := e.Create(ctx, stack.CreateRequest{Name: "srvtest-core-api-1", Spec: spec, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.SetLog("srvtest-core-api-1", "listening on :8000")
	return &spyEngine{Engine: e}, id
}

// hostile is a server whose app-1 is a spyEngine (app-2 does not answer),
// served twice: the API alone (f.hs) and API and UI as `cjob server` mounts
// them (web).
type hostile struct {
	*fixture
	eng   *spyEngine
	id    string // the container's ID
	web   *httptest.Server
	calls int // the engine's mutating calls after the setup
}

func newHostile(t *testing.T, opts ...func(*Options)) *hostile {
	t.Helper()
	eng, id := hostileEngine(t)
	dial := enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng.Engine})
	spy := func(ctx context.Context, h *prodspec.Host, timeout time.Duration) (fleet.Engine, error) {
		if _, err := dial(ctx, h, timeout); err != nil {
			return nil, err
		}
		return eng, nil
	}
	f := newFixture(t, append([]func(*Options){func(o *Options) { o.Dial = spy }}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/api/", f.srv.Handler())
	mux.Handle("/healthz", f.srv.Handler())
	mux.Handle("/", ui.New(f.srv.UI(), ui.Options{}).Handler())
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	return &hostile{fixture: f, eng: eng, id: id, web: web, calls: len(eng.Calls())}
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// send sends body as is to the raw URL (whose escapes are kept), with the
// headers given as pairs.
func send(t *testing.T, method, rawURL string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %.200s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %.200s: reading: %v", method, rawURL, err)
	}
	return resp.StatusCode, resp.Header, b
}

// page GETs a UI page, logged in when token is not "".
func (h *hostile) page(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	var headers []string
	if token != "" {
		headers = []string{"Cookie", "cjob_ui=" + url.PathEscape(token)}
	}
	code, _, b := send(t, "GET", h.web.URL+path, nil, headers...)
	return code, b
}

// unchanged fails when the store's head moved from want, a job state was
// recorded, or the engine received a mutating call since the setup.
func (h *hostile) unchanged(t *testing.T, want int64) {
	t.Helper()
	ctx := tctx(t)
	hv, err := h.st.Head(ctx)
	if err != nil && want != 0 {
		t.Errorf("head: %v", err)
	}
	if hv.Number != want {
		t.Errorf("the head is version %d, want %d", hv.Number, want)
	}
	if states, _ := h.st.JobStates(ctx); len(states) != 0 {
		t.Errorf("job states recorded: %v", states)
	}
	if calls := h.eng.Calls(); len(calls) != h.calls {
		t.Errorf("the engine received mutating calls: %q", calls[h.calls:])
	}
}

// jsonError checks an error answer: JSON with an error message.
func jsonError(t *testing.T, what string, code int, hdr http.Header, b []byte) api.Error {
	t.Helper()
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("%s: %d with Content-Type %q, want JSON: %.300s", what, code, hdr.Get("Content-Type"), b)
		return api.Error{}
	}
	var e api.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Errorf("%s: %d: not a JSON error (%v): %.300s", what, code, err, b)
	}
	return e
}

// TestHostileBodies: bodies that are too big, not JSON, JSON followed by
// more, of the wrong types, with unknown fields, or missing get a 4xx that
// says what is wrong, and nothing is stored or run.
func TestHostileBodies(t *testing.T) {
	h := newHostile(t)
	push := func(body []byte) (int, http.Header, []byte) {
		return send(t, "POST", h.hs.URL+api.Prefix+"/versions", body, "Authorization", "Bearer "+testToken)
	}
	v1, _ := json.Marshal(api.PushRequest{File: hostileV1})
	for _, c := range []struct {
		name, body string
		want       []string // in the error
	}{
		{"empty", "", []string{"no body"}},
		{"blank", " \n\t", []string{"no body"}},
		{"not JSON", "{not json", []string{"reading the push"}},
		{"truncated", string(v1[:len(v1)/2]), []string{"reading the push"}},
		{"an array", `[]`, []string{"reading the push"}},
		{"a string", `"file"`, []string{"reading the push"}},
		{"null", `null`, []string{"no file"}},
		{"no file", `{}`, []string{"no file"}},
		{"an empty file", `{"file": "  \n"}`, []string{"no file"}},
		{"file a number", `{"file": 1}`, []string{"file"}},
		{"base a string", `{"file": "project: x", "base": "one"}`, []string{"base"}},
		{"base overflows", `{"file": "project: x", "base": 99999999999999999999}`, []string{"base"}},
		{"force a string", `{"file": "project: x", "force": "yes"}`, []string{"force"}},
		{"an unknown field", `{"file": "project: x", "fil": "y"}`, []string{"unknown field", `"fil"`}},
		{"trailing garbage", string(v1) + " garbage", []string{"after the JSON object"}},
		{"two objects", string(v1) + string(v1), []string{"after the JSON object"}},
		{"a closing brace more", string(v1) + "}", []string{"after the JSON object"}},
		{"NUL", "{\"file\": \"x\"}\x00", []string{"after the JSON object"}},
	} {
		t.Run("push "+c.name, func(t *testing.T) {
			code, hdr, b := push([]byte(c.body))
			if code != http.StatusBadRequest {
				t.Fatalf("%d, want 400: %.300s", code, b)
			}
			e := jsonError(t, "push", code, hdr, b)
			for _, w := range c.want {
				if !strings.Contains(e.Error, w) {
					t.Errorf("error %q lacks %q", e.Error, w)
				}
			}
			h.unchanged(t, 0)
		})
	}

	t.Run("push over the limit", func(t *testing.T) {
		big := append([]byte(`{"file": "`), bytes.Repeat([]byte("a"), maxFile+1024)...)
		big = append(big, `"}`...)
		code, hdr, b := push(big)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d, want 413: %.300s", code, b)
		}
		if e := jsonError(t, "a big push", code, hdr, b); !strings.Contains(e.Error, "32 MiB") || !strings.Contains(e.Error, "nothing was stored") {
			t.Errorf("error %q: want the limit named and nothing stored", e.Error)
		}
		h.unchanged(t, 0)
	})

	// A push that is fine, for the actions.
	if code, _, b := push(v1); code != http.StatusCreated {
		t.Fatalf("push: %d %s", code, b)
	}
	evs := len(h.events())
	for _, c := range []struct {
		name, action, body string
		want               []string
	}{
		{"not JSON", "reload", "{not json", []string{"reading the request"}},
		{"trailing garbage", "reload", "{} garbage", []string{"after the JSON object"}},
		{"two objects", "down", `{}{"task": 1}`, []string{"after the JSON object"}},
		{"an array", "up", `[]`, []string{"reading the request"}},
		{"task a string", "reload", `{"task": "1"}`, []string{"task"}},
		{"task a fraction", "reload", `{"task": 1.5}`, []string{"task"}},
		{"tag a number", "update", `{"tag": 2}`, []string{"tag"}},
		{"to a string", "rollback", `{"to": "1"}`, []string{"to"}},
		{"an unknown field", "reload", `{"bogus": 1}`, []string{"unknown field", `"bogus"`}},
		{"a misspelt field", "rolling-update", `{"max-parallel": 2}`, []string{"unknown field", `"max-parallel"`}},
	} {
		t.Run(c.action+" "+c.name, func(t *testing.T) {
			code, hdr, b := send(t, "POST", h.hs.URL+api.Prefix+"/jobs/core.api/"+c.action, []byte(c.body), "Authorization", "Bearer "+testToken)
			if code != http.StatusBadRequest {
				t.Fatalf("%d, want 400: %.300s", code, b)
			}
			e := jsonError(t, c.action, code, hdr, b)
			for _, w := range c.want {
				if !strings.Contains(e.Error, w) {
					t.Errorf("error %q lacks %q", e.Error, w)
				}
			}
			h.unchanged(t, 1)
		})
	}
	t.Run("an action body over the limit", func(t *testing.T) {
		big := []byte(`{"message": "` + strings.Repeat("m", 2<<20) + `"}`)
		code, hdr, b := send(t, "POST", h.hs.URL+api.Prefix+"/jobs/core.api/reload", big, "Authorization", "Bearer "+testToken)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d, want 413: %.300s", code, b)
		}
		if e := jsonError(t, "a big action", code, hdr, b); !strings.Contains(e.Error, "1 MiB") || !strings.Contains(e.Error, "nothing was changed") {
			t.Errorf("error %q: want the limit named", e.Error)
		}
		h.unchanged(t, 1)
	})
	if n := len(h.events()); n != evs {
		t.Errorf("refused bodies recorded %d action events", n-evs)
	}
}

// TestHostileTargets: unknown jobs, tasks and versions, and options out of
// range, on every endpoint that takes them: 400 or 404 with a JSON error
// before anything runs, and no engine call.
func TestHostileTargets(t *testing.T) {
	h := newHostile(t)
	h.push(api.PushRequest{File: hostileV1}, 201)
	readsBefore := len(h.eng.reads())

	expect := func(t *testing.T, method, path string, body string, codes ...int) api.Error {
		t.Helper()
		var rd []byte
		if body != "" {
			rd = []byte(body)
		}
		code, hdr, b := send(t, method, h.hs.URL+api.Prefix+path, rd, "Authorization", "Bearer "+testToken)
		if !slices.Contains(codes, code) {
			t.Errorf("%s %.120s %s: %d, want %v: %.300s", method, path, body, code, codes, b)
			return api.Error{}
		}
		return jsonError(t, method+" "+path, code, hdr, b)
	}

	badJobs := []string{"nope", "apj", "..", "x/..", "..%2f..%2fetc", "%2e%2e", "core.api%2f..", "core.api%00", "%00", "core.api.",
		"%3Cscript%3E", url.PathEscape(xss), strings.Repeat("j", 5000), "core.*", "%20core.api"}
	for _, job := range badJobs {
		for _, p := range []string{"/jobs/" + job, "/jobs/" + job + "/history", "/jobs/" + job + "/tags"} {
			expect(t, "GET", p, "", 404)
		}
		for _, action := range []string{"up", "down", "reload", "update", "rolling-update", "rollback"} {
			expect(t, "POST", "/jobs/"+job+"/"+action, `{"tag": "1.1.0"}`, 404)
		}
	}
	// Unknown actions, on a job that exists.
	for _, action := range []string{"bogus", "UP", "up%00", "..", ".", "%2e%2e", "deploy", "push"} {
		expect(t, "POST", "/jobs/core.api/"+action, "", 404)
	}

	// Tasks: counted from 1, at most the job's; 0 is every task.
	for _, body := range []string{`{"task": -1}`, `{"task": 3}`, `{"task": 2147483648}`, `{"task": -9223372036854775808}`,
		`{"task": 99999999999999999999}`, `{"task": 1e3}`} {
		e := expect(t, "POST", "/jobs/core.api/reload", body, 400)
		if !strings.Contains(e.Error, "task") {
			t.Errorf("reload %s: %q does not name the task", body, e.Error)
		}
	}
	expect(t, "POST", "/jobs/core.web/reload", `{"task": 2}`, 400) // core.web has one task
	// Rolling options.
	for _, c := range []struct{ action, body string }{
		{"rolling-update", `{"max_parallel": -1}`},
		{"rolling-update", `{"health_timeout": "soon"}`},
		{"rolling-update", `{"health_timeout": "-5s"}`},
		{"update", `{"tag": "1.1.0", "health_timeout": "0s"}`},
		{"rollback", `{"health_timeout": "1fortnight"}`},
		{"update", `{"tag": "../../etc"}`},
		{"update", `{"tag": "a b"}`},
		{"update", `{"tag": "` + strings.Repeat("t", 200) + `"}`},
		{"update", `{"tag": "1.1.0\n"}`},
		{"rolling-update", `{"tag": "x@sha256:00"}`},
		{"update", `{}`},
		{"update", ``},
	} {
		expect(t, "POST", "/jobs/core.api/"+c.action, c.body, 400)
	}
	// Versions to roll back to.
	expect(t, "POST", "/jobs/core.api/rollback", `{"to": -1}`, 400)
	expect(t, "POST", "/jobs/core.api/rollback", `{"to": 99999999999999999999}`, 400)
	for _, to := range []string{"2", "99", "9223372036854775807"} {
		if e := expect(t, "POST", "/jobs/core.api/rollback", `{"to": `+to+`}`, 404); !strings.Contains(e.Error, "version "+to) {
			t.Errorf("rollback to %s: %q does not name the version", to, e.Error)
		}
	}
	// Versions by number: read and deploy.
	for _, c := range []struct {
		n    string
		code int
	}{
		{"0", 400}, {"-1", 400}, {"abc", 400}, {"99999999999999999999", 400}, {"1e3", 400}, {"0x1", 400},
		{"1.0", 400}, {"%20", 400}, {"head%00", 400}, {"%2e%2e", 400}, {"2", 404}, {"99", 404}, {"9223372036854775807", 404},
	} {
		expect(t, "GET", "/versions/"+c.n, "", c.code)
		if c.n != "head%00" {
			expect(t, "POST", "/versions/"+c.n+"/deploy", "", c.code)
		}
	}
	expect(t, "POST", "/versions/head/deploy", "", 400)
	// Query parameters that are not numbers are ignored, never a 5xx.
	for _, p := range []string{"/versions?limit=abc", "/versions?limit=-5", "/versions?before=-1", "/versions?before=99999999999999999999",
		"/versions?limit=99999999999999999999", "/events?limit=abc", "/events?limit=-99999999999999999999", "/events?target=%00&action=%3Cx%3E",
		"/jobs?fresh=%00", "/containers/srvtest-core-api-1/logs?tail=-5", "/containers/srvtest-core-api-1/logs?tail=99999999999999999999"} {
		code, hdr, b := send(t, "GET", h.hs.URL+api.Prefix+p, nil)
		if code != 200 {
			t.Errorf("GET %s: %d: %.300s", p, code, b)
		}
		if strings.HasPrefix(hdr.Get("Content-Type"), "application/json") && !json.Valid(b) {
			t.Errorf("GET %s: not JSON: %.300s", p, b)
		}
	}
	h.unchanged(t, 1)
	if vs, _ := h.st.Versions(tctx(t), store.ListOptions{}); len(vs) != 1 {
		t.Errorf("%d versions, want 1", len(vs))
	}
	for _, r := range h.eng.reads()[readsBefore:] {
		if _, id, _ := strings.Cut(r, " "); id != h.id {
			t.Errorf("the engine was asked about %q", r)
		}
	}
}

// TestHostileContainerNames: names that try to leave the API's path, or
// the engine's namespace, find no container, on the API and the UI, and no
// engine is asked about them: the engine is only ever given the IDs it
// reported.
func TestHostileContainerNames(t *testing.T) {
	h := newHostile(t)
	h.push(api.PushRequest{File: hostileV1}, 201)

	// The real name works, and the engine is asked by ID.
	if b := h.get("/containers/srvtest-core-api-1/logs", 200); !strings.Contains(string(b), "listening on :8000") {
		t.Fatalf("logs of the container: %s", b)
	}
	if reads := h.eng.reads(); !slices.Contains(reads, "Logs "+h.id) {
		t.Fatalf("the engine's reads: %q, want Logs %s", reads, h.id)
	}

	names := []string{
		"..%2f..%2fetc", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e", "a%2fb", "%2fetc%2fpasswd",
		"..%5c..%5cwindows", "srvtest-core-api-1%2f..", "srvtest-core-api-1%2f..%2f..%2fx", "..%2fsrvtest-core-api-1",
		"srvtest-core-api-1%00", "%00", "x%00y", "%00srvtest-core-api-1", "srvtest-core-api-1%0a", "%0d%0aX-Injected:%201",
		"%20srvtest-core-api-1", "srvtest-core-api-", "srvtest-core-api-1%3Fx", "%2A", "%25", "%25%32%66",
		h.id[:5], strings.ToUpper(h.id[:12]), h.id + "0", strings.Repeat("a", 10000), url.PathEscape(xss),
	}
	raw := []string{"..", "../../etc/passwd", "a/b", "srvtest-core-api-1/../..", "./srvtest-core-api-1"}
	for _, n := range append(names, raw...) {
		for _, p := range []string{api.Prefix + "/containers/" + n + "/logs", api.Prefix + "/containers/" + n + "/inspect"} {
			code, hdr, b := send(t, "GET", h.hs.URL+p, nil)
			if code != http.StatusNotFound {
				t.Errorf("GET %.120s: %d, want 404: %.300s", p, code, b)
			}
			jsonError(t, "GET "+p, code, hdr, b)
		}
		// The UI: the container's page is the not-found page, its log
		// stream answers with its end and no log line. A path with dot
		// segments (which browsers never send) is redirected to the
		// cleaned path, out of the container's pages.
		for _, p := range []string{"/containers/" + n, "/ui/logs/" + n} {
			code, hdr, b := send(t, "GET", h.web.URL+p, nil, "Cookie", "cjob_ui="+testToken)
			switch {
			case slices.Contains(raw, n) && (code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect):
				if loc := hdr.Get("Location"); strings.Contains(loc, "..") || strings.Contains(loc, "srvtest-core-api-1/") {
					t.Errorf("UI %.120s: redirected to %q", p, loc)
				}
			case strings.HasPrefix(p, "/containers/"):
				if code != http.StatusNotFound || bytes.Contains(b, []byte(xss)) || bytes.Contains(b, []byte("listening")) {
					t.Errorf("UI %.120s: %d, want the not-found page: %.300s", p, code, b)
				}
			default:
				if code != http.StatusOK || !bytes.Contains(b, []byte("event: end\ndata: no production container")) || bytes.Contains(b, []byte("listening")) {
					t.Errorf("UI %.120s: %d %.300s", p, code, b)
				}
			}
		}
	}
	for _, r := range h.eng.reads() {
		if _, id, _ := strings.Cut(r, " "); id != h.id {
			t.Errorf("the engine was asked about %q", r)
		}
	}
	h.unchanged(t, 1)
}

// uiPages are every page of the UI that shows the environment.
var uiPages = []string{"/services", "/jobs", "/jobs/core.api", "/jobs/mail.sms", "/containers", "/containers/srvtest-core-api-1",
	"/nodes", "/history", "/events", "/topology", "/login"}

// TestHostileHTML: a job name cannot carry HTML (the loader refuses it),
// but env keys and values, push messages, the author header and host
// labels can: every page escapes them, every JSON answer stays JSON.
func TestHostileHTML(t *testing.T) {
	h := newHostile(t)

	// The loader refuses HTML in names.
	bad := strings.Replace(hostileV1, "      web:\n", "      \"<script>alert(1)</script>\":\n", 1)
	_, b := h.push(api.PushRequest{File: bad}, 400)
	if e := apiError(t, b); !strings.Contains(e.Error, "invalid job name") {
		t.Errorf("a job named with HTML: %s", e.Error)
	}
	bad = strings.Replace(hostileV1, "  mail:\n", "  \"<b>mail</b>\":\n", 1)
	_, b = h.push(api.PushRequest{File: bad}, 400)
	if e := apiError(t, b); !strings.Contains(e.Error, "invalid service name") {
		t.Errorf("a service named with HTML: %s", e.Error)
	}
	bad = strings.Replace(hostileV1, "  app-2:", "  \"<i>app-2</i>\":", 1)
	_, b = h.push(api.PushRequest{File: bad}, 400)
	if e := apiError(t, b); !strings.Contains(e.Error, "invalid host name") {
		t.Errorf("a host named with HTML: %s", e.Error)
	}

	for i, file := range []string{hostileV1, hostileV2} {
		code, _, b := h.do("POST", "/versions", testToken, api.PushRequest{File: file, Base: int64(i), Message: xss + imgXSS}, "X-Cjob-Author", xss)
		if code != 201 {
			t.Fatalf("push %d: %d %s", i+1, code, b)
		}
	}
	// A refused request whose job and author carry HTML: an event.
	h.do("POST", "/jobs/"+url.PathEscape(xss)+"/up", "", nil, "X-Cjob-Author", imgXSS)

	for _, p := range append(uiPages, "/jobs/"+url.PathEscape(xss), "/containers/"+url.PathEscape(xss)) {
		for _, tok := range []string{"", testToken} {
			for _, q := range []string{"", "?partial=1"} {
				code, b := h.page(t, p+q, tok)
				if code != 200 && code != 404 && !(p == "/login" && tok != "") {
					t.Errorf("%s%s: %d", p, q, code)
				}
				for _, raw := range []string{xss, "<img src=x", "<script>alert", "<b>mail", "<i>app"} {
					if bytes.Contains(b, []byte(raw)) {
						i := bytes.Index(b, []byte(raw))
						t.Errorf("%s%s (logged in: %v) shows %q unescaped: …%s…", p, q, tok != "", raw, b[max(0, i-80):min(len(b), i+80)])
					}
				}
				if q == "" && p != "/login" && !bytes.Contains(b, []byte(xssEscaped)) {
					t.Errorf("%s (logged in: %v): the escaped author is missing", p, tok != "")
				}
			}
		}
	}
	// Where each hostile value shows, escaped.
	for _, c := range []struct{ page, want string }{
		{"/jobs/core.api", "LOG_LEVEL: &#34;" + xssEscaped},                 // the definitions, pushed and running
		{"/jobs/core.api", "NOTE: &#34;" + xssEscaped},                      // the pushed one's
		{"/jobs/core.api", "&#34;" + xssEscaped + "&#34;: &#34;an env key"}, // an env key
		{"/history", `<p class="message">` + xssEscaped + "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</p>"},
		{"/history", `<td class="new">` + xssEscaped + "</td>"}, // NOTE's new value
		{"/history", `<b class="author">` + xssEscaped + " (token ops)</b>"},
		{"/events", "<td>" + xssEscaped + " (token ops)</td>"},
		{"/events", "<td>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</td>"}, // the refused author
		{"/events", xssEscaped + "</td>"},                                   // the refused target
		{"/jobs/" + url.PathEscape(xss), xssEscaped},
	} {
		if _, b := h.page(t, c.page, testToken); !bytes.Contains(b, []byte(c.want)) {
			t.Errorf("%s lacks %q", c.page, c.want)
		}
	}

	// Every JSON answer is JSON, whatever the values hold.
	for _, p := range []string{"/info", "/versions", "/versions/1", "/versions/2", "/versions/head", "/jobs", "/jobs/core.api",
		"/jobs/core.api/history", "/nodes", "/containers", "/containers/srvtest-core-api-1/inspect", "/diff", "/events", "/events?limit=-1"} {
		code, hdr, b := send(t, "GET", h.hs.URL+api.Prefix+p, nil)
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !json.Valid(b) {
			t.Errorf("GET %s: %d %s, not JSON: %.300s", p, code, hdr.Get("Content-Type"), b)
		}
		if bytes.Contains(b, []byte("<script")) {
			t.Errorf("GET %s: HTML unescaped in JSON: %.300s", p, b)
		}
	}
	var vd api.VersionDetail
	decode(t, h.get("/versions/2", 200), &vd)
	if vd.Message != xss+imgXSS || vd.Author != xss+" (token ops)" || !strings.Contains(vd.File, xss) {
		t.Errorf("version 2 does not keep its text: %+v", vd.Version)
	}
	// An action's stream is JSON lines.
	code, hdr, b := h.do("POST", "/jobs/mail.sms/down", testToken, api.ActionRequest{Message: xss}, "X-Cjob-Author", xss)
	if code != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("down: %d %s", code, b)
	}
	streamLines(t, b)
}

// mutations are the API's changes, each with the event its refusal
// records.
var mutations = []struct {
	path, action, target, body string
}{
	{"/versions", "push", "", ""},
	{"/jobs/api/up", "up", "api", `{}`},
	{"/jobs/core.api/down", "down", "core.api", ``},
	{"/jobs/core.api/reload", "reload", "core.api", `{"task": 1}`},
	{"/jobs/core.api/update", "update", "core.api", `{"tag": "2.0.0"}`},
	{"/jobs/core.api/rolling-update", "rolling-update", "core.api", `{}`},
	{"/jobs/core.api/rollback", "rollback", "core.api", `{"to": 1}`},
	{"/up", "up", "", ``},
	{"/versions/1/deploy", "deploy", "", ``},
}

// TestHostileAuth: every mutation, on the API and the UI, without a token
// or with a wrong one: 401, nothing changed, and a refused event.
func TestHostileAuth(t *testing.T) {
	h := newHostile(t)
	h.push(api.PushRequest{File: hostileV1}, 201)
	push2, _ := json.Marshal(api.PushRequest{File: hostileV2, Base: 1})

	for _, m := range mutations {
		for _, a := range []struct{ header, what string }{
			{"", "no token"},
			{"Bearer", "no token"},
			{"Basic " + testToken, "no token"},
			{"Token " + testToken, "no token"},
			{"Bearer ", "no token"}, // the header's trailing space is not kept
			{"Bearer wrong-token-0123456789abcdef", "a wrong token"},
			{"Bearer " + testToken[:len(testToken)-1], "a wrong token"},
			{"Bearer " + testToken + "x", "a wrong token"},
			{"Bearer " + strings.ToUpper(testToken), "a wrong token"},
			{"Bearer " + testToken + testToken, "a wrong token"},
			{"Bearer ops", "a wrong token"}, // the token's name
		} {
			t.Run(m.action+" "+m.path+" "+a.header, func(t *testing.T) {
				body := []byte(m.body)
				if m.action == "push" {
					body = push2
				}
				headers := []string{"X-Cjob-Author", "mallory"}
				if a.header != "" {
					headers = append(headers, "Authorization", a.header)
				}
				code, hdr, b := send(t, "POST", h.hs.URL+api.Prefix+m.path, body, headers...)
				if code != http.StatusUnauthorized {
					t.Fatalf("%d, want 401: %.300s", code, b)
				}
				if e := jsonError(t, m.path, code, hdr, b); !strings.Contains(e.Error, a.what) || !strings.Contains(e.Error, "nothing was changed") {
					t.Errorf("error %q", e.Error)
				}
				ev := h.events()[0]
				if ev.Result != "refused" || ev.Action != m.action || ev.Target != m.target || ev.Who != "mallory" || !strings.Contains(ev.Detail, "401: "+a.what) {
					t.Errorf("newest event %+v, want %s of %q refused", ev, m.action, m.target)
				}
				h.unchanged(t, 1)
			})
		}
	}

	// An author header that would fill the store: the refused event keeps
	// a bounded part of it, and of the job named.
	long := strings.Repeat("m", 100<<10)
	code, _, _ := send(t, "POST", h.hs.URL+api.Prefix+"/jobs/"+strings.Repeat("j", 4000)+"/up", nil, "X-Cjob-Author", long)
	if code != 401 {
		t.Errorf("a long author without a token: %d", code)
	}
	if ev := h.events()[0]; ev.Result != "refused" || len(ev.Who) > 200 || len(ev.Target) > 200 || !strings.HasPrefix(ev.Who, "mmm") {
		t.Errorf("a refused event keeps %d bytes of the author and %d of the target", len(ev.Who), len(ev.Target))
	}

	// The UI: its actions need the login cookie and the X-Cjob-UI header.
	act := func(cookie string, hdr bool, body string) (int, []byte) {
		headers := []string{"Content-Type", "application/json"}
		if cookie != "" {
			headers = append(headers, "Cookie", "cjob_ui="+url.PathEscape(cookie))
		}
		if hdr {
			headers = append(headers, "X-Cjob-UI", "1")
		}
		code, _, b := send(t, "POST", h.web.URL+"/ui/act", []byte(body), headers...)
		return code, b
	}
	for _, c := range []struct {
		name, cookie string
		hdr          bool
		code         int
		who, detail  string
	}{
		{"no cookie", "", true, 401, "anonymous (web)", "401: no token"},
		{"a wrong cookie", "wrong-token-0123456789abcdef", true, 401, "anonymous (web)", "401: a wrong token"},
		{"a token prefix", testToken[:10], true, 401, "anonymous (web)", "401: a wrong token"},
		{"no X-Cjob-UI header", testToken, false, 403, "ops (web)", "403: missing X-Cjob-UI header"},
	} {
		for _, body := range []struct{ body, action, target string }{
			{`{"verb": "down", "job": "core.api"}`, "down", "core.api"},
			{`{"verb": "reload", "job": "api", "task": 1}`, "reload", "api"},
			{`{"verb": "rollback", "job": "core.api", "version": 1}`, "rollback", "core.api"},
			{`{"verb": "deploy", "version": 1}`, "deploy", ""},
			{`{"verb": "` + xss + `", "job": "` + strings.Repeat("j", 5000) + `"}`, "act", clip(strings.Repeat("j", 5000), maxRefused)},
			{`not json`, "act", ""},
		} {
			t.Run("ui "+c.name+" "+body.action, func(t *testing.T) {
				code, b := act(c.cookie, c.hdr, body.body)
				if code != c.code {
					t.Fatalf("%d, want %d: %s", code, c.code, b)
				}
				if !json.Valid(b) {
					t.Errorf("not JSON: %s", b)
				}
				ev := h.events()[0]
				if ev.Result != "refused" || ev.Action != body.action || ev.Target != body.target || ev.Who != c.who || ev.Detail != c.detail {
					t.Errorf("newest event %+v, want %s of %q refused for %s: %s", ev, body.action, body.target, c.who, c.detail)
				}
				h.unchanged(t, 1)
			})
		}
	}
	// A wrong token at the login form sets no cookie.
	code, hdr, _ := send(t, "POST", h.web.URL+"/login", []byte("token=wrong-token-0123456789abcdef&next=/jobs"), "Content-Type", "application/x-www-form-urlencoded")
	if code != http.StatusUnauthorized || hdr.Get("Set-Cookie") != "" {
		t.Errorf("login with a wrong token: %d, Set-Cookie %q", code, hdr.Get("Set-Cookie"))
	}
	h.unchanged(t, 1)
}

// TestTokensComparedInConstantTime: the server's and the UI source's token
// checks go through crypto/subtle; no token is looked up in a map or
// compared with ==.
func TestTokensComparedInConstantTime(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	subtleIn := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		// tokenish: a name holding "tok", or a call on one
		// (strings.TrimSpace(tok)).
		var tokenish func(e ast.Expr) bool
		tokenish = func(e ast.Expr) bool {
			switch x := e.(type) {
			case *ast.Ident:
				return strings.Contains(strings.ToLower(x.Name), "tok")
			case *ast.SelectorExpr:
				return strings.Contains(strings.ToLower(x.Sel.Name), "tok")
			case *ast.CallExpr:
				return len(x.Args) == 1 && tokenish(x.Args[0])
			}
			return false
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.IndexExpr:
					if sel, ok := x.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Tokens" {
						t.Errorf("%s: %s looks a token up in Tokens (not constant time)", fset.Position(x.Pos()), fd.Name.Name)
					}
				case *ast.BinaryExpr:
					if x.Op != token.EQL && x.Op != token.NEQ {
						break
					}
					_, lit := x.Y.(*ast.BasicLit)
					_, lit2 := x.X.(*ast.BasicLit)
					if !lit && !lit2 && tokenish(x.X) && tokenish(x.Y) {
						t.Errorf("%s: %s compares tokens with %s", fset.Position(x.Pos()), fd.Name.Name, x.Op)
					}
				case *ast.SelectorExpr:
					if id, ok := x.X.(*ast.Ident); ok && id.Name == "subtle" && x.Sel.Name == "ConstantTimeCompare" {
						subtleIn[fd.Name.Name] = true
					}
				}
				return true
			})
		}
	}
	for _, fn := range []string{"auth", "Authorize"} {
		if !subtleIn[fn] {
			t.Errorf("%s does not compare tokens with subtle.ConstantTimeCompare", fn)
		}
	}
}

// TestHostileSecrets: the secrets of the jobs file and of a running
// container show in no answer of the API, no page of the UI, no event and
// no webhook body, whatever reads them: versions, diffs, jobs, history,
// inspect, nodes (a docker endpoint's password), action streams.
func TestHostileSecrets(t *testing.T) {
	hk := &hook{}
	hs := httptest.NewServer(hk)
	t.Cleanup(hs.Close)
	h := newHostile(t, func(o *Options) { o.Webhook = hs.URL })
	h.push(api.PushRequest{File: hostileV1}, 201)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the first poll", 10*time.Second, func() bool {
		info, err := h.cl.Info(tctx(t))
		return err == nil && !info.PolledAt.IsZero()
	})
	time.Sleep(300 * time.Millisecond) // the watch starts after the head is read
	h.push(api.PushRequest{File: hostileV2, Base: 1}, 201)
	waitFor(t, "the webhook", 10*time.Second, func() bool { return len(hk.all()) > 0 })

	type shown struct {
		what string
		b    []byte
	}
	var all []shown
	keep := func(what string, b []byte) { all = append(all, shown{what, b}) }

	// Actions that fail on app-2 (its error names the endpoint) and one
	// that runs on app-1.
	for _, p := range []string{"/jobs/mail.sms/up", "/jobs/core.api/reload", "/up", "/jobs/core.api/rollback"} {
		code, _, b := h.do("POST", p, testToken, nil)
		if code != 200 {
			t.Errorf("POST %s: %d %s", p, code, b)
		}
		streamLines(t, b)
		keep("POST "+p, b)
	}
	code, _, b := send(t, "POST", h.web.URL+"/ui/act", []byte(`{"verb": "up", "job": "mail.sms"}`),
		"Cookie", "cjob_ui="+testToken, "X-Cjob-UI", "1")
	if code != 200 || !bytes.Contains(b, []byte(`"result"`)) {
		t.Errorf("UI up: %d %s", code, b)
	}
	keep("UI act", b)

	for _, p := range []string{"/versions", "/versions/1", "/versions/2", "/versions/head", "/jobs", "/jobs/core.api", "/jobs/core.api?fresh=1",
		"/jobs/core.api/history", "/containers", "/containers/srvtest-core-api-1/inspect", "/containers/" + h.id[:12] + "/inspect",
		"/nodes", "/nodes?fresh=1", "/diff", "/events", "/events?limit=-1", "/info"} {
		keep("GET "+p, h.get(p, 200))
	}
	for _, p := range uiPages {
		for _, q := range []string{"", "?partial=1&fresh=1"} {
			_, b := h.page(t, p+q, testToken)
			keep("UI "+p+q, b)
		}
	}
	for _, b := range hk.all() {
		keep("webhook", b)
	}
	for _, e := range h.events() {
		keep("event "+e.Action+" "+e.Result, []byte(e.Who+"\n"+e.Target+"\n"+e.Detail))
	}
	for _, s := range all {
		for _, secret := range hostileSecrets {
			if i := bytes.Index(s.b, []byte(secret)); i >= 0 {
				t.Errorf("%s shows the secret %q: …%s…", s.what, secret, s.b[max(0, i-100):min(len(s.b), i+60)])
			}
		}
	}

	// What masking leaves: the masked values, the diff's word that a
	// secret changed, the webhook's version.
	var vd api.VersionDetail
	decode(t, h.get("/versions/2", 200), &vd)
	for _, want := range []string{"DB_PASSWORD: \"********\"", "postgres://u:********@db/x", "--db-password=********", "tcp://admin:********@127.0.0.1:1", "api_key: \"********\""} {
		if !strings.Contains(vd.File, want) {
			t.Errorf("version 2's file lacks %q:\n%s", want, vd.File)
		}
	}
	var wh Webhook
	decode(t, hk.all()[0], &wh)
	if wh.Version.Number != 2 || len(wh.Diff.Jobs) != 1 || !wh.Diff.Jobs[0].Secret {
		t.Errorf("webhook: %+v", wh)
	}
	var nodes []map[string]any
	decode(t, h.get("/nodes", 200), &nodes)
	if len(nodes) != 2 || nodes[1]["docker"] != "tcp://admin:********@127.0.0.1:1" || !strings.Contains(fmt.Sprint(nodes[1]["error"]), "app-2") {
		t.Errorf("nodes: %v", nodes)
	}
}

// TestHostileUITask: a UI reload of a task the job does not have answers
// JSON lines whose result says so, and runs nothing.
func TestHostileUITask(t *testing.T) {
	h := newHostile(t)
	h.push(api.PushRequest{File: hostileV1}, 201)
	code, _, b := send(t, "POST", h.web.URL+"/ui/act", []byte(`{"verb": "reload", "job": "core.api", "task": 9}`),
		"Cookie", "cjob_ui="+testToken, "X-Cjob-UI", "1")
	if code != 200 {
		t.Fatalf("UI reload of task 9: %d %s", code, b)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var last map[string]json.RawMessage
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("not a JSON line: %s", sc.Bytes())
		}
		json.Unmarshal(sc.Bytes(), &last)
	}
	var res struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(last["result"], &res); err != nil || res.OK || !strings.Contains(res.Message, "no task 9") {
		t.Errorf("result %s (%v)", last["result"], err)
	}
	h.unchanged(t, 1)
}

package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// These tests run the HTTP API on a real embedded etcd, without Docker:
// every host's engine is tcp://127.0.0.1:1, which refuses at once, so job
// states read as down and nodes as unreachable.

const (
	testToken = "test-token-0123456789abcdef"
	refused   = "tcp://127.0.0.1:1"
	// blackholed answers nothing: a dial to it hangs until its timeout
	// (or fails at once where there is no route at all).
	blackholed = "tcp://10.255.255.1:2375"
)

// Secrets of jobsFile's core.api: no response body may contain them.
var secrets = []string{"s3cret", ":pw@"}

// jobsFile is a jobs file with two hosts and four jobs (web is ambiguous:
// core.web and mail.web). core.api holds a secret env and a URL with a
// password.
func jobsFile(logLevel, password, docker2 string) string {
	return fmt.Sprintf(`project: srvtest
hosts:
  app-1: {address: 10.0.0.1, docker: %q}
  app-2: {address: 10.0.0.2, docker: %q}
services:
  core:
    jobs:
      api:
        image: example/api:1.0.0
        port: 8000
        env: {LOG_LEVEL: %s, DB_PASSWORD: %s, DATABASE_URL: "postgres://u:pw@db/x"}
        tasks: [{host: app-1}, {host: app-2}]
      web:
        image: example/web:1.0.0
        run_on_host: app-1
  mail:
    jobs:
      web:
        image: example/mailweb:1.0.0
        run_on_host: app-2
      sms:
        image: example/sms:1.0.0
        run_on_host: app-2
`, refused, docker2, logLevel, password)
}

var v1File = jobsFile("info", "s3cret", refused)

type fixture struct {
	t   *testing.T
	st  *store.Store
	srv *Server
	hs  *httptest.Server
	cl  *api.Client // with the token, as alice
	log *logBuf
}

// logBuf collects the server's log; safe to write after the test ended.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newFixture(t *testing.T, opts ...func(*Options)) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	lb := &logBuf{}
	o := Options{
		Store:        st,
		Tokens:       map[string]string{testToken: "ops"},
		PollInterval: time.Hour,
		PollTimeout:  time.Second,
		// No test may reach a real registry: every registry request goes
		// to a server that answers 503.
		Registry: registry.New(registry.Options{
			HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("no registry in tests")
			})},
			Auth: func(string) (string, string, bool) { return "", "", false },
		}),
		// Nor probe anything: every running task with a check is healthy.
		Probe: func(context.Context, *stack.Check, string) error { return nil },
		Logf:  lb.Logf,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", lb.String())
		}
	})
	return &fixture{t: t, st: st, srv: srv, hs: hs, cl: api.NewClient(hs.URL, testToken, "alice"), log: lb}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// do sends a request to path (under api.Prefix unless it starts with
// "/healthz") with the token (if any) and the headers given as pairs.
func (f *fixture) do(method, path, token string, body any, headers ...string) (int, http.Header, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		if s, ok := body.(string); ok {
			b = []byte(s) // raw text
		}
		rd = bytes.NewReader(b)
	}
	if !strings.HasPrefix(path, "/healthz") {
		path = api.Prefix + path
	}
	req, err := http.NewRequest(method, f.hs.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// get is do("GET", ...) that wants code.
func (f *fixture) get(path string, code int) []byte {
	f.t.Helper()
	got, _, b := f.do("GET", path, "", nil)
	if got != code {
		f.t.Fatalf("GET %s: %d, want %d:\n%s", path, got, code, b)
	}
	return b
}

func (f *fixture) push(req api.PushRequest, code int) (api.PushResult, []byte) {
	f.t.Helper()
	got, _, b := f.do("POST", "/versions", testToken, req, "X-Cjob-Author", "alice")
	if got != code {
		f.t.Fatalf("push: %d, want %d:\n%s", got, code, b)
	}
	var res api.PushResult
	if code < 300 {
		decode(f.t, b, &res)
	}
	return res, b
}

func (f *fixture) events() []store.Event {
	f.t.Helper()
	evs, err := f.st.Events(tctx(f.t), store.EventFilter{Limit: -1})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, b)
	}
}

func apiError(t *testing.T, b []byte) api.Error {
	t.Helper()
	var e api.Error
	decode(t, b, &e)
	if e.Error == "" {
		t.Fatalf("error answer without an error: %s", b)
	}
	return e
}

func noSecret(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, b)
		}
	}
}

func findEvent(evs []store.Event, action, result string) *store.Event {
	for i := range evs {
		if evs[i].Action == action && evs[i].Result == result {
			return &evs[i]
		}
	}
	return nil
}

func TestAuthRefused(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, path, token, author, action, target, what string
	}{
		{"push without a token", "/versions", "", "", "push", "", "no token"},
		{"push with a wrong token", "/versions", "wrong-token-0123456789", "mallory", "push", "", "a wrong token"},
		{"up without a token", "/jobs/api/up", "", "mallory", "up", "api", "no token"},
		{"up with a wrong token", "/jobs/core.api/up", "wrong-token-0123456789", "", "up", "core.api", "a wrong token"},
		{"a token prefix", "/versions", testToken[:len(testToken)-1], "", "push", "", "a wrong token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.author != "" {
				headers = []string{"X-Cjob-Author", c.author}
			}
			code, h, b := f.do("POST", c.path, c.token, api.PushRequest{File: v1File}, headers...)
			if code != http.StatusUnauthorized {
				t.Fatalf("%d, want 401:\n%s", code, b)
			}
			if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer ...", got)
			}
			if e := apiError(t, b); !strings.Contains(e.Error, c.what) || !strings.Contains(e.Error, "nothing was changed") || e.Hint == "" {
				t.Errorf("error %+v", e)
			}
			who := c.author
			if who == "" {
				who = "anonymous"
			}
			evs := f.events()
			if len(evs) == 0 {
				t.Fatal("no event recorded")
			}
			e := evs[0]
			if e.Result != "refused" || e.Action != c.action || e.Who != who || e.Target != c.target || !strings.Contains(e.Detail, "401") || !strings.Contains(e.Detail, c.what) {
				t.Errorf("newest event %+v, want %s refused by %s on %q", e, c.action, who, c.target)
			}
		})
	}
	vs, err := f.st.Versions(tctx(t), store.ListOptions{})
	if err != nil || len(vs) != 0 {
		t.Fatalf("refused pushes stored versions %v (%v)", vs, err)
	}
	if states, _ := f.st.JobStates(tctx(t)); len(states) != 0 {
		t.Errorf("refused actions stored job states %v", states)
	}
	if got := f.get("/versions", 200); strings.TrimSpace(string(got)) != "[]" {
		t.Errorf("GET /versions: %s, want []", got)
	}

	// The Go client reports the 401 as a StatusError.
	_, err = api.NewClient(f.hs.URL, "", "mallory").Push(tctx(t), api.PushRequest{File: v1File})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("client push without a token: %v", err)
	}

	// The right token: the push goes through, and the events name the
	// token's name and the author the client gives.
	res, err := f.cl.Push(tctx(t), api.PushRequest{File: v1File, Base: 0})
	if err != nil || res.Version.Number != 1 {
		t.Fatalf("push with the token: %+v %v", res, err)
	}
	if res.Version.Author != "alice (token ops)" {
		t.Errorf("author %q, want \"alice (token ops)\"", res.Version.Author)
	}
	if e := findEvent(f.events(), "push", "ok"); e == nil || e.Who != "alice (token ops)" || e.Version != 1 {
		t.Errorf("push event %+v", e)
	}
	// Without X-Cjob-Author the token's name is the author.
	code, _, b := f.do("POST", "/versions", testToken, api.PushRequest{File: jobsFile("debug", "s3cret", refused), Base: 1})
	var pr api.PushResult
	if decode(t, b, &pr); code != 201 || pr.Version.Author != "ops" {
		t.Errorf("push without an author: %d %s", code, b)
	}
}

func TestPush(t *testing.T) {
	f := newFixture(t)
	ctx := tctx(t)

	// Not JSON.
	code, _, b := f.do("POST", "/versions", testToken, "{not json")
	if code != 400 || !strings.Contains(apiError(t, b).Error, "reading the push") {
		t.Errorf("a push that is not JSON: %d %s", code, b)
	}

	// An invalid file: 400 with the loader's error at file:line:column,
	// nothing stored, a refused event.
	bad := strings.Replace(v1File, "run_on_host: app-1", "run_on_host: app-9", 1)
	_, b = f.push(api.PushRequest{File: bad}, 400)
	e := apiError(t, b)
	if !strings.Contains(e.Error, "nothing was stored") || !strings.Contains(e.Error, `pushed file:15:22: services.core.jobs.web.run_on_host: unknown host "app-9"`) {
		t.Errorf("invalid file: %+v", e)
	}
	if vs, _ := f.st.Versions(ctx, store.ListOptions{}); len(vs) != 0 {
		t.Fatalf("an invalid file was stored: %v", vs)
	}
	if ev := findEvent(f.events(), "push", "refused"); ev == nil || ev.Who != "alice (token ops)" {
		t.Errorf("refused push event: %+v", ev)
	}

	// Valid: 201, version 1, every job added.
	res, _ := f.push(api.PushRequest{File: v1File, Message: "first"}, 201)
	if !res.Created || res.Version.Number != 1 || res.Version.Previous != 0 || res.Version.File != "" || res.Version.Message != "first" || res.Version.Kind != "push" {
		t.Errorf("first push: %+v", res)
	}
	want := []string{"core.api", "core.web", "mail.sms", "mail.web"}
	if got := res.Diff.JobNames(); !slices.Equal(got, want) {
		t.Errorf("first push diff jobs %v, want %v", got, want)
	}
	for _, j := range res.Diff.Jobs {
		if j.Change != jobdiff.Added {
			t.Errorf("first push: %s is %s, want added", j.Job, j.Change)
		}
	}
	if ev := findEvent(f.events(), "push", "ok"); ev == nil || ev.Version != 1 || !strings.Contains(ev.Detail, `"first"`) || !strings.Contains(ev.Detail, "4 jobs are outdated") {
		t.Errorf("push event: %+v", ev)
	}

	// The same file again: 200, nothing created.
	res, _ = f.push(api.PushRequest{File: v1File, Base: 1}, 200)
	if res.Created || res.Version.Number != 1 || len(res.Diff.Jobs) != 0 {
		t.Errorf("identical push: %+v", res)
	}

	// A change on the head: version 2, core.api changed.
	v2 := jobsFile("debug", "s3cret", refused)
	res, _ = f.push(api.PushRequest{File: v2, Base: 1}, 201)
	if res.Version.Number != 2 || res.Version.Previous != 1 || res.Version.Base != 1 || res.Version.Forced {
		t.Errorf("second push: %+v", res.Version)
	}
	if len(res.Diff.Jobs) != 1 || res.Diff.Jobs[0].Job != "core.api" || res.Diff.Jobs[0].Change != jobdiff.Changed ||
		len(res.Diff.Jobs[0].Fields) != 1 || res.Diff.Jobs[0].Fields[0] != (jobdiff.Field{Name: "env.LOG_LEVEL", Old: "info", New: "debug"}) {
		t.Errorf("second push diff: %+v", res.Diff)
	}

	// A push based on version 1 while the head is 2: 409 with the head.
	v3 := jobsFile("warn", "s3cret", refused)
	_, b = f.push(api.PushRequest{File: v3, Base: 1}, 409)
	e = apiError(t, b)
	if e.Conflict == nil || e.Conflict.Number != 2 || e.Conflict.File != "" || e.Conflict.Author != "alice (token ops)" || !strings.Contains(e.Error, "version 2 was pushed by") {
		t.Errorf("stale push: %s", b)
	}
	if h, _ := f.st.Head(ctx); h.Number != 2 {
		t.Errorf("a refused push moved the head to %d", h.Number)
	}
	if ev := f.events()[0]; ev.Action != "push" || ev.Result != "refused" {
		t.Errorf("newest event after a conflict: %+v", ev)
	}
	// An empty base on a store that has versions conflicts too.
	f.push(api.PushRequest{File: v3, Base: 0}, 409)

	// Force: stored on the head, marked forced.
	res, _ = f.push(api.PushRequest{File: v3, Base: 1, Force: true, Message: "anyway"}, 201)
	if res.Version.Number != 3 || !res.Version.Forced || res.Version.Base != 1 || res.Version.Previous != 2 {
		t.Errorf("forced push: %+v", res.Version)
	}
	if ev := findEvent(f.events(), "push", "ok"); ev == nil || ev.Version != 3 || !strings.Contains(ev.Detail, "(forced)") {
		t.Errorf("forced push event: %+v", ev)
	}

	// Base -1: on whatever the head is.
	res, _ = f.push(api.PushRequest{File: jobsFile("error", "s3cret", refused), Base: -1}, 201)
	if res.Version.Number != 4 || res.Version.Base != 3 || res.Version.Forced {
		t.Errorf("push on the head (-1): %+v", res.Version)
	}

	// Versions list newest first, without files; limit and before.
	var vs []store.Version
	decode(t, f.get("/versions", 200), &vs)
	if len(vs) != 4 || vs[0].Number != 4 || vs[3].Number != 1 || vs[0].File != "" {
		t.Errorf("GET /versions: %+v", vs)
	}
	decode(t, f.get("/versions?limit=2&before=4", 200), &vs)
	if len(vs) != 2 || vs[0].Number != 3 || vs[1].Number != 2 {
		t.Errorf("GET /versions?limit=2&before=4: %+v", vs)
	}
	if vs, err := f.cl.Versions(ctx, 1); err != nil || len(vs) != 1 || vs[0].Number != 4 {
		t.Errorf("client Versions(1): %v %v", vs, err)
	}

	// One version.
	var vd api.VersionDetail
	decode(t, f.get("/versions/2", 200), &vd)
	if vd.Number != 2 || vd.File == "" || len(vd.Diff.Jobs) != 1 || vd.Diff.Jobs[0].Job != "core.api" {
		t.Errorf("GET /versions/2: %+v", vd)
	}
	if vd, err := f.cl.Version(ctx, 0); err != nil || vd.Number != 4 {
		t.Errorf("client Version(0) (head): %d %v", vd.Number, err)
	}
	for path, code := range map[string]int{"/versions/0": 400, "/versions/x": 400, "/versions/-1": 400, "/versions/99": 404} {
		if b := f.get(path, code); apiError(t, b).Error == "" {
			t.Errorf("GET %s: %s", path, b)
		}
	}
}

// TestPushListsEveryError wants every loader error in the answer, not
// just the first.
func TestPushListsEveryError(t *testing.T) {
	f := newFixture(t)
	bad := strings.Replace(v1File, "run_on_host: app-1", "run_on_host: app-9", 1)
	bad = strings.Replace(bad, "port: 8000", "port: 99999", 1)
	_, b := f.push(api.PushRequest{File: bad}, 400)
	e := apiError(t, b)
	if strings.Contains(e.Error, "more errors)") {
		t.Errorf("push answers prodspec.ErrorList.Error(), the first error only: %q", e.Error)
	}
	for _, want := range []string{"pushed file:10:15: ", "pushed file:15:22: "} {
		if !strings.Contains(e.Error, want) {
			t.Errorf("the error lacks %q:\n%s", want, e.Error)
		}
	}
}

func TestMasking(t *testing.T) {
	f := newFixture(t)
	var bodies []struct {
		what string
		b    []byte
	}
	keep := func(what string, b []byte) {
		bodies = append(bodies, struct {
			what string
			b    []byte
		}{what, b})
	}
	_, b := f.push(api.PushRequest{File: v1File}, 201)
	keep("push 1", b)
	// Version 2 changes the password (to another one holding s3cret) and
	// the log level.
	_, b = f.push(api.PushRequest{File: jobsFile("debug", "s3cret-two", refused), Base: 1}, 201)
	keep("push 2", b)
	for _, p := range []string{"/versions/1", "/versions/2", "/versions/head", "/versions", "/jobs", "/jobs/api",
		"/jobs/api/history", "/jobs/core.api/history", "/events", "/events?limit=-1", "/diff", "/info", "/nodes", "/containers"} {
		keep("GET "+p, f.get(p, 200))
	}
	for _, x := range bodies {
		noSecret(t, x.what, x.b)
	}

	var vd api.VersionDetail
	decode(t, f.get("/versions/1", 200), &vd)
	if !strings.Contains(vd.File, jobdiff.Masked) || !strings.Contains(vd.File, "postgres://u:"+jobdiff.Masked+"@db/x") || !strings.Contains(vd.File, "LOG_LEVEL: info") {
		t.Errorf("version 1's file is not masked as it should be:\n%s", vd.File)
	}
	h1 := vd.JobHashes["core.api"]
	if len(vd.JobHashes) != 4 || !strings.HasPrefix(h1, "sha256:") || vd.JobHashes["mail.sms"] == "" {
		t.Errorf("version 1 job_hashes: %v", vd.JobHashes)
	}
	decode(t, f.get("/versions/head", 200), &vd)
	if vd.Number != 2 || vd.JobHashes["core.api"] == h1 || vd.JobHashes["core.web"] == "" {
		t.Errorf("the head's core.api hash should differ from version 1's (a secret changed): %v", vd.JobHashes)
	}
	// The diff says a hidden value changed without showing it.
	if len(vd.Diff.Jobs) != 1 || !vd.Diff.Jobs[0].Secret {
		t.Fatalf("version 2 diff: %+v", vd.Diff)
	}
	found := false
	for _, fl := range vd.Diff.Jobs[0].Fields {
		if fl.Name == "env.DB_PASSWORD" {
			found = true
			if fl.Old != jobdiff.Masked || fl.New != jobdiff.Masked {
				t.Errorf("env.DB_PASSWORD: %+v", fl)
			}
		}
	}
	if !found {
		t.Errorf("version 2 diff lacks env.DB_PASSWORD: %+v", vd.Diff.Jobs[0])
	}

	var hist []api.JobHistory
	decode(t, f.get("/jobs/api/history", 200), &hist)
	if len(hist) != 2 || hist[0].Version.Number != 2 || hist[0].Change.Change != jobdiff.Changed || hist[1].Version.Number != 1 || hist[1].Change.Change != jobdiff.Added || hist[0].Version.File != "" {
		t.Errorf("history of core.api: %+v", hist)
	}
	decode(t, f.get("/jobs/sms/history", 200), &hist)
	if len(hist) != 1 || hist[0].Version.Number != 1 {
		t.Errorf("history of mail.sms: %+v", hist)
	}
}

func TestJobs(t *testing.T) {
	f := newFixture(t)
	ctx := tctx(t)
	for _, p := range []string{"/jobs", "/jobs/api", "/nodes", "/diff", "/containers", "/versions/head"} {
		if e := apiError(t, f.get(p, 404)); !strings.Contains(e.Error, "nothing has been pushed yet") {
			t.Errorf("GET %s before a push: %+v", p, e)
		}
	}
	f.push(api.PushRequest{File: v1File}, 201)

	jobs, err := f.cl.Jobs(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	needed := map[string]int{"core.api": 2, "core.web": 1, "mail.web": 1, "mail.sms": 1}
	if len(jobs) != len(needed) {
		t.Fatalf("GET /jobs: %+v", jobs)
	}
	for _, j := range jobs {
		if j.Needed != needed[j.Job] || j.State != "down" || j.Desired != "up" || j.Running != 0 || len(j.Tasks) != j.Needed {
			t.Errorf("job %+v: want %d needed, down, desired up", j, needed[j.Job])
		}
		for _, tk := range j.Tasks {
			if tk.State != "missing" || tk.Host == "" {
				t.Errorf("%s task %+v", j.Job, tk)
			}
		}
	}
	if jobs, err := f.cl.Jobs(ctx, true); err != nil || len(jobs) != 4 {
		t.Errorf("GET /jobs?fresh=1: %v %v", jobs, err)
	}

	// Short names resolve when unique.
	for name, full := range map[string]string{"api": "core.api", "sms": "mail.sms", "core.web": "core.web", "mail.web": "mail.web"} {
		j, err := f.cl.Job(ctx, name, false)
		if err != nil || j.Job != full || j.Hosts == nil {
			t.Errorf("GET /jobs/%s: %+v %v", name, j, err)
		}
	}
	var j status.Job
	decode(t, f.get("/jobs/api", 200), &j)
	if j.Job != "core.api" || !slices.Equal(j.Hosts, []string{"app-1", "app-2"}) || j.Image != "example/api:1.0.0" {
		t.Errorf("GET /jobs/api: %+v", j)
	}

	// Unknown: 404 with a suggestion; ambiguous: 404 naming both.
	e := apiError(t, f.get("/jobs/apj", 404))
	if !strings.Contains(e.Error, `did you mean "core.api"`) || e.Hint == "" {
		t.Errorf("GET /jobs/apj: %+v", e)
	}
	e = apiError(t, f.get("/jobs/web", 404))
	if !strings.Contains(e.Error, "ambiguous") || !strings.Contains(e.Error, "core.web") || !strings.Contains(e.Error, "mail.web") {
		t.Errorf("GET /jobs/web: %+v", e)
	}
	_, err = f.cl.Job(ctx, "nope", false)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("client Job(nope): %v", err)
	}
	for _, p := range []string{"/jobs/apj/history", "/jobs/apj/tags"} {
		f.get(p, 404)
	}

	// Without engines there are no containers.
	if b := f.get("/containers", 200); strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("GET /containers: %s", b)
	}
	if e := apiError(t, f.get("/containers/core-api-1/logs", 404)); !strings.Contains(e.Error, "no production container core-api-1") {
		t.Errorf("logs of an unknown container: %+v", e)
	}
	f.get("/containers/core-api-1/inspect", 404)

	// The diff: every task to create, every host unreachable.
	diff, err := f.cl.Diff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byJob := map[string][]string{}
	for _, d := range diff {
		byJob[d.Job] = d.Tasks
	}
	if len(byJob["core.api"]) != 2 || len(byJob["mail.sms"]) != 1 || len(byJob["(host app-1)"]) != 1 || !strings.Contains(byJob["(host app-2)"][0], "unreachable") {
		t.Errorf("GET /diff: %+v", diff)
	}

	// The tags of a job's image: the registry cannot be reached.
	code, _, b := f.do("GET", "/jobs/api/tags", "", nil)
	if code != http.StatusBadGateway || apiError(t, b).Error == "" {
		t.Errorf("GET /jobs/api/tags without a registry: %d %s", code, b)
	}

	// Info, health, unknown endpoints.
	info, err := f.cl.Info(ctx)
	if err != nil || info.Head != 1 || info.Project != "srvtest" || info.Hosts != 2 || !info.Embedded || len(info.Etcd) != 1 || info.Webhook || info.PollInterval != "1h0m0s" {
		t.Errorf("GET /info: %+v %v", info, err)
	}
	if b := f.get("/healthz", 200); string(b) != "ok\n" {
		t.Errorf("GET /healthz: %q", b)
	}
	if e := apiError(t, f.get("/nope", 404)); !strings.Contains(e.Error, "no endpoint GET /api/v1/nope") {
		t.Errorf("unknown endpoint: %+v", e)
	}
	code, _, _ = f.do("DELETE", "/versions/1", testToken, nil)
	if code != 404 && code != 405 {
		t.Errorf("DELETE /versions/1: %d", code)
	}
}

func TestNodes(t *testing.T) {
	f := newFixture(t)
	f.push(api.PushRequest{File: v1File}, 201)
	nodes, err := f.cl.Nodes(tctx(t), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("GET /nodes: %+v", nodes)
	}
	for i, n := range nodes {
		name := fmt.Sprintf("app-%d", i+1)
		if n.Name != name || n.Reachable || !strings.Contains(n.Error, "host "+name) || n.Docker != refused || n.Checked.IsZero() {
			t.Errorf("node %+v: want %s unreachable, its error naming it", n, name)
		}
	}
	if nodes[0].Tasks != 2 || nodes[1].Tasks != 3 {
		t.Errorf("tasks per node: %d, %d; want 2, 3", nodes[0].Tasks, nodes[1].Tasks)
	}
	if info, _ := f.cl.Info(tctx(t)); info.PolledAt.IsZero() {
		t.Errorf("info: no polled_at after a poll: %+v", info)
	}
}

// TestNodesSlowHost: a host that never answers is marked unreachable after
// the poll timeout and holds nothing up.
func TestNodesSlowHost(t *testing.T) {
	// A listener that accepts connections and never answers: the dial
	// succeeds and the engine's ping hangs, wherever the test runs
	// (10.255.255.1 may fail at once where there is no route).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	for _, slow := range []string{blackholed, "tcp://" + l.Addr().String()} {
		t.Run(slow, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.PollTimeout = 300 * time.Millisecond })
			f.push(api.PushRequest{File: jobsFile("info", "s3cret", slow)}, 201)
			for _, p := range []string{"/nodes?fresh=1", "/jobs?fresh=1", "/jobs/sms?fresh=1", "/diff"} {
				start := time.Now()
				b := f.get(p, 200)
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("GET %s took %s with a host that never answers and a 300ms poll timeout", p, took)
				}
				if p == "/nodes?fresh=1" {
					var nodes []status.Node
					decode(t, b, &nodes)
					if len(nodes) != 2 || nodes[1].Name != "app-2" || nodes[1].Reachable || !strings.Contains(nodes[1].Error, "app-2") || nodes[0].Reachable {
						t.Errorf("nodes: %+v", nodes)
					}
					t.Logf("the slow host: %s", nodes[1].Error)
				}
			}
		})
	}
}

func TestActions(t *testing.T) {
	f := newFixture(t)
	ctx := tctx(t)
	f.push(api.PushRequest{File: v1File}, 201)

	code, _, b := f.do("POST", "/jobs/api/update", testToken, api.ActionRequest{})
	if e := apiError(t, b); code != 400 || !strings.Contains(e.Error, "update needs a tag") {
		t.Errorf("update without a tag: %d %+v", code, e)
	}
	code, _, b = f.do("POST", "/jobs/api/bogus", testToken, nil)
	if e := apiError(t, b); code != 404 || !strings.Contains(e.Error, "no action bogus") || !strings.Contains(e.Hint, "rolling-update") {
		t.Errorf("unknown action: %d %+v", code, e)
	}
	code, _, b = f.do("POST", "/jobs/apj/up", testToken, nil)
	if e := apiError(t, b); code != 404 || !strings.Contains(e.Error, "did you mean") {
		t.Errorf("up on an unknown job: %d %+v", code, e)
	}
	code, _, b = f.do("POST", "/jobs/api/up", testToken, "{not json")
	if code != 400 {
		t.Errorf("up with a body that is not JSON: %d %s", code, b)
	}

	// up on unreachable hosts: a 200 stream whose result says why, a
	// failed event, and no desired state recorded.
	code, h, b := f.do("POST", "/jobs/api/up", testToken, nil, "X-Cjob-Author", "alice")
	if code != 200 || h.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("up: %d %s\n%s", code, h.Get("Content-Type"), b)
	}
	lines := streamLines(t, b)
	last := lines[len(lines)-1]
	if last.Result == nil || !strings.Contains(last.Result.Error, "unreachable") || !strings.Contains(last.Result.Error, "nothing was changed") {
		t.Errorf("up's result: %s", b)
	}
	for _, l := range lines[:len(lines)-1] {
		if l.Result != nil {
			t.Errorf("a result before the last line: %s", b)
		}
	}
	ev := f.events()[0]
	if ev.Action != "up" || ev.Result != "failed" || ev.Target != "core.api" || ev.Who != "alice (token ops)" || !strings.Contains(ev.Detail, "unreachable") {
		t.Errorf("up event: %+v", ev)
	}
	if states, _ := f.st.JobStates(ctx); len(states) != 0 {
		t.Errorf("a failed up recorded job states: %v", states)
	}

	// The client reads the same stream.
	res, err := f.cl.Action(ctx, "sms", "down", api.ActionRequest{}, nil)
	if err != nil || res.Error == "" {
		t.Errorf("client down: %+v %v", res, err)
	}
	if ev := f.events()[0]; ev.Action != "down" || ev.Target != "mail.sms" || ev.Result != "failed" {
		t.Errorf("down event: %+v", ev)
	}

	// rollback with a single version: nothing to roll back to, nothing
	// pushed.
	res, err = f.cl.Action(ctx, "api", "rollback", api.ActionRequest{}, nil)
	if err != nil || !strings.Contains(res.Error, "nothing to roll back to") || res.Version != 0 {
		t.Errorf("rollback with one version: %+v %v", res, err)
	}
	if h, _ := f.st.Head(ctx); h.Number != 1 {
		t.Errorf("a failed rollback pushed version %d", h.Number)
	}
}

func streamLines(t *testing.T, b []byte) []api.StreamLine {
	t.Helper()
	var out []api.StreamLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l api.StreamLine
		decode(t, sc.Bytes(), &l)
		out = append(out, l)
	}
	if len(out) == 0 {
		t.Fatalf("an empty stream")
	}
	return out
}

// hook records what the server POSTs to its webhook.
type hook struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

func (h *hook) all() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.bodies)
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhook(t *testing.T) {
	hk := &hook{}
	hs := httptest.NewServer(hk)
	t.Cleanup(hs.Close)
	f := newFixture(t, func(o *Options) { o.Webhook = hs.URL })
	f.push(api.PushRequest{File: v1File}, 201)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of its context's end")
		}
	})
	// Run reads the head, then watches from there; let the watch start
	// (see the race described in the report: a version pushed before
	// WatchHead is called is never announced).
	waitFor(t, "the first poll", 10*time.Second, func() bool {
		info, err := f.cl.Info(tctx(t))
		return err == nil && !info.PolledAt.IsZero()
	})
	time.Sleep(300 * time.Millisecond)
	if info, _ := f.cl.Info(tctx(t)); !info.Webhook {
		t.Errorf("info.webhook false with a webhook")
	}

	// Version 2 changes core.api (a secret among others).
	if _, err := f.cl.Push(tctx(t), api.PushRequest{File: jobsFile("debug", "s3cret-two", refused), Base: 1, Message: "more logs"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the webhook", 10*time.Second, func() bool { return len(hk.all()) > 0 })
	bodies := hk.all()
	if len(bodies) != 1 {
		t.Errorf("%d webhook calls, want 1 (version 1 was there before Run)", len(bodies))
	}
	b := bodies[0]
	noSecret(t, "the webhook body", b)
	var wh Webhook
	decode(t, b, &wh)
	if wh.Event != "version" || wh.Version.Number != 2 || wh.Version.File != "" || wh.Version.Message != "more logs" ||
		!slices.Equal(wh.Outdated, []string{"core.api"}) || len(wh.Diff.Jobs) != 1 || !wh.Diff.Jobs[0].Secret ||
		!strings.Contains(wh.Text, "version 2") || !strings.Contains(wh.Text, "core.api") {
		t.Errorf("webhook body:\n%s", b)
	}
	var raw map[string]any
	decode(t, b, &raw)
	if v, _ := raw["version"].(map[string]any); v["number"] != float64(2) {
		t.Errorf("webhook version.number: %v", raw["version"])
	}

	waitFor(t, "the outdated and webhook events", 10*time.Second, func() bool {
		evs := f.events()
		return findEvent(evs, "outdated", "ok") != nil && findEvent(evs, "webhook", "ok") != nil
	})
	evs := f.events()
	if e := findEvent(evs, "outdated", "ok"); e.Version != 2 || e.Detail != "version 2: job core.api is outdated" || e.Who != "alice (token ops)" {
		t.Errorf("outdated event: %+v", e)
	}
	if e := findEvent(evs, "webhook", "ok"); e.Version != 2 || !strings.Contains(e.Detail, hs.URL) || e.Who != "cjob-server" {
		t.Errorf("webhook event: %+v", e)
	}
	for _, e := range evs {
		noSecret(t, "event "+e.ID, []byte(e.Detail))
	}
	if info, _ := f.cl.Info(tctx(t)); info.Head != 2 {
		t.Errorf("info.head %d after version 2", info.Head)
	}
}

// TestRunLoadsHead: a server started on a store that holds versions serves
// the head without a push of its own.
func TestRunLoadsHead(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.st.Push(tctx(t), store.PushRequest{File: v1File, Author: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	f.get("/jobs", 404) // not loaded before Run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the head", 10*time.Second, func() bool {
		code, _, _ := f.do("GET", "/jobs", "", nil)
		return code == 200
	})
	info, err := f.cl.Info(tctx(t))
	if err != nil || info.Head != 1 || info.Project != "srvtest" {
		t.Errorf("info: %+v %v", info, err)
	}
}

func TestReadTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("tokens", "# operators\n\nalice:0123456789abcdef0123\n  bob : fedcba9876543210fedc  \n\t0011223344556677889900\n   # indented comment\n")
	toks, err := ReadTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0123456789abcdef0123": "alice", "fedcba9876543210fedc": "bob", "0011223344556677889900": "operator"}
	if len(toks) != len(want) {
		t.Errorf("tokens %v, want %v", toks, want)
	}
	for tok, name := range want {
		if toks[tok] != name {
			t.Errorf("token %s: name %q, want %q", tok, toks[tok], name)
		}
	}

	p = write("short", "# ok\nalice:0123456789abcdef0123\ncarol:short\n")
	if _, err := ReadTokens(p); err == nil || !strings.Contains(err.Error(), p+":3: token is 5 characters") {
		t.Errorf("a short token: %v", err)
	}
	p = write("shortbare", "0123456789abcde\n")
	if _, err := ReadTokens(p); err == nil || !strings.Contains(err.Error(), p+":1: token is 15 characters") {
		t.Errorf("a short unnamed token: %v", err)
	}
	for _, s := range []string{"", "# only a comment\n\n"} {
		p = write("empty", s)
		if _, err := ReadTokens(p); err == nil || !strings.Contains(err.Error(), "holds no token") {
			t.Errorf("empty file %q: %v", s, err)
		}
	}
	if _, err := ReadTokens(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "token file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestUpAll: POST /up brings every job up; on unreachable hosts it
// changes nothing and says so.
func TestUpAll(t *testing.T) {
	f := newFixture(t)
	code, _, b := f.do("POST", "/up", testToken, nil)
	if code != 404 || !strings.Contains(apiError(t, b).Error, "nothing has been pushed yet") {
		t.Errorf("up of every job before a push: %d %s", code, b)
	}
	f.push(api.PushRequest{File: v1File}, 201)

	code, h, b := f.do("POST", "/up", "", nil, "X-Cjob-Author", "mallory")
	if code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("up of every job without a token: %d %s", code, b)
	}
	t.Run("the refused event names the action", func(t *testing.T) {
		e := f.events()[0]
		if e.Result != "refused" || e.Who != "mallory" {
			t.Fatalf("newest event: %+v", e)
		}
		if e.Action == "push" {
			t.Errorf("a refused POST /up is recorded as action %q (actionOf)", e.Action)
		}
		if e.Action != "up" {
			t.Errorf("refused up recorded as action %q", e.Action)
		}
	})

	res, err := f.cl.UpAll(tctx(t), nil)
	if err != nil || res == nil || !strings.Contains(res.Error, "unreachable") || !strings.Contains(res.Error, "nothing was changed") {
		t.Fatalf("up of every job on unreachable hosts: %+v %v", res, err)
	}
	e := f.events()[0]
	if e.Action != "up" || e.Target != "(all jobs)" || e.Result != "failed" || e.Version != 1 || e.Who != "alice (token ops)" {
		t.Errorf("event: %+v", e)
	}
	if states, _ := f.st.JobStates(tctx(t)); len(states) != 0 {
		t.Errorf("a failed up of every job recorded job states: %v", states)
	}
}

// TestPruneEvents: with KeepEvents, Run removes older events and keeps
// newer ones.
func TestPruneEvents(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.KeepEvents = 24 * time.Hour })
	old, err := f.st.AddEvent(tctx(t), store.Event{Time: time.Now().Add(-100 * 24 * time.Hour), Who: "past", Action: "up", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddEvent(tctx(t), store.Event{Who: "now", Action: "up", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the old event pruned", 10*time.Second, func() bool {
		for _, e := range f.events() {
			if e.ID == old.ID {
				return false
			}
		}
		return true
	})
	if findEvent(f.events(), "up", "ok") == nil {
		t.Errorf("the recent event was pruned too")
	}
}

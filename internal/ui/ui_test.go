package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

func newTestUI(f *fakeSource) *UI {
	return New(f, Options{Now: func() time.Time { return testNow }})
}

type req struct {
	method, target, body string
	cookie               string // token
	headers              map[string]string
}

func do(t *testing.T, u *UI, r req) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	hr := httptest.NewRequest(r.method, r.target, strings.NewReader(r.body))
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: cookieName, Value: url.PathEscape(r.cookie)})
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	u.Handler().ServeHTTP(w, hr)
	return w
}

func get(t *testing.T, u *UI, target string) (int, string) {
	t.Helper()
	w := do(t, u, req{target: target})
	return w.Code, w.Body.String()
}

func mustContain(t *testing.T, page, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", page, w)
		}
	}
}

func mustNotContain(t *testing.T, page, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s: has %q", page, b)
		}
	}
}

var allPages = []string{"/services", "/jobs", "/jobs/coding-core.api", "/jobs/coding-mail.sms", "/containers", "/containers/coding-core.api.1", "/nodes", "/history", "/events", "/topology", "/login"}

func TestPagesRender(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	for _, p := range allPages {
		code, body := get(t, u, p)
		if code != 200 {
			t.Errorf("%s: status %d\n%s", p, code, body)
		}
		mustContain(t, p, body, "<!doctype html>", `<main id="main">`, `id="env"`, "production", `id="refresh-now"`, `id="last-refresh"`, `data-refresh="10000"`, "/assets/ui.css?v=", "/assets/ui.js?v=")
	}

	_, body := get(t, u, "/services")
	mustContain(t, "services", body,
		`data-job="coding-core.api" data-state="outdated" data-running="2" data-needed="2" data-outdated="1"`,
		`data-job="coding-core.worker" data-state="down" data-running="0" data-needed="1" data-outdated="0"`,
		`data-job="coding-mail.migrate" data-state="completed"`,
		"(critical)", `data-service="coding-core"`, `data-service="coding-mail"`, `<details class="svc"`,
		`id="filter"`, `<b id="total-jobs">4</b>`, `<span id="total-running">3</span>/<span id="total-needed">4</span>`,
		`<b id="total-outdated">1</b>`, `<span id="total-hosts-down">1</span>/4`, `<b id="total-critical">0</b>`)

	_, body = get(t, u, "/jobs")
	for _, j := range f.snap.Jobs {
		mustContain(t, "jobs", body, `data-job="`+j.Job.Job+`"`)
	}

	_, body = get(t, u, "/jobs/coding-core.api")
	mustContain(t, "job", body,
		`<section class="job-head" data-job="coding-core.api" data-state="outdated" data-running="2" data-needed="2" data-outdated="1">`,
		"core-app-1", "core-app-2", `href="/containers/coding-core.api.1"`, `href="/containers/coding-core.api.2"`,
		"coding/api:1.0.0", "unhealthy: connection refused", "healthy", "200 MiB", "300 MiB",
		`id="def-pushed"`, `id="def-running"`, "http://127.0.0.1:18080", "outdated")
	if strings.Count(body, `data-job="coding-core.api"`) != 1 {
		t.Errorf("job page read-only: data-job should mark the job once")
	}

	_, body = get(t, u, "/jobs/coding-mail.sms")
	mustContain(t, "swapped job", body, `id="swap"`, "/home/dev/sms", "coding/sms:dev-abc123", "550ms", "1.5s", "Build log", "&lt;b&gt;built&lt;/b&gt;")
	mustNotContain(t, "swapped job", body, "<b>built</b>", `id="def-pushed"`)

	_, body = get(t, u, "/containers")
	for _, c := range []string{"coding-core.api.1", "coding-core.api.2", "coding-mail.sms.1", "coding-mail.migrate.1"} {
		mustContain(t, "containers", body, `data-container="`+c+`"`)
	}
	mustContain(t, "containers", body, "1 task without a container", "core-app-2", "Up 3 days", "unhealthy: connection refused")

	_, body = get(t, u, "/containers/coding-core.api.1")
	mustContain(t, "container", body, `<pre id="inspect"`, `&#34;Id&#34;: &#34;aaaaaaaaaaaa1111&#34;`, "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
		`<pre id="log"`, `id="log-search"`, `data-log-url="/ui/logs/coding-core.api.1"`, `href="/jobs/coding-core.api"`)
	mustNotContain(t, "container", body, "<script>alert(1)")
	// The log is outside <main>: the refresh does not touch it.
	if i, j := strings.Index(body, "</main>"), strings.Index(body, `id="log"`); i < 0 || j < i {
		t.Errorf("container: the log should follow </main>")
	}

	_, body = get(t, u, "/nodes")
	mustContain(t, "nodes", body, `data-node="core-app-1" data-up="true"`, `data-node="core-app-3" data-up="false"`,
		"dial tcp 10.0.2.13:2376: i/o timeout", "20.10.24", "8.0 GiB", "5000 ms", "1 down")

	_, body = get(t, u, "/history")
	mustContain(t, "history", body, "Version 7", "Version 6", "alice", "api 1.1.0 &lt;script&gt;", "coding/api:1.0.0", "coding/api:1.1.0",
		"image: coding/api:1.0.0 -&gt; coding/api:1.1.0", "&#43; coding-mail.sms", `href="/history"`)

	_, body = get(t, u, "/events")
	mustContain(t, "events", body, `data-action="reload" data-result="failed"`, `data-action="push" data-result="ok"`, "task 2: unhealthy", `href="/jobs/coding-core.api"`)

	_, body = get(t, u, "/topology")
	for _, j := range f.snap.Jobs {
		mustContain(t, "topology", body, `data-job="`+j.Job.Job+`" data-state="`+j.Job.State+`"`)
		for _, tk := range j.Job.Tasks {
			if tk.Container != "" {
				mustContain(t, "topology", body, `data-container="`+tk.Container+`"`)
			}
		}
	}
	mustContain(t, "topology", body, "core-app-3 (down)", "task 1 <small>missing</small>", `t-ctr s-idle`, `t-ctr s-bad`)
	// The dependency graph: a node per job, an edge per dependency on a
	// job shown (none to a job that is not), its reason in the title.
	for _, j := range f.snap.Jobs {
		mustContain(t, "topology", body, `data-node="`+j.Job.Job+`" data-state="`+j.Job.State+`"`)
	}
	mustContain(t, "topology", body, `data-edge="coding-core.api->coding-mail.migrate"`, `data-edge="coding-core.api->coding-mail.sms"`,
		`data-edge="coding-core.worker->coding-core.api"`, "coding-core.api → coding-mail.sms (SMS_URL)", "⇄ swapped", "<svg")
	if strings.Contains(body, "gone.job") {
		t.Error("the graph draws an edge to a job that is not shown")
	}
	if n := strings.Count(body, `class="g-edge"`); n != 3 {
		t.Errorf("%d edges, want 3", n)
	}
}

func TestTopologyHasEveryContainer(t *testing.T) {
	f := bigFake(10, 5, 2, 7)
	u := newTestUI(f)
	_, body := get(t, u, "/topology")
	n := 0
	for _, j := range f.snap.Jobs {
		for _, tk := range j.Job.Tasks {
			n++
			mustContain(t, "topology", body, `data-container="`+tk.Container+`"`)
		}
	}
	if got := strings.Count(body, `class="t-ctr `); got != n {
		t.Errorf("topology has %d containers, want %d", got, n)
	}
}

func TestRedirectAndNotFound(t *testing.T) {
	u := newTestUI(newFake())
	w := do(t, u, req{target: "/"})
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/services" {
		t.Errorf("/: %d %q", w.Code, w.Header().Get("Location"))
	}
	code, body := get(t, u, "/jobs/coding-core.nope")
	if code != 404 {
		t.Errorf("unknown job: %d", code)
	}
	mustContain(t, "unknown job", body, "No job coding-core.nope", `href="/jobs"`)
	code, body = get(t, u, "/containers/ghost")
	if code != 404 {
		t.Errorf("unknown container: %d", code)
	}
	mustContain(t, "unknown container", body, "No container ghost", `href="/containers"`)
	code, body = get(t, u, "/jobs/coding-core.nope?partial=1")
	if code != 404 || strings.Contains(body, "<html") || !strings.Contains(body, "No job coding-core.nope") {
		t.Errorf("unknown job partial: %d %s", code, body)
	}
	code, _ = get(t, u, "/what")
	if code != 404 {
		t.Errorf("unknown page: %d", code)
	}
}

func TestReadOnly(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	for _, p := range allPages {
		_, body := get(t, u, p)
		mustNotContain(t, p, body, `class="action"`, `class="action `, `id="confirm"`, `id="who"`, `data-verb=`)
		mustContain(t, p, body, `id="login-link"`, "read-only")
	}
	// /ui/act without a cookie: 401, nothing done.
	w := do(t, u, req{method: "POST", target: "/ui/act", body: `{"verb":"reload","job":"coding-core.api"}`, headers: map[string]string{"X-Cjob-UI": "1"}})
	if w.Code != http.StatusUnauthorized {
		t.Errorf("act without cookie: %d", w.Code)
	}
	// A wrong cookie is no cookie.
	w = do(t, u, req{method: "POST", target: "/ui/act", cookie: "wrong", body: `{"verb":"reload","job":"coding-core.api"}`, headers: map[string]string{"X-Cjob-UI": "1"}})
	if w.Code != http.StatusUnauthorized {
		t.Errorf("act with a wrong cookie: %d", w.Code)
	}
	// With the cookie but without the header: 403.
	w = do(t, u, req{method: "POST", target: "/ui/act", cookie: "s3cret", body: `{"verb":"reload","job":"coding-core.api"}`})
	if w.Code != http.StatusForbidden {
		t.Errorf("act without X-Cjob-UI: %d", w.Code)
	}
	// No action by GET.
	w = do(t, u, req{target: "/ui/act?verb=reload&job=coding-core.api", cookie: "s3cret", headers: map[string]string{"X-Cjob-UI": "1"}})
	if w.Code == 200 {
		t.Errorf("GET /ui/act: %d", w.Code)
	}
	if a := f.actions(); len(a) != 0 {
		t.Errorf("Act called: %+v", a)
	}
	// Wrong token: the form again, 401.
	w = do(t, u, req{method: "POST", target: "/login", body: "token=nope&next=/jobs", headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "wrong token") || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d %v", w.Code, w.Result().Cookies())
	}
}

// login logs in through the form and returns the cookie's value.
func login(t *testing.T, u *UI, token string) *http.Cookie {
	t.Helper()
	w := do(t, u, req{method: "POST", target: "/login", body: url.Values{"token": {token}, "next": {"/jobs/coding-core.api"}}.Encode(),
		headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/jobs/coding-core.api" {
		t.Fatalf("login: %d %q", w.Code, w.Header().Get("Location"))
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != cookieName {
		t.Fatalf("login cookies: %v", cs)
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie attributes: %+v", c)
	}
	return c
}

func doWith(t *testing.T, u *UI, c *http.Cookie, method, target, body string, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	hr := httptest.NewRequest(method, target, strings.NewReader(body))
	hr.AddCookie(c)
	for k, v := range headers {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	u.Handler().ServeHTTP(w, hr)
	return w
}

var verbRE = regexp.MustCompile(`<button type="button" class="action[^"]*" data-verb="([^"]+)"`)

func TestLoggedIn(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	c := login(t, u, "s3cret")
	verbs := map[string]bool{}
	for _, p := range allPages {
		w := doWith(t, u, c, "GET", p, "", nil)
		body := w.Body.String()
		mustContain(t, p, body, `<span id="who">alice</span>`, `id="confirm"`, `id="confirm-yes"`, `id="confirm-no"`, `id="action-log"`, `id="action-result"`)
		mustNotContain(t, p, body, `id="login-link"`)
		for _, m := range verbRE.FindAllStringSubmatch(body, -1) {
			verbs[m[1]] = true
		}
	}
	var got []string
	for v := range verbs {
		got = append(got, v)
	}
	sort.Strings(got)
	want := slices.Clone(f.env.Actions)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("action buttons for %v, want %v", got, want)
	}

	body := doWith(t, u, c, "GET", "/jobs/coding-core.api", "", nil).Body.String()
	mustContain(t, "job", body,
		`data-verb="reload" data-job="coding-core.api" data-confirm="Reload every task of coding-core.api on core-app-1, core-app-2?"`,
		`data-verb="reload" data-job="coding-core.api" data-task="2" data-confirm="Reload task 2 of coding-core.api on core-app-2`,
		`name="tag"`, `data-confirm-tag="Rolling-update coding-core.api on core-app-1, core-app-2 to image tag {tag}:`,
		`name="version"`, `data-confirm-version=`)
	body = doWith(t, u, c, "GET", "/history", "", nil).Body.String()
	mustContain(t, "history", body, `data-verb="deploy" data-version="7"`, `data-verb="deploy" data-version="6"`)

	// A token with characters a cookie cannot hold as they are.
	c2 := login(t, u, "t/x,y;z")
	body = doWith(t, u, c2, "GET", "/services", "", nil).Body.String()
	mustContain(t, "odd token", body, `<span id="who">bob</span>`)

	// Logout clears the cookie.
	w := doWith(t, u, c, "POST", "/logout", "next=/nodes", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/nodes" {
		t.Errorf("logout: %d %q", w.Code, w.Header().Get("Location"))
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout cookie: %+v", cs)
	}
}

func TestDevRestoreOnlyForSwappedJobs(t *testing.T) {
	f := newFake()
	f.env = Env{Name: stack.Dev, Project: "coding", Actions: []string{"up", "down", "reload", "restore"}}
	f.noVersion = true
	u := newTestUI(f)
	c := login(t, u, "s3cret")
	body := doWith(t, u, c, "GET", "/jobs/coding-mail.sms", "", nil).Body.String()
	mustContain(t, "swapped", body, `data-verb="restore" data-job="coding-mail.sms"`, "replace the local build of /home/dev/sms with the image coding/sms:3", `class="env env-dev"`)
	body = doWith(t, u, c, "GET", "/jobs/coding-core.api", "", nil).Body.String()
	mustNotContain(t, "not swapped", body, `data-verb="restore"`, `data-verb="rolling-update"`, `data-verb="deploy"`)
	mustContain(t, "not swapped", body, `data-verb="up"`)
}

func readNDJSON(t *testing.T, r io.Reader) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestAct(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	c := login(t, u, "s3cret")
	hdr := map[string]string{"X-Cjob-UI": "1", "Content-Type": "application/json"}

	w := doWith(t, u, c, "POST", "/ui/act", `{"verb":"reload","job":"coding-core.api","task":2}`, hdr)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("act: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	lines := readNDJSON(t, w.Body)
	if len(lines) != 3 {
		t.Fatalf("act: %d lines: %v", len(lines), lines)
	}
	var ev struct {
		Unit, Action, Status string
		ElapsedMS            *int64 `json:"elapsed_ms"`
	}
	if err := json.Unmarshal(lines[1]["event"], &ev); err != nil || ev.Unit != "coding-core.api" || ev.Action != "Recreated" || ev.Status != "done" || ev.ElapsedMS == nil || *ev.ElapsedMS != 250 {
		t.Errorf("event: %s %v", lines[1]["event"], err)
	}
	var res Result
	if err := json.Unmarshal(lines[2]["result"], &res); err != nil || !res.OK || res.Message != "reload coding-core.api: 1 change in 250ms" || len(res.Details) != 1 {
		t.Errorf("result: %s %v", lines[2]["result"], err)
	}
	acts := f.actions()
	if len(acts) != 1 || acts[0] != (Action{Verb: "reload", Job: "coding-core.api", Task: 2, Who: "alice"}) {
		t.Errorf("acts: %+v", acts)
	}

	// Verbs the environment does not take, and incomplete requests.
	for _, body := range []string{`{"verb":"restore","job":"coding-core.api"}`, `{"verb":"","job":"coding-core.api"}`, `{"verb":"reload"}`, `{"verb":"deploy"}`, `not json`, `{"verb":"reload","job":"x","task":-1}`} {
		w = doWith(t, u, c, "POST", "/ui/act", body, hdr)
		if w.Code != http.StatusBadRequest {
			t.Errorf("act %s: %d", body, w.Code)
		}
	}
	if n := len(f.actions()); n != 1 {
		t.Errorf("Act called %d times", n)
	}

	w = doWith(t, u, c, "POST", "/ui/act", `{"verb":"rolling-update","job":"coding-core.api","tag":"1.2.0"}`, hdr)
	w2 := doWith(t, u, c, "POST", "/ui/act", `{"verb":"deploy","version":6}`, hdr)
	if w.Code != 200 || w2.Code != 200 {
		t.Errorf("rolling-update %d, deploy %d", w.Code, w2.Code)
	}
	acts = f.actions()
	if acts[1].Tag != "1.2.0" || acts[2] != (Action{Verb: "deploy", Version: 6, Who: "alice"}) {
		t.Errorf("acts: %+v", acts)
	}
}

// The action runs to its end when the browser goes away.
func TestActOutlivesClient(t *testing.T) {
	f := newFake()
	f.actDone = make(chan struct{})
	u := newTestUI(f)
	srv := httptest.NewServer(u.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/ui/act", strings.NewReader(`{"verb":"up","job":"coding-core.api"}`))
	hr.Header.Set("X-Cjob-UI", "1")
	hr.AddCookie(&http.Cookie{Name: cookieName, Value: "s3cret"})
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	// The first event arrives while the action runs.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"Recreating"`) {
		t.Fatalf("first line %q: %v", line, err)
	}
	cancel()
	resp.Body.Close()
	time.Sleep(50 * time.Millisecond)
	f.mu.Lock()
	actCtx := f.actCtx
	f.mu.Unlock()
	if actCtx.Err() != nil {
		t.Errorf("the action's context ended with the client: %v", actCtx.Err())
	}
	if _, ok := actCtx.Deadline(); !ok {
		t.Errorf("the action has no time limit")
	}
	close(f.actDone)
}

func TestPartial(t *testing.T) {
	u := newTestUI(newFake())
	for _, p := range allPages {
		code, body := get(t, u, p+"?partial=1")
		if code != 200 {
			t.Errorf("%s partial: %d", p, code)
		}
		mustNotContain(t, p+" partial", body, "<html", "<!doctype", `<header class="top"`, `<main`, "<script")
	}
	_, body := get(t, u, "/services?partial=1")
	mustContain(t, "services partial", body, `data-job="coding-core.api"`, `id="totals"`)
	_, body = get(t, u, "/containers/coding-core.api.1?partial=1")
	mustNotContain(t, "container partial", body, `id="log"`)
	mustContain(t, "container partial", body, `id="inspect"`)
}

func TestLoginByURLAndNext(t *testing.T) {
	u := newTestUI(newFake())
	cases := map[string]string{
		"/login?token=s3cret":                                             "/services",
		"/login?token=s3cret&next=/jobs/coding-core.api":                  "/jobs/coding-core.api",
		"/login?token=s3cret&next=/containers?x=1":                        "/containers?x=1",
		"/login?token=s3cret&next=//evil.example":                         "/services",
		"/login?token=s3cret&next=https://evil.example/":                  "/services",
		"/login?token=s3cret&next=/\\evil.example":                        "/services",
		"/login?token=s3cret&next=%2F%2Fevil.example":                     "/services",
		"/login?token=s3cret&next=javascript:alert(1)":                    "/services",
		"/login?token=s3cret&next=/%0d%0aSet-Cookie:%20x=1":               "/services",
		"/login?token=s3cret&next=" + url.QueryEscape("/\t/evil.example"): "/services",
	}
	for target, want := range cases {
		w := do(t, u, req{target: target})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("%s: %d %q, want %q", target, w.Code, w.Header().Get("Location"), want)
		}
		if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].Value != "s3cret" {
			t.Errorf("%s: cookies %v", target, cs)
		}
	}
	w := do(t, u, req{target: "/login?token=bad"})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "wrong token") {
		t.Errorf("bad token by URL: %d", w.Code)
	}
	w = do(t, u, req{target: "/login?next=/nodes"})
	mustContain(t, "login form", w.Body.String(), `name="token"`, `name="next" value="/nodes"`, `method="post" action="/login"`)
	w = do(t, u, req{target: "/login?next=//evil.example"})
	mustNotContain(t, "login form", w.Body.String(), "evil.example")
}

func TestLogsSSE(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	w := do(t, u, req{target: "/ui/logs/coding-core.api.1"})
	if w.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("content type %q", w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	mustContain(t, "logs", body, "data: starting api\n\n", "data: listening on :8080\n\n", "data: GET /healthz 200\n\n", "event: end\ndata: end of log\n\n")

	w = do(t, u, req{target: "/ui/logs/nope"})
	mustContain(t, "logs error", w.Body.String(), "event: end\ndata: no container nope\n\n")
}

func TestLogsFollowPingAndClientGone(t *testing.T) {
	f := newFake()
	f.logFollow = true
	old := logPing
	logPing = 20 * time.Millisecond
	defer func() { logPing = old }()
	u := newTestUI(f)
	srv := httptest.NewServer(u.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ui/logs/coding-core.api.1", nil)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	pinged := false
	for time.Now().Before(deadline) && !pinged {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "data: ") {
			got = append(got, strings.TrimSuffix(strings.TrimPrefix(l, "data: "), "\n"))
		}
		if strings.HasPrefix(l, ": ping") {
			pinged = true
		}
	}
	if !pinged || !slices.Equal(got, f.logLines) {
		t.Errorf("pinged %v, lines %q", pinged, got)
	}
	cancel()
	resp.Body.Close()
}

func TestHistoryHiddenWithoutVersions(t *testing.T) {
	f := newFake()
	f.noVersion = true
	f.env.Name = stack.Staging
	u := newTestUI(f)
	_, body := get(t, u, "/services")
	mustNotContain(t, "services", body, `href="/history"`)
	mustContain(t, "services", body, `class="env env-staging"`)
	code, body := get(t, u, "/history")
	if code != 200 {
		t.Errorf("history: %d", code)
	}
	mustContain(t, "history", body, "This environment has no versions")
	mustNotContain(t, "history", body, `href="/history"`)
}

func TestStaleAndTitle(t *testing.T) {
	f := newFake()
	u := newTestUI(f)
	_, body := get(t, u, "/services")
	mustNotContain(t, "fresh", body, `id="stale"`)
	mustContain(t, "title", body, "<title>Services · cjob · coding · production</title>")
	f.snap.At = testNow.Add(-time.Minute)
	_, body = get(t, u, "/services")
	mustContain(t, "stale", body, `id="stale"`, "data from "+f.snap.At.Local().Format("15:04:05"))

	u = New(f, Options{Title: "Coding prod", Refresh: 5 * time.Second, Now: func() time.Time { return testNow }})
	_, body = get(t, u, "/nodes")
	mustContain(t, "options", body, "<title>Nodes · Coding prod</title>", `data-refresh="5000"`)

	// "Refresh now" asks for a fresh look.
	get(t, u, "/nodes?partial=1&fresh=1")
	if f.fresh != 1 {
		t.Errorf("fresh snapshots: %d", f.fresh)
	}
}

func TestAssets(t *testing.T) {
	u := newTestUI(newFake())
	_, page := get(t, u, "/services")
	m := regexp.MustCompile(`/assets/ui\.css\?v=([0-9a-f]+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no css link")
	}
	w := do(t, u, req{target: m[0]})
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("css: %d %v", w.Code, w.Header())
	}
	w = do(t, u, req{target: "/assets/ui.js", headers: map[string]string{"If-None-Match": `"` + m[1] + `"`}})
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") || strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("js: %d %v", w.Code, w.Header())
	}
	w = do(t, u, req{target: m[0], headers: map[string]string{"If-None-Match": `"` + m[1] + `"`}})
	if w.Code != http.StatusNotModified {
		t.Errorf("css revalidation: %d", w.Code)
	}
	if code, _ := get(t, u, "/assets/nope.css"); code != 404 {
		t.Errorf("missing asset: %d", code)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "/services",
		"/jobs":               "/jobs",
		"/jobs/a.b?partial=1": "/jobs/a.b?partial=1",
		"//x":                 "/services",
		"/\\x":                "/services",
		"http://x/":           "/services",
		"jobs":                "/services",
		"/login?token=x":      "/services",
		"/ui/act":             "/services",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

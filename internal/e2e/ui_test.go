package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/pooltest"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/prodspec"
)

// browser starts Debian's chromium, headless, with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (apt-get install chromium); .ci/run installs it")
		}
		t.Skipf("SKIPPING browser test: chromium not installed (apt-get install chromium)")
	}
	// Not t.TempDir: chromium may still write its profile while it exits,
	// and the test must not fail on that.
	profile, err := os.MkdirTemp("", "cjob-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// This chromium is newer than the protocol chromedp knows; the events
	// it does not know are noise.
	quiet := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled") {
			fmt.Fprintln(os.Stderr, "chromedp:", msg)
		}
	}
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(quiet))
	ctx, cancelC := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelC()
		cancelB()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// run runs browser actions, failing the test with what the page showed.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Run(step, actions...); err != nil {
		var body string
		chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery))
		if len(body) > 3000 {
			body = body[:3000]
		}
		t.Fatalf("%s: %v\n--- page text\n%s", what, err, body)
	}
}

// shot keeps a screenshot of the page under docs/screenshots when
// CJOB_SCREENSHOTS=1 (make screenshots).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("CJOB_SCREENSHOTS") != "1" {
		return
	}
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.Sleep(300*time.Millisecond), chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join(repoRoot, "docs", "screenshots")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	var n int
	run(t, ctx, "count "+selector, chromedp.Evaluate(fmt.Sprintf("document.querySelectorAll(%q).length", selector), &n))
	return n
}

func attr(t *testing.T, ctx context.Context, selector, name string) string {
	t.Helper()
	var v string
	var ok bool
	run(t, ctx, "attribute "+name+" of "+selector, chromedp.WaitReady(selector, chromedp.ByQuery), chromedp.AttributeValue(selector, name, &v, &ok, chromedp.ByQuery))
	return v
}

// waitJS polls a JavaScript condition.
func waitJS(t *testing.T, ctx context.Context, what, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery))
			if len(body) > 3000 {
				body = body[:3000]
			}
			t.Fatalf("waited %s for %s\n--- page text\n%s", within, what, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// login uses the login form.
func login(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	run(t, ctx, "log in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name="token"]`, token, chromedp.ByQuery),
		chromedp.Submit(`input[name="token"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#who`, chromedp.ByQuery))
}

// act clicks an action button, confirms, and waits for the result.
func act(t *testing.T, ctx context.Context, button string) string {
	t.Helper()
	var result string
	run(t, ctx, "click "+button,
		chromedp.WaitVisible(button, chromedp.ByQuery),
		chromedp.Click(button, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm-yes`, chromedp.ByQuery),
		chromedp.Click(`#confirm-yes`, chromedp.ByQuery))
	waitJS(t, ctx, "the action's result", `(() => { const r = document.querySelector('#action-result'); return !!r && r.textContent.trim() !== '' && (r.classList.contains('ok') || r.classList.contains('failed')); })()`, 90*time.Second)
	run(t, ctx, "read the result", chromedp.Text(`#action-result`, &result, chromedp.ByQuery))
	if count(t, ctx, "#action-result.ok") != 1 {
		t.Fatalf("action %s failed: %s", button, result)
	}
	return result
}

// TestWebUIProduction: the UI of `cjob server`, in a real browser, on a
// real engine: every page shows what the engine holds; the log follows
// live; a read-only visitor sees no action; a token holder reloads a job
// and sees it restart.
func TestWebUIProduction(t *testing.T) {
	need(t)
	ctx := browser(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cjui", Hosts: 1, Subnet: "10.218.0.0/24", Images: []string{"coding/git:1.0.0"}})
	h := pool.Hosts[0]
	dir := t.TempDir()
	token := "ui-token-0123456789abcdef"
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("ops:"+token+"\n"), 0o600)
	srv := startServer(t, token, "--data-dir", filepath.Join(dir, "data"), "--token-file", filepath.Join(dir, "tokens"), "--poll", "1s")
	file := jobsFileNoCleanup(t, fmt.Sprintf(`
project: cjui
hosts:
  prod-1: {address: %s, docker: %q}
services:
  shop:
    jobs:
      api:
        image: coding/git:1.0.0
        port: 8000
        env: {ROLE: git, PORT: "8000", SHOP_DB_PASSWORD: do-not-show}
        health: {http: /healthz, interval: 200ms}
        critical: true
        run_on_host: prod-1
      web:
        image: coding/git:1.0.0
        port: 8001
        env: {ROLE: git, PORT: "8001"}
        depends_on: [shop.api]
        health: {http: /healthz, interval: 200ms}
        run_on_host: prod-1
`, h.Address, h.Endpoint))
	srv.must(t, "ops", "push", "-f", file, "-m", "the shop")
	srv.must(t, "ops", "up", "--all", "--progress", "plain")
	base := "http://" + srv.addr
	before := srv.job(t, "shop.api")
	container := before.Tasks[0].Container

	// A visitor without a token: every page, no action anywhere.
	run(t, ctx, "services", chromedp.Navigate(base+"/services"), chromedp.WaitVisible(`[data-job="shop.api"]`, chromedp.ByQuery))
	if got := attr(t, ctx, `[data-job="shop.api"][data-running]`, "data-running"); got != "1" {
		t.Errorf("services: shop.api running = %q, want 1", got)
	}
	if got := attr(t, ctx, `[data-job="shop.web"][data-state]`, "data-state"); got != "ok" {
		t.Errorf("services: shop.web state = %q, want ok", got)
	}
	if n := count(t, ctx, ".action"); n != 0 {
		t.Errorf("a read-only visitor sees %d action buttons", n)
	}
	if count(t, ctx, "#login-link") != 1 {
		t.Errorf("no login link for a read-only visitor")
	}
	shot(t, ctx, "services")

	run(t, ctx, "jobs", chromedp.Navigate(base+"/jobs/shop.api"), chromedp.WaitVisible(`[data-container="`+container+`"]`, chromedp.ByQuery))
	shot(t, ctx, "job")
	run(t, ctx, "containers", chromedp.Navigate(base+"/containers"), chromedp.WaitVisible(`[data-container="`+container+`"]`, chromedp.ByQuery))
	shot(t, ctx, "containers")
	run(t, ctx, "nodes", chromedp.Navigate(base+"/nodes"), chromedp.WaitVisible(`[data-node="prod-1"]`, chromedp.ByQuery))
	if got := attr(t, ctx, `[data-node="prod-1"]`, "data-up"); got != "true" {
		t.Errorf("nodes: prod-1 up = %q", got)
	}
	shot(t, ctx, "nodes")
	var text string
	run(t, ctx, "history", chromedp.Navigate(base+"/history"), chromedp.WaitVisible("main", chromedp.ByQuery), chromedp.Text("main", &text, chromedp.ByQuery))
	if !strings.Contains(text, "the shop") || !strings.Contains(text, "shop.api") {
		t.Errorf("history page:\n%s", text)
	}
	shot(t, ctx, "history")
	run(t, ctx, "events", chromedp.Navigate(base+"/events"), chromedp.WaitVisible(`[data-action="push"]`, chromedp.ByQuery))
	shot(t, ctx, "events")
	run(t, ctx, "topology", chromedp.Navigate(base+"/topology"), chromedp.WaitVisible("main", chromedp.ByQuery), chromedp.Text("main", &text, chromedp.ByQuery))
	for _, want := range []string{"shop", "api", "prod-1", container} {
		if !strings.Contains(text, want) {
			t.Errorf("topology lacks %q:\n%s", want, text)
		}
	}
	shot(t, ctx, "topology")

	// The page refreshes itself and keeps what the visitor did: the filter
	// text and the scroll position.
	run(t, ctx, "refresh", chromedp.EmulateViewport(1280, 260), chromedp.Navigate(base+"/services"),
		chromedp.WaitVisible(`#filter`, chromedp.ByQuery), chromedp.SendKeys(`#filter`, "api", chromedp.ByQuery),
		chromedp.Evaluate(`window.scrollTo(0, 60)`, nil))
	var first string
	var y float64
	run(t, ctx, "before the refresh", chromedp.Text(`#last-refresh`, &first, chromedp.ByQuery), chromedp.Evaluate(`window.scrollY`, &y))
	waitJS(t, ctx, "an automatic refresh", fmt.Sprintf(`document.querySelector('#last-refresh').textContent !== %q`, first), 25*time.Second)
	var filter string
	var y2 float64
	var webHidden bool
	run(t, ctx, "after the refresh", chromedp.Value(`#filter`, &filter, chromedp.ByQuery), chromedp.Evaluate(`window.scrollY`, &y2),
		chromedp.Evaluate(`(() => { const e = document.querySelector('tr[data-job="shop.web"]'); return !e || e.hidden || e.offsetParent === null; })()`, &webHidden))
	if filter != "api" || !webHidden || y2 != y || y == 0 {
		t.Errorf("after a refresh: filter %q (want api), web hidden %v, scroll %v -> %v", filter, webHidden, y, y2)
	}
	run(t, ctx, "viewport back", chromedp.EmulateViewport(1280, 900))

	// The container page: inspect (secrets masked) and the log, live: the
	// server checks health every second, and api logs every check.
	run(t, ctx, "container", chromedp.Navigate(base+"/containers/"+container), chromedp.WaitVisible("#log", chromedp.ByQuery))
	waitJS(t, ctx, "log lines", `document.querySelector('#log').textContent.includes('GET /healthz')`, 30*time.Second)
	var lines int
	run(t, ctx, "count log lines", chromedp.Evaluate(`document.querySelector('#log').textContent.split('\n').length`, &lines))
	waitJS(t, ctx, "new log lines, live", fmt.Sprintf(`document.querySelector('#log').textContent.split('\n').length > %d`, lines+1), 30*time.Second)
	run(t, ctx, "page text", chromedp.Text("body", &text, chromedp.ByQuery))
	if strings.Contains(text, "do-not-show") || !strings.Contains(text, "SHOP_DB_PASSWORD") {
		t.Errorf("inspect should name SHOP_DB_PASSWORD and mask its value")
	}
	shot(t, ctx, "container")

	// A token holder reloads api from its page and sees it restart.
	login(t, ctx, base, token)
	run(t, ctx, "job page", chromedp.Navigate(base+"/jobs/shop.api"), chromedp.WaitVisible(`[data-container]`, chromedp.ByQuery))
	if n := count(t, ctx, ".action"); n == 0 {
		t.Fatalf("a logged-in operator sees no action")
	}
	res := act(t, ctx, `button.action[data-verb="reload"][data-job="shop.api"]:not([data-task])`)
	after := srv.job(t, "shop.api")
	if after.Tasks[0].ID == before.Tasks[0].ID || after.Running != 1 {
		t.Errorf("reload from the UI (%s): container %s -> %s, running %d", res, before.Tasks[0].ID[:12], after.Tasks[0].ID[:12], after.Running)
	}
	if !hasEvent(srv.events(t), "reload", "ok", "") {
		t.Errorf("the UI's reload is not in the events")
	}
	if w := srv.job(t, "shop.web"); w.Tasks[0].ID != srv.job(t, "shop.web").Tasks[0].ID {
		t.Errorf("web changed")
	}
	// The page refreshes by itself and shows the new container.
	waitJS(t, ctx, "the page showing the new container", fmt.Sprintf(`!!document.querySelector('[data-container][data-id=%q]')`, after.Tasks[0].ID), 20*time.Second)

	// History: version 2 changes api's env; "deploy this version" on
	// version 1 brings it back as version 3.
	edited := jobsFileNoCleanup(t, strings.Replace(mustRead(t, file), `SHOP_DB_PASSWORD: do-not-show`, `SHOP_DB_PASSWORD: do-not-show, FEATURE: "on"`, 1))
	srv.must(t, "ops", "push", "-f", edited, "-m", "feature on")
	srv.must(t, "ops", "up", "shop.api", "--progress", "plain")
	run(t, ctx, "history", chromedp.Navigate(base+"/history"), chromedp.WaitVisible(`button.action[data-verb="deploy"][data-version="1"]`, chromedp.ByQuery))
	act(t, ctx, `button.action[data-verb="deploy"][data-version="1"]`)
	if h := srv.must(t, "reader", "history", "-n", "1").stdout; !strings.Contains(h, "version 3") || !strings.Contains(h, "deploy version 1") || !strings.Contains(h, "FEATURE") {
		t.Errorf("deploy version 1 from the UI:\n%s", h)
	}
	if j := srv.job(t, "shop.api"); j.State != "ok" || j.Versions[0] != 3 {
		t.Errorf("after deploying version 1 from the UI: %+v", j)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// everyPage visits every page of a UI and fails on an error page; want
// lists, per page, a selector that must show.
func everyPage(t *testing.T, ctx context.Context, base string, want map[string]string) {
	t.Helper()
	for _, page := range []string{"/services", "/jobs", "/containers", "/nodes", "/events", "/topology", "/history"} {
		sel := want[page]
		if sel == "" {
			sel = "main"
		}
		run(t, ctx, page, chromedp.Navigate(base+page), chromedp.WaitVisible(sel, chromedp.ByQuery))
		if count(t, ctx, "#failure") != 0 {
			var text string
			chromedp.Run(ctx, chromedp.Text("main", &text, chromedp.ByQuery))
			t.Errorf("%s shows an error:\n%s", page, text)
		}
	}
}

// uiProcess is a `cjob dev ui` or `cjob staging ui` process.
type uiProcess struct {
	base, loginURL string
}

func startUI(t *testing.T, args ...string) uiProcess {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(cjobBin, append(args, "--listen", addr)...)
	cmd.Dir = repoRoot
	out, _ := cmd.StdoutPipe()
	var errb strings.Builder
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return errb.Write(b) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	re := regexp.MustCompile(`http://\S+/login\?token=\S+`)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s exited:\n%s", strings.Join(args, " "), errb.String())
			}
			if u := re.FindString(l); u != "" {
				return uiProcess{base: "http://" + addr, loginURL: u}
			}
		case <-deadline:
			t.Fatalf("%s printed no login URL", strings.Join(args, " "))
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestWebUIDev: `cjob dev ui` shows the dev stack with a swapped job (its
// folder, build log and timings) and restores it in one click.
func TestWebUIDev(t *testing.T) {
	need(t)
	ctx := browser(t)
	const project = "e2e-devui"
	file := jobsFile(t, strings.Replace(swapJobs, "project: e2e-swap", "project: "+project, 1))
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "Dockerfile"), []byte("FROM coding/git:1.0.0\nLABEL built=by-ui-test\n"), 0o644)
	mustCjob(t, "dev", "swap", "api", src, "-f", file)
	p := startUI(t, "dev", "ui", "-f", file)

	everyPage(t, ctx, p.base, map[string]string{"/containers": `[data-container="e2e-devui-dev.core.api.1"]`, "/nodes": `[data-node="app-1"][data-up="true"]`,
		"/events": `[data-action="swap"]`, "/history": "#no-versions", "/topology": `[data-container="e2e-devui-dev.core.site.1"]`})
	run(t, ctx, "services", chromedp.Navigate(p.base+"/services"), chromedp.WaitVisible(`[data-job="core.api"]`, chromedp.ByQuery))
	if n := count(t, ctx, ".action"); n != 0 {
		t.Errorf("read-only dev UI shows %d actions", n)
	}
	run(t, ctx, "dev container", chromedp.Navigate(p.base+"/containers/e2e-devui-dev.core.site.1"), chromedp.WaitVisible("#log", chromedp.ByQuery))
	waitJS(t, ctx, "the dev log", `document.querySelector('#log').textContent.includes('listening')`, 20*time.Second)
	shot(t, ctx, "dev-services")
	var text string
	run(t, ctx, "swapped job", chromedp.Navigate(p.base+"/jobs/core.api"), chromedp.WaitVisible(`[data-container]`, chromedp.ByQuery), chromedp.Text("main", &text, chromedp.ByQuery))
	for _, want := range []string{src, project + "/core.api:dev-", "http://127.0.0.1:"} {
		if !strings.Contains(text, want) {
			t.Errorf("the swapped job's page lacks %q:\n%s", want, text)
		}
	}
	var html string
	run(t, ctx, "build log", chromedp.OuterHTML("main", &html, chromedp.ByQuery))
	if !strings.Contains(html, "built=by-ui-test") && !strings.Contains(strings.ToLower(html), "step") {
		t.Errorf("no build log on the swapped job's page")
	}
	shot(t, ctx, "dev-job")

	// The printed URL logs in; restore puts production's image back.
	run(t, ctx, "login URL", chromedp.Navigate(p.loginURL), chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	run(t, ctx, "job page", chromedp.Navigate(p.base+"/jobs/core.api"), chromedp.WaitVisible(`[data-container]`, chromedp.ByQuery))
	act(t, ctx, `button.action[data-verb="restore"][data-job="core.api"]`)
	var rows []converge.Row
	json.Unmarshal([]byte(mustCjob(t, "dev", "ps", "-f", file, "--json").stdout), &rows)
	for _, r := range rows {
		if r.Job == "core.api" && (r.Swapped != "" || r.Image != "coding/git:1.0.0") {
			t.Errorf("after restore from the UI: %+v", r)
		}
	}
	run(t, ctx, "events", chromedp.Navigate(p.base+"/events"), chromedp.WaitVisible(`[data-action="restore"]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-action="swap"]`, chromedp.ByQuery))
}

// TestWebUIStaging: `cjob staging ui` shows the pool's hosts and the jobs
// placed on them.
func TestWebUIStaging(t *testing.T) {
	need(t)
	ctx := browser(t)
	pool := pooltest.Start(t, pooltest.Options{Name: "cjuis", Hosts: 2, Subnet: "10.219.0.0/24", Images: []string{"coding/git:1.0.0"}})
	var hosts strings.Builder
	for _, h := range pool.Hosts {
		fmt.Fprintf(&hosts, "  %s: {address: %s, docker: %q, memory: 4GiB}\n", h.Name, h.Address, h.Endpoint)
	}
	file := jobsFileNoCleanup(t, fmt.Sprintf(`
project: e2e-stgui
hosts:
  app-1: {}
  app-2: {}
%sservices:
  core:
    jobs:
      api: {image: coding/git:1.0.0, port: 8000, env: {ROLE: git, PORT: "8000"}, health: {http: /healthz}, run_on_host: app-1}
      site: {image: coding/git:1.0.0, port: 8001, env: {ROLE: git, PORT: "8001"}, health: {http: /healthz}, run_on_host: app-2}
environments:
  staging: {pool: [%s, %s]}
`, hosts.String(), pool.Hosts[0].Name, pool.Hosts[1].Name))
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	mustCjob(t, "staging", "up", "-f", file, "--progress", "plain")
	t.Cleanup(func() { cjob(t, "staging", "down", "-f", file, "--progress", "quiet") })
	p := startUI(t, "staging", "ui", "-f", file)

	everyPage(t, ctx, p.base, map[string]string{"/containers": `[data-container="e2e-stgui-staging.core.api.1"]`, "/history": "#no-versions"})
	run(t, ctx, "nodes", chromedp.Navigate(p.base+"/nodes"), chromedp.WaitVisible(`[data-node="`+pool.Hosts[1].Name+`"]`, chromedp.ByQuery))
	for _, h := range pool.Hosts {
		if got := attr(t, ctx, `[data-node="`+h.Name+`"]`, "data-up"); got != "true" {
			t.Errorf("staging node %s up = %q", h.Name, got)
		}
	}
	shot(t, ctx, "staging-nodes")
	run(t, ctx, "services", chromedp.Navigate(p.base+"/services"), chromedp.WaitVisible(`[data-job="core.site"]`, chromedp.ByQuery))
	for _, j := range []string{"core.api", "core.site"} {
		if got := attr(t, ctx, `[data-job="`+j+`"][data-running]`, "data-running"); got != "1" {
			t.Errorf("staging %s running = %q", j, got)
		}
	}
	run(t, ctx, "staging container", chromedp.Navigate(p.base+"/containers/e2e-stgui-staging.core.api.1"), chromedp.WaitVisible("#log", chromedp.ByQuery))
	waitJS(t, ctx, "the staging log", `document.querySelector('#log').textContent.includes('listening')`, 20*time.Second)
	shot(t, ctx, "staging-container")

	// With the printed token, reload one job of the pool.
	run(t, ctx, "login URL", chromedp.Navigate(p.loginURL), chromedp.WaitVisible(`#who`, chromedp.ByQuery))
	run(t, ctx, "job page", chromedp.Navigate(p.base+"/jobs/core.site"), chromedp.WaitVisible(`[data-container][data-id]`, chromedp.ByQuery))
	before := attr(t, ctx, `[data-container][data-id]`, "data-id")
	act(t, ctx, `button.action[data-verb="reload"][data-job="core.site"]:not([data-task])`)
	waitJS(t, ctx, "the reloaded container", fmt.Sprintf(`(() => { const e = document.querySelector('[data-container][data-id]'); return !!e && e.dataset.id !== %q && e.dataset.taskState === 'running'; })()`, before), 30*time.Second)
}

// TestWebUIGraph: the topology page's dependency graph of the demo, read in
// a real browser: a node for every job, an edge for every dependency
// (depends_on and the addresses env values name), each job's node linking
// to its page.
func TestWebUIGraph(t *testing.T) {
	need(t)
	ctx := browser(t)
	const project = "e2e-graph"
	file := demoFile(t, project, nil)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	p := startUI(t, "dev", "ui", "-f", file)

	f, err := prodspec.Load(file, prodspec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantNodes, wantEdges []string
	for job, deps := range status.Dependencies(f) {
		wantNodes = append(wantNodes, job)
		for _, d := range deps {
			wantEdges = append(wantEdges, job+"->"+d.To)
		}
	}
	if len(wantEdges) < 8 {
		t.Fatalf("the demo has %d dependencies: %v", len(wantEdges), wantEdges)
	}
	var nodes, edges []string
	run(t, ctx, "topology", chromedp.Navigate(p.base+"/topology"), chromedp.WaitVisible(`svg [data-node="edge.gateway"]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('svg [data-node]')].map(e => e.getAttribute('data-node'))`, &nodes),
		chromedp.Evaluate(`[...document.querySelectorAll('svg [data-edge]')].map(e => e.getAttribute('data-edge'))`, &edges))
	slices.Sort(nodes)
	slices.Sort(edges)
	slices.Sort(wantNodes)
	slices.Sort(wantEdges)
	if diff := cmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("graph nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEdges, edges); diff != "" {
		t.Errorf("graph edges (-want +got):\n%s", diff)
	}
	var ok int
	run(t, ctx, "node states", chromedp.Evaluate(`document.querySelectorAll('svg [data-node][data-state="ok"], svg [data-node][data-state="completed"]').length`, &ok))
	if ok != len(wantNodes) {
		t.Errorf("%d of %d nodes ok or completed", ok, len(wantNodes))
	}
	shot(t, ctx, "dev-topology")
	run(t, ctx, "a node links to its job", chromedp.Click(`svg [data-node="coding-core.api"]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-container]`, chromedp.ByQuery))
	var loc string
	run(t, ctx, "location", chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/jobs/coding-core.api") {
		t.Errorf("clicking api's node went to %s", loc)
	}
}

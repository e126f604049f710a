package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// minimalEnv is enough configuration for each role to start.
func minimalEnv(t *testing.T) map[string]string {
	return map[string]string{
		"WEB_URL": unreachable, "API_URL": unreachable, "CACHE_URL": unreachable,
		"QUEUE_URL": unreachable, "GIT_URL": unreachable, "MAIL_URL": unreachable,
		"SMS_URL": unreachable, "PROBE_URLS": unreachable + "/healthz",
		"DATA_DIR": t.TempDir(), "PROBE_INTERVAL": "1h", "WORKER_INTERVAL": "1h",
	}
}

func TestHealthzEveryRole(t *testing.T) {
	for _, name := range roleNames() {
		if roles[name].port == 0 {
			continue // one-shot
		}
		t.Run(name, func(t *testing.T) {
			env := minimalEnv(t)
			srv, logs := start(t, name, env)
			code, body := do(t, "GET", srv.URL+"/healthz", "")
			if code != 200 || body != "ok\n" {
				t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
			}
			if !strings.Contains(logs.String(), name+": GET /healthz 200 ") {
				t.Errorf("no request log line in:\n%s", logs)
			}

			env["DEMO_UNHEALTHY"] = "1"
			srv, _ = start(t, name, env)
			if code, _ := do(t, "GET", srv.URL+"/healthz", ""); code != 500 {
				t.Errorf("GET /healthz with DEMO_UNHEALTHY=1 = %d, want 500", code)
			}
		})
	}
}

func TestMissingUpstreamIsAStartupError(t *testing.T) {
	for _, name := range []string{"gateway", "web", "api", "worker", "migrate", "prober"} {
		c := newConfig(name, func(string) string { return "" }, &logBuf{})
		if _, err := roles[name].build(c); err == nil {
			t.Errorf("%s built with no configuration", name)
		}
	}
	c := newConfig("web", func(string) string { return "core-app-1:8000" }, &logBuf{})
	if _, err := buildWeb(c); err == nil || !strings.Contains(err.Error(), "not an http:// URL") {
		t.Errorf("web with API_URL=core-app-1:8000: err = %v", err)
	}
}

func TestCachePersistsToDataDir(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir}
	first, _ := start(t, "cache", env)
	if code, body := do(t, "PUT", first.URL+"/kv/greeting", "hello"); code != 204 {
		t.Fatalf("PUT = %d %s", code, body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "greeting")); err != nil || string(b) != "hello" {
		t.Fatalf("file greeting = %q, %v", b, err)
	}
	first.Close()

	// A new cache on the same directory (a recreated container on the same
	// volume) still has the key.
	second, logs := start(t, "cache", env)
	if code, body := do(t, "GET", second.URL+"/kv/greeting", ""); code != 200 || body != "hello" {
		t.Errorf("GET after restart = %d %q, want 200 hello", code, body)
	}
	if !strings.Contains(logs.String(), "cache: 1 keys in "+dir) {
		t.Errorf("startup log:\n%s", logs)
	}
	if code, body := do(t, "GET", second.URL+"/kv/", ""); code != 200 || !strings.Contains(body, `"greeting"`) {
		t.Errorf("GET /kv/ = %d %s", code, body)
	}
	if code, _ := do(t, "GET", second.URL+"/kv/missing", ""); code != 404 {
		t.Errorf("GET missing = %d, want 404", code)
	}
	if code, _ := do(t, "PUT", second.URL+"/kv/bad%20key", "x"); code != 400 {
		t.Errorf("PUT bad key = %d, want 400", code)
	}
	if code, _ := do(t, "PUT", second.URL+"/kv/.hidden", "x"); code != 400 {
		t.Errorf("PUT .hidden = %d, want 400", code)
	}
	if code, _ := do(t, "DELETE", second.URL+"/kv/greeting", ""); code != 204 {
		t.Errorf("DELETE = %d, want 204", code)
	}
	if code, _ := do(t, "GET", second.URL+"/kv/greeting", ""); code != 404 {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
	code, st := status(t, second.URL)
	if code != 200 || st["role"] != "cache" || st["data_dir"] != dir {
		t.Errorf("status = %d %v", code, st)
	}
}

func TestQueueIsFIFO(t *testing.T) {
	srv, _ := start(t, "queue", nil)
	for _, m := range []string{"one", "two"} {
		if code, body := do(t, "POST", srv.URL+"/enqueue", m); code != 202 {
			t.Fatalf("enqueue %s = %d %s", m, code, body)
		}
	}
	for _, want := range []string{"one", "two"} {
		if code, body := do(t, "GET", srv.URL+"/dequeue", ""); code != 200 || body != want {
			t.Errorf("dequeue = %d %q, want 200 %q", code, body, want)
		}
	}
	if code, body := do(t, "GET", srv.URL+"/dequeue", ""); code != 204 || body != "" {
		t.Errorf("dequeue empty = %d %q, want 204", code, body)
	}
	_, st := status(t, srv.URL)
	if st["depth"] != 0.0 || st["enqueued"] != 2.0 || st["dequeued"] != 2.0 {
		t.Errorf("status = %v", st)
	}
}

func TestGatewayProxiesAndChecks(t *testing.T) {
	fake := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
			w.Write([]byte(name + " " + r.Method + " " + r.URL.RequestURI()))
		}))
		t.Cleanup(s.Close)
		return s
	}
	web, api := fake("web"), fake("api")
	gw, logs := start(t, "gateway", map[string]string{"WEB_URL": web.URL, "API_URL": api.URL + "/"})

	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/repos", "api GET /api/repos"},
		{"POST", "/api/notify", "api POST /api/notify"},
		{"GET", "/index.html", "web GET /index.html"},
		{"GET", "/static/app.js?v=2", "web GET /static/app.js?v=2"},
		{"POST", "/", "web POST /"},
	} {
		if code, body := do(t, tc.method, gw.URL+tc.path, ""); code != 200 || body != tc.want {
			t.Errorf("%s %s = %d %q, want %q", tc.method, tc.path, code, body, tc.want)
		}
	}
	resp, err := http.Get(gw.URL + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Seen-Forwarded-For") == "" {
		t.Error("proxy sent no X-Forwarded-For")
	}

	code, st := status(t, gw.URL)
	ups := upstreamsOf(t, st)
	if code != 200 || st["ok"] != true || ups["web"]["ok"] != true || ups["api"]["url"] != api.URL+"/healthz" {
		t.Errorf("status = %d %v", code, st)
	}

	api.Close()
	code, st = status(t, gw.URL)
	ups = upstreamsOf(t, st)
	if code != 502 || ups["api"]["ok"] != false || ups["api"]["error"] == "" || ups["web"]["ok"] != true {
		t.Errorf("status with api down = %d %v", code, st)
	}
	if code, body := do(t, "GET", gw.URL+"/api/repos", ""); code != 502 || !strings.Contains(body, "api unreachable") {
		t.Errorf("proxy with api down = %d %s", code, body)
	}
	if !strings.Contains(logs.String(), "gateway: proxy to api") {
		t.Errorf("proxy error not logged:\n%s", logs)
	}
}

func TestWebCallsAPIAndServesPage(t *testing.T) {
	git, _ := start(t, "git", nil)
	api, _ := start(t, "api", map[string]string{"CACHE_URL": unreachable, "QUEUE_URL": unreachable, "GIT_URL": git.URL})
	web, _ := start(t, "web", map[string]string{"API_URL": api.URL})
	code, st := status(t, web.URL)
	if code != 200 || upstreamsOf(t, st)["api"]["status"] != 200.0 {
		t.Errorf("web status = %d %v", code, st)
	}
	code, body := do(t, "GET", web.URL+"/index.html", "")
	if code != 200 || !strings.Contains(body, "<h1>CODING demo</h1>") {
		t.Errorf("GET /index.html = %d %s", code, body)
	}
	if code, body := do(t, "GET", api.URL+"/api/repos", ""); code != 200 || !strings.Contains(body, "coding/platform") {
		t.Errorf("api /api/repos = %d %s", code, body)
	}
}

func TestAPIStatusNeedsMigration(t *testing.T) {
	cache, _ := start(t, "cache", map[string]string{"DATA_DIR": t.TempDir()})
	queue, _ := start(t, "queue", nil)
	git, _ := start(t, "git", nil)
	api, _ := start(t, "api", map[string]string{"CACHE_URL": cache.URL, "QUEUE_URL": queue.URL, "GIT_URL": git.URL})

	code, st := status(t, api.URL)
	ups := upstreamsOf(t, st)
	if code != 502 || ups["cache"]["status"] != 404.0 || ups["queue"]["ok"] != true || ups["git"]["ok"] != true {
		t.Errorf("api status before migration = %d %v", code, st)
	}
	if code, _ := do(t, "GET", api.URL+"/api/schema", ""); code != 503 {
		t.Errorf("/api/schema before migration = %d, want 503", code)
	}

	var out logBuf
	rc := run(context.Background(), []string{"migrate"}, func(k string) string {
		return map[string]string{"CACHE_URL": cache.URL, "SCHEMA_VERSION": "7"}[k]
	}, &out)
	if rc != 0 || !strings.Contains(out.String(), "\nmigrated to 7\n") {
		t.Fatalf("migrate = %d:\n%s", rc, out.String())
	}

	if code, st := status(t, api.URL); code != 200 || st["ok"] != true {
		t.Errorf("api status after migration = %d %v", code, st)
	}
	if code, body := do(t, "GET", api.URL+"/api/schema", ""); code != 200 || !strings.Contains(body, `"7"`) {
		t.Errorf("/api/schema = %d %s", code, body)
	}
}

func TestMigrateGivesUp(t *testing.T) {
	var out logBuf
	env := map[string]string{"ROLE": "migrate", "CACHE_URL": unreachable, "MIGRATE_TIMEOUT": "300ms", "MIGRATE_RETRY": "50ms"}
	if rc := run(context.Background(), nil, func(k string) string { return env[k] }, &out); rc != 1 {
		t.Errorf("migrate with no cache = %d, want 1\n%s", rc, out.String())
	}
	if !strings.Contains(out.String(), "migrate: giving up after 300ms") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestNotificationFlow(t *testing.T) {
	queue, _ := start(t, "queue", nil)
	mail, mailLogs := start(t, "mail", nil)
	// sms fails its first two deliveries: the worker must retry without
	// sending the mail twice.
	var smsCalls atomic.Int32
	sms, _ := start(t, "sms", nil)
	flakySMS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/send" && smsCalls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Post(sms.URL+r.URL.Path, "text/plain", r.Body)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	defer flakySMS.Close()
	api, _ := start(t, "api", map[string]string{"CACHE_URL": unreachable, "QUEUE_URL": queue.URL, "GIT_URL": unreachable})
	worker, workerLogs := start(t, "worker", map[string]string{
		"QUEUE_URL": queue.URL, "MAIL_URL": mail.URL, "SMS_URL": flakySMS.URL, "WORKER_INTERVAL": "20ms",
	})

	if code, body := do(t, "POST", api.URL+"/api/notify", "build #42 passed"); code != 202 {
		t.Fatalf("notify = %d %s", code, body)
	}
	eventually(t, "the worker to deliver", func() bool {
		_, st := status(t, worker.URL)
		return st["processed"] == 1.0
	})
	for name, srv := range map[string]string{"mail": mail.URL, "sms": sms.URL} {
		_, st := status(t, srv)
		if st["sent"] != 1.0 {
			t.Errorf("%s sent %v messages, want 1", name, st["sent"])
		}
	}
	if !strings.Contains(mailLogs.String(), "mail: sent message #1: build #42 passed") {
		t.Errorf("mail log:\n%s", mailLogs)
	}
	if !strings.Contains(workerLogs.String(), "worker: delivered message #1") {
		t.Errorf("worker log:\n%s", workerLogs)
	}
	code, st := status(t, worker.URL)
	if code != 200 || len(upstreamsOf(t, st)) != 3 {
		t.Errorf("worker status = %d %v", code, st)
	}
}

func TestProberReportsLastResults(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer good.Close()
	srv, logs := start(t, "prober", map[string]string{
		"PROBE_URLS": good.URL + "/healthz, " + unreachable + "/healthz", "PROBE_INTERVAL": "50ms",
	})
	eventually(t, "a probe round", func() bool {
		_, st := status(t, srv.URL)
		return st["rounds"].(float64) >= 1
	})
	code, st := status(t, srv.URL)
	probes := st["probes"].([]any)
	if code != 502 || len(probes) != 2 || probes[0].(map[string]any)["ok"] != true || probes[1].(map[string]any)["ok"] != false {
		t.Errorf("prober status = %d %v", code, st)
	}
	if !strings.Contains(logs.String(), "prober: DOWN "+unreachable+"/healthz") {
		t.Errorf("prober log:\n%s", logs)
	}
}

func TestSenderCounts(t *testing.T) {
	srv, _ := start(t, "sms", nil)
	for i := 0; i < 3; i++ {
		do(t, "POST", srv.URL+"/send", "hi")
	}
	if _, st := status(t, srv.URL); st["sent"] != 3.0 || st["role"] != "sms" {
		t.Errorf("status = %v", st)
	}
	if code, body := do(t, "GET", srv.URL+"/messages", ""); code != 200 || !strings.Contains(body, `"hi"`) {
		t.Errorf("/messages = %d %s", code, body)
	}
}

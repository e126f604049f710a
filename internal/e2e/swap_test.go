package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const swapJobs = `
project: e2e-swap
hosts:
  app-1: {address: 10.7.0.1}
  app-2: {address: 10.7.0.2}
services:
  core:
    jobs:
      api:
        image: coding/git:1.0.0
        port: 18601
        env: {ROLE: git, PORT: "18601", GREETING: prod}
        health: {http: /healthz}
        run_on_host: app-1
      site:
        image: coding/git:1.0.0
        port: 18602
        env: {ROLE: git, PORT: "18602"}
        health: {http: /healthz}
        run_on_host: app-2
      other:
        image: coding/git:1.0.0
        port: 18603
        env: {ROLE: git, PORT: "18603"}
        health: {http: /healthz}
        run_on_host: app-2
`

// goApp writes a tiny Go web service that answers msg on / and ok on
// /healthz, on $PORT.
func goApp(t *testing.T, dir, msg string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644)
	writeMain(t, dir, fmt.Sprintf("%q", msg))
}

func writeMain(t testing.TB, dir, expr string) {
	t.Helper()
	src := `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, ` + expr + `) })
	fmt.Println("app listening on", os.Getenv("PORT"))
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func localURL(t *testing.T, file, job string) string {
	t.Helper()
	u := parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json"))
	for _, j := range u.Jobs {
		if j.Job == job {
			return j.Local
		}
	}
	t.Fatalf("no local URL for %s", job)
	return ""
}

// waitBody polls url until its body is want.
func waitBody(t *testing.T, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if code, body := tryGet(url); code == 200 && body == want {
			return
		} else {
			last = fmt.Sprintf("%d %q", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never answered %q within %s (last: %s)", url, want, within, last)
}

func tryGet(url string) (int, string) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// watcher runs `cjob dev swap --watch` in the background and collects its
// output.
type watcher struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	mu     sync.Mutex
	out    strings.Builder
	done   chan struct{}
}

func startWatch(t *testing.T, args ...string) *watcher {
	t.Helper()
	return startWatchVia(t, nil, args...)
}

// startWatchVia is startWatch through a wrapper command (unshare -n).
func startWatchVia(t *testing.T, via []string, args ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	argv := append(append(append([]string{}, via...), cjobBin), args...)
	w := &watcher{cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), done: make(chan struct{}), cancel: cancel}
	w.cmd.Cancel = func() error { return w.cmd.Process.Signal(os.Interrupt) }
	pr, pw := io.Pipe()
	w.cmd.Stdout, w.cmd.Stderr = pw, pw
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			w.mu.Lock()
			w.out.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
		}
	}()
	go func() { w.cmd.Wait(); pw.Close(); close(w.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			w.cmd.Process.Kill()
		}
		t.Logf("watch output:\n%s", w.output())
	})
	return w
}

// stop interrupts the watch and waits for it to end.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		w.cmd.Process.Kill()
		t.Errorf("the watch did not stop on an interrupt")
	}
}

func (w *watcher) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// waitOutput waits until the watcher has printed s.
func (w *watcher) waitOutput(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(w.output(), s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("watch never printed %q within %s:\n%s", s, within, w.output())
}

// TestSwap: swapping a job for a local build (Dockerfile, Go template,
// static template), watch, sync, rollback and restore, on the real engine;
// the other containers keep their IDs throughout.
func TestSwap(t *testing.T) {
	need(t)
	const project = "e2e-swap"
	file := jobsFile(t, swapJobs)
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	before := observe(t, project)
	prodSpec := before["core.api/1"].Labels["cjob.spec"]
	apiURL := localURL(t, file, "core.api")
	siteURL := localURL(t, file, "core.site")
	t.Cleanup(func() {
		// The other containers were never touched by any swap.
		after := observe(t, project)
		for _, k := range []string{"core.other/1", "host/app-1", "host/app-2"} {
			if after[k] == nil || after[k].ID != before[k].ID {
				t.Errorf("%s was restarted by a swap", k)
			}
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM coding/git:1.0.0\nLABEL built=by-test\n"), 0o644)
		r := mustCjob(t, "dev", "swap", "api", dir, "-f", file)
		if !strings.Contains(r.stdout, "swapped core.api -> e2e-swap/core.api:dev-") {
			t.Errorf("swap output:\n%s", r)
		}
		c := observe(t, project)["core.api/1"]
		if c.Labels["cjob.swapped"] != dir || !strings.HasPrefix(c.Image, "e2e-swap/core.api:dev-") {
			t.Errorf("swapped container labels: %v image %s", c.Labels["cjob.swapped"], c.Image)
		}
		probeInside(t, project, "app-2", "http://app-1:18601/healthz", "http://api.core.coding.local:18601/healthz")
		// Same source: the image is reused, nothing is swapped.
		r = mustCjob(t, "dev", "swap", "api", dir, "-f", file)
		if !strings.Contains(r.stdout, "nothing to swap") {
			t.Errorf("second swap of the same source should do nothing:\n%s", r)
		}
		// dev up keeps it swapped, and says so.
		if r := mustCjob(t, "dev", "up", "-f", file); !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("dev up should keep the swap:\n%s", r)
		}
		if p := mustCjob(t, "dev", "plan", "-f", file); !strings.Contains(p.stdout, "swapped from "+dir) {
			t.Errorf("plan should show the swap:\n%s", p.stdout)
		}
		if ps := mustCjob(t, "dev", "ps", "-f", file); !strings.Contains(ps.stdout, dir) {
			t.Errorf("ps should show the swap's source:\n%s", ps.stdout)
		}
	})

	t.Run("crash rolls back", func(t *testing.T) {
		old := observe(t, project)["core.api/1"]
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM coding/git:1.0.0\nENV DEMO_EXIT=5\n"), 0o644)
		r := cjob(t, "dev", "swap", "api", dir, "-f", file)
		if r.code == 0 || !strings.Contains(r.stderr, "previous container was put back") || !strings.Contains(r.stderr, "last log lines") {
			t.Fatalf("a crashing image should roll back:\n%s", r)
		}
		now := observe(t, project)["core.api/1"]
		if now.ID != old.ID || now.State.String() != "running" {
			t.Errorf("the previous container should run again: %+v", now)
		}
		if code, _ := tryGet(apiURL + "/healthz"); code != 200 {
			t.Errorf("api down after a rollback: %d", code)
		}
	})

	t.Run("go template with watch", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "app")
		goApp(t, dir, "v1")
		p := mustCjob(t, "dev", "swap", "api", dir, "-f", file, "--print-dockerfile")
		if !strings.Contains(p.stdout, "FROM scratch") || !strings.Contains(p.stderr, "template go") {
			t.Errorf("print-dockerfile:\n%s", p)
		}
		w := startWatch(t, "dev", "swap", "api", dir, "--jobs", file, "--watch")
		w.waitOutput(t, "round 1", 120*time.Second)
		waitBody(t, apiURL+"/", "v1", 10*time.Second)
		writeMain(t, dir, `"v2"`)
		waitBody(t, apiURL+"/", "v2", 60*time.Second)
		w.waitOutput(t, "round 2", 10*time.Second)
		// A new folder is watched too.
		os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
		os.WriteFile(filepath.Join(dir, "assets", "x.txt"), []byte("x"), 0o644)
		w.waitOutput(t, "round 3", 30*time.Second)
		os.WriteFile(filepath.Join(dir, "assets", "y.txt"), []byte("y"), 0o644)
		w.waitOutput(t, "round 4", 30*time.Second)
		// A broken build prints the compiler's output and keeps v2.
		writeMain(t, dir, `undefinedThing`)
		w.waitOutput(t, "undefined: undefinedThing", 60*time.Second)
		w.waitOutput(t, "keeps running", 10*time.Second)
		if code, body := tryGet(apiURL + "/"); code != 200 || body != "v2" {
			t.Errorf("after a broken build the last good container should answer v2, got %d %q", code, body)
		}
		probeInside(t, project, "app-2", "http://app-1:18601/")
	})

	t.Run("static template with sync", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "site")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>home</h1>"), 0o644)
		w := startWatch(t, "dev", "swap", "site", dir, "--jobs", file, "--watch", "--sync", ".:/site")
		w.waitOutput(t, "round 1", 120*time.Second)
		waitBody(t, siteURL+"/index.html", "<h1>home</h1>", 10*time.Second)
		os.WriteFile(filepath.Join(dir, "new.html"), []byte("fresh"), 0o644)
		waitBody(t, siteURL+"/new.html", "fresh", 30*time.Second)
		w.waitOutput(t, "synced", 10*time.Second)
		if strings.Count(w.output(), "swapped core.site") != 1 {
			t.Errorf("a sync must not rebuild:\n%s", w.output())
		}
		os.Remove(filepath.Join(dir, "new.html"))
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _ := tryGet(siteURL + "/new.html"); code == 404 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("removed file still served:\n%s", w.output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("restore", func(t *testing.T) {
		r := mustCjob(t, "dev", "restore", "--all", "-f", file, "--progress", "plain")
		if !strings.Contains(r.stdout, "core.api") || !strings.Contains(r.stdout, "core.site") {
			t.Errorf("restore --all should name both jobs:\n%s", r)
		}
		c := observe(t, project)["core.api/1"]
		if c.Labels["cjob.spec"] != prodSpec || c.Labels["cjob.swapped"] != "" || c.Image != "coding/git:1.0.0" {
			t.Errorf("restored container differs from production's:\n%s\nvs\n%s", c.Labels["cjob.spec"], prodSpec)
		}
		if r := mustCjob(t, "dev", "up", "-f", file); !strings.Contains(r.stdout, "Nothing to do") {
			t.Errorf("after restore the stack is production's:\n%s", r)
		}
	})
}

// TestSwapDemoAPI is the README's walk-through: swap the demo's api for a
// local copy of its source, edit a line, and see the change through the
// gateway, with no other container restarting.
func TestSwapDemoAPI(t *testing.T) {
	need(t)
	const project = "e2e-swapdemo"
	file := demoFile(t, project, nil)
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	before := observe(t, project)

	src := filepath.Join(t.TempDir(), "api")
	os.MkdirAll(src, 0o755)
	demoDir := filepath.Join(repoRoot, "examples/coding/demo")
	entries, _ := os.ReadDir(demoDir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			b, _ := os.ReadFile(filepath.Join(demoDir, e.Name()))
			os.WriteFile(filepath.Join(src, e.Name()), b, 0o644)
		}
	}
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module demo\n\ngo 1.22\n"), 0o644)

	gateway := ""
	for _, j := range parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json")).Jobs {
		if j.Job == "edge.gateway" {
			gateway = j.Local
		}
	}
	w := startWatch(t, "dev", "swap", "api", src, "--jobs", file, "--watch")
	w.waitOutput(t, "round 1", 120*time.Second)
	if code, body := tryGet(gateway + "/api/hello"); code != 200 || !strings.Contains(body, "hello from api") {
		t.Fatalf("gateway /api/hello = %d %s", code, body)
	}
	swappedAPI := observe(t, project)["coding-core.api/1"]
	images := devImages(t, project)
	path := filepath.Join(src, "frontend.go")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"hello from api"`, `"hello from my laptop"`, 1)), 0o644)
	waitGateway := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, body := tryGet(gateway + "/api/hello")
			if code == 200 && strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the gateway never answered %q: %d %s\n%s", want, code, body, w.output())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitGateway("hello from my laptop")
	w.waitOutput(t, "live update of coding-core.api", 30*time.Second)
	after := observe(t, project)
	for k, c := range before {
		if k == "coding-core.api/1" {
			continue
		}
		if after[k] == nil || after[k].ID != c.ID {
			t.Errorf("%s restarted during the swap", k)
		}
	}

	t.Run("a live update: the same container, no image built", func(t *testing.T) {
		c := after["coding-core.api/1"]
		if c.ID != swappedAPI.ID || c.Image != swappedAPI.Image {
			t.Errorf("api: container %s on %s, want the swapped %s on %s, live-updated", c.ID[:12], c.Image, swappedAPI.ID[:12], swappedAPI.Image)
		}
		if got := devImages(t, project); !slices.Equal(got, images) {
			t.Errorf("dev images %v, want %v: a live update builds none", got, images)
		}
		if r := mustCjob(t, "dev", "ps", "-f", file); !strings.Contains(r.stdout, "live") {
			t.Errorf("dev ps does not say api is live-updated:\n%s", r)
		}
	})

	t.Run("a broken build keeps the running code and prints the compiler's error", func(t *testing.T) {
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), `"hello from my laptop"`, `"broken" + undefinedName`, 1)), 0o644)
		w.waitOutput(t, "undefined: undefinedName", 60*time.Second)
		w.waitOutput(t, "the last good container of coding-core.api keeps running", 10*time.Second)
		waitGateway("hello from my laptop")
		os.WriteFile(path, b, 0o644)
	})

	t.Run("a changed go.mod builds an image", func(t *testing.T) {
		mod := filepath.Join(src, "go.mod")
		os.WriteFile(mod, []byte("module demo\n\ngo 1.22\n\n// a new requirement would go here\n"), 0o644)
		w.waitOutput(t, "go.mod changed: an image build, not a live update", 120*time.Second)
		waitGateway("hello from my laptop")
		c := observe(t, project)["coding-core.api/1"]
		if c.ID == swappedAPI.ID || c.Image == swappedAPI.Image {
			t.Errorf("api after go.mod changed: %s on %s, want a new container on a new image", c.ID[:12], c.Image)
		}
	})
}

// devImages is the dev images cjob built for the project's jobs, sorted.
func devImages(t *testing.T, project string) []string {
	t.Helper()
	out, err := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference="+project+"/*").Output()
	if err != nil {
		t.Fatal(err)
	}
	imgs := strings.Fields(string(out))
	slices.Sort(imgs)
	return imgs
}

// TestSwapTwoJobsAtOnce: two terminals swap two jobs at the same time.
func TestSwapTwoJobsAtOnce(t *testing.T) {
	need(t)
	const project = "e2e-swap2"
	file := jobsFile(t, strings.Replace(swapJobs, "project: e2e-swap", "project: e2e-swap2", 1))
	mustCjob(t, "dev", "up", "-f", file, "--progress", "plain")
	before := observe(t, project)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	goApp(t, a, "A")
	goApp(t, b, "B")
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, args := range [][]string{{"api", a}, {"site", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = cjob(t, "dev", "swap", args[0], args[1], "-f", file)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("concurrent swap failed:\n%s", r)
		}
	}
	after := observe(t, project)
	for _, k := range []string{"core.api/1", "core.site/1"} {
		if after[k].Labels["cjob.swapped"] == "" || after[k].ID == before[k].ID {
			t.Errorf("%s was not swapped", k)
		}
	}
	if after["core.other/1"].ID != before["core.other/1"].ID {
		t.Error("core.other restarted")
	}
	if code, body := tryGet(localURL(t, file, "core.api") + "/"); body != "A" {
		t.Errorf("api answers %d %q, want A", code, body)
	}
	if code, body := tryGet(localURL(t, file, "core.site") + "/"); body != "B" {
		t.Errorf("site answers %d %q, want B", code, body)
	}
}

// TestSwapLocal: the demo's api served by a process on this machine
// (`dev swap api --local -- ./demo`): the gateway answers through it at the
// api's production address, the local api reaches the cache and git
// through the addresses it was given, and an interrupt puts the container
// back, the stack answering as before.
func TestSwapLocal(t *testing.T) {
	need(t)
	const project = "e2e-local"
	file := demoFile(t, project, nil)
	gateway := ""
	for _, j := range parseUp(t, mustCjob(t, "dev", "up", "-f", file, "--json")).Jobs {
		if j.Job == "edge.gateway" {
			gateway = j.Local
		}
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "./examples/coding/demo")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	container := observe(t, project)["coding-core.api/1"]
	here, _ := os.Hostname()

	w := startWatch(t, "dev", "swap", "api", "--jobs", file, "--local", "--", bin)
	w.waitOutput(t, "now runs on this machine", 120*time.Second)
	for _, want := range []string{`env CACHE_URL: "http://data-1:6379" -> "http://127.0.0.1:`, `env GIT_URL: "http://git-app-1:8090" -> "http://127.0.0.1:`, "env PORT"} {
		if !strings.Contains(w.output(), want) {
			t.Errorf("the rewrites printed lack %q:\n%s", want, w.output())
		}
	}
	if code, body := tryGet(gateway + "/api/hello"); code != 200 || !strings.Contains(body, `"host": "`+here+`"`) {
		t.Errorf("gateway /api/hello = %d %s; want an answer from the process on this machine (%s)", code, body, here)
	}
	if code, body := tryGet(gateway + "/api/repos"); code != 200 {
		t.Errorf("gateway /api/repos (the local api calling git) = %d %s", code, body)
	}
	if code, body := tryGet(gateway + "/api/schema"); code != 200 || !strings.Contains(body, "schema_version") {
		t.Errorf("gateway /api/schema (the local api calling the cache) = %d %s", code, body)
	}
	// The local api enqueues through the queue's rewritten address.
	if m := regexp.MustCompile(`here on port (\d+)`).FindStringSubmatch(w.output()); m == nil {
		t.Errorf("the port of the local process is not printed:\n%s", w.output())
	} else if resp, err := http.Post("http://127.0.0.1:"+m[1]+"/api/notify", "text/plain", strings.NewReader("from the laptop")); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("the local api's /api/notify (calling the queue): %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if r := mustCjob(t, "dev", "ps", "-f", file); !strings.Contains(r.stdout, "local: "+bin) {
		t.Errorf("dev ps does not show api served locally:\n%s", r)
	}

	w.stop(t)
	if !strings.Contains(w.output(), "putting coding-core.api's container back") {
		t.Errorf("the interrupt does not say the container is put back:\n%s", w.output())
	}
	c := observe(t, project)["coding-core.api/1"]
	if c == nil || c.Labels["cjob.swapped"] != "" || c.Image != container.Image || c.Labels["cjob.spec"] != container.Labels["cjob.spec"] {
		t.Fatalf("api after the local swap: %+v, want production's container back", c)
	}
	if code, body := tryGet(gateway + "/api/hello"); code != 200 || strings.Contains(body, `"host": "`+here+`"`) {
		t.Errorf("gateway /api/hello after restore = %d %s; want the container's answer", code, body)
	}
}

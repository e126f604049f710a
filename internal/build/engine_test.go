package build

// Tests against the real Docker engine. Without one they skip, loudly; with
// CI=true a missing engine is a failure. Images are built FROM scratch (no
// pull) and removed when each test ends.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/engine"
)

// needEngine returns a connection to the engine, or skips the test.
func needEngine(t *testing.T) *engine.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput()
	if err == nil {
		var eng *engine.Engine
		if eng, err = engine.Dial(ctx, engine.Options{}); err == nil {
			t.Cleanup(func() { eng.Close() })
			return eng
		}
	} else {
		err = fmt.Errorf("docker info: %v: %s", err, bytes.TrimSpace(out))
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Docker engine under CI: %v", err)
	}
	t.Skipf("SKIPPING test against the Docker engine: %v (under CI=true this is a failure)", err)
	return nil
}

// docker runs the docker CLI and returns its trimmed output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// testRepo returns a repository name unique to this run and removes its
// images when the test ends.
func testRepo(t *testing.T, name string) string {
	repo := fmt.Sprintf("cjob-test/build-%s-%08x", name, rand.Uint32())
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "images", "-q", "--filter", "reference="+repo).Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command("docker", "rmi", "-f", id).Run()
		}
	})
	return repo
}

// goBinary builds a static linux binary from a main package's source.
func goBinary(t *testing.T, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"go.mod": "module example.com/tool\n\ngo 1.21\n", "main.go": src})
	cmd := exec.Command("go", "build", "-trimpath", "-o", "bin", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inspect returns an image's Config.
func inspect(t *testing.T, image string) (cfg struct {
	Entrypoint []string
	Cmd        []string
	Labels     map[string]string
}) {
	t.Helper()
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveAndGet runs image with port published on 127.0.0.1 and returns the
// body of GET /path.
func serveAndGet(t *testing.T, image string, port int, path string) string {
	t.Helper()
	id := docker(t, "run", "-d", "-p", fmt.Sprintf("127.0.0.1::%d", port), image)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	addr := docker(t, "port", id, fmt.Sprint(port))
	addr = strings.Fields(addr)[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("GET %s: %v\ncontainer log:\n%s", path, err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEngineGoTemplate(t *testing.T) {
	eng := needEngine(t)
	dir := t.TempDir()
	writeFiles(t, dir, goProgram)
	repo := testRepo(t, "go")
	ctx := context.Background()
	var log bytes.Buffer

	start := time.Now()
	r1, err := Build(ctx, eng, Options{Dir: dir, Repo: repo, Port: 8080, Log: &log})
	first := time.Since(start)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	t.Logf("first build: %v (host %v, image %v)", first, r1.HostBuild, r1.ImageBuild)
	if r1.Reused || r1.Template != "go" || r1.Image != repo+":dev-"+r1.Hash {
		t.Fatalf("first build: %+v", r1)
	}
	if !strings.Contains(log.String(), "Successfully tagged "+r1.Image) {
		t.Errorf("log lacks the engine's output:\n%s", log.String())
	}
	cfg := inspect(t, r1.Image)
	if !slices.Equal(cfg.Entrypoint, []string{"/app"}) {
		t.Errorf("Entrypoint %q", cfg.Entrypoint)
	}
	// A template image carries its source; its content hash is in its tag.
	if cfg.Labels[LabelSource] != dir || !strings.HasSuffix(r1.Image, ":dev-"+r1.Hash) {
		t.Errorf("labels %v, image %s", cfg.Labels, r1.Image)
	}
	if got := serveAndGet(t, r1.Image, 8080, "/"); got != "v1" {
		t.Errorf("GET / = %q, want v1", got)
	}

	start = time.Now()
	r2, err := Build(ctx, eng, Options{Dir: dir, Repo: repo, Port: 8080})
	second := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reused build: %v", second)
	if !r2.Reused || r2.Image != r1.Image || r2.HostBuild != 0 || r2.ImageBuild != 0 {
		t.Errorf("second build: %+v", r2)
	}
	if second >= first {
		t.Errorf("reuse took %v, the first build %v", second, first)
	}

	// A change makes a new image.
	writeFiles(t, dir, map[string]string{"main.go": strings.Replace(goProgram["main.go"], `"v1"`, `"v2"`, 1)})
	start = time.Now()
	r3, err := Build(ctx, eng, Options{Dir: dir, Repo: repo, Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild after a change: %v (host %v, image %v)", time.Since(start), r3.HostBuild, r3.ImageBuild)
	if r3.Reused || r3.Hash == r1.Hash {
		t.Errorf("after a change: %+v", r3)
	}
}

// listing is a program that prints GREETING and the files under /ctx.
const listing = `package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	fmt.Println("greeting=" + os.Getenv("GREETING"))
	filepath.WalkDir("/ctx", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fmt.Println(p)
		}
		return nil
	})
}
`

func TestEngineDockerfile(t *testing.T) {
	eng := needEngine(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `FROM scratch AS dev
ARG GREETING=none
ENV GREETING=$GREETING
COPY bin/list /list
COPY . /ctx
LABEL stage=dev
ENTRYPOINT ["/list"]

FROM dev AS prod
LABEL stage=prod
`,
		".dockerignore":   "*.log\n!keep.log\nsecret\n",
		"a.txt":           "a",
		"x.log":           "excluded",
		"keep.log":        "kept",
		"secret/key":      "excluded",
		"sub/b.txt":       "b",
		"bin/placeholder": "",
	})
	if err := os.WriteFile(filepath.Join(dir, "bin", "list"), goBinary(t, listing), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	repo := testRepo(t, "dockerfile")
	var log bytes.Buffer
	res, err := Build(context.Background(), eng, Options{
		Dir: dir, Repo: repo, Target: "dev", BuildArgs: map[string]string{"GREETING": "hi"}, Log: &log,
	})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	if res.Template != "" || !strings.Contains(res.Dockerfile, "FROM scratch AS dev") {
		t.Errorf("result %+v", res)
	}
	cfg := inspect(t, res.Image)
	if cfg.Labels["stage"] != "dev" || cfg.Labels[LabelContentHash] != res.Hash {
		t.Errorf("labels %v (want the dev stage)", cfg.Labels)
	}
	out := docker(t, "run", "--rm", res.Image)
	want := []string{"greeting=hi", "/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/a.txt", "/ctx/bin/list", "/ctx/bin/placeholder", "/ctx/keep.log", "/ctx/link", "/ctx/sub/b.txt"}
	if got := strings.Split(out, "\n"); !slices.Equal(got, want) {
		t.Errorf("in the image\n got %q\nwant %q", got, want)
	}

	// The last stage: cjob's labels go into the Dockerfile (one step).
	log.Reset()
	prod, err := Build(context.Background(), eng, Options{Dir: dir, Repo: repo, Target: "prod", Log: &log})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	if prod.Hash == res.Hash {
		t.Errorf("another target, the same hash")
	}
	cfg = inspect(t, prod.Image)
	if cfg.Labels["stage"] != "prod" || cfg.Labels[LabelContentHash] != prod.Hash || cfg.Labels[LabelSource] != dir {
		t.Errorf("labels %v (want the prod stage)", cfg.Labels)
	}
	if n := strings.Count(log.String(), "LABEL "); n != 3 { // dev, prod, cjob's
		t.Errorf("%d LABEL steps:\n%s", n, log.String())
	}
}

func TestEngineStaticTemplate(t *testing.T) {
	eng := needEngine(t)
	server := goBinary(t, `package main

import (
	"net/http"
	"os"
)

// A stand-in for "cjob-sandbox serve-static DIR --listen ADDR".
func main() {
	http.ListenAndServe(os.Args[4], http.FileServer(http.Dir(os.Args[2])))
}
`)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "<h1>hello static</h1>\n", "css/site.css": "h1{}"})
	repo := testRepo(t, "static")
	var log bytes.Buffer
	res, err := Build(context.Background(), eng, Options{Dir: dir, Repo: repo, Port: 8081, StaticServer: server, Log: &log})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	if res.Template != "static" {
		t.Errorf("template %q", res.Template)
	}
	if cfg := inspect(t, res.Image); !slices.Equal(cfg.Cmd, []string{"/cjob-sandbox", "serve-static", "/site", "--listen", ":8081"}) {
		t.Errorf("Cmd %q", cfg.Cmd)
	}
	if got := serveAndGet(t, res.Image, 8081, "/"); !strings.Contains(got, "hello static") {
		t.Errorf("GET / = %q", got)
	}
	if got := serveAndGet(t, res.Image, 8081, "/css/site.css"); got != "h1{}" {
		t.Errorf("GET /css/site.css = %q", got)
	}
}

func TestEngineBuildError(t *testing.T) {
	eng := needEngine(t)
	dir := t.TempDir()
	// It fails before committing any layer, so nothing is left in the
	// engine's cache.
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY missing.txt /\n"})
	repo := testRepo(t, "fail")
	_, err := Build(context.Background(), eng, Options{Dir: dir, Repo: repo})
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error:\n%v", err)
	msg := err.Error()
	for _, s := range []string{"missing.txt", "last lines of the build output", ": COPY missing.txt /"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q", s)
		}
	}
	// No intermediate containers are left behind.
	if out := docker(t, "ps", "-aq", "--filter", "ancestor="+repo); out != "" {
		t.Errorf("containers left: %s", out)
	}
}

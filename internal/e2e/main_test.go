// Package e2e runs cjob's command line against the real Docker engine: the
// demo stack, converging, failures, port conflicts, volumes, a real
// registry, and the legacy jobs file. Each test uses its own project and
// removes it when done.
//
// Without an engine the tests skip, loudly; with CI=true a missing engine is
// a failure.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/stack"
)

var (
	cjobBin   string // the cjob binary under test
	repoRoot  string
	setupErr  error // why the end-to-end tests cannot run
	demoImage = "coding/api:1.0.0"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			setupErr = fmt.Errorf("-short")
			return m.Run()
		}
		tmp, err := os.MkdirTemp("", "cjob-e2e-")
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer os.RemoveAll(tmp)
		setupErr = setup(tmp)
		return m.Run()
	}()
	os.Exit(code)
}

func setup(tmp string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	bin := filepath.Join(tmp, "cjob")
	// A plain `go build`, cgo on (as `go install` gives users): the host
	// sandbox does not depend on how cjob was built.
	build := exec.Command("go", "build", "-o", bin, "./cmd/cjob")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build cjob: %v\n%s", err, out)
	}
	cjobBin = bin
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		return err
	}
	eng.Close()
	for _, script := range []string{"examples/coding/build-images.sh", "examples/legacy/build-images.sh"} {
		cmd := exec.Command("bash", filepath.Join(repoRoot, script))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", script, err, out)
		}
	}
	return nil
}

// needBinary skips a test when the cjob binary could not be built (only
// under -short); a build failure is a failure.
func needBinary(t *testing.T) {
	t.Helper()
	if cjobBin == "" {
		if testing.Short() {
			t.Skip("-short")
		}
		t.Fatalf("cjob binary not built: %v", setupErr)
	}
}

// need skips (or, under CI, fails) a test that cannot run.
func need(t *testing.T) {
	t.Helper()
	if setupErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("end-to-end tests cannot run under CI: %v", setupErr)
	}
	t.Skipf("SKIPPING end-to-end test: %v (needs a Docker engine; under CI=true this is a failure)", setupErr)
}

type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// cjob runs the binary under test.
func cjob(t *testing.T, args ...string) result {
	t.Helper()
	return cjobVia(t, nil, args...)
}

// cjobVia runs the binary under test through a wrapper command (e.g.
// unshare -n), or directly when via is empty.
func cjobVia(t *testing.T, via []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, via...), cjobBin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = repoRoot
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cjob %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustCjob runs cjob and fails the test on a non-zero exit.
func mustCjob(t *testing.T, args ...string) result {
	t.Helper()
	r := cjob(t, args...)
	if r.code != 0 {
		t.Fatalf("cjob %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// jobsFile writes a jobs file into a temp dir and removes the project's dev
// stack (and volumes) when the test ends.
func jobsFile(t *testing.T, content string) string {
	t.Helper()
	path := jobsFileNoCleanup(t, content)
	t.Cleanup(func() {
		if r := cjob(t, "dev", "down", "--volumes", "--rmi", "--progress", "quiet", "-f", path); r.code != 0 {
			t.Logf("cleanup: %s", r)
		}
	})
	return path
}

// jobsFileNoCleanup writes a jobs file that is never brought up.
func jobsFileNoCleanup(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobs.yml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// demoFile copies the demo's jobs file under another project name.
func demoFile(t *testing.T, project string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/coding/jobs.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^project: coding$`).ReplaceAllString(string(b), "project: "+project)
	if edit != nil {
		s = edit(s)
	}
	return jobsFile(t, s)
}

// observe returns the project's dev containers by unit key.
func observe(t *testing.T, project string) map[string]*stack.Container {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	o, err := eng.Observe(ctx, project, stack.Dev, project+"-dev")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*stack.Container{}
	for _, c := range o.Containers {
		m[c.Key()] = c
	}
	return m
}

// probeInside checks targets from inside the stack's network, through the
// host sandbox of the given production host.
func probeInside(t *testing.T, project, host string, targets ...string) string {
	t.Helper()
	args := append([]string{"exec", project + "-dev.host." + host, "/cjob-sandbox", "probe"}, targets...)
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("probe from inside %s: %v\n%s", host, err, out)
	}
	return string(out)
}

// httpClient keeps no idle connections, so no test holds a container's
// connection open while cjob stops it.
var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type upJSON struct {
	Changed bool   `json:"changed"`
	Summary string `json:"summary"`
	Jobs    []struct {
		Job        string `json:"job"`
		Production string `json:"production"`
		Local      string `json:"local"`
	} `json:"jobs"`
}

func parseUp(t *testing.T, r result) upJSON {
	t.Helper()
	var u upJSON
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		t.Fatalf("dev up --json: %v\n%s", err, r)
	}
	return u
}

package pooltest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exec runs argv inside network namespace ns (a Host's Netns) and returns
// its combined output.
func Exec(ns string, argv ...string) (string, error) {
	args := append([]string{"--net=" + filepath.Join(netnsDir, ns), "--"}, argv...)
	out, err := exec.Command("nsenter", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v: %s", ns, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Get does GET url from inside host's network namespace, as a program on
// that machine would, and returns the status and body. It runs this very
// test binary under nsenter: the init below answers instead of running the
// tests. A refused connection is an error.
func (p *Pool) Get(host, url string) (status int, body string, err error) {
	e, err := p.engine(host)
	if err != nil {
		return 0, "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, "", err
	}
	cmd := exec.Command("nsenter", "--net="+filepath.Join(netnsDir, e.Netns), "--", exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, "", fmt.Errorf("GET %s from %s: %s", url, host, strings.TrimSpace(stderr.String()+" "+err.Error()))
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	status, err = strconv.Atoi(first)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s from %s: unexpected helper output %q", url, host, out)
	}
	return status, rest, nil
}

const helperEnv = "CJOB_POOLTEST_GET"

// In a test binary re-run by Get: fetch, print "STATUS\nBODY", exit.
func init() {
	url := os.Getenv(helperEnv)
	if url == "" {
		return
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}} // no HTTP_PROXY
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n%s", resp.StatusCode, body)
	os.Exit(0)
}

// imageTar is a `docker save` of Options.Images from the main engine. The
// file is unlinked as soon as it is open: it lives as long as the test
// process and never outlives it.
type imageTar struct {
	f    *os.File
	size int64
}

var (
	tarMu    sync.Mutex
	tarCache = map[string]*imageTar{} // by image names and IDs
)

func saveImages(images []string) (*imageTar, error) {
	out, err := exec.Command("docker", append([]string{"image", "inspect", "--format", "{{.Id}}"}, images...)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("images %s on the main engine: %v: %s (build them first, e.g. examples/coding/build-images.sh)", strings.Join(images, " "), err, strings.TrimSpace(string(out)))
	}
	key := strings.Join(images, " ") + "\n" + string(out)
	tarMu.Lock()
	defer tarMu.Unlock()
	if t := tarCache[key]; t != nil {
		return t, nil
	}
	tmp, err := os.CreateTemp("", "cjob-pool-images-*.tar")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if out, err := exec.Command("docker", append([]string{"save", "-o", tmp.Name()}, images...)...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker save: %v: %s", err, strings.TrimSpace(string(out)))
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &imageTar{f: f, size: st.Size()}
	tarCache[key] = t
	return t, nil
}

// load pipes the tar into `docker load` of one engine.
func (t *imageTar) load(endpoint string) error {
	cmd := exec.Command("docker", "-H", endpoint, "load", "-q")
	cmd.Env = engineEnv()
	cmd.Stdin = io.NewSectionReader(t.f, 0, t.size)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker load: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// engineEnv is this process's environment without the DOCKER_ variables
// that point the docker command line at the main engine (TLS, context).
func engineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return env
}

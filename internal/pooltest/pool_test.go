package pooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gitImage = "coding/git:1.0.0"

func TestPool(t *testing.T) {
	t0 := time.Now()
	opts := Options{Name: "cjpt", Hosts: 3, Subnet: "10.213.0.0/24", Images: []string{gitImage}}
	p := Start(t, opts)
	tStart := time.Since(t0)
	if len(p.Hosts) != 3 {
		t.Fatalf("%d hosts, want 3", len(p.Hosts))
	}
	for i, h := range p.Hosts {
		t.Logf("%s %s %s netns=%s driver=%s", h.Name, h.Address, h.Endpoint, h.Netns, h.Driver)
		if want := "10.213.0.1" + string(rune('1'+i)); h.Address != want {
			t.Errorf("%s: address %s, want %s", h.Name, h.Address, want)
		}
	}
	s1, s2 := p.Hosts[0], p.Hosts[1]

	// Every engine is a machine of its own: its hostname, its engine ID.
	for _, h := range p.Hosts[:2] {
		out, err := p.Docker(h.Name, "info", "--format", "{{.Name}}")
		if err != nil || strings.TrimSpace(out) != h.Name {
			t.Errorf("%s: docker info name %q, %v", h.Name, out, err)
		}
	}
	id1, _ := p.Docker("stg-1", "info", "--format", "{{.ID}}")
	id2, _ := p.Docker("stg-2", "info", "--format", "{{.ID}}")
	if id1 == id2 {
		t.Errorf("stg-1 and stg-2 have the same engine ID %q", id1)
	}

	t1 := time.Now()
	id, err := p.Docker("stg-1", "run", "-d", "--network", "host", "-e", "ROLE=git", "-e", "PORT=8090", gitImage)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s1.Address + ":8090/healthz"
	body := waitGet(t, p, s2.Name, url)
	t.Logf("GET %s from stg-2: 200 %q, %v after docker run", url, strings.TrimSpace(body), time.Since(t1).Round(time.Millisecond))
	// The container listens in stg-1's namespace, not in stg-2's.
	if st, _, err := p.Get(s2.Name, "http://127.0.0.1:8090/healthz"); err == nil {
		t.Errorf("stg-2's own 127.0.0.1:8090 answered %d: the namespaces are not separate", st)
	}

	// A host goes away, and comes back with its images and containers.
	url3 := "http://" + p.Hosts[2].Address + ":8093/healthz"
	if _, err := p.Docker("stg-3", "run", "-d", "--restart", "always", "--network", "host", "-e", "ROLE=git", "-e", "PORT=8093", gitImage); err != nil {
		t.Fatal(err)
	}
	waitGet(t, p, "stg-1", url3)
	t2 := time.Now()
	if err := p.Stop("stg-3"); err != nil {
		t.Fatal(err)
	}
	tStop := time.Since(t2)
	if _, err := p.Docker("stg-3", "version"); err == nil {
		t.Errorf("stg-3 still answers after Stop")
	}
	if st, _, err := p.Get("stg-1", url3); err == nil {
		t.Errorf("stg-3's container still answers after Stop: %d", st)
	}
	t3 := time.Now()
	if err := p.Restart("stg-3"); err != nil {
		t.Fatal(err)
	}
	tRestart := time.Since(t3)
	if _, err := p.Docker("stg-3", "image", "inspect", gitImage); err != nil {
		t.Errorf("after Restart: %v", err)
	}
	waitGet(t, p, "stg-1", url3) // --restart always: back with its engine
	if status, _, err := p.Get("stg-3", url); err != nil || status != 200 {
		t.Errorf("GET %s from stg-3 after its restart: %d %v", url, status, err)
	}

	t4 := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	tClose := time.Since(t4)
	assertClean(t, opts.Name, strings.TrimSpace(id))
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	t.Logf("timings: Start %v, Stop %v, Restart %v, Close %v, total %v",
		tStart.Round(time.Millisecond), tStop.Round(time.Millisecond), tRestart.Round(time.Millisecond),
		tClose.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// A run killed mid-way leaves namespaces, daemons, containers and mounts:
// the next Start with the same name removes them and starts afresh.
func TestStaleRecovery(t *testing.T) {
	opts := Options{Name: "cjps", Hosts: 2, Subnet: "10.214.0.0/24", Images: []string{gitImage}}
	p := Start(t, opts)
	id1, err := p.Docker("stg-1", "run", "-d", "--restart", "always", "--network", "host", "-e", "ROLE=git", "-e", "PORT=8091", gitImage)
	if err != nil {
		t.Fatal(err)
	}
	// On stg-2 the daemons crash and leave a container outside the namespace.
	id2, err := p.Docker("stg-2", "run", "-d", "--network", "none", gitImage)
	if err != nil {
		t.Fatal(err)
	}
	e := p.engines["stg-2"]
	e.dockerd.cmd.Process.Kill()
	e.containerd.cmd.Process.Kill()
	<-e.dockerd.done
	p.abandon()

	t0 := time.Now()
	p2 := Start(t, opts)
	t.Logf("Start over the leftovers of a killed run: %v", time.Since(t0).Round(time.Millisecond))
	out, err := p2.Docker("stg-1", "ps", "-aq")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("stg-1 after the restart of the pool: containers %q, %v", out, err)
	}
	if st, _, err := p2.Get("stg-2", "http://"+p2.Hosts[0].Address+":8091/healthz"); err == nil {
		t.Errorf("the old container still answers: %d", st)
	}
	for _, id := range []string{id1, id2} {
		if pids := inCgroup(strings.TrimSpace(id)); len(pids) > 0 {
			t.Errorf("container %.12s still runs: %v", id, pids)
		}
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, opts.Name, strings.TrimSpace(id1), strings.TrimSpace(id2))
}

// waitGet GETs url from host until it answers 200 (15s at most) and returns
// the body.
func waitGet(t *testing.T, p *Pool, host, url string) string {
	t.Helper()
	var (
		status int
		body   string
		err    error
	)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status, body, err = p.Get(host, url); err == nil && status == 200 {
			return body
		}
	}
	t.Fatalf("GET %s from %s: %d %q %v", url, host, status, body, err)
	return ""
}

// abandon forgets the pool as a killed test process would: its daemons and
// containers keep running, and the lock is released.
func (p *Pool) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.lock.Close()
}

// assertClean checks, without the package's own code, that nothing of pool
// name is left: namespace, interface, process, mount, iptables rule,
// directory, and neither process nor cgroup of the given containers.
func assertClean(t *testing.T, name string, containers ...string) {
	t.Helper()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name+"-") {
		t.Errorf("network namespaces left:\n%s", out)
	}
	if out, _ := exec.Command("ip", "-o", "link", "show").Output(); strings.Contains(string(out), name+"-") {
		t.Errorf("interfaces left:\n%s", out)
	}
	if out, _ := exec.Command("iptables", "-S", "FORWARD").Output(); strings.Contains(string(out), name+"-br") {
		t.Errorf("iptables rule left:\n%s", out)
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, "cjob-pool/"+name+"-") || strings.Contains(line, "netns/"+name+"-") {
			t.Errorf("mount left: %s", line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, _ := os.ReadFile(f)
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, "cjob-pool/"+name+"-") {
			t.Errorf("process left: %s: %s", filepath.Dir(f), cl)
		}
	}
	for _, id := range containers {
		if pids := inCgroup(id); len(pids) > 0 {
			t.Errorf("processes of container %.12s left: %v", id, pids)
		}
		if m, _ := filepath.Glob("/sys/fs/cgroup/*/docker/" + id); len(m) > 0 {
			t.Errorf("cgroups left: %v", m)
		}
	}
	for _, pattern := range []string{"/run/cjob-pool/" + name + "*", "/var/lib/cjob-pool/" + name + "-*", "/var/run/netns/" + name + "-*"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			t.Errorf("left: %s", m)
		}
	}
}

// inCgroup lists the live processes in a cgroup named after container id.
func inCgroup(id string) []string {
	var pids []string
	files, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), id) {
			if st, err := os.ReadFile(filepath.Join(filepath.Dir(f), "stat")); err == nil && !strings.Contains(string(st), ") Z") {
				pids = append(pids, filepath.Base(filepath.Dir(f)))
			}
		}
	}
	return pids
}

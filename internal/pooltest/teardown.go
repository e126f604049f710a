package pooltest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// teardown removes everything of pool name: that of the given engines and
// whatever an earlier run left (found through the names on disk, in
// /var/run/netns and among the interfaces). With engines == nil it first
// lists what it finds, for the log.
func teardown(name string, engines map[string]*engine) (found []string, err error) {
	if engines == nil {
		found = leftovers(name)
	}
	hosts := map[string]*engine{}
	for _, e := range engines {
		hosts[e.Netns] = e
	}
	for _, pattern := range []string{netnsDir, runBase, dataBase} {
		paths, _ := filepath.Glob(filepath.Join(pattern, name+"-stg-*"))
		for _, p := range paths {
			if ns := filepath.Base(p); hosts[ns] == nil {
				hosts[ns] = &engine{Host: Host{Netns: ns}, run: filepath.Join(runBase, ns), data: filepath.Join(dataBase, ns)}
			}
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for ns, e := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := teardownHost(e); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", ns, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	for ns := range hosts {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", ns, err, out))
			}
		}
	}
	// A veth goes with its namespace; delete what is left (and the bridge).
	for _, link := range poolLinks(name) {
		if out, err := exec.Command("ip", "link", "delete", link).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("Cannot find device")) {
			errs = append(errs, fmt.Errorf("ip link delete %s: %v: %s", link, err, out))
		}
	}
	for range 10 {
		if !forwardRule(name, "-D") {
			break
		}
	}
	for ns, e := range hosts {
		for _, dir := range []string{e.run, e.data} {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", ns, err))
			}
		}
	}
	return found, errors.Join(errs...)
}

// teardownHost stops and removes the containers and processes of one host
// and unmounts everything under its directories.
func teardownHost(e *engine) error {
	removeContainers("unix://" + filepath.Join(e.run, "docker.sock"))
	stopHost(e, true)
	var errs []error
	if n := killHost(e.Netns); n > 0 {
		errs = append(errs, fmt.Errorf("%d processes would not die", n))
	}
	errs = append(errs, unmountUnder(e.run, e.data))
	removeCgroups(e.data)
	return errors.Join(errs...)
}

// stopHost stops dockerd, then containerd: SIGTERM, and SIGKILL after 10s.
// It finds them through the pool's handles or, for an earlier run, their
// pid files. fast skips waiting for a containerd (everything goes anyway).
func stopHost(e *engine, fast bool) {
	terminate(e.dockerd, filepath.Join(e.run, "dockerd.pid"), e.run, stopGrace)
	grace := stopGrace
	if fast {
		grace = 2 * time.Second
	}
	terminate(e.containerd, filepath.Join(e.run, "containerd.pid"), e.run, grace)
}

func terminate(p *proc, pidfile, mark string, grace time.Duration) {
	pid := 0
	if p != nil {
		pid = p.cmd.Process.Pid
	} else if b, err := os.ReadFile(pidfile); err == nil {
		// A pid file may outlive its process; the pid may be someone else's now.
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n > 1 && refers(cmdline(n), mark) {
			pid = n
		}
	}
	if pid == 0 || !alive(pid) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone([]int{pid}, grace) {
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone([]int{pid}, 5*time.Second)
	}
}

// killHost SIGKILLs every process of host ns: those in its network
// namespace, those whose command line names its directories (containerd
// shims, fuse-overlayfs) and those in the cgroup of one of its containers.
// It returns how many survived.
func killHost(ns string) int {
	var pids []int
	for range 3 {
		pids = procsOf(ns)
		if len(pids) == 0 {
			return 0
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(pids, 5*time.Second)
	}
	return len(procsOf(ns))
}

func procsOf(ns string) []int {
	run, data := filepath.Join(runBase, ns), filepath.Join(dataBase, ns)
	var nsStat syscall.Stat_t
	haveNS := syscall.Stat(filepath.Join(netnsDir, ns), &nsStat) == nil
	var ids []string
	if ents, err := os.ReadDir(filepath.Join(data, "docker", "containers")); err == nil {
		for _, d := range ents {
			ids = append(ids, d.Name())
		}
	}
	var pids []int
	for _, pid := range allPids() {
		if haveNS {
			var st syscall.Stat_t
			if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Dev == nsStat.Dev && st.Ino == nsStat.Ino {
				pids = append(pids, pid)
				continue
			}
		}
		if cl := cmdline(pid); refers(cl, run) || refers(cl, data) {
			pids = append(pids, pid)
			continue
		}
		if len(ids) > 0 {
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			for _, id := range ids {
				if bytes.Contains(cg, []byte(id)) {
					pids = append(pids, pid)
					break
				}
			}
		}
	}
	return pids
}

// allPids lists the live processes but init, this one and its ancestors
// (a shell whose command line happens to name a pool directory must live).
func allPids() []int {
	spare := map[int]bool{1: true}
	for pid := os.Getpid(); pid > 1 && !spare[pid]; pid = parent(pid) {
		spare[pid] = true
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || spare[pid] || !alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func parent(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ...
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func cmdline(pid int) []byte {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return b
}

// refers says whether a NUL-separated command line names dir or a path in it
// (and not dir-10 for dir-1).
func refers(cl []byte, dir string) bool {
	return bytes.Contains(cl, []byte(dir+"/")) || bytes.Contains(cl, []byte(dir+"\x00"))
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

func waitGone(pids []int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		left := 0
		for _, pid := range pids {
			if alive(pid) {
				left++
			}
		}
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mountsUnder lists the mount points at or under the given directories,
// deepest first.
func mountsUnder(dirs ...string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				mps = append(mps, mp)
				break
			}
		}
	}
	sort.SliceStable(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	return mps
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// unmountUnder unmounts everything at or under dirs (lazily when busy).
func unmountUnder(dirs ...string) error {
	for range 5 {
		mps := mountsUnder(dirs...)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if syscall.Unmount(mp, 0) != nil {
				syscall.Unmount(mp, syscall.MNT_DETACH)
			}
		}
	}
	if mps := mountsUnder(dirs...); len(mps) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(mps, ", "))
	}
	return nil
}

// removeCgroups removes the (empty) cgroups of the host's containers that a
// killed dockerd could not: cgroupfs driver on v1 and v2, systemd driver.
func removeCgroups(data string) {
	ents, _ := os.ReadDir(filepath.Join(data, "docker", "containers"))
	for _, d := range ents {
		id := d.Name()
		for _, pattern := range []string{
			"/sys/fs/cgroup/*/docker/" + id, "/sys/fs/cgroup/docker/" + id,
			"/sys/fs/cgroup/*/system.slice/docker-" + id + ".scope", "/sys/fs/cgroup/system.slice/docker-" + id + ".scope",
		} {
			paths, _ := filepath.Glob(pattern)
			for _, p := range paths {
				os.Remove(p)
			}
		}
	}
}

// poolLinks lists the pool's interfaces in this namespace: NAME-br, NAME-vI.
func poolLinks(name string) []string {
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	var links []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		link, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if rest, ok := strings.CutPrefix(link, name+"-v"); (ok && isDigits(rest)) || link == name+"-br" {
			links = append(links, link)
		}
	}
	return links
}

func isDigits(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}

// forwardRule runs iptables op (-C, -D) on the pool's FORWARD rule and says
// whether it succeeded.
func forwardRule(name, op string) bool {
	if _, err := exec.LookPath("iptables"); err != nil {
		return false
	}
	br := name + "-br"
	return exec.Command("iptables", op, "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT").Run() == nil
}

// leftovers describes what exists of pool name: namespaces, interfaces, the
// iptables rule, directories, processes and mounts.
func leftovers(name string) []string {
	var left []string
	for _, pattern := range []string{netnsDir, runBase, dataBase} {
		paths, _ := filepath.Glob(filepath.Join(pattern, name+"-stg-*"))
		left = append(left, paths...)
	}
	for _, l := range poolLinks(name) {
		left = append(left, "interface "+l)
	}
	if forwardRule(name, "-C") {
		left = append(left, "iptables rule FORWARD -i "+name+"-br")
	}
	run, data := filepath.Join(runBase, name+"-stg-"), filepath.Join(dataBase, name+"-stg-")
	for _, pid := range allPids() {
		if cl := cmdline(pid); bytes.Contains(cl, []byte(run)) || bytes.Contains(cl, []byte(data)) {
			args := strings.Fields(strings.ReplaceAll(string(cl), "\x00", " "))
			left = append(left, fmt.Sprintf("process %d (%s)", pid, filepath.Base(args[0])))
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 5 {
			mp := unescapeMount(f[4])
			if strings.HasPrefix(mp, run) || strings.HasPrefix(mp, data) || strings.HasPrefix(mp, "/run/netns/"+name+"-stg-") {
				left = append(left, "mount "+mp)
			}
		}
	}
	return left
}

// unmountNetnsDir undoes what the first `ip netns add` does on a machine,
// make /var/run/netns a mount point of its own, once no namespace is left in
// it. (It fails, harmlessly, while one is mounted there.)
func unmountNetnsDir() {
	dir, err := filepath.EvalSymlinks(netnsDir)
	if err != nil {
		return
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		return
	}
	if len(mountsUnder(dir)) > 0 {
		syscall.Unmount(dir, 0)
	}
}

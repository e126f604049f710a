// Package pooltest starts a pool of real Docker engines on this machine, each
// in its own network namespace with its own IP address, as if they were
// separate intranet machines. It is for end-to-end tests of cjob staging and
// is imported only by tests.
//
// Layout of a pool named NAME with N hosts (stg-1 ... stg-N):
//
//	bridge NAME-br                 SUBNET .1, in the root namespace
//	netns  NAME-stg-I              eth0 = SUBNET .(10+I), default route via .1
//	veth   NAME-vI                 the bridge port of host I
//	/run/cjob-pool/NAME-stg-I/     docker.sock, pid files, logs, exec roots
//	/var/lib/cjob-pool/NAME-stg-I/ data roots of dockerd and containerd
//	iptables FORWARD -i NAME-br -o NAME-br -j ACCEPT
//
// Each host runs its own containerd and dockerd inside its namespace (with
// its own UTS namespace: `docker info` names the engine stg-I). Containers
// must run with --network host: they then live in the host's namespace and
// listen on its address. dockerd is told --bridge none --iptables=false, so
// the default bridge network does not exist.
//
// Storage driver: each engine tries overlay2, then fuse-overlayfs (when the
// binary is installed), then vfs, and keeps the first that starts;
// CJOB_POOL_STORAGE_DRIVER=drv[,drv...] sets the drivers to try instead.
// Host.Driver says which was chosen.
//
// Start removes whatever an earlier, killed run left under the same Name;
// names must therefore be unique among the test processes that run at the
// same time (go test runs packages in parallel), and so must subnets.
package pooltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options describe a pool.
type Options struct {
	Name   string   // prefix of namespaces, interfaces and paths: [a-z][a-z0-9]{0,7}, unique per concurrent test process
	Hosts  int      // number of engines
	Subnet string   // IPv4, e.g. "10.213.0.0/24": the bridge gets .1, the hosts .11, .12, ...
	Images []string // images of the main engine loaded into every engine
	// TLS makes every engine also listen on tcp://ADDRESS:2376 with
	// --tlsverify; the host's TLSEndpoint and CA, Cert, Key reach it.
	TLS bool
}

// Host is one engine of a pool.
type Host struct {
	Name     string // "stg-1", ...; also the engine's hostname
	Endpoint string // "unix:///run/cjob-pool/<netns>/docker.sock"
	Address  string // "10.213.0.11"
	Netns    string // network namespace, e.g. "cjp1-stg-1" (/var/run/netns/<Netns>)
	Driver   string // storage driver the engine runs with

	// With Options.TLS: the engine's TCP endpoint and the client's files.
	TLSEndpoint   string // "tcp://10.213.0.11:2376"
	CA, Cert, Key string
	serverCert    string
	serverKey     string
}

// Pool is a running pool. Its methods are safe for concurrent use.
type Pool struct {
	Hosts []Host

	opts    Options
	bridge  netip.Prefix // the bridge's address and the subnet's length
	logf    func(format string, args ...any)
	mu      sync.Mutex // guards closed
	engines map[string]*engine
	lock    *os.File // flock on /run/cjob-pool/NAME.lock while the pool is ours
	closed  bool
}

const (
	runBase    = "/run/cjob-pool"     // short paths: unix sockets are limited to ~108 bytes
	dataBase   = "/var/lib/cjob-pool" // on disk: images can be large, /run is often a small tmpfs
	netnsDir   = "/var/run/netns"     // where `ip netns` keeps its namespaces
	firstHost  = 11                   // host I gets subnet .(10+I)
	stopGrace  = 10 * time.Second     // SIGTERM, then SIGKILL
	readyLimit = 60 * time.Second     // until an engine answers /_ping
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)

// engine is the state of one host.
type engine struct {
	Host
	mu         sync.Mutex // held while the host starts or stops
	run, data  string     // /run/cjob-pool/<netns>, /var/lib/cjob-pool/<netns>
	containerd *proc
	dockerd    *proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

func (o Options) netns(i int) string { return fmt.Sprintf("%s-stg-%d", o.Name, i) }

// Start starts the pool and registers its teardown with t.Cleanup. It skips
// the test, loudly, when this machine cannot run a pool (not root, a missing
// binary, no main engine to take Options.Images from); with CI=true it fails
// instead. Under -short it always skips.
func Start(t testing.TB, opts Options) *Pool {
	t.Helper()
	if err := opts.check(); err != nil {
		t.Fatalf("pooltest: %v", err)
	}
	if testing.Short() { // make unit: skip even under CI
		t.Skip("-short: the engine pool is for end-to-end tests")
	}
	if reason := cannotRun(opts); reason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pooltest: CI=true and the engine pool cannot run: %s", reason)
		}
		fmt.Fprintf(os.Stderr, "pooltest: SKIPPING %s: the engine pool cannot run: %s (under CI=true this is a failure)\n", t.Name(), reason)
		t.Skipf("SKIPPING: the engine pool cannot run: %s (under CI=true this is a failure)", reason)
	}
	p, err := newPool(opts, t.Logf)
	if err != nil {
		t.Fatalf("pooltest: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("pooltest: teardown of pool %s: %v", opts.Name, err)
		}
	})
	if err := p.start(); err != nil {
		t.Fatalf("pooltest: start pool %s: %v", opts.Name, err)
	}
	return p
}

func (o Options) check() error {
	if !nameRE.MatchString(o.Name) {
		return fmt.Errorf("Options.Name %q: want [a-z][a-z0-9]{0,7} (it prefixes interface names, at most 15 bytes)", o.Name)
	}
	if o.Hosts < 1 || o.Hosts > 200 {
		return fmt.Errorf("Options.Hosts %d: want 1 to 200", o.Hosts)
	}
	pfx, err := netip.ParsePrefix(o.Subnet)
	if err != nil || !pfx.Addr().Is4() {
		return fmt.Errorf("Options.Subnet %q: want an IPv4 prefix such as 10.213.0.0/24", o.Subnet)
	}
	last := addrAt(pfx, firstHost+o.Hosts-1)
	if !pfx.Masked().Contains(last) || last == lastAddr(pfx) {
		return fmt.Errorf("Options.Subnet %s is too small for %d hosts from .%d", o.Subnet, o.Hosts, firstHost)
	}
	return nil
}

// cannotRun says why this machine cannot run a pool, or "".
func cannotRun(o Options) string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, mounts, dockerd)"
	}
	var missing []string
	for _, bin := range []string{"dockerd", "containerd", "docker", "ip", "nsenter", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ") + " (Debian: docker.io iproute2 util-linux)"
	}
	if len(o.Images) > 0 {
		if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
			return fmt.Sprintf("the main Docker engine (source of Options.Images) does not answer: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	return ""
}

func newPool(o Options, logf func(string, ...any)) (*Pool, error) {
	pfx := netip.MustParsePrefix(o.Subnet)
	p := &Pool{
		opts:    o,
		bridge:  netip.PrefixFrom(addrAt(pfx, 1), pfx.Bits()),
		logf:    logf,
		engines: map[string]*engine{},
	}
	for i := 1; i <= o.Hosts; i++ {
		ns := o.netns(i)
		e := &engine{
			Host: Host{
				Name:     fmt.Sprintf("stg-%d", i),
				Netns:    ns,
				Address:  addrAt(pfx, firstHost+i-1).String(),
				Endpoint: "unix://" + filepath.Join(runBase, ns, "docker.sock"),
			},
			run:  filepath.Join(runBase, ns),
			data: filepath.Join(dataBase, ns),
		}
		if o.TLS {
			// The files are made when the engine starts: a stale run's
			// leftovers under e.run are removed before that.
			c := certPaths(filepath.Join(e.run, "tls"))
			e.TLSEndpoint = "tcp://" + e.Address + ":2376"
			e.CA, e.Cert, e.Key, e.serverCert, e.serverKey = c.CA, c.Cert, c.Key, c.ServerCert, c.ServerKey
		}
		p.engines[e.Name] = e
	}
	// The lock keeps two live processes from tearing down each other's pool;
	// the kernel drops it when its holder dies, which makes the state stale.
	if err := os.MkdirAll(runBase, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(runBase, o.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f)
		f.Close()
		return nil, fmt.Errorf("pool %s is in use by another live process (pid %s): choose another Options.Name", o.Name, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	p.lock = f
	return p, nil
}

func (p *Pool) start() error {
	t0 := time.Now()
	found, err := teardown(p.opts.Name, nil)
	if err != nil {
		return fmt.Errorf("removing the state of an earlier run: %w", err)
	}
	if len(found) > 0 {
		p.logf("pooltest: pool %s: removed what an earlier run left: %s", p.opts.Name, strings.Join(found, ", "))
	}
	if err := p.setupBridge(); err != nil {
		return err
	}
	tNet := time.Now()

	// The image tar is saved while the engines start.
	var (
		tarOnce sync.Once
		tar     *imageTar
		tarErr  error
	)
	loadTar := func() (*imageTar, error) {
		tarOnce.Do(func() { tar, tarErr = saveImages(p.opts.Images) })
		return tar, tarErr
	}
	if len(p.opts.Images) > 0 {
		go loadTar()
	}
	var (
		wg                sync.WaitGroup
		errs              = make([]error, p.opts.Hosts)
		readyAt, loadedAt = make([]time.Time, p.opts.Hosts), make([]time.Time, p.opts.Hosts)
	)
	for i := range p.opts.Hosts {
		e := p.engines[fmt.Sprintf("stg-%d", i+1)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				if err := p.setupHostNet(e); err != nil {
					return err
				}
				if err := p.startEngine(e); err != nil {
					return err
				}
				readyAt[i] = time.Now()
				if len(p.opts.Images) > 0 {
					tar, err := loadTar()
					if err != nil {
						return err
					}
					if err := tar.load(e.Endpoint); err != nil {
						return fmt.Errorf("%s: %w", e.Name, err)
					}
				}
				loadedAt[i] = time.Now()
				return nil
			}()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ready, loaded := latest(readyAt), latest(loadedAt)
	p.Hosts = nil
	drivers := map[string]bool{}
	for i := 1; i <= p.opts.Hosts; i++ {
		e := p.engines[fmt.Sprintf("stg-%d", i)]
		p.Hosts = append(p.Hosts, e.Host)
		drivers[e.Driver] = true
	}
	var ds []string
	for d := range drivers {
		ds = append(ds, d)
	}
	p.logf("pooltest: pool %s: %d engines (%s) ready in %v: network %v, engines %v, images %v",
		p.opts.Name, p.opts.Hosts, strings.Join(ds, ", "), time.Since(t0).Round(time.Millisecond),
		tNet.Sub(t0).Round(time.Millisecond), ready.Sub(tNet).Round(time.Millisecond), loaded.Sub(ready).Round(time.Millisecond))
	return nil
}

func latest(ts []time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// Stop stops one engine the way a machine shuts down: dockerd stops its
// containers (SIGTERM to dockerd, SIGKILL after 10s), then containerd goes.
// The host keeps its address; nothing answers on it. Restart brings it back.
func (p *Pool) Stop(host string) error {
	e, err := p.engine(host)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stopHost(e, false)
	return e.afterStop()
}

// Kill takes one engine away the way a machine crashes: every process of the
// host (containers included) gets SIGKILL at once. Restart brings it back.
func (p *Pool) Kill(host string) error {
	e, err := p.engine(host)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	killHost(e.Netns)
	return e.afterStop()
}

func (e *engine) afterStop() error {
	e.dockerd, e.containerd = nil, nil
	if n := killHost(e.Netns); n > 0 {
		return fmt.Errorf("%s: %d processes would not die", e.Name, n)
	}
	removeCgroups(e.data)
	if err := unmountUnder(e.run, e.data); err != nil {
		return err
	}
	// A machine that goes down loses /run (a tmpfs): containerd's state
	// and dockerd's exec root (runc's state) go with it. Left in place, a
	// task killed half-started blocks its container's next start ("failed
	// to start shim: ... file exists").
	for _, d := range []string{"c", "x"} {
		if err := os.RemoveAll(filepath.Join(e.run, d)); err != nil {
			return err
		}
	}
	return nil
}

// Restart starts a stopped engine again on the same data root: its images
// and containers are still there (containers come back per their restart
// policy).
func (p *Pool) Restart(host string) error {
	e, err := p.engine(host)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dockerd != nil {
		select {
		case <-e.dockerd.done:
		default:
			return fmt.Errorf("%s is running: Stop it first", host)
		}
		stopHost(e, false)
		if err := e.afterStop(); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := e.startDaemons(e.Driver); err != nil {
		return err
	}
	p.logf("pooltest: %s restarted in %v", host, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (p *Pool) engine(host string) (*engine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("pool %s is closed", p.opts.Name)
	}
	e := p.engines[host]
	if e == nil {
		return nil, fmt.Errorf("pool %s has no host %q", p.opts.Name, host)
	}
	return e, nil
}

// Close tears the pool down: containers, dockerd and containerd processes,
// mounts, namespaces, interfaces, the iptables rule and the directories. It
// also removes what it cannot attribute to a live process of this pool
// (shims, fuse-overlayfs), and reports anything that survived. Calling it
// again does nothing.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for _, e := range p.engines { // wait for a Stop or Restart under way
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	t0 := time.Now()
	_, err := teardown(p.opts.Name, p.engines)
	os.Remove(filepath.Join(runBase, p.opts.Name+".lock"))
	p.lock.Close()
	os.Remove(runBase) // only when empty
	os.Remove(dataBase)
	unmountNetnsDir()
	if err == nil {
		if left := leftovers(p.opts.Name); len(left) > 0 {
			err = fmt.Errorf("left behind: %s", strings.Join(left, "; "))
		}
	}
	p.logf("pooltest: pool %s torn down in %v", p.opts.Name, time.Since(t0).Round(time.Millisecond))
	return err
}

// Docker runs the docker command line against one host's engine and returns
// its combined output.
func (p *Pool) Docker(host string, args ...string) (string, error) {
	e, err := p.engine(host)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("docker", append([]string{"-H", e.Endpoint}, args...)...)
	cmd.Env = engineEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker -H %s %s: %v: %s", e.Endpoint, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ---- network ----

func (p *Pool) setupBridge() error {
	if err := p.checkSubnetFree(); err != nil {
		return err
	}
	br := p.opts.Name + "-br"
	if err := ipBatch("", "link add "+br+" type bridge",
		"addr add "+p.bridge.String()+" dev "+br,
		"link set "+br+" up"); err != nil {
		return err
	}
	// The main engine sets the FORWARD policy to DROP, and br_netfilter makes
	// bridged traffic go through it.
	if _, err := exec.LookPath("iptables"); err == nil {
		if out, err := exec.Command("iptables", "-I", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT").CombinedOutput(); err != nil {
			return fmt.Errorf("iptables: %v: %s", err, out)
		}
	}
	return nil
}

// checkSubnetFree fails when an interface of this machine already has an
// address in the subnet (another pool, a docker network, the LAN).
func (p *Pool) checkSubnetFree() error {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return fmt.Errorf("ip addr show: %v", err)
	}
	subnet := p.bridge.Masked()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "inet" {
			continue
		}
		a, err := netip.ParsePrefix(f[3])
		if err == nil && a.Overlaps(subnet) {
			return fmt.Errorf("subnet %s overlaps %s on %s: choose another Options.Subnet", subnet, a, f[1])
		}
	}
	return nil
}

func (p *Pool) setupHostNet(e *engine) error {
	veth := p.opts.Name + "-v" + strings.TrimPrefix(e.Name, "stg-")
	if out, err := exec.Command("ip", "netns", "add", e.Netns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", e.Netns, err, out)
	}
	if err := ipBatch("", "link add "+veth+" type veth peer name eth0 netns "+e.Netns,
		"link set "+veth+" master "+p.opts.Name+"-br",
		"link set "+veth+" up"); err != nil {
		return err
	}
	return ipBatch(e.Netns, "addr add "+e.Address+"/"+fmt.Sprint(p.bridge.Bits())+" dev eth0",
		"link set eth0 up",
		"link set lo up",
		"route add default via "+p.bridge.Addr().String())
}

// ipBatch runs ip commands in one process, in netns ns ("" for this one).
func ipBatch(ns string, cmds ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s <<%q: %v: %s", strings.Join(args, " "), cmds, err, out)
	}
	return nil
}

// addrAt is the n-th address of the prefix (n=1: .1 of a /24).
func addrAt(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func lastAddr(p netip.Prefix) netip.Addr {
	return addrAt(p, 1<<(32-p.Bits())-1)
}

// ---- engines ----

// startEngine starts containerd and dockerd for a fresh host, trying the
// storage drivers in turn.
func (p *Pool) startEngine(e *engine) error {
	drivers := []string{"overlay2"}
	if _, err := exec.LookPath("fuse-overlayfs"); err == nil {
		drivers = append(drivers, "fuse-overlayfs")
	}
	drivers = append(drivers, "vfs")
	if d := os.Getenv("CJOB_POOL_STORAGE_DRIVER"); d != "" {
		drivers = strings.Split(d, ",")
	}
	var failed []string
	for _, d := range drivers {
		err := e.startDaemons(d)
		if err == nil {
			if len(failed) > 0 {
				p.logf("pooltest: %s: storage driver %s (not: %s)", e.Name, d, strings.Join(failed, "; "))
			}
			return nil
		}
		var ex exitedError
		if !errors.As(err, &ex) || ex.daemon != "dockerd" || len(drivers) == 1 {
			return err
		}
		failed = append(failed, d+": "+ex.lastLine)
		// dockerd exited (typically "driver not supported"): start over
		// with an empty data root and the next driver.
		e.dockerd = nil
		unmountUnder(filepath.Join(e.data, "docker"))
		os.RemoveAll(filepath.Join(e.data, "docker"))
	}
	return fmt.Errorf("%s: no storage driver works: %s", e.Name, strings.Join(failed, "; "))
}

type exitedError struct {
	host, daemon, lastLine, tail string
}

func (e exitedError) Error() string {
	return fmt.Sprintf("%s: %s exited during startup; its log ends:\n%s", e.host, e.daemon, e.tail)
}

// startDaemons starts containerd (if not running) and dockerd with storage
// driver drv, and waits until dockerd answers /_ping.
//
// dockerd does not start its own containerd when /run/containerd/
// containerd.sock exists (a Debian host with the containerd service): it
// would then use that one, which lives in the root network namespace, and
// --network host containers would land there. So each host runs its own.
func (e *engine) startDaemons(drv string) error {
	for _, d := range []string{e.run, filepath.Join(e.data, "docker"), filepath.Join(e.data, "containerd")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	csock := filepath.Join(e.run, "c.sock")
	deadline := time.Now().Add(readyLimit)
	if e.containerd != nil {
		select {
		case <-e.containerd.done: // died: start another
			e.containerd = nil
		default:
		}
	}
	if e.containerd == nil {
		toml := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n",
			filepath.Join(e.data, "containerd"), filepath.Join(e.run, "c"), csock)
		conf := filepath.Join(e.run, "containerd.toml")
		if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
			return err
		}
		os.Remove(csock)
		c, err := e.spawn("containerd", "containerd", "--config", conf)
		if err != nil {
			return err
		}
		e.containerd = c
		for {
			if _, err := os.Stat(csock); err == nil {
				break
			}
			if err := e.waitStep("containerd", c, deadline); err != nil {
				return err
			}
		}
	}
	daemonJSON := "{}"
	if dockerdMajor() < 23 { // before 23, the engine ID comes from /etc/docker/key.json unless told otherwise
		daemonJSON = fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(e.run, "key.json"))
	}
	if err := os.WriteFile(filepath.Join(e.run, "daemon.json"), []byte(daemonJSON), 0o644); err != nil {
		return err
	}
	os.Remove(filepath.Join(e.run, "dockerd.pid")) // a killed dockerd's: it would refuse to start
	args := []string{
		"--config-file", filepath.Join(e.run, "daemon.json"), // not /etc/docker/daemon.json: its options would conflict
		"-H", e.Endpoint,
		"--data-root", filepath.Join(e.data, "docker"),
		"--exec-root", filepath.Join(e.run, "x"),
		"--pidfile", filepath.Join(e.run, "dockerd.pid"),
		"--containerd", csock,
		"--containerd-namespace", e.Netns,
		"--containerd-plugins-namespace", e.Netns + "p",
		"--storage-driver", drv,
		"--bridge", "none",
		"--iptables=false",
		"--ip-masq=false",
		"--shutdown-timeout", "5",
	}
	if e.TLSEndpoint != "" {
		if _, err := os.Stat(e.serverCert); err != nil {
			if _, err := makeCerts(filepath.Dir(e.serverCert), e.Address); err != nil {
				return fmt.Errorf("certificates for %s: %w", e.Name, err)
			}
		}
		args = append(args, "-H", e.TLSEndpoint, "--tlsverify", "--tlscacert", e.CA, "--tlscert", e.serverCert, "--tlskey", e.serverKey)
	}
	d, err := e.spawn("dockerd", append([]string{"dockerd"}, args...)...)
	if err != nil {
		return err
	}
	e.dockerd = d
	c := engineClient(e.Endpoint)
	for !ping(c) {
		if err := e.waitStep("dockerd", d, deadline); err != nil {
			return err
		}
	}
	e.Driver = drv
	return nil
}

var dockerdMajor = sync.OnceValue(func() int {
	out, _ := exec.Command("dockerd", "--version").Output() // "Docker version 20.10.24+dfsg1, build 5d6db84"
	var major int
	fmt.Sscanf(strings.TrimPrefix(string(out), "Docker version "), "%d", &major)
	return major
})

// waitStep sleeps a little, or fails when the process exited or the
// deadline passed.
func (e *engine) waitStep(what string, p *proc, deadline time.Time) error {
	log := filepath.Join(e.run, what+".log")
	select {
	case <-p.done:
		tail := logTail(log, 30)
		lines := strings.Split(strings.TrimSpace(tail), "\n")
		return exitedError{host: e.Name, daemon: what, lastLine: lines[len(lines)-1], tail: tail}
	case <-time.After(50 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("%s: %s not ready after %v; %s ends:\n%s", e.Name, what, readyLimit, log, logTail(log, 30))
	}
	return nil
}

// spawn starts argv inside the host's network namespace, in a UTS namespace
// of its own whose hostname is the host's name, with output to NAME.log.
func (e *engine) spawn(name string, argv ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(e.run, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{"-c", `echo "$0" >/proc/sys/kernel/hostname && exec "$@"`, e.Name,
		"nsenter", "--net=" + filepath.Join(netnsDir, e.Netns), "--"}, argv...)
	cmd := exec.Command("sh", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Setpgid: a ^C of go test must not reach the daemons half-way; the next
	// Start cleans up after a killed run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWUTS}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: start %s: %w", e.Name, name, err)
	}
	logf.Close()
	if name == "containerd" { // dockerd writes its own pid file
		os.WriteFile(filepath.Join(e.run, "containerd.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// engineClient talks HTTP to an engine's unix socket.
func engineClient(endpoint string) *http.Client {
	sock := strings.TrimPrefix(endpoint, "unix://")
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
}

func ping(c *http.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://engine/_ping", nil)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// removeContainers force-removes every container of an engine that answers
// (best effort, bounded): a killed container with a restart policy would
// otherwise come back while dockerd shuts down.
func removeContainers(endpoint string) {
	c := engineClient(endpoint)
	if !ping(c) {
		return
	}
	resp, err := c.Get("http://engine/containers/json?all=1")
	if err != nil {
		return
	}
	var list []struct {
		ID string `json:"Id"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	var wg sync.WaitGroup
	for _, ct := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("DELETE", "http://engine/containers/"+ct.ID+"?force=1&v=1", nil)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

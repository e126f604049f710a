package converge

import (
	"context"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// LocalOptions describe a swap of a job to a process on this machine.
type LocalOptions struct {
	File    *prodspec.File
	Job     string // full job name
	Port    int    // where the local process listens; 0: the job's port if free here, else a free one
	Command string // the local command, for the labels and ps
	Probe   apply.Prober
	// PortFree reports whether this machine can listen on port (all
	// interfaces); nil: try it.
	PortFree func(port int) bool
}

// LocalPlan is what a local process needs to stand in for the job.
type LocalPlan struct {
	Job  string
	Port int // the local process must listen on it, on all interfaces
	// Env is the job's env as the local process gets it (KEY=value,
	// sorted): every address of another job rewritten to the port dev
	// publishes for it on 127.0.0.1, and PORT set to Port.
	Env []string
	// Rewrites says what was changed in Env, one line each.
	Rewrites []string
	targets  []swapTarget
	mainPort int
}

// localHosts are where the relay looks for the developer's machine, in
// order: Docker Desktop's name, Podman's, then the network's gateway (the
// engine's host, on Linux).
var localHosts = []string{"host.docker.internal", "host.containers.internal", "gateway"}

// PrepareLocal works out how a local process stands in for the job: its
// port and its env, with the addresses it names made reachable from this
// machine. Nothing is changed.
func PrepareLocal(ctx context.Context, eng Engine, o LocalOptions) (*LocalPlan, error) {
	j := o.File.Job(o.Job)
	if j == nil {
		return nil, fmt.Errorf("no job %s", o.Job)
	}
	if j.MainPort() == 0 {
		return nil, fmt.Errorf("%s has no port: a local process can stand in only for a job that serves on one", o.Job)
	}
	targets, err := findTargets(ctx, eng, o.File, o.Job)
	if err != nil {
		return nil, err
	}
	prep, err := Prepare(ctx, eng, Options{File: o.File})
	if err != nil {
		return nil, err
	}
	free := o.PortFree
	if free == nil {
		free = listenable
	}
	lp := &LocalPlan{Job: o.Job, targets: targets, mainPort: j.MainPort(), Port: o.Port}
	if lp.Port == 0 {
		lp.Port = j.MainPort()
		if !free(lp.Port) {
			if lp.Port, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	lp.Env, lp.Rewrites = localEnv(prep.Rewrite.Stack, targets[0].unit, lp.Port)
	return lp, nil
}

func listenable(port int) bool {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port for the local process: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// LocalRewrites are the env rewrites `dev swap JOB --local` would make for
// job's first task in st, its process listening on port: for `dev explain
// --local`.
func LocalRewrites(st *stack.Stack, job string, port int) ([]string, error) {
	for _, u := range st.Units {
		if u.Job == job && u.Kind == stack.KindTask {
			_, notes := localEnv(st, u, port)
			return notes, nil
		}
	}
	return nil, fmt.Errorf("%s has no task in the dev stack", job)
}

var hostPort = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})\b`)

// localEnv is u's env for a process on this machine: every NAME:PORT
// whose NAME is a production host, one of its aliases (job DNS names), or
// localhost / 127.0.0.1 (jobs on u's own host), and whose PORT dev
// publishes, becomes 127.0.0.1:PUBLISHED; PORT (and HTTP_PORT, http_port
// when set) becomes port.
func localEnv(st *stack.Stack, u *stack.Unit, port int) ([]string, []string) {
	published := map[string]map[int]int{} // lower-case name -> container port -> 127.0.0.1 port
	for _, s := range st.Units {
		if s.Kind != stack.KindSandbox {
			continue
		}
		ports := map[int]int{}
		for _, p := range s.Spec.Publish {
			ports[p.ContainerPort] = p.HostPort
		}
		for _, name := range append([]string{s.Host}, s.Spec.Aliases...) {
			published[strings.ToLower(name)] = ports
		}
		if s.Key == u.Sandbox {
			published["localhost"], published["127.0.0.1"] = ports, ports
		}
	}
	env := map[string]string{}
	for _, kv := range u.Spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		nv := hostPort.ReplaceAllStringFunc(v, func(m string) string {
			sub := hostPort.FindStringSubmatch(m)
			p, _ := strconv.Atoi(sub[2])
			if hp, ok := published[strings.ToLower(sub[1])][p]; ok {
				return "127.0.0.1:" + strconv.Itoa(hp)
			}
			return m
		})
		if nv != v {
			notes = append(notes, fmt.Sprintf("env %s: %q -> %q (published by dev on this machine)", k, v, nv))
			env[k] = nv
		}
	}
	set := false
	for _, k := range []string{"PORT", "HTTP_PORT", "http_port"} {
		if old, ok := env[k]; ok {
			env[k], set = strconv.Itoa(port), true
			notes = append(notes, fmt.Sprintf("env %s: %q -> %q (the relay in the sandbox forwards the job's port to it)", k, old, env[k]))
		}
	}
	if !set {
		env["PORT"] = strconv.Itoa(port)
		notes = append(notes, fmt.Sprintf("env PORT=%d added (listen there, on all interfaces: the relay forwards the job's port to it)", port))
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, notes
}

// StartRelay puts a relay in place of the job's container(s): in the job's
// host sandbox, listening on the job's port and forwarding to lp.Port on
// this machine (through host.docker.internal, host.containers.internal or
// the network's gateway, whichever answers), so that the job's production
// address inside the stack reaches the local process. It waits until the
// job's health check passes through the relay (the local process must be
// serving); if it does not, the job's container is put back. `dev restore`
// (or Restore) puts the container back for good.
func StartRelay(ctx context.Context, eng Engine, lp *LocalPlan, o LocalOptions) error {
	ref, err := sandbox.Ensure(ctx, eng)
	if err != nil {
		return err
	}
	for _, t := range lp.targets {
		u := *t.unit
		u.Spec.Image = ref
		u.Spec.Entrypoint = []string{sandbox.Program, "relay", "--hosts", strings.Join(localHosts, ","), fmt.Sprintf("%d=%d", lp.mainPort, lp.Port)}
		u.Spec.Command, u.Spec.Env, u.Spec.Mounts, u.Spec.Init = nil, nil, nil, false
		u.Spec.Labels = maps.Clone(t.unit.Spec.Labels)
		if u.Spec.Labels == nil {
			u.Spec.Labels = map[string]string{}
		}
		u.Spec.Labels[stack.LabelSwapped] = "local: " + o.Command
		u.Spec.Labels[stack.LabelSwappedImage] = ref
		composeLabels(t.stack, &u)
		if err := (swapper{eng, o.Probe}).replace(ctx, t, &u); err != nil {
			return err
		}
	}
	return nil
}

// LocalActive reports whether the job still runs the relay StartRelay put
// in place (`dev restore` or `dev up --restore` removes it).
func LocalActive(ctx context.Context, eng Engine, f *prodspec.File, job string) (bool, error) {
	targets, err := findTargets(ctx, eng, f, job)
	if err != nil {
		return false, err
	}
	for _, t := range targets {
		if !strings.HasPrefix(t.current.Labels[stack.LabelSwapped], "local: ") || t.current.State != stack.StateRunning {
			return false, nil
		}
	}
	return true, nil
}

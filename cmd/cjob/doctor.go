package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

type check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Warn   bool   `json:"warning,omitempty"`
	Detail string `json:"detail"`
}

func newDoctor(g *global) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the dev stack: engine, images, ports, disk",
		Long: `Doctor checks the jobs file, the Docker engine (reachable, API version),
the cjob binary (it must be static to make the host sandbox image), every
image of the dev stack (present locally, or pullable), the ports the stack
publishes, and free disk space. It says where the engine stands in a
Docker Swarm (with the commands to make one when the jobs file names
orchestrator: swarm) and whether the engine's kernel has IPVS, read by a
one-off container of the host sandbox image with no network: Swarm's
virtual IPs and routing mesh need IPVS; cjob's swarm orchestrator does not.`,
		Example: `  cjob doctor
  cjob doctor -f examples/coding/jobs.yml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checks := runDoctor(cmd.Context(), g)
			out := cmd.OutOrStdout()
			bad := 0
			for _, c := range checks {
				if !c.OK {
					bad++
				}
			}
			if asJSON {
				if err := writeJSON(out, checks); err != nil {
					return err
				}
			} else {
				printChecks(out, checks)
			}
			if bad > 0 {
				if !asJSON {
					fmt.Fprintf(out, "\n%d problem%s found\n", bad, plural(bad))
				}
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return c
}

func printChecks(w io.Writer, checks []check) {
	for _, c := range checks {
		mark := "✔"
		switch {
		case !c.OK:
			mark = "✘"
		case c.Warn:
			mark = "!"
		}
		fmt.Fprintf(w, "%s %-14s %s\n", mark, c.Name, c.Detail)
	}
}

// checkTimeout bounds doctor's checks of the engine.
const checkTimeout = 10 * time.Second

func runDoctor(ctx context.Context, g *global) []check {
	var out []check
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	f, ferr := loadFile(g)
	if ferr != nil {
		add("jobs file", false, "%s: %v", g.jobsFile, ferr)
	} else {
		add("jobs file", true, "%s: project %s, %d jobs on %d hosts", g.jobsFile, f.Project, len(f.Jobs()), len(f.Hosts))
	}
	dctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if ferr == nil {
		out = append(out, poolChecks(dctx, f)...)
	}
	eng, err := engine.Dial(dctx, engine.Options{Host: g.host})
	if err != nil {
		add("engine", false, "%v", err)
		return out
	}
	defer eng.Close()
	info, err := eng.Info(dctx)
	if err != nil {
		add("engine", false, "%v", err)
		return out
	}
	kind := engine.Kind{Name: "Docker Engine", Version: info.ServerVersion}
	if k, err := eng.Kind(dctx); err == nil {
		kind = k
	}
	add("engine", true, "%s at %s (from %s): API %s, %s, %d CPUs, %.1f GiB", kind, info.Host, eng.Source(), info.APIVersion, info.Arch, info.CPUs, float64(info.MemoryBytes)/(1<<30))
	// The kernel check runs alongside the others, on its own clock: it may
	// import the sandbox image first.
	ipvs := make(chan check, 1)
	go func() {
		kctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		feats, err := engineKernel(kctx, eng)
		ipvs <- ipvsCheck(feats, err)
	}()
	for _, n := range kind.Notes() {
		out = append(out, check{Name: "engine", OK: true, Warn: true, Detail: n})
	}
	if arch, err := sandbox.Arch(info.Arch); err != nil {
		add("host sandbox", false, "%v", err)
	} else if _, hash, err := sandbox.Payload(arch); err != nil {
		add("host sandbox", false, "%v", err)
	} else {
		add("host sandbox", true, "image %s for linux/%s, made locally from the cjob-sandbox this cjob carries", sandbox.ImageRef(hash), arch)
	}
	if free, ok := freeGiB("/var/lib/docker"); ok && kind.Name == "Docker Engine" && !kind.Remote && strings.HasPrefix(info.Host, "unix://") {
		out = append(out, check{Name: "disk", OK: free > 1, Warn: free < 5, Detail: fmt.Sprintf("%.1f GiB free under /var/lib/docker", free)})
	}
	if ferr == nil {
		out = append(out, stackChecks(dctx, f, eng)...)
	}
	out = append(out, swarmCheck(info.Swarm, swarmEnvs(f)))
	out = append(out, <-ipvs)
	return out
}

// stackChecks checks what the dev stack of f needs of the engine: its
// images, present or pullable, and its ports.
func stackChecks(ctx context.Context, f *prodspec.File, eng *engine.Engine) []check {
	var out []check
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	res, err := devenv.Rewrite(f, devenv.Options{SandboxImage: "-"})
	if err != nil {
		add("dev rewrite", false, "%v", err)
		return out
	}
	seen := map[string]bool{}
	for _, u := range res.Stack.Units {
		if u.Kind != stack.KindTask || seen[u.Spec.Image] {
			continue
		}
		seen[u.Spec.Image] = true
		ok, err := eng.ImageExists(ctx, u.Spec.Image)
		switch {
		case err != nil:
			add("image", false, "%s: %v", u.Spec.Image, err)
		case ok:
			add("image", true, "%s present", u.Spec.Image)
		default:
			if err := eng.CanPull(ctx, u.Spec.Image); err != nil {
				add("image", false, "%s missing locally and not pullable: %v", u.Spec.Image, err)
			} else {
				add("image", true, "%s not present; pullable from its registry", u.Spec.Image)
			}
		}
	}
	obs, err := eng.Observe(ctx, f.Project, devenv.Env, res.Stack.Network)
	if err != nil {
		add("ports", false, "%v", err)
		return out
	}
	notes := devenv.AssignPorts(res.Stack, obs, converge.PortFree)
	if len(notes) == 0 {
		add("ports", true, "every production port is free on 127.0.0.1 (or already published by this stack)")
	}
	for _, n := range notes {
		out = append(out, check{Name: "ports", OK: true, Warn: true, Detail: n.Subject + ": " + n.Text})
	}
	return out
}

// poolChecks contacts every staging pool engine, concurrently.
func poolChecks(ctx context.Context, f *prodspec.File) []check {
	hosts, err := converge.PoolHosts(f)
	if err != nil {
		if errors.Is(err, converge.ErrNoPool) {
			return nil
		}
		return []check{{Name: "staging pool", Detail: err.Error()}}
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	fl := &fleet.Fleet{Timeout: 5 * time.Second}
	defer fl.Close()
	set, errs := fl.Connect(ctx, f, names)
	onSwarmPool := f.Orchestrator(stack.Staging.String()) == prodspec.OrchestratorSwarm
	var out []check
	for _, h := range hosts {
		c := check{Name: "pool " + h.Name}
		if m := set[h.Name]; m != nil {
			info, err := m.Engine.Info(ctx)
			if err != nil {
				c.Detail = err.Error()
			} else {
				c.OK = true
				c.Detail = fmt.Sprintf("%s: Docker %s, API %s, %d CPUs, %.1f GiB", h.Docker, info.ServerVersion, info.APIVersion, info.CPUs, float64(info.MemoryBytes)/(1<<30))
				if onSwarmPool {
					c.Detail += "; " + poolSwarm(info.Swarm)
					c.Warn = info.Swarm.State != "active"
				}
			}
		} else {
			c.Detail = errs[h.Name].Error()
		}
		out = append(out, c)
	}
	return out
}

// swarmEnvs are the environments of f that name orchestrator: swarm (none
// when no jobs file loaded).
func swarmEnvs(f *prodspec.File) []string {
	if f == nil {
		return nil
	}
	var envs []string
	for _, env := range []stack.Env{stack.Staging, stack.Production} {
		if f.Orchestrator(env.String()) == prodspec.OrchestratorSwarm {
			envs = append(envs, env.String())
		}
	}
	return envs
}

// poolSwarm is a pool host's place in the swarm, for a staging pool on
// orchestrator: swarm.
func poolSwarm(sw stack.SwarmInfo) string {
	switch {
	case sw.State == "active" && sw.Manager:
		return "swarm manager"
	case sw.State == "active":
		return "swarm worker"
	case sw.State == "" || sw.State == "inactive":
		return "not in a swarm: " + swarmJoin
	}
	return "swarm " + sw.State
}

// swarmJoin is what to run when the nodes are not in a swarm yet.
const swarmJoin = "on one node run `docker swarm init --advertise-addr ADDRESS`, then on each other node `docker swarm join --token TOKEN ADDRESS:2377` (TOKEN: `docker swarm join-token worker` on the first)"

// swarmCheck says where the engine stands in a swarm, and what to run when
// the jobs file names orchestrator: swarm (for envs) and the engine is in
// none. It never fails doctor: this machine's engine need not be a node.
func swarmCheck(sw stack.SwarmInfo, envs []string) check {
	c := check{Name: "swarm", OK: true}
	where := ""
	if sw.NodeID != "" {
		where = " (node " + sw.NodeID
		if sw.NodeAddr != "" {
			where += " at " + sw.NodeAddr
		}
		if len(sw.Managers) > 0 {
			where += "; managers " + strings.Join(sw.Managers, ", ")
		}
		where += ")"
	}
	asked := ""
	if len(envs) > 0 {
		asked = "the jobs file names orchestrator: swarm for " + strings.Join(envs, " and ")
	}
	switch sw.State {
	case "active":
		role := "a worker in"
		if sw.Manager {
			role = "a manager of"
		}
		c.Detail = "this engine is " + role + " a swarm" + where
	case "", "inactive":
		if asked == "" {
			c.Detail = "not in a swarm (only needed for orchestrator: swarm)"
			return c
		}
		c.Warn = true
		c.Detail = "this engine is not in a swarm and " + asked + ": " + swarmJoin
	case "pending":
		c.Warn = true
		c.Detail = "this engine is joining a swarm (pending)" + where
	case "locked":
		c.Warn = true
		c.Detail = "this engine's swarm is locked: run `docker swarm unlock`" + where
	default:
		c.Warn = true
		c.Detail = "this engine's swarm is in state " + sw.State + where
		if sw.Error != "" {
			c.Detail += ": " + sw.Error
		}
		if asked != "" {
			c.Detail += "; " + asked + ": `docker swarm leave --force`, then " + swarmJoin
		}
	}
	return c
}

// ipvsCheck reports whether the engine's kernel has IPVS. Without it,
// Swarm's virtual IPs and ingress routing mesh do not work; cjob's swarm
// orchestrator needs neither. It warns, never fails.
func ipvsCheck(feats map[string]bool, err error) check {
	c := check{Name: "ipvs", OK: true}
	switch {
	case err != nil:
		c.Warn = true
		c.Detail = fmt.Sprintf("could not read the engine's kernel: %v (Swarm's virtual IPs and ingress routing mesh need IPVS; cjob's swarm orchestrator does not)", err)
	case feats["ipvs"]:
		c.Detail = "IPVS present"
	default:
		c.Warn = true
		c.Detail = "the engine's kernel has no IPVS (no ip_vs module loaded): Swarm's virtual IPs and ingress routing mesh do not work here; cjob's swarm orchestrator uses host networking and DNS round-robin (endpoint_mode dnsrr), which do"
	}
	return c
}

// engineKernel asks the engine's kernel what it has loaded: a one-off
// container of the host sandbox image, with no network, runs `cjob-sandbox
// kernel` (a container sees its host's kernel in /sys and /proc); its log
// is read and the container removed. Nothing needs a route to it.
func engineKernel(ctx context.Context, eng sandbox.Runner) (map[string]bool, error) {
	code, out, err := sandbox.Run(ctx, eng, "cjob-doctor-kernel", map[string]string{"cjob.doctor": "kernel"}, []string{"kernel"}, false)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("cjob-sandbox kernel ended exited with code %d: %s", code, out)
	}
	feats := parseKernel(out)
	if _, ok := feats["ipvs"]; !ok {
		return nil, fmt.Errorf("cjob-sandbox kernel did not report ipvs (it wrote %q)", out)
	}
	return feats, nil
}

// parseKernel reads what `cjob-sandbox kernel` writes: one feature a
// line, name=yes or name=no. Other lines are ignored.
func parseKernel(out string) map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || name == "" {
			continue
		}
		switch val {
		case "yes":
			m[name] = true
		case "no":
			m[name] = false
		}
	}
	return m
}

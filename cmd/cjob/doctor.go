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
publishes, and free disk space.`,
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
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
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
	if ferr != nil {
		return out
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
		ok, err := eng.ImageExists(dctx, u.Spec.Image)
		switch {
		case err != nil:
			add("image", false, "%s: %v", u.Spec.Image, err)
		case ok:
			add("image", true, "%s present", u.Spec.Image)
		default:
			if err := eng.CanPull(dctx, u.Spec.Image); err != nil {
				add("image", false, "%s missing locally and not pullable: %v", u.Spec.Image, err)
			} else {
				add("image", true, "%s not present; pullable from its registry", u.Spec.Image)
			}
		}
	}
	obs, err := eng.Observe(dctx, f.Project, devenv.Env, res.Stack.Network)
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
			}
		} else {
			c.Detail = errs[h.Name].Error()
		}
		out = append(out, c)
	}
	return out
}

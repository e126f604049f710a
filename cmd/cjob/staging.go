package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/prodspec"
)

func newStaging(g *global) *cobra.Command {
	c := &cobra.Command{
		Use:   "staging",
		Short: "Mirror production on an intranet pool of Docker hosts",
		Long: `The staging commands place every production host, whole, onto one of the
pool's engines (environments.staging.pool) and run its tasks there with host
networking, as in production. Every production host name is written into
each container's /etc/hosts, pointing at the pool host that carries it, so
production's addresses work unchanged. Placement respects memory, keeps
hosts that share a port apart, spreads a job's tasks, honours pins, and
moves nothing that need not move.

With environments.staging.orchestrator: swarm, the pool's engines are one
Docker Swarm and Swarm runs the tasks: each task a service on the node
labelled cjob.host=<pool host>, created in dependency order and gated on
health, updated stop-first and rolled back by Swarm (docs/swarm.md).`,
		Example: `  cjob staging plan
  cjob staging up
  cjob staging ps
  cjob staging down`,
	}
	c.AddCommand(newStagingUp(g), newStagingPlan(g), newStagingExplain(g), newStagingPs(g), newStagingLogs(g), newStagingDown(g), newStagingUI(g))
	return c
}

// withPool loads the jobs file and connects to the staging pool, runs fn,
// and closes the connections.
func withPool(cmd *cobra.Command, g *global, fn func(f *prodspec.File, pool *converge.Pool) error) error {
	return withPoolOf(cmd, g, false, fn)
}

// withPoolOf is withPool; with partial, on Docker Swarm, the hosts that do
// not answer are named on stderr and left out (the swarm's manager still
// reports their nodes and tasks).
func withPoolOf(cmd *cobra.Command, g *global, partial bool, fn func(f *prodspec.File, pool *converge.Pool) error) error {
	f, err := loadFile(g)
	if err != nil {
		return err
	}
	fl := &fleet.Fleet{Timeout: 10 * time.Second}
	defer fl.Close()
	var pool *converge.Pool
	if partial && onSwarm(f) {
		pool, err = converge.DialPoolPartial(cmd.Context(), fl, f)
		if err == nil && pool.Unreachable != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", pool.Unreachable)
		}
	} else {
		pool, err = converge.DialPool(cmd.Context(), fl, f)
	}
	if err != nil {
		return err
	}
	return fn(f, pool)
}

// stagingPrepared is a command that prepares the staging stack (place,
// rewrite, observe, plan) and then prints or applies it.
//
// With environments.staging.orchestrator: swarm, onSwarm runs instead,
// on the swarm's plan (see stagingswarm.go).
func stagingPrepared(g *global, popts func() plan.Options, fn func(cmd *cobra.Command, pool *converge.Pool, prep *converge.StagingPrepared) error, onSwarmFn swarmVerb) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		return withPoolOf(cmd, g, onSwarmFn.partial, func(f *prodspec.File, pool *converge.Pool) error {
			if onSwarm(f) {
				return withSwarm(cmd, g, f, pool, onSwarmFn.fn)
			}
			prep, err := converge.PrepareStaging(cmd.Context(), pool, f, popts())
			if err != nil {
				return err
			}
			return fn(cmd, pool, prep)
		})
	}
}

func noPlanOptions() plan.Options { return plan.Options{} }

func newStagingUp(g *global) *cobra.Command {
	var (
		parallel int
		mode     = progress.Auto
		force    bool
		push     bool
	)
	c := &cobra.Command{
		Use:   "up",
		Short: "Bring the staging pool to the jobs file",
		Example: `  cjob staging up
  cjob staging up --push            # images built here go to the registry first
  cjob staging up --progress plain`,
		Args: cobra.NoArgs,
		RunE: stagingPrepared(g, func() plan.Options { return plan.Options{Force: force} }, func(cmd *cobra.Command, pool *converge.Pool, prep *converge.StagingPrepared) error {
			start := time.Now()
			out := cmd.OutOrStdout()
			if prep.Plan.Empty() {
				fmt.Fprintf(out, "Nothing to do: %d containers of %s/%s on %d pool hosts are up to date (%s)\n",
					len(prep.Plan.Ops), prep.File.Project, stack.Staging, len(pool.Names()), converge.Elapsed(time.Since(start)))
				return nil
			}
			rep := progress.New(cmd.ErrOrStderr(), mode)
			if push {
				local, err := dial(cmd.Context(), g)
				if err != nil {
					rep.Close()
					return fmt.Errorf("--push needs this machine's engine: %w", err)
				}
				_, err = converge.PushImages(cmd.Context(), local, prep.Rewrite.Stack, rep)
				local.Close()
				if err != nil {
					rep.Close()
					return err
				}
			}
			res := converge.UpStaging(cmd.Context(), pool, prep, converge.UpOptions{Parallel: parallel, Reporter: rep})
			rep.Close()
			printFailures(out, res.Failures, res.Skipped)
			fmt.Fprintf(out, "\n%s/%s: %s in %s\n\n", prep.File.Project, stack.Staging, prep.Plan.Summary(), converge.Elapsed(time.Since(start)))
			printStagingURLs(out, prep.Rewrite.Stack)
			if cmd.Context().Err() != nil {
				return cmd.Context().Err()
			}
			if err := res.Err(); err != nil {
				return fmt.Errorf("staging up: %w; run `cjob staging up` again to converge", err)
			}
			return nil
		}, swarmVerb{fn: swarmUp(&mode, &force, &push)}),
	}
	c.Flags().IntVar(&parallel, "parallel", 16, "engine calls in flight at once")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	c.Flags().BoolVar(&force, "force-recreate", false, "recreate every container even if unchanged")
	c.Flags().BoolVar(&push, "push", false, "first push the images this machine's engine holds to their registry, for the pool to pull")
	return c
}

func printStagingURLs(w io.Writer, st *stack.Stack) {
	t := table.New("job", "task", "host", "pool host", "production", "answers at")
	for _, u := range st.Units {
		if len(u.URLs) == 0 {
			t.Row(u.Job, fmt.Sprint(u.Task), u.Host, u.Engine, "-", "-")
		}
		for _, url := range u.URLs {
			t.Row(u.Job, fmt.Sprint(u.Task), u.Host, u.Engine, url.Production, url.Local)
		}
	}
	t.Render(w)
}

func newStagingPlan(g *global) *cobra.Command {
	return &cobra.Command{
		Use:     "plan",
		Short:   "Show what `staging up` would do on each pool host, and why",
		Example: `  cjob staging plan`,
		Args:    cobra.NoArgs,
		RunE: stagingPrepared(g, noPlanOptions, func(cmd *cobra.Command, _ *converge.Pool, prep *converge.StagingPrepared) error {
			printPlan(cmd.OutOrStdout(), prep.Plan)
			return nil
		}, swarmVerb{fn: swarmPlan}),
	}
}

func newStagingExplain(g *global) *cobra.Command {
	return &cobra.Command{
		Use:     "explain",
		Short:   "Show where each production host is placed in the pool, and every rewrite",
		Example: `  cjob staging explain`,
		Args:    cobra.NoArgs,
		RunE: stagingPrepared(g, noPlanOptions, func(cmd *cobra.Command, _ *converge.Pool, prep *converge.StagingPrepared) error {
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, prep.Placement.String())
			fmt.Fprint(out, rewrite.FormatNotes(prep.Rewrite.Notes))
			return nil
		}, swarmVerb{fn: swarmExplain, partial: true}),
	}
}

func newStagingPs(g *global) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ps",
		Short: "List the staging stack's tasks on every pool host",
		Example: `  cjob staging ps
  cjob staging ps --json     # on Docker Swarm: services, tasks and nodes`,
		Args: cobra.NoArgs,
		RunE: stagingPrepared(g, noPlanOptions, func(cmd *cobra.Command, pool *converge.Pool, prep *converge.StagingPrepared) error {
			t := table.New("job", "task", "host", "pool host", "image", "state", "health")
			for _, c := range prep.Observed.Containers {
				u := prep.Rewrite.Stack.Unit(c.Key())
				h := "-"
				if u != nil && u.Health != nil && len(u.Health.Cmd) == 0 && c.State == stack.StateRunning {
					chk := *u.Health
					chk.Timeout = time.Second
					h = "healthy"
					if err := health.Probe(cmd.Context(), &chk, pool.Set[c.Engine].Address); err != nil {
						h = "unhealthy"
					}
				}
				t.Row(c.Labels[stack.LabelJob], c.Labels[stack.LabelTask], c.Labels[stack.LabelHost], c.Engine, c.Image, c.State.String(), h)
			}
			if t.Len() == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No staging containers: `cjob staging up` starts them")
				return nil
			}
			return t.Render(cmd.OutOrStdout())
		}, swarmVerb{fn: swarmPs(&asJSON), partial: true}),
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print services, tasks and nodes as JSON (Docker Swarm)")
	return c
}

func newStagingDown(g *global) *cobra.Command {
	var (
		volumes bool
		mode    = progress.Auto
	)
	c := &cobra.Command{
		Use:   "down",
		Short: "Remove the staging stack from every pool host (volumes are kept)",
		Example: `  cjob staging down
  cjob staging down --volumes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPoolOf(cmd, g, true, func(f *prodspec.File, pool *converge.Pool) error {
				if onSwarm(f) {
					return swarmDown(&volumes, &mode)(cmd, f, pool)
				}
				start := time.Now()
				rep := progress.New(cmd.ErrOrStderr(), mode)
				p, res, err := converge.DownStaging(cmd.Context(), pool, converge.DownOptions{Project: f.Project, Volumes: volumes, Reporter: rep})
				rep.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s in %s\n", f.Project, stack.Staging, p.Summary(), converge.Elapsed(time.Since(start)))
				return res.Err()
			})
		},
	}
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove named volumes and their data")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	return c
}

func newStagingLogs(g *global) *cobra.Command {
	var lf logFlags
	c := &cobra.Command{
		Use:   "logs [job...]",
		Short: "Show the logs of the staging stack's tasks on every pool host, interleaved and prefixed",
		Example: `  cjob staging logs
  cjob staging logs api -f`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withPoolOf(cmd, g, true, func(f *prodspec.File, pool *converge.Pool) error {
				jobs, err := resolveJobs(f, args)
				if err != nil {
					return err
				}
				return converge.PoolLogs(cmd.Context(), pool, f.Project, lf.options(cmd, jobs), cmd.OutOrStdout())
			})
		},
	}
	lf.register(c)
	return c
}

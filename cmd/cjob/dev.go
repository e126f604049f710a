package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/internal/trace"
	"github.com/cjob/cjob/prodspec"
)

func newDev(g *global) *cobra.Command {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Mirror production on this machine's Docker engine",
		Long: `The dev commands run production in miniature on one local engine. Each
production host becomes a host sandbox container that answers to the host's
names; every task placed on that host joins the sandbox's network, so the
addresses and ports in production's config work unchanged.`,
		Example: `  cjob dev up
  cjob dev plan
  cjob dev explain
  cjob dev ps
  cjob dev logs -f api
  cjob dev down --volumes`,
	}
	dev.AddCommand(newDevUp(g), newDevPlan(g), newDevExplain(g), newDevDown(g), newDevPs(g), newDevLogs(g), newDevSwap(g), newDevRestore(g), newDevExport(g), newDevUI(g), newDevSnapshot(g), newDevReset(g))
	return dev
}

// devFlags are the flags of commands that build the dev stack.
type devFlags struct {
	replicas string
}

func (d *devFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&d.replicas, "replicas", "one", "tasks per job: one (the first task) or keep (every task, as in production)")
}

func (d *devFlags) options(g *global, only []string) (converge.Options, error) {
	f, err := loadFile(g)
	if err != nil {
		return converge.Options{}, err
	}
	for _, name := range only {
		if _, err := f.ResolveJob(name); err != nil {
			return converge.Options{}, err
		}
	}
	o := converge.Options{File: f, Rewrite: devenv.Options{Only: only}}
	switch d.replicas {
	case "one", "":
	case "keep", "all":
		o.Rewrite.KeepReplicas = true
	default:
		return o, fmt.Errorf("--replicas %q: want one or keep", d.replicas)
	}
	return o, nil
}

func dial(ctx context.Context, g *global) (*engine.Engine, error) {
	return engine.Dial(ctx, engine.Options{Host: g.host})
}

// withEngine loads the jobs file and resolves the jobs named in args
// (errors stop there, with no engine needed), dials this machine's engine,
// runs fn, and closes the engine.
func withEngine(cmd *cobra.Command, g *global, args []string, fn func(f *prodspec.File, jobs []string, eng *engine.Engine) error) error {
	f, err := loadFile(g)
	if err != nil {
		return err
	}
	jobs, err := resolveJobs(f, args)
	if err != nil {
		return err
	}
	eng, err := dial(cmd.Context(), g)
	if err != nil {
		return err
	}
	defer eng.Close()
	return fn(f, jobs, eng)
}

// prepared dials this machine's engine and prepares the dev stack of the
// jobs named (rewrite, observe, plan), then hands both to fn.
func (d *devFlags) prepared(cmd *cobra.Command, g *global, only []string, tune func(*converge.Options), fn func(eng *engine.Engine, prep *converge.Prepared) error) error {
	_, sp := trace.Start(cmd.Context(), "load")
	opts, err := d.options(g, only)
	sp.EndErr(err)
	if err != nil {
		return err
	}
	if tune != nil {
		tune(&opts)
	}
	dctx, sp := trace.Start(cmd.Context(), "connect")
	eng, err := dial(dctx, g)
	sp.EndErr(err)
	if err != nil {
		return err
	}
	defer eng.Close()
	prep, err := converge.Prepare(cmd.Context(), eng, opts)
	if err != nil {
		return err
	}
	return fn(eng, prep)
}

// printPlan prints a plan, one op a line, and its summary.
func printPlan(w io.Writer, p *plan.Plan) {
	fmt.Fprint(w, p.String())
	fmt.Fprintf(w, "\n%s\n", p.Summary())
}

func newDevUp(g *global) *cobra.Command {
	var (
		d        devFlags
		parallel int
		mode     = progress.Auto
		asJSON   bool
		force    bool
		restore  bool
		traceTo  string
		seed     string
	)
	c := &cobra.Command{
		Use:   "up [job...]",
		Short: "Bring the dev stack to the jobs file: create, recreate, start, remove orphans",
		Long: `Up converges the local engine to production's jobs file, rewritten for dev.
It reads what runs from the engine's labels, plans (see ` + "`cjob dev plan`" + `) and
applies in parallel along depends_on: a job starts as soon as its own
dependencies are healthy. A second up with nothing changed does nothing.

Naming jobs starts only those and everything they depend on; the rest of
the stack is left as it is.`,
		Example: `  cjob dev up
  cjob dev up coding-core.web      # web and its dependencies
  cjob dev up --replicas keep      # every task of every job
  cjob dev up --json | jq .jobs
  cjob dev up --trace up.json      # where the time went: open in ui.perfetto.dev
  cjob dev up --seed demo-data     # new volumes filled from a snapshot`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			start := time.Now()
			if traceTo != "" {
				done := startTrace(cmd, traceTo)
				defer func() { err = errors.Join(err, done()) }()
			}
			tune := func(o *converge.Options) {
				o.Plan.Force = force
				o.RestoreAll = restore
			}
			return d.prepared(cmd, g, args, tune, func(eng *engine.Engine, prep *converge.Prepared) error {
				if seed != "" {
					dir, err := snapshotDir(prep.File.Project)
					if err != nil {
						return err
					}
					seeded, err := converge.SeedVolumes(cmd.Context(), eng, prep, dir, seed)
					if err != nil {
						return err
					}
					if err := os.WriteFile(seedFile(dir), []byte(seed+"\n"), 0o600); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v (`cjob dev reset` will need --from %s)\n", err, seed)
					}
					if !asJSON {
						fmt.Fprintf(cmd.ErrOrStderr(), "seeded from %s: %s (volumes that existed are kept; `cjob dev snapshot load` replaces them)\n", seed, orNone(seeded))
					}
				}
				return devUp(cmd, eng, prep, upFlags{start: start, parallel: parallel, mode: mode, asJSON: asJSON})
			})
		},
	}
	d.register(c)
	c.Flags().IntVar(&parallel, "parallel", 16, "engine calls in flight at once")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (progress off)")
	c.Flags().BoolVar(&force, "force-recreate", false, "recreate every container even if unchanged")
	c.Flags().BoolVar(&restore, "restore", false, "put production's image back in place of swapped jobs")
	traceFlag(c, &traceTo)
	c.Flags().StringVar(&seed, "seed", "", "fill the volumes that do not exist yet from this snapshot (`cjob dev snapshot save`) before their jobs start")
	return c
}

func traceFlag(c *cobra.Command, to *string) {
	c.Flags().StringVar(to, "trace", os.Getenv("CJOB_TRACE"), "write where the time went to this file, as Chrome trace-event JSON (open in ui.perfetto.dev or chrome://tracing); default $CJOB_TRACE")
}

// startTrace records the command's spans; done writes them to path and
// says where.
func startTrace(cmd *cobra.Command, path string) (done func() error) {
	rec := trace.New()
	ctx, sp := trace.Start(trace.With(cmd.Context(), rec), cmd.CommandPath())
	cmd.SetContext(ctx)
	return func() error {
		sp.End()
		if err := rec.WriteFile(path); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "trace: %s (open it in https://ui.perfetto.dev or chrome://tracing)\n", path)
		return nil
	}
}

// upFlags are how `dev up` reports.
type upFlags struct {
	start    time.Time
	parallel int
	mode     progress.Mode
	asJSON   bool
}

// devUp applies a prepared dev plan and prints the result.
func devUp(cmd *cobra.Command, eng *engine.Engine, prep *converge.Prepared, fl upFlags) error {
	ctx, start, mode, asJSON := cmd.Context(), fl.start, fl.mode, fl.asJSON
	out := cmd.OutOrStdout()
	if asJSON {
		mode = progress.Quiet
	}
	if len(prep.Rewrite.Added) > 0 && !asJSON {
		fmt.Fprintf(cmd.ErrOrStderr(), "adding dependencies: %s\n", strings.Join(prep.Rewrite.Added, ", "))
	}
	if prep.Plan.Empty() {
		if asJSON {
			return writeJSON(out, upJSON(prep, nil, time.Since(start)))
		}
		fmt.Fprintf(out, "Nothing to do: %d containers of %s/%s are up to date (%s)\n",
			len(prep.Plan.Ops), prep.File.Project, devenv.Env, converge.Elapsed(time.Since(start)))
		return nil
	}
	rep := progress.New(cmd.ErrOrStderr(), mode)
	res, err := converge.Up(ctx, eng, prep, converge.UpOptions{Parallel: fl.parallel, Reporter: rep})
	rep.Close()
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(out, upJSON(prep, res, time.Since(start))); err != nil {
			return err
		}
	} else {
		printUpSummary(out, prep, res, time.Since(start))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := res.Err(); err != nil {
		if asJSON {
			return exitError{1}
		}
		return fmt.Errorf("dev up: %w; fix and run `cjob dev up` again to converge", err)
	}
	return nil
}

func printUpSummary(w io.Writer, prep *converge.Prepared, res *apply.Result, elapsed time.Duration) {
	printFailures(w, res.Failures, res.Skipped)
	fmt.Fprintf(w, "\n%s/%s: %s in %s\n\n", prep.File.Project, devenv.Env, prep.Plan.Summary(), converge.Elapsed(elapsed))
	printURLs(w, prep.Rewrite.Stack)
}

func printFailures(w io.Writer, failures []apply.Failure, skipped []string) {
	for _, f := range failures {
		fmt.Fprintf(w, "\n✘ %s: %v\n", f.Subject, f.Err)
		if f.LogTail != "" {
			fmt.Fprintf(w, "  last log lines:\n")
			for _, l := range strings.Split(f.LogTail, "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "– %s: not started, a dependency failed\n", s)
	}
}

func printURLs(w io.Writer, st *stack.Stack) {
	t := table.New("job", "task", "host", "production", "local")
	for _, u := range st.Units {
		if u.Kind != stack.KindTask {
			continue
		}
		if len(u.URLs) == 0 {
			t.Row(u.Job, fmt.Sprint(u.Task), u.Host, "-", "-")
		}
		for _, url := range u.URLs {
			t.Row(u.Job, fmt.Sprint(u.Task), u.Host, url.Production, url.Local)
		}
	}
	t.Render(w)
}

type jobJSON struct {
	Job        string `json:"job"`
	Task       int    `json:"task"`
	Host       string `json:"host"`
	Container  string `json:"container"`
	Production string `json:"production,omitempty"`
	Local      string `json:"local,omitempty"`
}

func upJSON(prep *converge.Prepared, res *apply.Result, elapsed time.Duration) map[string]any {
	var jobs []jobJSON
	for _, u := range prep.Rewrite.Stack.Units {
		if u.Kind != stack.KindTask {
			continue
		}
		j := jobJSON{Job: u.Job, Task: u.Task, Host: u.Host, Container: u.Name}
		if len(u.URLs) > 0 {
			j.Production, j.Local = u.URLs[0].Production, u.URLs[0].Local
		}
		jobs = append(jobs, j)
	}
	out := map[string]any{
		"project":    prep.File.Project,
		"env":        devenv.Env,
		"summary":    prep.Plan.Summary(),
		"changed":    !prep.Plan.Empty(),
		"elapsed_ms": elapsed.Milliseconds(),
		"jobs":       jobs,
	}
	if res != nil {
		var fails []map[string]string
		for _, f := range res.Failures {
			fails = append(fails, map[string]string{"unit": f.Subject, "error": f.Err.Error(), "log_tail": f.LogTail})
		}
		out["failures"] = fails
		out["skipped"] = res.Skipped
	}
	return out
}

func newDevPlan(g *global) *cobra.Command {
	var (
		d      devFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "plan [job...]",
		Short: "Show what `dev up` would do, and why",
		Long: `Plan prints each operation ` + "`dev up`" + ` would make, with the operations it
waits for and its cause: create, recreate (naming the changed fields),
start, remove orphan, or unchanged.`,
		Example: `  cjob dev plan
  cjob dev plan --set tag=2b19fca`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return d.prepared(cmd, g, args, nil, func(_ *engine.Engine, prep *converge.Prepared) error {
				out := cmd.OutOrStdout()
				if asJSON {
					var ops []map[string]any
					for _, o := range prep.Plan.Ops {
						ops = append(ops, map[string]any{"id": o.ID, "action": o.Action.String(), "subject": o.Subject, "cause": o.Cause, "deps": o.Deps})
					}
					return writeJSON(out, map[string]any{"summary": prep.Plan.Summary(), "ops": ops})
				}
				printPlan(out, prep.Plan)
				return nil
			})
		},
	}
	d.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return c
}

func newDevExplain(g *global) *cobra.Command {
	var (
		d      devFlags
		asJSON bool
		local  bool
	)
	c := &cobra.Command{
		Use:   "explain [job...]",
		Short: "List every rewrite that turns production into the dev stack, job by job",
		Example: `  cjob dev explain
  cjob dev explain coding-core.api
  cjob dev explain --local api     # the env a local process gets from dev swap api --local`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := d.options(g, nil)
			if err != nil {
				return err
			}
			// Explain needs no engine: port moves are checked against
			// this machine's listening ports only.
			prep, err := converge.Prepare(cmd.Context(), converge.Offline, opts)
			if err != nil {
				return err
			}
			if local {
				if len(args) == 0 {
					return errors.New("--local: name the job(s)")
				}
				for _, a := range args {
					j, err := prep.File.ResolveJob(a)
					if err != nil {
						return err
					}
					notes, err := converge.LocalRewrites(prep.Rewrite.Stack, j.FullName(), j.MainPort())
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s, served by a local process (`cjob dev swap %s --local -- CMD`; PORT is chosen then):\n", j.FullName(), j.Name)
					for _, n := range notes {
						fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", n)
					}
				}
				return nil
			}
			notes := prep.Notes()
			if len(args) > 0 {
				var keep []rewrite.Note
				for _, a := range args {
					j, err := prep.File.ResolveJob(a)
					if err != nil {
						return err
					}
					for _, n := range notes {
						if n.Subject == j.FullName() {
							keep = append(keep, n)
						}
					}
				}
				notes = keep
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, notes)
			}
			fmt.Fprint(out, rewrite.FormatNotes(notes))
			return nil
		},
	}
	d.register(c)
	c.Flags().BoolVar(&local, "local", false, "the env rewrites a local process standing in for the named jobs gets (dev swap --local)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the rewrites as JSON")
	return c
}

func newDevDown(g *global) *cobra.Command {
	var (
		volumes bool
		rmi     bool
		mode    = progress.Auto
		traceTo string
	)
	c := &cobra.Command{
		Use:   "down [job...]",
		Short: "Remove the dev stack's containers, sandboxes and network (volumes are kept)",
		Long: `Down removes what cjob made for this project's dev environment, found by
its labels. Named volumes, and the data in them, are kept unless --volumes
is given. Naming jobs removes only their containers.`,
		Example: `  cjob dev down
  cjob dev down --volumes          # and the data
  cjob dev down infra.queue`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if traceTo != "" {
				done := startTrace(cmd, traceTo)
				defer func() { err = errors.Join(err, done()) }()
			}
			return withEngine(cmd, g, args, func(f *prodspec.File, jobs []string, eng *engine.Engine) error {
				o := converge.DownOptions{Project: f.Project, Volumes: volumes, RemoveImages: rmi}
				if len(jobs) > 0 {
					o.Only = map[string]bool{}
					for _, j := range jobs {
						o.Only[j] = true
					}
				}
				return devDown(cmd, eng, o, mode)
			})
		},
	}
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove named volumes and their data")
	c.Flags().BoolVar(&rmi, "rmi", false, "also remove the images dev swap built for this project")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	traceFlag(c, &traceTo)
	return c
}

// devDown removes what o says and prints what it did.
func devDown(cmd *cobra.Command, eng *engine.Engine, o converge.DownOptions, mode progress.Mode) error {
	start := time.Now()
	rep := progress.New(cmd.ErrOrStderr(), mode)
	o.Reporter = rep
	p, res, err := converge.Down(cmd.Context(), eng, o)
	rep.Close()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if len(p.Ops) == 0 {
		fmt.Fprintf(out, "Nothing to remove for %s/%s\n", o.Project, devenv.Env)
		return nil
	}
	fmt.Fprintf(out, "%s/%s: %s in %s\n", o.Project, devenv.Env, p.Summary(), converge.Elapsed(time.Since(start)))
	if !o.Volumes && o.Only == nil {
		fmt.Fprintln(out, "Volumes are kept; `cjob dev down --volumes` removes them and their data.")
	}
	return res.Err()
}

func newDevPs(g *global) *cobra.Command {
	var (
		asJSON bool
		all    bool
	)
	c := &cobra.Command{
		Use:   "ps",
		Short: "List the dev stack's tasks: host sandbox, image, state, health, ports",
		Example: `  cjob dev ps
  cjob dev ps --all     # host sandboxes too
  cjob dev ps --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEngine(cmd, g, nil, func(f *prodspec.File, _ []string, eng *engine.Engine) error {
				rows, err := converge.Status(cmd.Context(), eng, f, nil)
				if err != nil {
					return err
				}
				markLiveUpdates(f.Project, rows)
				return printRows(cmd, f, rows, psFlags{asJSON: asJSON, all: all})
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	c.Flags().BoolVarP(&all, "all", "a", false, "show host sandboxes too")
	return c
}

type psFlags struct{ asJSON, all bool }

// markLiveUpdates marks the swapped tasks whose job's last swap was a
// successful live update (localstate's record of it).
func markLiveUpdates(project string, rows []converge.Row) {
	st, err := localstate.ForEnv(project, devenv.Env)
	if err != nil {
		return
	}
	swaps, err := st.Swaps()
	if err != nil {
		return
	}
	for i, r := range rows {
		if rec, ok := swaps[r.Job]; ok && r.Swapped != "" && rec.Live && rec.Err == "" && rec.Dir == r.Swapped {
			at := rec.At
			rows[i].LiveUpdated = &at
		}
	}
}

// printRows prints `dev ps`.
func printRows(cmd *cobra.Command, f *prodspec.File, rows []converge.Row, fl psFlags) error {
	asJSON, all := fl.asJSON, fl.all
	out := cmd.OutOrStdout()
	if asJSON {
		return writeJSON(out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(out, "No containers for %s/%s: `cjob dev up` starts them\n", f.Project, devenv.Env)
		return nil
	}
	color := isTTY(out)
	pal := table.Color(color)
	t := table.New("job", "task", "host", "image", "state", "health", "ports", "swapped from")
	for _, r := range rows {
		if r.Kind == "sandbox" && !all {
			continue
		}
		state := r.State
		switch {
		case r.State == "running":
			state = pal.Green(state)
		case r.State == "exited" && r.ExitCode == 0 && r.Oneshot:
			state = pal.Dim("completed")
		default:
			state = pal.Red(state)
		}
		job, task := r.Job, fmt.Sprint(r.Task)
		if r.Kind == "sandbox" {
			job, task = "(sandbox)", "-"
		}
		swapped := r.Swapped
		if r.LiveUpdated != nil {
			swapped += " (live-updated " + r.LiveUpdated.Local().Format("15:04:05") + ", newer than its image)"
		}
		t.Row(job, task, r.Host, r.Image, state, r.Health, r.Ports, swapped)
	}
	return t.Render(out)
}

func newDevLogs(g *global) *cobra.Command {
	var lf logFlags
	c := &cobra.Command{
		Use:   "logs [job...]",
		Short: "Show the logs of the dev stack's tasks, interleaved and prefixed",
		Example: `  cjob dev logs
  cjob dev logs api worker -f
  cjob dev logs --tail 20 coding-core.web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEngine(cmd, g, args, func(f *prodspec.File, jobs []string, eng *engine.Engine) error {
				return converge.Logs(cmd.Context(), eng, f.Project, lf.options(cmd, jobs), cmd.OutOrStdout())
			})
		},
	}
	lf.register(c)
	return c
}

// logFlags are the flags of the logs commands.
type logFlags struct {
	follow bool
	tail   string
	ts     bool
}

func (l *logFlags) register(c *cobra.Command) {
	c.Flags().BoolVarP(&l.follow, "follow", "f", false, "follow new log lines")
	c.Flags().StringVarP(&l.tail, "tail", "n", "all", "lines from the end of each log")
	c.Flags().BoolVarP(&l.ts, "timestamps", "t", false, "show timestamps")
}

// options are the log options for the jobs (full names; none: all).
func (l *logFlags) options(cmd *cobra.Command, jobs []string) converge.LogOptions {
	return converge.LogOptions{Jobs: jobs, Follow: l.follow, Tail: l.tail, Timestamps: l.ts, Color: isTTY(cmd.OutOrStdout())}
}

// resolveJobs turns job names given on the command line into full names.
func resolveJobs(f *prodspec.File, args []string) ([]string, error) {
	var jobs []string
	for _, a := range args {
		j, err := f.ResolveJob(a)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j.FullName())
	}
	return jobs, nil
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

func newDevExport(g *global) *cobra.Command {
	var compose bool
	c := &cobra.Command{
		Use:   "export --compose",
		Short: "Print the dev stack as a Compose file, so anyone can bring it up with docker compose",
		Long: `Export prints the dev stack, after the rewrite, as a Compose file built
with compose-go's types: the host sandboxes as services on the project
network with production's names as aliases, each task sharing its
sandbox's network and PID namespaces, and a small "-ready" service per HTTP
or TCP check (images with no shell cannot run those checks themselves).
Containers cjob starts carry the same Compose labels, so
` + "`docker compose -p <project>-dev ps`" + ` lists them.`,
		Example: `  cjob dev export --compose > compose.yml
  docker compose -f compose.yml up -d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !compose {
				return fmt.Errorf("choose a format: --compose")
			}
			return withEngine(cmd, g, nil, func(f *prodspec.File, _ []string, eng *engine.Engine) error {
				out, warnings, err := converge.ExportCompose(cmd.Context(), eng, f)
				if err != nil {
					return err
				}
				for _, w := range warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			})
		},
	}
	c.Flags().BoolVar(&compose, "compose", false, "as a Compose file")
	return c
}

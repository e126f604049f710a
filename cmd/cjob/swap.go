package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/prodspec"
	"github.com/cjob/cjob/templates"
)

func newDevSwap(g *global) *cobra.Command {
	var (
		bo            build.Options
		buildArgs     []string
		watch         bool
		syncs         []string
		restartOnSync bool
		printDF       bool
		quiet         bool
		noLive        bool
		rebuildOn     []string
		local         bool
		localPort     int
	)
	c := &cobra.Command{
		Use:   "swap JOB DIR | JOB --local -- COMMAND...",
		Short: "Replace one job of the running dev stack with an image built from a local folder",
		Long: `Swap builds an image from DIR and puts it in place of JOB's container: same
host sandbox (so the same production addresses and published ports), env,
volumes and labels. The rest of the stack keeps running. If the new
container exits or fails its health check, the previous one is put back.

DIR is built with its Dockerfile, or, without one, with a template chosen by
what it holds (go.mod: go, package.json: node, pom.xml or a jar: java,
index.html: static), which builds the artefact on this machine with the
language's own tool and makes a three-line image of it.

With --watch, every save rebuilds (a burst of saves gives one round); a
failed build prints its output and keeps the last good code running. For the
go and java templates a save is a live update: the artefact is built on this
machine and copied into the running container, which is restarted (same
container, addresses, env and volumes; no image is built; nothing is needed
inside the image); if it does not come up, the previous artefact is put
back. A change to a Dockerfile, go.mod/go.sum, pom.xml or a --rebuild-on
path builds an image and swaps instead, and says why (--no-live: always).
With --sync SRC:DEST, changes under SRC are copied into the running container
instead, with no rebuild.

With --local, JOB is served by COMMAND, run on this machine (go run, npm run
dev, a debugger): the job's container is replaced by a relay in its host
sandbox, so its production address inside the stack (core-app-1:8000, its
DNS names, localhost:8000 from jobs on its host) reaches the local process
through host.docker.internal, host.containers.internal or the network's
gateway (Linux), whichever answers. The process gets the job's env with every
address of another job rewritten to the port dev publishes for it on
127.0.0.1, and PORT set to where it must listen (on all interfaces); each
rewrite is printed. Ctrl-C (or ` + "`cjob dev restore JOB`" + `) puts the container back.

` + "`cjob dev up`" + ` keeps swapped jobs swapped; ` + "`cjob dev restore JOB`" + ` reverts.`,
		Example: `  cjob dev swap coding-core.api ./api
  cjob dev swap web ./frontend --watch
  cjob dev swap web ./frontend --watch --sync static:/site/static
  cjob dev swap api ./api --watch --rebuild-on 'migrations/*'
  cjob dev swap api ./api --template go --base scratch
  cjob dev swap api ./api --print-dockerfile
  cjob dev swap api --local -- go run ./cmd/api
  cjob dev swap web --local --port 3001 -- npm run dev`,
		Args: func(cmd *cobra.Command, args []string) error {
			if local {
				if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
					return errors.New("--local: give the job, then -- and the command that serves it: cjob dev swap api --local -- go run ./cmd/api")
				}
				return nil
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := loadFile(g)
			if err != nil {
				return err
			}
			j, err := f.ResolveJob(args[0])
			if err != nil {
				return err
			}
			if local {
				return swapLocal(cmd, g, f, j.FullName(), localPort, args[1:])
			}
			dir, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			bo.Dir = dir
			bo.Port = j.MainPort()
			bo.BuildArgs = map[string]string{}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--build-arg %q: want KEY=value", kv)
				}
				bo.BuildArgs[k] = v
			}
			out := cmd.OutOrStdout()
			if printDF {
				tmpl, df, err := build.Describe(bo)
				if err != nil {
					return err
				}
				if tmpl != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "# template %s\n", tmpl)
				}
				fmt.Fprint(out, df)
				if !strings.HasSuffix(df, "\n") {
					fmt.Fprintln(out)
				}
				return nil
			}
			var rules []converge.SyncRule
			for _, s := range syncs {
				r, err := converge.ParseSyncRule(s)
				if err != nil {
					return err
				}
				rules = append(rules, r)
			}
			if len(rules) > 0 && !watch {
				return errors.New("--sync needs --watch")
			}
			eng, err := dial(ctx, g)
			if err != nil {
				return err
			}
			defer eng.Close()
			var buildLog io.Writer = cmd.ErrOrStderr()
			if quiet {
				buildLog = io.Discard
			}
			so := converge.SwapOptions{File: f, Job: j.FullName(), Build: bo, Log: buildLog, Record: recordSwap(cmd.ErrOrStderr(), f.Project)}
			if !watch {
				r, err := converge.Swap(ctx, eng, so)
				if err != nil {
					return swapError(cmd.ErrOrStderr(), err)
				}
				printSwap(out, j.FullName(), r)
				return nil
			}
			fmt.Fprintf(out, "watching %s for %s (Ctrl-C to stop; the swapped job keeps running)\n", dir, j.FullName())
			return converge.Watch(ctx, eng, converge.WatchOptions{Swap: so, Sync: rules, RestartOnSync: restartOnSync, Live: !noLive, RebuildOn: rebuildOn}, func(r converge.Round) {
				printRound(out, cmd.ErrOrStderr(), j.FullName(), r)
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&bo.Dockerfile, "dockerfile", "", "Dockerfile to use (default: DIR/Dockerfile, else a template)")
	fl.StringVar(&bo.Target, "target", "", "build stage to target")
	fl.StringArrayVar(&buildArgs, "build-arg", nil, "build argument KEY=value (repeatable)")
	fl.StringVar(&bo.Template, "template", "", "force a template: "+strings.Join(templates.Names(), ", "))
	fl.StringVar(&bo.Base, "base", "", "base image for the template (each template has a default)")
	fl.BoolVarP(&watch, "watch", "w", false, "rebuild and swap on every save")
	fl.StringArrayVar(&syncs, "sync", nil, "with --watch: copy changes under SRC (in DIR) to DEST in the container, no rebuild (SRC:DEST, repeatable)")
	fl.BoolVar(&restartOnSync, "restart-on-sync", false, "restart the container after a sync")
	fl.BoolVar(&local, "local", false, "serve the job from a command run on this machine (after --), through a relay in its sandbox")
	fl.IntVar(&localPort, "port", 0, "with --local: the port the command listens on (default: the job's port if free here, else a free one; given to it as PORT)")
	fl.BoolVar(&noLive, "no-live", false, "with --watch: build an image and swap on every save, never a live update")
	fl.StringArrayVar(&rebuildOn, "rebuild-on", nil, "with --watch: a change to a path matching this pattern (in DIR, e.g. 'migrations/*') builds an image instead of a live update (repeatable)")
	fl.BoolVar(&printDF, "print-dockerfile", false, "print the Dockerfile that would be used, and stop")
	fl.BoolVarP(&quiet, "quiet", "q", false, "do not print the build output (errors are still shown)")
	return c
}

// swapLocal runs command for job, with the job's address in the stack
// relayed to it, until Ctrl-C, the command's exit, or a restore elsewhere;
// then the job's container is put back.
func swapLocal(cmd *cobra.Command, g *global, f *prodspec.File, job string, port int, command []string) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	eng, err := dial(ctx, g)
	if err != nil {
		return err
	}
	defer eng.Close()
	lo := converge.LocalOptions{File: f, Job: job, Port: port, Command: strings.Join(command, " ")}
	lp, err := converge.PrepareLocal(ctx, eng, lo)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: running `%s` here on port %d (it must listen on all interfaces)\n", job, lo.Command, lp.Port)
	for _, r := range lp.Rewrites {
		fmt.Fprintf(out, "  %s\n", r)
	}
	proc := exec.Command(command[0], command[1:]...)
	proc.Env = append(os.Environ(), lp.Env...)
	proc.Stdin, proc.Stdout, proc.Stderr = os.Stdin, out, errw
	if err := proc.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", command[0], err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = proc.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		proc.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			proc.Process.Kill()
			<-exited
		}
	}
	restore := func(why string) error {
		fmt.Fprintf(out, "%s; putting %s's container back\n", why, job)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		_, err := converge.Restore(rctx, eng, f, []string{job}, converge.UpOptions{})
		return err
	}
	relayed := make(chan error, 1)
	go func() { relayed <- converge.StartRelay(ctx, eng, lp, lo) }()
	select {
	case err := <-relayed:
		if err != nil {
			stop()
			return swapError(errw, fmt.Errorf("%s does not answer through the relay: %w; its container was put back", job, err))
		}
	case <-exited:
		// StartRelay puts the container back when its check fails.
		<-relayed
		if active, _ := converge.LocalActive(context.WithoutCancel(ctx), eng, f, job); active {
			restore(fmt.Sprintf("%s ended (%v)", command[0], waitErr))
		}
		return fmt.Errorf("%s ended before %s answered: %v", command[0], job, waitErr)
	}
	fmt.Fprintf(out, "%s now runs on this machine: its address in the stack reaches it (Ctrl-C puts the container back)\n", job)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return restore("stopped")
		case <-exited:
			return errors.Join(fmt.Errorf("%s ended: %v", command[0], waitErr), restore(command[0]+" ended"))
		case <-tick.C:
			if active, err := converge.LocalActive(ctx, eng, f, job); err == nil && !active {
				fmt.Fprintf(out, "%s was restored elsewhere; stopping %s\n", job, command[0])
				stop()
				return nil
			}
		}
	}
}

func swapError(w io.Writer, err error) error {
	var rb *converge.RollbackError
	if errors.As(err, &rb) && rb.LogTail != "" {
		fmt.Fprintf(w, "last log lines of the new container:\n")
		for _, l := range strings.Split(rb.LogTail, "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	return err
}

func printSwap(w io.Writer, job string, r *converge.SwapResult) {
	if r.Live {
		early := ""
		if r.Early {
			early = " (begun on the first save)"
		}
		fmt.Fprintf(w, "live update of %s (%s, no image built): build %s%s, copy %s, restart %s, check %s, total %s\n", job, r.Image,
			converge.Elapsed(r.Build), early, converge.Elapsed(r.Copy), converge.Elapsed(r.Restart), converge.Elapsed(r.Check), converge.Elapsed(r.Total))
		return
	}
	how := "built"
	if r.Reused {
		how = "reused (source unchanged)"
	}
	if r.Reason != "" {
		how += "; " + r.Reason + ": an image build, not a live update"
	}
	if r.Unchanged {
		fmt.Fprintf(w, "%s already runs %s (%s); nothing to swap\n", job, r.Image, how)
		return
	}
	fmt.Fprintf(w, "swapped %s -> %s (%s): build %s, swap %s, total %s\n", job, r.Image, how,
		converge.Elapsed(r.Build), converge.Elapsed(r.Swap), converge.Elapsed(r.Total))
}

func printRound(out, errw io.Writer, job string, r converge.Round) {
	stamp := time.Now().Format("15:04:05")
	if r.Warning != "" {
		fmt.Fprintf(errw, "%s warning: %s\n", stamp, r.Warning)
		return
	}
	what := ""
	if n := len(r.Changed) + len(r.Removed); n > 0 {
		what = fmt.Sprintf(" (%d changed)", n)
	}
	if r.Err != nil {
		fmt.Fprintf(errw, "%s round %d%s: ✘ %v\n", stamp, r.N, what, swapError(errw, r.Err))
		fmt.Fprintf(errw, "%s the last good container of %s keeps running\n", stamp, job)
		return
	}
	if r.Synced {
		fmt.Fprintf(out, "%s round %d%s: synced in %s, no rebuild\n", stamp, r.N, what, converge.Elapsed(r.Sync))
		return
	}
	fmt.Fprintf(out, "%s round %d%s: ", stamp, r.N, what)
	printSwap(out, job, r.Swap)
}

func newDevRestore(g *global) *cobra.Command {
	var (
		all  bool
		mode = progress.Auto
	)
	c := &cobra.Command{
		Use:   "restore [JOB...] | --all",
		Short: "Put production's image back in place of swapped jobs",
		Example: `  cjob dev restore web
  cjob dev restore --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return errors.New("name the jobs to restore, or --all")
			}
			return withEngine(cmd, g, args, func(f *prodspec.File, jobs []string, eng *engine.Engine) error {
				rep := progress.New(cmd.ErrOrStderr(), mode)
				done, err := converge.Restore(cmd.Context(), eng, f, jobs, converge.UpOptions{Reporter: rep})
				rep.Close()
				if err != nil {
					return err
				}
				if len(done) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No job is swapped")
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restored %s to production's image\n", strings.Join(done, ", "))
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "restore every swapped job")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	return c
}

// recordSwap keeps each swap's record for `cjob dev ui`; a record that
// cannot be written is said, once, and never fails the swap.
func recordSwap(errw io.Writer, project string) func(localstate.SwapRecord) {
	warned := false
	return func(r localstate.SwapRecord) {
		st, err := localstate.ForEnv(project, devenv.Env)
		if err == nil {
			err = st.RecordSwap(r)
		}
		if err != nil && !warned {
			warned = true
			fmt.Fprintf(errw, "warning: %v (`cjob dev ui` will not show this swap's build log)\n", err)
		}
	}
}

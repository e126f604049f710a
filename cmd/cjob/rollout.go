package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/prodspec"
)

var actionHelp = map[string][3]string{
	"up": {"up <job>... | --all", "Start every task of a job with the pushed config",
		"  cjob up coding-core.api\n  cjob up web api      # api first: web depends on it\n  cjob up --all        # every job at once, each as soon as its dependencies are ready"},
	"down": {"down <job>... | --all", "Stop and remove every task of a job",
		"  cjob down coding-mail.sms\n  cjob down --all"},
	"reload": {"reload <job> [task]", "Recreate one or all tasks of a job with the newest pushed config",
		"  cjob reload api\n  cjob reload api 2      # only task 2"},
	"rolling-update": {"rolling-update <job>", "Move a job onto the pushed config (or --image TAG) task by task; roll back on failure",
		"  cjob rolling-update api\n  cjob rolling-update api --image 1.2.0 --max-parallel 2"},
	"rollback": {"rollback <job>", "Put a job back on an earlier version's definition",
		"  cjob rollback api            # the previous definition\n  cjob rollback api --to 4"},
}

func newJobAction(action string) *cobra.Command {
	var (
		rm    remote
		req   api.ActionRequest
		image string
		mode  = progress.Auto
		all   bool
	)
	h := actionHelp[action]
	many := action == "up" || action == "down"
	args := cobra.RangeArgs(1, 2)
	if many {
		args = cobra.ArbitraryArgs
	}
	c := &cobra.Command{
		Use:     h[0],
		Short:   h[1],
		Example: h[2],
		Args:    args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if many {
				if all == (len(args) > 0) {
					return fmt.Errorf("%s: name jobs or give --all", action)
				}
				return runMany(cmd, &rm, action, args, all, mode)
			}
			if len(args) == 2 {
				if action != "reload" {
					return fmt.Errorf("%s takes one job", action)
				}
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 {
					return fmt.Errorf("task %q: want a task number from 1", args[1])
				}
				req.Task = n
			}
			req.Tag = image
			return runAction(cmd, &rm, action, args[0], req, mode)
		},
	}
	rm.register(c, true)
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	if many {
		c.Flags().BoolVar(&all, "all", false, "every job of the pushed version")
	}
	switch action {
	case "rolling-update":
		c.Flags().StringVar(&image, "image", "", "roll onto this tag of the job's image (pushes a version naming it)")
		c.Flags().IntVar(&req.MaxParallel, "max-parallel", 1, "tasks replaced at once")
		c.Flags().StringVar(&req.HealthTimeout, "health-timeout", "", "how long a new task may take to pass its check, e.g. 20s (default: the job's own)")
	case "rollback":
		c.Flags().Int64Var(&req.To, "to", 0, "the version whose definition of the job to restore (default: the newest that differs from what runs)")
		c.Flags().IntVar(&req.MaxParallel, "max-parallel", 1, "tasks replaced at once")
		c.Flags().StringVar(&req.HealthTimeout, "health-timeout", "", "how long a new task may take to pass its check, e.g. 20s (default: the job's own)")
	}
	return c
}

func runAction(cmd *cobra.Command, rm *remote, action, job string, req api.ActionRequest, mode progress.Mode) error {
	if rm.asJSON {
		mode = progress.Quiet
	}
	errw := cmd.ErrOrStderr()
	rep := progress.New(errw, mode)
	var warnings []string
	call := func(on func(api.StreamLine)) (*api.ActionResult, error) {
		if action == "deploy" {
			return rm.client().Deploy(cmd.Context(), req.To, on)
		}
		if job == "" {
			return rm.client().UpAll(cmd.Context(), on)
		}
		return rm.client().Action(cmd.Context(), job, action, req, on)
	}
	res, err := call(func(l api.StreamLine) {
		if e := l.Event; e != nil {
			ev := progress.Event{Unit: e.Unit, Status: e.Status, Text: e.Action, Detail: e.Detail, Time: e.Time}
			if e.Error != "" {
				ev.Err = errors.New(e.Error)
			}
			rep.Report(ev)
		}
		if l.Warning != "" {
			warnings = append(warnings, l.Warning)
		}
	})
	rep.Close()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if rm.asJSON {
		if err := writeJSON(out, res); err != nil {
			return err
		}
		if res.Error != "" {
			return exitError{1}
		}
		return nil
	}
	for _, w := range warnings {
		fmt.Fprintf(errw, "note: %s\n", w)
	}
	if o := res.Outcome; o != nil && mode == progress.Quiet {
		// Otherwise the progress output showed them, with their log tails.
		for _, f := range o.Failures {
			fmt.Fprintf(out, "  failed: %s\n", f)
		}
	}
	if res.Reverted > 0 {
		fmt.Fprintf(out, "Version %d puts the job's previous definition back in the pushed config\n", res.Reverted)
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	if o := res.Outcome; o != nil {
		what := fmt.Sprintf("%d change%s", o.Changed, plural(o.Changed))
		if o.Changed == 0 {
			what = "nothing to change"
		}
		name := o.Job
		if name == "*" {
			name = "every job"
		}
		fmt.Fprintf(out, "%s %s: %s in %s", action, name, what, o.Elapsed.Round(time.Millisecond))
		if o.Version > 0 {
			fmt.Fprintf(out, "; runs version %d", o.Version)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func newUpdate() *cobra.Command {
	var (
		rm   remote
		req  api.ActionRequest
		mode = progress.Auto
	)
	c := &cobra.Command{
		Use:   "update <job> [tag]",
		Short: "List a job's image tags in the registry, or roll the job onto one",
		Long: `Without a tag, update lists the tags of the job's image in the registry,
newest first, with image ID and creation time, and which one runs. With a
tag, it pushes a version naming that tag and rolls the job onto it task by
task; when a task fails, the job is rolled back and a further version puts
the previous tag back in the pushed config.`,
		Example: `  cjob update api
  cjob update api 1.1.0`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				req.Tag = args[1]
				return runAction(cmd, &rm, "update", args[0], req, mode)
			}
			tags, err := rm.client().Tags(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rm.asJSON {
				return writeJSON(out, tags)
			}
			running := map[string]bool{}
			fmt.Fprintf(out, "%s runs:\n", tags.Job)
			for _, t := range tags.Running {
				running[t.ImageID] = true
				fmt.Fprintf(out, "  task %d on %s: %s  IMAGE ID: %s  version %d  (%s)\n", t.Task, t.Host, t.Image, shortID(t.ImageID), t.Version, t.State)
			}
			if len(tags.Running) == 0 {
				fmt.Fprintln(out, "  nothing")
			}
			fmt.Fprintf(out, "The tags of %s in the registry, newest first:\n", repoOf(tags.Image))
			sort.SliceStable(tags.Tags, func(i, j int) bool { return tags.Tags[i].Created.After(tags.Tags[j].Created) })
			t := table.New("", "tag", "image id", "created", "")
			for _, tg := range tags.Tags {
				mark := ""
				if running[tg.ImageID] {
					mark = "<- running"
				}
				created := ""
				if !tg.Created.IsZero() {
					created = tg.Created.Local().Format("Jan 2, 2006 at 3:04:05pm")
				}
				if tg.Err != "" {
					created = "(" + tg.Err + ")"
				}
				t.Row(" ", tg.Name, shortID(tg.ImageID), created, mark)
			}
			if err := t.Render(out); err != nil {
				return err
			}
			fmt.Fprintf(out, "Roll onto one with `cjob update %s TAG`.\n", tags.Job)
			return nil
		},
	}
	rm.register(c, true)
	c.Flags().IntVar(&req.MaxParallel, "max-parallel", 1, "tasks replaced at once")
	c.Flags().StringVar(&req.HealthTimeout, "health-timeout", "", "how long a new task may take to pass its check, e.g. 20s (default: the job's own)")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	return c
}

// runMany runs up or down on several jobs, one after another, in
// dependency order (down in reverse), stopping at the first failure.
func runMany(cmd *cobra.Command, rm *remote, action string, names []string, all bool, mode progress.Mode) error {
	if all && action == "up" {
		return runAction(cmd, rm, action, "", api.ActionRequest{}, mode)
	}
	head, err := rm.client().Version(cmd.Context(), 0)
	if err != nil {
		return err
	}
	f, err := prodspec.Parse(fmt.Sprintf("version %d", head.Number), []byte(head.File), prodspec.LoadOptions{})
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		full, err := production.ResolveJob(f, n)
		if err != nil {
			return err
		}
		want[full] = true
	}
	var order []string
	seen := map[string]bool{}
	var visit func(j *prodspec.Job)
	visit = func(j *prodspec.Job) {
		if seen[j.FullName()] {
			return
		}
		seen[j.FullName()] = true
		for _, d := range j.DependsOn {
			if dj := f.Job(d); dj != nil {
				visit(dj)
			}
		}
		if all || want[j.FullName()] {
			order = append(order, j.FullName())
		}
	}
	for _, j := range f.Jobs() {
		visit(j)
	}
	if action == "down" {
		for i, k := 0, len(order)-1; i < k; i, k = i+1, k-1 {
			order[i], order[k] = order[k], order[i]
		}
	}
	for i, job := range order {
		if len(order) > 1 && !rm.asJSON {
			fmt.Fprintf(cmd.ErrOrStderr(), "[%d/%d] %s %s\n", i+1, len(order), action, job)
		}
		if err := runAction(cmd, rm, action, job, api.ActionRequest{}, mode); err != nil {
			if i < len(order)-1 {
				return fmt.Errorf("%w\n  stopped before %s", err, strings.Join(order[i+1:], ", "))
			}
			return err
		}
	}
	return nil
}

func newDeploy() *cobra.Command {
	var (
		rm   remote
		mode = progress.Auto
	)
	c := &cobra.Command{
		Use:   "deploy <version>",
		Short: "Deploy an old version: push its file again as the newest version and bring every job up on it",
		Example: `  cjob history            # find the version
  cjob deploy 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("version %q: want a version number (see `cjob history`)", args[0])
			}
			return runAction(cmd, &rm, "deploy", "", api.ActionRequest{To: n}, mode)
		},
	}
	rm.register(c, true)
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	return c
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/prodspec"
)

// remote holds the flags of the commands that talk to a cjob server.
type remote struct {
	host   string
	token  string
	cacert string
	asJSON bool
}

func (r *remote) register(c *cobra.Command, withJSON bool) {
	host := os.Getenv("CJOB_HOST")
	if host == "" {
		host = "127.0.0.1:2017"
	}
	c.Flags().StringVar(&r.host, "host", host, "cjob server address ($CJOB_HOST)")
	c.Flags().StringVar(&r.token, "token", "", "token for changes (default $CJOB_TOKEN)")
	c.Flags().StringVar(&r.cacert, "cacert", os.Getenv("CJOB_CACERT"), "CA certificate of a server with its own (https://) certificate ($CJOB_CACERT)")
	if withJSON {
		c.Flags().BoolVar(&r.asJSON, "json", false, "print as JSON")
	}
}

func (r *remote) client() *api.Client {
	tok := r.token
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv("CJOB_TOKEN"))
	}
	c := api.NewClient(r.host, tok, operator())
	if r.cacert != "" {
		if err := c.TrustCA(r.cacert); err != nil {
			// Every call fails with this, before anything is sent.
			c.HTTP = &http.Client{Transport: failing{err}}
		}
	}
	return c
}

// failing is a transport whose every request fails with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// operator is who the CLI says is asking: $CJOB_AUTHOR, else user@host.
func operator() string {
	if a := os.Getenv("CJOB_AUTHOR"); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

func newProdCommands(g *global) []*cobra.Command {
	return []*cobra.Command{newPush(g), newList(), newStatus(), newHistory(), newDiff(g),
		newJobAction("up"), newJobAction("down"), newJobAction("reload"), newUpdate(), newJobAction("rolling-update"), newJobAction("rollback"),
		newDeploy(), newEvents(), newLogs()}
}

// pushRecord remembers, per server and jobs file, the version last pushed
// from this machine: the base of the next push, so a push over someone
// else's newer version is refused.
type pushRecord map[string]int64

func recordPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(h, ".local", "state")
	}
	return filepath.Join(dir, "cjob", "pushed.json")
}

func recordKey(host, file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	return host + " " + file
}

func loadRecord() pushRecord {
	r := pushRecord{}
	if b, err := os.ReadFile(recordPath()); err == nil {
		json.Unmarshal(b, &r)
	}
	return r
}

func (r pushRecord) save() {
	p := recordPath()
	if p == "" {
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o700)
	b, _ := json.MarshalIndent(r, "", "  ")
	os.WriteFile(p, b, 0o600)
}

func newPush(g *global) *cobra.Command {
	var (
		rm      remote
		message string
		force   bool
		base    int64
	)
	c := &cobra.Command{
		Use:   "push",
		Short: "Store the rendered jobs file on the server as a new version",
		Long: `Push renders the jobs file (templates, --set) and stores it on the server
as a new version, with your name, the message and the version it was based
on. The server marks the jobs it changes as outdated; nothing runs until an
operator rolls them out (up, update, rolling-update).

A push is refused when someone else pushed since the version this machine
last pushed or saw from this file: see what they changed with ` + "`cjob diff`" + `,
then push again with --force.`,
		Example: `  cjob push -f jobs.yml -m "api 1.1.0"
  cjob push --force -m "after review of version 7"
  cjob push --json | jq .version.number`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadFile(g)
			if err != nil {
				return err
			}
			b, err := prodspec.Render(f)
			if err != nil {
				return err
			}
			cl := rm.client()
			rec := loadRecord()
			key := recordKey(cl.Base, g.jobsFile)
			req := api.PushRequest{File: string(b), Message: message, Force: force, Base: -1}
			if cmd.Flags().Changed("base") {
				req.Base = base
			} else if v, ok := rec[key]; ok {
				req.Base = v
			}
			res, err := cl.Push(cmd.Context(), req)
			if err != nil {
				var se *api.StatusError
				if errors.As(err, &se) && se.Code == 409 {
					return fmt.Errorf("push refused: %w", err)
				}
				return err
			}
			rec[key] = res.Version.Number
			rec.save()
			out := cmd.OutOrStdout()
			if rm.asJSON {
				return writeJSON(out, res)
			}
			if !res.Created {
				fmt.Fprintf(out, "Nothing to push: %s is identical to version %d\n", g.jobsFile, res.Version.Number)
				return nil
			}
			fmt.Fprintf(out, "Pushed version %d", res.Version.Number)
			if res.Version.Previous > 0 {
				fmt.Fprintf(out, " (after version %d)", res.Version.Previous)
			}
			if res.Version.Forced {
				fmt.Fprint(out, ", forced")
			}
			fmt.Fprintln(out)
			if !res.Diff.Empty() {
				fmt.Fprint(out, indentText(res.Diff.String(), "  "))
				names := res.Diff.JobNames()
				fmt.Fprintf(out, "%d job%s outdated; roll out with `cjob up JOB` or `cjob rolling-update JOB`\n", len(names), plural(len(names)))
			}
			return nil
		},
	}
	rm.register(c, true)
	c.Flags().StringVarP(&message, "message", "m", "", "why: recorded with the version")
	c.Flags().BoolVar(&force, "force", false, "push even if someone pushed since your base version")
	c.Flags().Int64Var(&base, "base", 0, "the version this file is based on (default: the one this machine last pushed from it)")
	return c
}

func indentText(s, pre string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func newList() *cobra.Command {
	var rm remote
	c := &cobra.Command{
		Use:   "list",
		Short: "List the pushed version's services and jobs: replicas needed, running, outdated",
		Example: `  cjob list
  cjob list --json | jq '.[] | select(.outdated > 0) | .job'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := rm.client().Jobs(cmd.Context(), false)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rm.asJSON {
				return writeJSON(out, jobs)
			}
			pal := table.Color(isTTY(out))
			t := table.New("service", "job", "needed", "running", "outdated", "state", "image", "hosts")
			for _, j := range jobs {
				needed := strconv.Itoa(j.Needed)
				if j.Critical {
					needed += " (critical)"
				}
				t.Row(j.Service, strings.TrimPrefix(j.Job, j.Service+"."), needed, strconv.Itoa(j.Running), strconv.Itoa(j.Outdated), colorState(pal, j.State), j.Image, strings.Join(j.Hosts, ", "))
			}
			return t.Render(out)
		},
	}
	rm.register(c, true)
	return c
}

func colorState(pal table.Palette, s string) string {
	switch s {
	case "ok", "completed":
		return pal.Green(s)
	case "outdated", "stopped":
		return pal.Yellow(s)
	}
	return pal.Red(s)
}

func newStatus() *cobra.Command {
	var rm remote
	c := &cobra.Command{
		Use:   "status [job]",
		Short: "Show what runs in production: every job, or one job's tasks and the hosts",
		Long: `Status polls the production hosts now and shows each job's state, or, for
one job, each task: host, container, image, state, health, version, memory.`,
		Example: `  cjob status
  cjob status api
  cjob status coding-core.api --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := rm.client()
			out := cmd.OutOrStdout()
			pal := table.Color(isTTY(out))
			if len(args) == 0 {
				jobs, err := cl.Jobs(cmd.Context(), true)
				if err != nil {
					return err
				}
				nodes, err := cl.Nodes(cmd.Context(), false)
				if err != nil {
					return err
				}
				if rm.asJSON {
					return writeJSON(out, map[string]any{"jobs": jobs, "nodes": nodes})
				}
				t := table.New("job", "state", "running", "outdated", "versions", "image")
				for _, j := range jobs {
					t.Row(j.Job, colorState(pal, j.State), fmt.Sprintf("%d/%d", j.Running, j.Needed), strconv.Itoa(j.Outdated), versions(j.Versions), j.Image)
				}
				if err := t.Render(out); err != nil {
					return err
				}
				fmt.Fprintln(out)
				return nodeTable(out, pal, nodes)
			}
			j, err := cl.Job(cmd.Context(), args[0], true)
			if err != nil {
				return err
			}
			if rm.asJSON {
				return writeJSON(out, j)
			}
			fmt.Fprintf(out, "%s: %s, %d/%d running, %d outdated, pushed image %s\n\n", j.Job, colorState(pal, j.State), j.Running, j.Needed, j.Outdated, j.Image)
			t := table.New("task", "host", "container", "image", "state", "health", "version", "memory")
			for _, tk := range j.Tasks {
				v := ""
				if tk.Version > 0 {
					v = strconv.FormatInt(tk.Version, 10)
				}
				if tk.Outdated {
					v += " (outdated)"
				}
				mem := ""
				if tk.Memory > 0 {
					mem = humanSize(tk.Memory)
				}
				state := tk.State
				if tk.Status != "" {
					state = tk.Status
				}
				t.Row(strconv.Itoa(tk.Task), tk.Host, tk.Container, tk.Image, state, tk.Health, v, mem)
			}
			return t.Render(out)
		},
	}
	rm.register(c, true)
	return c
}

func versions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(s, ",")
}

func nodeTable(out io.Writer, pal table.Palette, nodes []production.Node) error {
	t := table.New("host", "address", "state", "tasks", "cpus", "memory", "engine", "containers")
	for _, n := range nodes {
		state := pal.Green("up")
		if !n.Reachable {
			state = pal.Red("down: " + n.Error)
		}
		mem := ""
		if n.MemoryBytes > 0 {
			mem = humanSize(n.MemoryBytes)
		}
		t.Row(n.Name, n.Address, state, fmt.Sprintf("%d/%d", n.TasksRunning, n.Tasks), strconv.Itoa(n.CPUs), mem, n.EngineVersion, fmt.Sprintf("%d (%d running)", n.Containers, n.Running))
	}
	return t.Render(out)
}

func newHistory() *cobra.Command {
	var (
		rm    remote
		limit int
	)
	c := &cobra.Command{
		Use:   "history [job]",
		Short: "List the pushed versions with their diffs, or the versions that changed one job",
		Example: `  cjob history
  cjob history api
  cjob history -n 5 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := rm.client()
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				hs, err := cl.History(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if limit > 0 && len(hs) > limit {
					hs = hs[:limit]
				}
				if rm.asJSON {
					return writeJSON(out, hs)
				}
				for _, h := range hs {
					versionLine(out, h.Version.Number, h.Version.Author, h.Version.Kind, h.Version.Message, h.Version.Time)
					if h.Change != nil {
						fmt.Fprint(out, indentText(jobdiff.Diff{Jobs: []jobdiff.Job{*h.Change}}.String(), "    "))
					}
				}
				if len(hs) == 0 {
					fmt.Fprintln(out, "No version changed it")
				}
				return nil
			}
			vs, err := cl.Versions(cmd.Context(), limit)
			if err != nil {
				return err
			}
			var details []api.VersionDetail
			for _, v := range vs {
				d, err := cl.Version(cmd.Context(), v.Number)
				if err != nil {
					return err
				}
				d.File = ""
				details = append(details, d)
			}
			if rm.asJSON {
				return writeJSON(out, details)
			}
			for _, d := range details {
				versionLine(out, d.Number, d.Author, d.Kind, d.Message, d.Time)
				fmt.Fprint(out, indentText(d.Diff.String(), "    "))
			}
			if len(details) == 0 {
				fmt.Fprintln(out, "Nothing pushed yet: `cjob push -f jobs.yml`")
			}
			return nil
		},
	}
	rm.register(c, true)
	c.Flags().IntVarP(&limit, "limit", "n", 20, "at most this many versions (0: all)")
	return c
}

func versionLine(out io.Writer, n int64, author, kind, msg string, t time.Time) {
	line := fmt.Sprintf("version %d  %s  %s  %s", n, t.Local().Format("2006-01-02 15:04:05"), author, kind)
	if msg != "" {
		line += "  " + strconv.Quote(msg)
	}
	fmt.Fprintln(out, line)
}

func newDiff(g *global) *cobra.Command {
	var rm remote
	c := &cobra.Command{
		Use:   "diff",
		Short: "Compare the local jobs file with the pushed version, and the pushed version with what runs",
		Long: `Diff shows, job by job and field by field, what a push of the local file
would change, and how what runs on the production hosts differs from the
pushed version (the jobs an operator has not rolled out yet). Secret values
are never shown; a change to one is reported as such.`,
		Example: `  cjob diff -f jobs.yml
  cjob diff --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := rm.client()
			local, err := loadFile(g)
			if err != nil {
				return err
			}
			head, err := cl.Version(cmd.Context(), 0)
			var pushed jobdiff.Diff
			var headNum int64
			switch {
			case err == nil:
				remote, perr := prodspec.Parse(fmt.Sprintf("version %d", head.Number), []byte(head.File), prodspec.LoadOptions{})
				if perr != nil {
					return perr
				}
				pushed = jobdiff.FilesAgainstHashes(remote, head.JobHashes, local)
				headNum = head.Number
			default:
				var se *api.StatusError
				if !errors.As(err, &se) || se.Code != 404 {
					return err
				}
				pushed = jobdiff.Files(nil, jobdiff.MaskFile(local))
			}
			running := []api.JobDiff{}
			if headNum > 0 {
				if running, err = cl.Diff(cmd.Context()); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if rm.asJSON {
				return writeJSON(out, map[string]any{"pushed_version": headNum, "local_vs_pushed": pushed, "pushed_vs_running": running})
			}
			if headNum == 0 {
				fmt.Fprintln(out, "Nothing pushed yet; pushing would add:")
			} else {
				fmt.Fprintf(out, "%s vs version %d:\n", g.jobsFile, headNum)
			}
			if pushed.Empty() {
				fmt.Fprintln(out, "  no difference")
			} else {
				fmt.Fprint(out, indentText(pushed.String(), "  "))
			}
			if headNum > 0 {
				fmt.Fprintf(out, "\nversion %d vs production:\n", headNum)
				if len(running) == 0 {
					fmt.Fprintln(out, "  every job runs the pushed config")
				}
				for _, d := range running {
					fmt.Fprintf(out, "  ~ %s\n", d.Job)
					for _, t := range d.Tasks {
						fmt.Fprintf(out, "      %s\n", t)
					}
				}
			}
			return nil
		},
	}
	rm.register(c, true)
	return c
}

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

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func repoOf(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

func newEvents() *cobra.Command {
	var (
		rm    remote
		limit int
	)
	c := &cobra.Command{
		Use:   "events [job]",
		Short: "List who did what, when, with what result",
		Example: `  cjob events
  cjob events api -n 10
  cjob events --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			evs, err := rm.client().Events(cmd.Context(), target, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rm.asJSON {
				return writeJSON(out, evs)
			}
			pal := table.Color(isTTY(out))
			t := table.New("time", "who", "action", "job", "version", "result", "detail")
			for _, e := range evs {
				v := ""
				if e.Version > 0 {
					v = strconv.FormatInt(e.Version, 10)
				}
				res := e.Result
				switch res {
				case "ok":
					res = pal.Green(res)
				case "rolled back", "refused":
					res = pal.Yellow(res)
				default:
					res = pal.Red(res)
				}
				detail, _, _ := strings.Cut(e.Detail, "\n")
				t.Row(e.Time.Local().Format("2006-01-02 15:04:05"), e.Who, e.Action, e.Target, v, res, detail)
			}
			return t.Render(out)
		},
	}
	rm.register(c, true)
	c.Flags().IntVarP(&limit, "limit", "n", 50, "at most this many events")
	return c
}

func newLogs() *cobra.Command {
	var (
		rm     remote
		task   int
		follow bool
		tail   string
	)
	c := &cobra.Command{
		Use:   "logs <job|container>",
		Short: "Print a production task's log through the server",
		Example: `  cjob logs api
  cjob logs api --task 2 -f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl := rm.client()
			name := args[0]
			if j, err := cl.Job(cmd.Context(), name, false); err == nil {
				name = ""
				for _, t := range j.Tasks {
					if t.Container != "" && (task == 0 || t.Task == task) {
						name = t.Container
						break
					}
				}
				if name == "" {
					return fmt.Errorf("%s has no container for task %d; see `cjob status %s`", j.Job, task, j.Job)
				}
			}
			return cl.Logs(cmd.Context(), name, tail, follow, cmd.OutOrStdout())
		},
	}
	rm.register(c, false)
	c.Flags().IntVar(&task, "task", 0, "which task (default: the first)")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	c.Flags().StringVar(&tail, "tail", "200", "lines from the end (\"all\" for every line)")
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

// humanSize is a byte count for people: 23.5GiB, 812MiB, 64KiB.
func humanSize(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return strconv.FormatFloat(float64(n)/(k*k*k), 'f', 1, 64) + "GiB"
	case n >= k*k:
		return strconv.FormatFloat(float64(n)/(k*k), 'f', 0, 64) + "MiB"
	case n >= k:
		return strconv.FormatFloat(float64(n)/k, 'f', 0, 64) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
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

package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/table"
)

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

func nodeTable(out io.Writer, pal table.Palette, nodes []status.Node) error {
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

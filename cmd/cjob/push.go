package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/prodspec"
)

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
			// The store's identity keys what this machine remembers: a
			// store replaced at the same address starts afresh.
			info, err := cl.Info(cmd.Context())
			if err != nil {
				return err
			}
			req := api.PushRequest{File: string(b), Message: message, Force: force, Base: -1}
			var pushes *localstate.Pushes
			if cmd.Flags().Changed("base") {
				req.Base = base
			} else {
				// Without the record, the push could not say what it was
				// based on, and a push over someone else's would go
				// through: refuse instead.
				if pushes, err = localstate.LoadPushes(); err != nil {
					return err
				}
				if v, ok := pushes.Base(info.Store, g.jobsFile); ok {
					req.Base = v
				}
			}
			res, err := cl.Push(cmd.Context(), req)
			if err != nil {
				var se *api.StatusError
				if errors.As(err, &se) && se.Code == 409 {
					return fmt.Errorf("push refused: %w", err)
				}
				return err
			}
			if pushes == nil {
				pushes, err = localstate.LoadPushes()
			}
			if err == nil {
				pushes.Set(info.Store, g.jobsFile, res.Version.Number)
				err = pushes.Save()
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: version %d was pushed, but this machine could not remember it: %v\n  the next push from %s must say what it is based on: --base %d\n", res.Version.Number, err, g.jobsFile, res.Version.Number)
			}
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

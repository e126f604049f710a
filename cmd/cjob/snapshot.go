package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/prodspec"
)

// withSnapshots is withEngine with the project's snapshot folder.
func withSnapshots(cmd *cobra.Command, g *global, args []string, fn func(f *prodspec.File, jobs []string, eng *engine.Engine, dir string) error) error {
	return withEngine(cmd, g, args, func(f *prodspec.File, jobs []string, eng *engine.Engine) error {
		dir, err := snapshotDir(f.Project)
		if err != nil {
			return err
		}
		return fn(f, jobs, eng, dir)
	})
}

// snapshotsOf loads the jobs file and finds its project's snapshots.
func snapshotsOf(g *global) (*prodspec.File, string, error) {
	f, err := loadFile(g)
	if err != nil {
		return nil, "", err
	}
	dir, err := snapshotDir(f.Project)
	return f, dir, err
}

// snapshotDir is where the project's dev snapshots live.
func snapshotDir(project string) (string, error) {
	st, err := localstate.ForEnv(project, devenv.Env)
	if err != nil {
		return "", err
	}
	return filepath.Join(st.Dir, "snapshots"), nil
}

func newDevSnapshot(g *global) *cobra.Command {
	c := &cobra.Command{
		Use:   "snapshot",
		Short: "Save the dev stack's data (its volumes) and put it back: seed data to share",
		Long: `A snapshot is the dev stack's named volumes saved as files (a tar each and a
manifest, under cjob's state folder), taken consistently: the jobs that
mount them are stopped while they are read, and started again. ` + "`load`" + ` puts
a snapshot back (the jobs that use the volumes are recreated on it), and
` + "`cjob dev up --seed NAME`" + ` fills volumes that do not exist yet before their jobs
start. Loading over data is refused without --force; a snapshot loads only
into a stack with the same volumes.`,
		Example: `  cjob dev snapshot save demo-data
  cjob dev down --volumes && cjob dev up --seed demo-data
  cjob dev snapshot load demo-data --force
  cjob dev snapshot ls
  cjob dev snapshot push demo-data registry.example.corp/team/snapshots:demo
  cjob dev snapshot pull registry.example.corp/team/snapshots:demo`,
	}
	var force bool
	save := &cobra.Command{
		Use:   "save NAME",
		Short: "Save the dev stack's volumes as snapshot NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSnapshots(cmd, g, nil, func(f *prodspec.File, _ []string, eng *engine.Engine, dir string) error {
				m, err := converge.SaveSnapshot(cmd.Context(), eng, f, dir, args[0], force, func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), s) })
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "saved %s: %d volume(s), %s, in %s (%s stopped meanwhile)\n", m.Name, len(m.Volumes), humanSize(m.Bytes()),
					converge.Elapsed(m.Duration), orNone(m.Stopped))
				return nil
			})
		},
	}
	save.Flags().BoolVar(&force, "force", false, "replace a snapshot of that name")
	var loadForce bool
	mode := progress.Auto
	load := &cobra.Command{
		Use:   "load NAME",
		Short: "Put snapshot NAME back into the dev stack's volumes (the jobs using them are recreated)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSnapshots(cmd, g, nil, func(f *prodspec.File, _ []string, eng *engine.Engine, dir string) error {
				start := time.Now()
				rep := progress.New(cmd.ErrOrStderr(), mode)
				vols, err := converge.LoadSnapshot(cmd.Context(), eng, f, dir, args[0], loadForce, nil, converge.UpOptions{Reporter: rep})
				rep.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "loaded %s into %s in %s\n", args[0], strings.Join(vols, ", "), converge.Elapsed(time.Since(start)))
				return nil
			})
		},
	}
	load.Flags().BoolVar(&loadForce, "force", false, "replace the data the volumes hold")
	load.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the dev stack's snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, dir, err := snapshotsOf(g)
			if err != nil {
				return err
			}
			ms, err := converge.Snapshots(dir)
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "No snapshots of %s: `cjob dev snapshot save NAME` takes one\n", f.Project)
				return nil
			}
			t := table.New("name", "created", "volumes", "size", "jobs file")
			for _, m := range ms {
				var names []string
				for _, v := range m.Volumes {
					names = append(names, v.Name)
				}
				t.Row(m.Name, m.Created.Local().Format("2006-01-02 15:04"), strings.Join(names, ", "), humanSize(m.Bytes()), m.File)
			}
			return t.Render(cmd.OutOrStdout())
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete snapshot NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dir, err := snapshotsOf(g)
			if err != nil {
				return err
			}
			if err := converge.RemoveSnapshot(dir, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	var pullForce bool
	push := &cobra.Command{
		Use:   "push NAME REGISTRY/REPO:TAG",
		Short: "Share snapshot NAME through the team's registry (an OCI artifact, with docker login's credentials)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dir, err := snapshotsOf(g)
			if err != nil {
				return err
			}
			config, layers, err := converge.SnapshotArtifact(dir, args[0])
			if err != nil {
				return err
			}
			start := time.Now()
			dgst, err := registry.New(registry.Options{}).PushArtifact(cmd.Context(), args[1], converge.SnapshotArtifactType, "application/vnd.cjob.snapshot.config.v1+json", config, layers)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s to %s (%s) in %s\n", args[0], args[1], dgst, converge.Elapsed(time.Since(start)))
			return nil
		},
	}
	pull := &cobra.Command{
		Use:   "pull REGISTRY/REPO:TAG [NAME]",
		Short: "Fetch a snapshot from the team's registry (as NAME; default: the name it was saved with)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dir, err := snapshotsOf(g)
			if err != nil {
				return err
			}
			start := time.Now()
			typ, config, layers, err := registry.New(registry.Options{}).PullArtifact(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if typ != converge.SnapshotArtifactType {
				return fmt.Errorf("%s is not a cjob snapshot (artifact type %q)", args[0], typ)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			m, err := converge.WriteSnapshotArtifact(dir, name, config, layers, pullForce)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s as %s (%d volume(s)) in %s: `cjob dev up --seed %s` or `cjob dev snapshot load %s`\n", args[0], m.Name, len(m.Volumes), converge.Elapsed(time.Since(start)), m.Name, m.Name)
			return nil
		},
	}
	pull.Flags().BoolVar(&pullForce, "force", false, "replace a snapshot of that name here")
	c.AddCommand(save, load, ls, rm, push, pull)
	return c
}

// seedFile keeps the name of the snapshot `dev up --seed` last used: what
// `dev reset` puts back.
func seedFile(dir string) string { return filepath.Join(dir, ".seed") }

func newDevReset(g *global) *cobra.Command {
	var (
		from  string
		force bool
		mode  = progress.Auto
	)
	c := &cobra.Command{
		Use:   "reset JOB...",
		Short: "Put the jobs' volumes back to the seed (the snapshot dev up --seed used, or --from)",
		Example: `  cjob dev reset infra.cache --force
  cjob dev reset infra.cache --from demo-data --force`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSnapshots(cmd, g, args, func(f *prodspec.File, jobs []string, eng *engine.Engine, dir string) error {
				name := from
				if name == "" {
					b, err := os.ReadFile(seedFile(dir))
					if err != nil {
						return errors.New("no seed recorded: `cjob dev up --seed NAME` records one, or name it with --from")
					}
					name = strings.TrimSpace(string(b))
				}
				rep := progress.New(cmd.ErrOrStderr(), mode)
				vols, err := converge.LoadSnapshot(cmd.Context(), eng, f, dir, name, force, jobs, converge.UpOptions{Reporter: rep})
				rep.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reset %s to %s (%s)\n", strings.Join(jobs, ", "), name, strings.Join(vols, ", "))
				return nil
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "the snapshot to reset to (default: the one dev up --seed used)")
	c.Flags().BoolVar(&force, "force", false, "replace the data the volumes hold")
	c.Flags().Var(&mode, "progress", "progress output: auto, live, plain, json or quiet")
	return c
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

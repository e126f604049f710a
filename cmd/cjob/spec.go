package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/prodspec"
)

func loadFile(g *global) (*prodspec.File, error) {
	vars, err := g.vars()
	if err != nil {
		return nil, err
	}
	f, err := parsedFiles().Load(g.jobsFile, prodspec.LoadOptions{Set: vars})
	if err != nil {
		return nil, err
	}
	if g.project != "" {
		if !validProject.MatchString(g.project) {
			return nil, fmt.Errorf("--project %q: want lower-case letters, digits and dashes", g.project)
		}
		f.Project = g.project
	}
	return f, nil
}

var validProject = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// parsedFiles is the cache of large parsed jobs files in the user's cache
// folder ($XDG_CACHE_HOME/cjob/parsed), keyed by this executable (path,
// size, time) among the rest; nil (no cache) when either cannot be found
// or CJOB_NO_CACHE is set.
func parsedFiles() *prodspec.Cache {
	if os.Getenv("CJOB_NO_CACHE") != "" {
		return nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	st, err := os.Stat(exe)
	if err != nil {
		return nil
	}
	return &prodspec.Cache{Dir: filepath.Join(dir, "cjob", "parsed"), Stamp: fmt.Sprintf("%s %d %d %s", exe, st.Size(), st.ModTime().UnixNano(), version)}
}

func newRender(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "render",
		Short: "Print the jobs file rendered and normalised",
		Long: `Render prints the jobs file as every other command sees it: templates
rendered, shorthands expanded (run_on_host becomes tasks), images with the
registry prefix, sizes in bytes, everything sorted. A legacy protobuf text
file comes out in the YAML format.`,
		Example: `  cjob render -f jobs.yml
  cjob render --set tag=2b19fca > rendered.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadFile(g)
			if err != nil {
				return err
			}
			out, err := prodspec.Render(f)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

func newValidate(g *global) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check the jobs file and report every problem at once",
		Example: `  cjob validate
  cjob validate -f examples/coding/jobs.yml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadFile(g)
			if asJSON {
				out := map[string]any{"file": g.jobsFile, "valid": err == nil}
				if list, ok := err.(prodspec.ErrorList); ok {
					out["errors"] = list
				} else if err != nil {
					out["errors"] = []string{err.Error()}
				}
				if f != nil {
					out["warnings"] = f.Warnings
					out["jobs"] = len(f.Jobs())
					out["hosts"] = len(f.Hosts)
				}
				if werr := writeJSON(cmd.OutOrStdout(), out); werr != nil {
					return werr
				}
				if err != nil {
					return exitError{1}
				}
				return nil
			}
			if err != nil {
				return err
			}
			for _, w := range f.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: project %s, %d services, %d jobs, %d hosts\n",
				g.jobsFile, f.Project, len(f.Services), len(f.Jobs()), len(f.Hosts))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// Command cjob runs production's whole stack, declared in one jobs file, on
// Docker: in production, on a developer's machine, and on a staging pool.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/prodspec"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// global holds the flags every command shares.
type global struct {
	jobsFile string
	set      []string
	host     string // docker engine endpoint
	project  string // overrides the jobs file's project
}

func (g *global) vars() (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range g.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRoot() *cobra.Command {
	g := &global{}
	root := &cobra.Command{
		Use:   "cjob",
		Short: "Run production's whole stack, from one jobs file, in production, dev and staging",
		Long: `cjob runs a microservice platform declared in one production jobs file
(service -> job -> task, each task on a named host) on Docker.

The same file drives production and every developer's machine: ` + "`cjob dev up`" + `
rewrites every production host onto the local engine, keeping production's
addresses and ports working, so dev cannot drift from production.
` + "`cjob server`" + ` runs production from the pushed file: operators push, see what
is outdated, and roll jobs out with up, update, rolling-update and rollback.`,
		Example: `  cjob validate -f jobs.yml
  cjob dev up                 # the whole of production, on this machine
  cjob dev up web             # only web and what it depends on
  cjob dev ps
  cjob dev logs api -f
  cjob push -f jobs.yml -m "api 1.1.0"      # to the production server
  cjob rolling-update api --image 1.1.0`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	pf := root.PersistentFlags()
	pf.StringArrayVar(&g.set, "set", nil, "override a template var, key=value (repeatable)")
	pf.StringVarP(&g.project, "project", "p", "", "project name (default: the project named in the jobs file)")
	pf.StringVarP(&g.host, "docker-host", "H", "", "Docker engine endpoint (default: $DOCKER_HOST or the local socket)")
	root.AddGroup(&cobra.Group{ID: "env", Title: "Environments:"}, &cobra.Group{ID: "prod", Title: "Production (through cjob server):"}, &cobra.Group{ID: "file", Title: "The jobs file:"})
	for _, c := range []*cobra.Command{newDev(g), newStaging(g), newDoctor(g), newServer()} {
		c.GroupID = "env"
		root.AddCommand(c)
	}
	for _, c := range newProdCommands(g) {
		c.GroupID = "prod"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newRender(g), newValidate(g), newImport()} {
		c.GroupID = "file"
		root.AddCommand(c)
	}
	root.AddCommand(newSandbox(g))
	addJobsFlag(root, g)
	for _, path := range [][]string{{"up"}, {"down"}, {"reload"}, {"update"}, {"rolling-update"}, {"rollback"}, {"status"}, {"history"}, {"logs"}, {"events"}, {"dev", "up"}, {"dev", "plan"}, {"dev", "explain"}, {"dev", "down"}, {"dev", "logs"}, {"dev", "restore"}, {"staging", "logs"}} {
		if c, _, err := root.Find(path); err == nil {
			c.ValidArgsFunction = completeJobs(g)
		}
	}
	if c, _, err := root.Find([]string{"dev", "swap"}); err == nil {
		jobs := completeJobs(g)
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return jobs(cmd, args, s)
			}
			return nil, cobra.ShellCompDirectiveFilterDirs
		}
	}
	return root
}

// addJobsFlag gives every command that reads the jobs file -f/--jobs.
// Commands that use -f for something else (`dev logs -f` follows, as
// docker's does) take the long form only.
func addJobsFlag(c *cobra.Command, g *global) {
	for _, sub := range c.Commands() {
		addJobsFlag(sub, g)
	}
	if c.RunE == nil || c.Name() == "sandbox" || c.Name() == "import" || c.Name() == "server" || c.Name() == "logs" && c.Parent() == c.Root() || c.Parent() != nil && c.Parent().Name() == "sandbox" {
		return
	}
	const usage = "production jobs file (YAML, or the legacy protobuf text format)"
	if c.Flags().ShorthandLookup("f") != nil {
		c.Flags().StringVar(&g.jobsFile, "jobs", "jobs.yml", usage)
		return
	}
	c.Flags().StringVarP(&g.jobsFile, "jobs", "f", "jobs.yml", usage)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	os.Exit(report(os.Stderr, err))
}

// report prints err once, the way a user should read it, and returns the
// exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var list prodspec.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		fmt.Fprintf(w, "cjob: %d error%s in the jobs file\n", len(list), plural(len(list)))
		return 1
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "cjob: interrupted; run the command again to converge from where it stopped")
		return 130
	}
	fmt.Fprintf(w, "cjob: %v\n", err)
	return 1
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// completeJobs completes job names from the jobs file: full names, and
// short names where unique.
func completeJobs(g *global) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		f, err := loadFile(g)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		count := map[string]int{}
		for _, j := range f.Jobs() {
			count[j.Name]++
		}
		var out []string
		for _, j := range f.Jobs() {
			out = append(out, j.FullName())
			if count[j.Name] == 1 {
				out = append(out, j.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

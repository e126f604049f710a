package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/compose/importer"
)

func newImport() *cobra.Command {
	var (
		more     []string
		profiles []string
		env      []string
		project  string
		output   string
	)
	c := &cobra.Command{
		Use:   "import COMPOSE_FILE",
		Short: "Turn a Compose project into a jobs file",
		Long: `Import loads a Compose project as docker compose does (override files,
extends, .env and env interpolation, profiles) and writes a jobs file: one
service and job per Compose service, each on a host of its own named after
it, with images, commands, env, ports, volumes, depends_on, healthchecks and
memory limits. Every Compose feature with no jobs-file equivalent is listed
as a warning; build sections become a hint to use ` + "`cjob dev swap`" + `.`,
		Example: `  cjob import compose.yml > jobs.yml
  cjob import compose.yml -f compose.override.yml --profile debug -o jobs.yml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars := map[string]string{}
			for _, kv := range env {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--env %q: want KEY=value", kv)
				}
				vars[k] = v
			}
			res, err := importer.Import(cmd.Context(), importer.Options{
				Files: append([]string{args[0]}, more...), Env: vars, Profiles: profiles, ProjectName: project,
			})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			if len(res.Warnings) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d Compose feature%s not imported (listed above)\n", len(res.Warnings), plural(len(res.Warnings)))
			}
			if output != "" {
				return os.WriteFile(output, res.YAML, 0o644)
			}
			_, err = cmd.OutOrStdout().Write(res.YAML)
			return err
		},
	}
	c.Flags().StringArrayVarP(&more, "file", "f", nil, "more Compose files, applied over the first (repeatable)")
	c.Flags().StringArrayVar(&profiles, "profile", nil, "active Compose profile (repeatable)")
	c.Flags().StringArrayVar(&env, "env", nil, "interpolation variable KEY=value (repeatable)")
	c.Flags().StringVar(&project, "name", "", "project name (default: Compose's)")
	c.Flags().StringVarP(&output, "output", "o", "", "write the jobs file here instead of stdout")
	return c
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/sandbox"
)

func newSandbox(g *global) *cobra.Command {
	c := &cobra.Command{
		Use:    "sandbox",
		Short:  "The host sandbox image (cjob-sandbox, for the engine's architecture)",
		Hidden: true,
	}
	image := &cobra.Command{
		Use:   "image",
		Short: "Make the host sandbox image if the engine lacks it, and print its name",
		Example: `  cjob sandbox image
  docker exec coding-dev.host.edge-1 /cjob-sandbox probe http://core-app-1:8000/healthz tcp://data-1:6379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := engine.Dial(cmd.Context(), engine.Options{Host: g.host})
			if err != nil {
				return err
			}
			defer eng.Close()
			ref, err := sandbox.Ensure(cmd.Context(), eng)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ref)
			return nil
		},
	}
	c.AddCommand(image)
	return c
}

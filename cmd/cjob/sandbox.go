package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/sandbox"
)

func newSandbox() *cobra.Command {
	c := &cobra.Command{
		Use:    "sandbox",
		Short:  "Run as a host sandbox (PID 1 of a dev host; used inside the sandbox image)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return sandbox.Run()
		},
	}
	var timeout time.Duration
	probe := &cobra.Command{
		Use:     "probe URL...",
		Short:   "Check from inside the stack that each http:// URL or tcp://host:port answers",
		Example: `  docker exec coding-dev.host.edge-1 /cjob sandbox probe http://core-app-1:8000/healthz tcp://data-1:6379`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandbox.Probe(cmd.Context(), cmd.OutOrStdout(), args, timeout)
		},
	}
	probe.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "per target")
	var container string
	rm := &cobra.Command{
		Use:   "rm --container ID PATH...",
		Short: "Remove paths from a task that shares this sandbox (used by dev swap --sync)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandbox.RemoveInTask(container, args)
		},
	}
	rm.Flags().StringVar(&container, "container", "", "full ID of the task's container")
	image := &cobra.Command{
		Use:   "image",
		Short: "Make the host sandbox image from this binary if the engine lacks it, and print its name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := engine.Dial(cmd.Context(), engine.Options{})
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
	c.AddCommand(probe, rm, image)
	return c
}

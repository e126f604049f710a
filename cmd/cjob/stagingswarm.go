package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/swarm"
	"github.com/cjob/cjob/internal/table"
	"github.com/cjob/cjob/prodspec"
)

// The staging verbs on Docker Swarm (environments.staging.orchestrator:
// swarm). Each is a swarmFn that stagingPrepared calls instead of the
// cjob-orchestrated one.

type swarmFn func(cmd *cobra.Command, pool *converge.Pool, prep *converge.SwarmPrepared) error

// swarmVerb is a staging verb on Docker Swarm; partial verbs run with
// the pool hosts that answer.
type swarmVerb struct {
	fn      swarmFn
	partial bool
}

func onSwarm(f *prodspec.File) bool {
	return f.Orchestrator(stack.Staging.String()) == prodspec.OrchestratorSwarm
}

// withSwarm prepares the staging stack on the swarm: this machine's engine
// is asked which images it holds (to copy those the nodes lack); when it
// does not answer, the nodes pull what they lack.
func withSwarm(cmd *cobra.Command, g *global, f *prodspec.File, pool *converge.Pool, fn swarmFn) error {
	var src swarm.Source
	local, err := dial(cmd.Context(), g)
	if err == nil {
		defer local.Close()
		src = local
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: this machine's engine does not answer (%v): images the nodes lack are pulled by them\n", err)
	}
	prep, err := converge.PrepareStagingSwarm(cmd.Context(), pool, f, src)
	if err != nil {
		return err
	}
	prep.Source = src
	return fn(cmd, pool, prep)
}

var _ swarm.Source = (*engine.Engine)(nil)

func swarmUp(mode *progress.Mode, force, push *bool) swarmFn {
	return func(cmd *cobra.Command, pool *converge.Pool, prep *converge.SwarmPrepared) error {
		start := time.Now()
		out := cmd.OutOrStdout()
		f := prep.File
		if *push {
			fmt.Fprintln(cmd.ErrOrStderr(), "note: --push is not needed on Docker Swarm: cjob copies the images the nodes lack from this machine's engine (`cjob staging plan` says which)")
		}
		if *force {
			for _, o := range prep.Plan.Ops {
				if o.Action == swarm.None {
					o.Action, o.Cause, o.Service.Force = swarm.Update, "--force-recreate", true
				}
			}
		}
		if prep.Plan.Empty() {
			fmt.Fprintf(out, "Nothing to do: %d services of %s/%s on Docker Swarm (%d nodes) are up to date (%s)\n",
				len(prep.Plan.Ops), f.Project, stack.Staging, len(pool.Names()), converge.Elapsed(time.Since(start)))
			return nil
		}
		rep := progress.New(cmd.ErrOrStderr(), *mode)
		res := swarm.Up(cmd.Context(), prep.Cluster, prep.Plan, prep.Source, swarm.UpOptions{Reporter: rep})
		rep.Close()
		printFailures(out, res.Applied().Failures, res.Skipped)
		fmt.Fprintf(out, "\n%s/%s on Docker Swarm: %s in %s\n\n", f.Project, stack.Staging, prep.Plan.Summary(), converge.Elapsed(time.Since(start)))
		printStagingURLs(out, prep.Rewrite.Stack)
		if err := res.Err(); err != nil {
			if len(res.RolledBack) > 0 {
				return fmt.Errorf("staging up: %w; fix the job and run `cjob staging up` again", err)
			}
			return fmt.Errorf("staging up: %w; run `cjob staging up` again to converge", err)
		}
		return nil
	}
}

func swarmPlan(cmd *cobra.Command, _ *converge.Pool, prep *converge.SwarmPrepared) error {
	fmt.Fprint(cmd.OutOrStdout(), prep.Plan.String())
	return nil
}

func swarmExplain(cmd *cobra.Command, _ *converge.Pool, prep *converge.SwarmPrepared) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "orchestrator: Docker Swarm, managed by %s's engine; each production host's tasks run on the node labelled %s=<its pool host>\n\n", prep.Cluster.ManagerHost, stack.LabelNode)
	fmt.Fprintln(out, prep.Placement.String())
	fmt.Fprint(out, rewrite.FormatNotes(prep.Rewrite.Notes))
	return nil
}

func swarmPs(asJSON *bool) swarmFn {
	return func(cmd *cobra.Command, _ *converge.Pool, prep *converge.SwarmPrepared) error {
		rows, nodes := swarm.Rows(prep.Observed, time.Now())
		out := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Orchestrator string          `json:"orchestrator"`
				Services     []swarm.Row     `json:"services"`
				Nodes        []swarm.NodeRow `json:"nodes"`
			}{prodspec.OrchestratorSwarm, rows, nodes})
		}
		if len(rows) == 0 {
			fmt.Fprintln(out, "No staging services on the swarm: `cjob staging up` creates them")
		} else {
			t := table.New("job", "task", "host", "pool host", "node", "state", "since", "update", "restarts", "message")
			for _, r := range rows {
				t.Row(r.Job, fmt.Sprint(r.Task), r.Host, r.Placed, dash(r.Node), r.State, r.Since, dash(r.Update), fmt.Sprint(r.Restarts), dash(r.Message))
			}
			if err := t.Render(out); err != nil {
				return err
			}
		}
		fmt.Fprintln(out)
		t := table.New("node", "id", "stands for", "address", "state", "availability", "role", "engine", "tasks")
		for _, n := range nodes {
			t.Row(n.Hostname, n.ID, dash(n.Host), n.Addr, n.State, n.Availability, n.Role, n.Engine, fmt.Sprint(n.Tasks))
		}
		return t.Render(out)
	}
}

func swarmDown(volumes *bool, mode *progress.Mode) func(cmd *cobra.Command, f *prodspec.File, pool *converge.Pool) error {
	return func(cmd *cobra.Command, f *prodspec.File, pool *converge.Pool) error {
		start := time.Now()
		c, err := pool.Cluster(cmd.Context())
		if err != nil {
			return err
		}
		var vols []stack.Volume
		if *volumes {
			_, res, err := converge.PlaceStaging(f, pool, nil)
			if err != nil {
				return err
			}
			// A volume lives on whichever node ran its task: try every node.
			for _, v := range res.Stack.Volumes {
				for _, h := range pool.Names() {
					vols = append(vols, stack.Volume{Name: v.Name, Engine: h})
				}
			}
		}
		rep := progress.New(cmd.ErrOrStderr(), *mode)
		n, err := swarm.Down(cmd.Context(), c, f.Project, stack.Staging, vols, rep)
		rep.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s on Docker Swarm: %d services removed in %s\n", f.Project, stack.Staging, n, converge.Elapsed(time.Since(start)))
		return nil
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

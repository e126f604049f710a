package converge

import (
	"context"
	"fmt"

	"github.com/cjob/cjob/internal/placement"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/swarm"
	"github.com/cjob/cjob/prodspec"
)

// SwarmPrepared is a staging plan for Docker Swarm
// (environments.staging.orchestrator: swarm).
type SwarmPrepared struct {
	File      *prodspec.File
	Rewrite   *rewrite.Result
	Placement *placement.Placement
	Cluster   *swarm.Cluster
	Observed  *stack.SwarmObserved
	Services  []stack.Service
	Plan      *swarm.Plan
	Source    swarm.Source // this machine's engine, which images are copied from; nil: none
}

// Cluster finds the swarm the pool's engines form (one of them manages
// it, every one is a node of it).
func (p *Pool) Cluster(ctx context.Context) (*swarm.Cluster, error) {
	return swarm.FromFleet(ctx, p.Set)
}

// PrepareStagingSwarm places production's hosts on the pool's nodes as
// PrepareStaging does, rewrites, resolves where each image comes from (src
// is this machine's engine, nil when it does not answer), looks at the
// swarm and plans its services.
func PrepareStagingSwarm(ctx context.Context, pool *Pool, f *prodspec.File, src swarm.Source) (*SwarmPrepared, error) {
	c, err := pool.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	obs, err := c.Manager.SwarmObserve(ctx, f.Project, stack.Staging)
	if err != nil {
		return nil, err
	}
	if err := c.CheckNodes(obs); err != nil {
		return nil, err
	}
	previous := map[string]string{}
	for _, s := range obs.Services {
		if h := s.Labels[stack.LabelHost]; h != "" && s.Labels[swarm.LabelPlaced] != "" {
			previous[h] = s.Labels[swarm.LabelPlaced]
		}
	}
	pl, res, err := PlaceStaging(f, pool, previous)
	if err != nil {
		return nil, err
	}
	images, err := swarm.ResolveImages(ctx, c, res.Stack, src)
	if err != nil {
		return nil, err
	}
	svcs, err := swarm.Services(res.Stack, images)
	if err != nil {
		return nil, err
	}
	for _, s := range svcs {
		res.Note(s.Unit.Job, fmt.Sprintf("task %d is Swarm service %s: on the node labelled %s=%s, in the node's network (no virtual IP, no ingress), %s",
			s.Unit.Task, s.Name, stack.LabelNode, s.Node, swarmMode(s)))
	}
	res.SortNotes()
	p := swarm.Reconcile(f.Project, stack.Staging, c.ManagerHost, svcs, obs, c.NodeID, images)
	return &SwarmPrepared{File: f, Rewrite: res, Placement: pl, Cluster: c, Observed: obs, Services: svcs, Plan: p}, nil
}

func swarmMode(s stack.Service) string {
	if s.Unit.Oneshot {
		return "a replicated job (runs once to completion, not restarted)"
	}
	return fmt.Sprintf("1 replica, restarted by Swarm; updates stop-first, rolled back by Swarm when the new task fails within %s", s.Monitor)
}

package swarm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
)

// Row is one service as `ps` shows it.
type Row struct {
	Job     string `json:"job"`
	Task    int    `json:"task"`
	Host    string `json:"host"`    // production host
	Placed  string `json:"placed"`  // the host whose node runs it
	Node    string `json:"node"`    // the node's hostname
	Service string `json:"service"` // Swarm service name
	Image   string `json:"image"`
	State   string `json:"state"`  // the current task's state: running, complete, failed, pending, ...
	Since   string `json:"since"`  // when the task entered it
	Update  string `json:"update"` // Swarm's last update: updating, completed, rollback_completed, ...
	Message string `json:"message,omitempty"`
	// Restarts counts the service's tasks that failed (Swarm started
	// another each time).
	Restarts int `json:"restarts"`
}

// NodeRow is one node of the swarm.
type NodeRow struct {
	Hostname     string `json:"hostname"`
	ID           string `json:"id"`
	Host         string `json:"host"` // cjob.host label: the host it stands for
	Addr         string `json:"addr"`
	State        string `json:"state"`
	Availability string `json:"availability"`
	Role         string `json:"role"`
	Engine       string `json:"engine"`
	Tasks        int    `json:"tasks"` // tasks of the project's environment running there
}

// Rows joins the swarm's services and tasks: one row per service, its
// newest task first. Nodes that are down say so in each of their rows.
func Rows(obs *stack.SwarmObserved, now time.Time) ([]Row, []NodeRow) {
	nodes := map[string]stack.SwarmNode{}
	byHost := map[string]stack.SwarmNode{}
	for _, n := range obs.Nodes {
		nodes[n.ID] = n
		if h := n.Labels[stack.LabelNode]; h != "" {
			byHost[h] = n
		}
	}
	tasks := map[string][]stack.TaskState{}
	for _, t := range obs.Tasks { // newest first
		tasks[t.Service] = append(tasks[t.Service], t)
	}
	running := map[string]int{}
	var rows []Row
	for _, s := range obs.Services {
		task, _ := strconv.Atoi(s.Labels[stack.LabelTask])
		row := Row{
			Job: s.Labels[stack.LabelJob], Task: task, Host: s.Labels[stack.LabelHost], Placed: s.Labels[LabelPlaced],
			Service: s.Name, Image: s.Labels[LabelImage], Update: s.Update, State: "no task",
		}
		if row.Image == "" {
			row.Image = s.Image
		}
		ts := tasks[s.ID]
		if len(ts) > 0 {
			t := ts[0]
			for _, x := range ts { // the one Swarm wants running, if any
				if x.Desired == "running" || x.Desired == "complete" {
					t = x
					break
				}
			}
			n, ok := nodes[t.Node]
			if !ok { // not scheduled: the node it is placed on
				n = byHost[row.Placed]
			}
			row.Node, row.State, row.Since = n.Hostname, t.State, ago(now, t.Since)
			row.Message = t.Err
			if row.Message == "" && t.State != "running" && t.State != "complete" {
				row.Message = t.Message
			}
			if n.State != "" && n.State != "ready" {
				row.State = "node " + n.State
				row.Node = n.Hostname
				row.Message = "node " + n.Hostname + " is " + n.State + "; Swarm runs its tasks again when it is back"
			}
			for _, x := range ts {
				if failedStates[x.State] {
					row.Restarts++
				}
			}
			if t.State == "running" && n.State == "ready" {
				running[t.Node]++
			}
		}
		if s.Update == "rollback_completed" || s.Update == "rollback_started" {
			row.Message = "rolled back by Swarm: " + s.UpdateMessage
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Job != rows[j].Job {
			return rows[i].Job < rows[j].Job
		}
		return rows[i].Task < rows[j].Task
	})
	var nrows []NodeRow
	for _, n := range obs.Nodes {
		role := "worker"
		if n.Manager {
			role = "manager"
			if n.Leader {
				role = "leader"
			}
		}
		nrows = append(nrows, NodeRow{
			Hostname: n.Hostname, ID: shortID(n.ID), Host: n.Labels[stack.LabelNode], Addr: n.Addr, State: n.State,
			Availability: n.Availability, Role: role, Engine: n.EngineVersion, Tasks: running[n.ID],
		})
	}
	return rows, nrows
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

// Down removes every service of the project's environment from the swarm
// and waits until Swarm has stopped their containers on every node that
// answers (their ports free, their volumes unused); with volumes, it then
// removes those named volumes from the nodes that hold them.
func Down(ctx context.Context, c *Cluster, project string, env stack.Env, volumes []stack.Volume, rep progress.Reporter) (int, error) {
	return down(ctx, c, project, env, "", volumes, rep)
}

// DownJob is Down for the services of one job (volumes are kept).
func DownJob(ctx context.Context, c *Cluster, project string, env stack.Env, job string, rep progress.Reporter) (int, error) {
	return down(ctx, c, project, env, job, nil, rep)
}

func down(ctx context.Context, c *Cluster, project string, env stack.Env, job string, volumes []stack.Volume, rep progress.Reporter) (int, error) {
	if rep == nil {
		rep = progress.New(nil, progress.Quiet)
	}
	obs, err := c.Manager.SwarmObserve(ctx, project, env)
	if err != nil {
		return 0, err
	}
	removed := 0
	gone := map[string]bool{} // service names
	for _, s := range obs.Services {
		if job != "" && s.Labels[stack.LabelJob] != job {
			continue
		}
		gone[s.Name] = true
		unit := s.Labels[stack.LabelKey]
		if unit == "" {
			unit = s.Name
		}
		rep.Report(progress.Event{Unit: unit, Status: progress.Working, Text: "Removing service " + s.Name})
		if err := c.Manager.RemoveService(ctx, s.ID); err != nil {
			rep.Report(progress.Event{Unit: unit, Status: progress.Failed, Text: "Remove failed", Err: err})
			return removed, err
		}
		removed++
		rep.Report(progress.Event{Unit: unit, Status: progress.Done, Text: "Removed"})
	}
	// Swarm's agents stop the containers when they hear of it (seconds
	// later; a node that was away, later still) and keep the stopped ones
	// with their task history. Their services are gone, so cjob stops each
	// itself, gracefully (the job's stop timeout), and removes it: the
	// ports and volumes are free when down returns.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, h := range sortedKeys(c.Engines) {
		e, ok := c.Engines[h].(interface {
			Observe(ctx context.Context, project string, env stack.Env, network string) (*stack.Observed, error)
			Stop(ctx context.Context, id string, timeout time.Duration) error
			Remove(ctx context.Context, id string) error
		})
		if !ok {
			continue
		}
		o, err := e.Observe(ctx, project, env, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		for _, ct := range o.Containers {
			if !gone[ct.Labels[stack.LabelSwarmService]] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if ct.State == stack.StateRunning {
					timeout := 10 * time.Second
					if spec, ok := ct.Spec(); ok && spec.StopTimeout > 0 {
						timeout = spec.StopTimeout
					}
					err = e.Stop(ctx, ct.ID, timeout)
				}
				if err == nil {
					err = e.Remove(ctx, ct.ID)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", h, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return removed, fmt.Errorf("the services are removed, but not all of their containers: %w", errors.Join(errs...))
	}
	for _, v := range volumes {
		e := c.Engines[v.Engine]
		if e == nil {
			continue
		}
		unit := "volume " + v.Name
		if err := e.RemoveVolume(ctx, v.Name); err != nil {
			rep.Report(progress.Event{Unit: unit, Status: progress.Failed, Text: "Remove failed on " + v.Engine, Err: err})
			return removed, err
		}
		rep.Report(progress.Event{Unit: unit, Status: progress.Done, Text: "Removed from " + v.Engine})
	}
	return removed, nil
}

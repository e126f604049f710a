package engine

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
)

// The swarm orchestrator's calls. They go to a manager of the swarm (any
// engine whose Info says Swarm.Manager), except ImageID, SaveImage and
// LoadImage, which go to each node's own engine.

func swarmInfo(i swarm.Info) stack.SwarmInfo {
	out := stack.SwarmInfo{NodeID: i.NodeID, NodeAddr: i.NodeAddr, State: string(i.LocalNodeState), Manager: i.ControlAvailable, Error: i.Error}
	for _, p := range i.RemoteManagers {
		out.Managers = append(out.Managers, p.Addr)
	}
	sort.Strings(out.Managers)
	return out
}

// SwarmObserve lists the swarm's nodes, the services of the project's
// environment and their tasks: three calls.
func (e *Engine) SwarmObserve(ctx context.Context, project string, env stack.Env) (*stack.SwarmObserved, error) {
	o := &stack.SwarmObserved{}
	nl, err := e.c.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the swarm's nodes at %s: %w", e.host, err)
	}
	for _, n := range nl.Items {
		o.Nodes = append(o.Nodes, fromNode(n))
	}
	sort.Slice(o.Nodes, func(i, j int) bool { return o.Nodes[i].Hostname < o.Nodes[j].Hostname })
	sl, err := e.c.ServiceList(ctx, client.ServiceListOptions{Filters: projectFilter(project, env)})
	if err != nil {
		return nil, fmt.Errorf("list services of %s/%s: %w", project, env, err)
	}
	if len(sl.Items) == 0 {
		return o, nil
	}
	f := client.Filters{}
	for _, s := range sl.Items {
		o.Services = append(o.Services, fromService(s))
		f.Add("service", s.ID)
	}
	sort.Slice(o.Services, func(i, j int) bool { return o.Services[i].Name < o.Services[j].Name })
	tl, err := e.c.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s/%s: %w", project, env, err)
	}
	for _, t := range tl.Items {
		o.Tasks = append(o.Tasks, fromTask(t))
	}
	sort.Slice(o.Tasks, func(i, j int) bool { return o.Tasks[i].Since.After(o.Tasks[j].Since) })
	return o, nil
}

func fromTask(t swarm.Task) stack.TaskState {
	ts := stack.TaskState{
		ID: t.ID, Service: t.ServiceID, Node: t.NodeID, Slot: t.Slot,
		Desired: string(t.DesiredState), State: string(t.Status.State), Message: t.Status.Message, Err: t.Status.Err,
		Since: t.Status.Timestamp,
	}
	if cs := t.Status.ContainerStatus; cs != nil {
		ts.ContainerID, ts.ExitCode = cs.ContainerID, cs.ExitCode
	}
	if t.Spec.ContainerSpec != nil {
		ts.Image = t.Spec.ContainerSpec.Image
	}
	return ts
}

func fromNode(n swarm.Node) stack.SwarmNode {
	out := stack.SwarmNode{
		ID: n.ID, Hostname: n.Description.Hostname, Addr: n.Status.Addr, State: string(n.Status.State),
		Availability: string(n.Spec.Availability), Manager: n.Spec.Role == swarm.NodeRoleManager,
		Labels: n.Spec.Labels, EngineVersion: n.Description.Engine.EngineVersion,
		CPUs: int(n.Description.Resources.NanoCPUs / 1e9), Memory: n.Description.Resources.MemoryBytes,
	}
	if n.ManagerStatus != nil {
		out.Leader = n.ManagerStatus.Leader
	}
	return out
}

func fromService(s swarm.Service) stack.ServiceState {
	out := stack.ServiceState{
		ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index, Labels: s.Spec.Labels,
		Job: s.Spec.Mode.ReplicatedJob != nil, Created: s.CreatedAt, Updated: s.UpdatedAt, Previous: s.PreviousSpec != nil,
		ForceUpdate: s.Spec.TaskTemplate.ForceUpdate,
	}
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		out.Image = cs.Image
	}
	if u := s.UpdateStatus; u != nil {
		out.Update, out.UpdateMessage = string(u.State), u.Message
	}
	return out
}

// serviceSpec is s as the Swarm API's spec: one task, on the node labelled
// cjob.host=s.Node, in the node's own network (as production runs it: no
// virtual IP, no ingress, nothing that needs IPVS), updated stop-first and
// rolled back by Swarm when the new task fails within s.Monitor.
func serviceSpec(s stack.Service) swarm.ServiceSpec {
	u := s.Unit
	labels := map[string]string{stack.LabelSwarmService: s.Name}
	for k, v := range u.Spec.Labels {
		labels[k] = v
	}
	for k, v := range s.ContainerLabels {
		labels[k] = v
	}
	cs := &swarm.ContainerSpec{
		Image: s.Image, Labels: labels, Command: u.Spec.Entrypoint, Args: u.Spec.Command,
		Env: u.Spec.Env, Hostname: u.Spec.Hostname,
	}
	for _, h := range u.Spec.ExtraHosts { // name:address -> "address name"
		if i := strings.LastIndex(h, ":"); i > 0 {
			cs.Hosts = append(cs.Hosts, h[i+1:]+" "+h[:i])
		}
	}
	for _, m := range u.Spec.Mounts {
		cs.Mounts = append(cs.Mounts, mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	if u.Spec.StopTimeout > 0 {
		d := u.Spec.StopTimeout
		cs.StopGracePeriod = &d
	}
	if u.Spec.Init {
		t := true
		cs.Init = &t
	}
	if c := u.Health; c != nil && len(c.Cmd) > 0 {
		cs.Healthcheck = &container.HealthConfig{Test: append([]string{"CMD"}, c.Cmd...), Interval: c.Interval, Timeout: c.Timeout, Retries: c.Retries, StartPeriod: c.StartPeriod}
	}
	tt := swarm.TaskSpec{
		ContainerSpec: cs,
		Placement:     &swarm.Placement{Constraints: []string{"node.labels." + stack.LabelNode + "==" + s.Node}},
		Networks:      []swarm.NetworkAttachmentConfig{{Target: "host"}},
		RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny},
	}
	if u.Spec.Memory > 0 {
		tt.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: u.Spec.Memory}}
	}
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: s.Name, Labels: s.Labels},
		TaskTemplate: tt,
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
	if u.Oneshot {
		one := uint64(1)
		spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}}
		spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
		return spec
	}
	one := uint64(1)
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionRollback, Monitor: s.Monitor, Order: swarm.UpdateOrderStopFirst}
	spec.RollbackConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause, Monitor: s.Monitor, Order: swarm.UpdateOrderStopFirst}
	return spec
}

// CreateService creates s and returns its ID. The registry is not asked
// for the image: s.Image is what the nodes run.
func (e *Engine) CreateService(ctx context.Context, s stack.Service) (string, error) {
	r, err := e.c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: serviceSpec(s), EncodedRegistryAuth: e.serviceAuth(s.Image)})
	if err != nil {
		return "", fmt.Errorf("create service %s: %w", s.Name, err)
	}
	return r.ID, nil
}

// UpdateService replaces the spec of service cur (at cur.Version) by s;
// Swarm rolls it out by its update config. s.Force bumps the spec's
// force-update counter, so the task is replaced even when nothing else
// changed.
func (e *Engine) UpdateService(ctx context.Context, cur stack.ServiceState, s stack.Service) error {
	spec := serviceSpec(s)
	if s.Force {
		spec.TaskTemplate.ForceUpdate = cur.ForceUpdate + 1
	}
	_, err := e.c.ServiceUpdate(ctx, cur.ID, client.ServiceUpdateOptions{Version: swarm.Version{Index: cur.Version}, Spec: spec, EncodedRegistryAuth: e.serviceAuth(s.Image)})
	if err != nil {
		return fmt.Errorf("update service %s: %w", s.Name, err)
	}
	return nil
}

// RollbackService asks Swarm to put service id back on its previous spec.
func (e *Engine) RollbackService(ctx context.Context, id string) error {
	si, err := e.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", id, err)
	}
	if si.Service.PreviousSpec == nil {
		return fmt.Errorf("service %s has no previous spec to roll back to", si.Service.Spec.Name)
	}
	_, err = e.c.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: si.Service.Version, Spec: si.Service.Spec, Rollback: "previous"})
	if err != nil {
		return fmt.Errorf("roll back service %s: %w", si.Service.Spec.Name, err)
	}
	return nil
}

// ServiceStatus is one service and its tasks, newest first.
func (e *Engine) ServiceStatus(ctx context.Context, id string) (stack.ServiceState, []stack.TaskState, error) {
	si, err := e.c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return stack.ServiceState{}, nil, fmt.Errorf("inspect service %s: %w", id, err)
	}
	tl, err := e.c.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", id)})
	if err != nil {
		return stack.ServiceState{}, nil, fmt.Errorf("list tasks of %s: %w", si.Service.Spec.Name, err)
	}
	var ts []stack.TaskState
	for _, t := range tl.Items {
		ts = append(ts, fromTask(t))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Since.After(ts[j].Since) })
	return fromService(si.Service), ts, nil
}

// RemoveService removes service id; Swarm stops its tasks.
func (e *Engine) RemoveService(ctx context.Context, id string) error {
	if _, err := e.c.ServiceRemove(ctx, id, client.ServiceRemoveOptions{}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	return nil
}

// LabelNode sets one label on node id.
func (e *Engine) LabelNode(ctx context.Context, id, key, value string) error {
	ni, err := e.c.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect node %s: %w", id, err)
	}
	spec := ni.Node.Spec
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[key] = value
	if _, err := e.c.NodeUpdate(ctx, id, client.NodeUpdateOptions{Version: ni.Node.Version, Spec: spec}); err != nil {
		return fmt.Errorf("label node %s: %w", ni.Node.Description.Hostname, err)
	}
	return nil
}

// ImageID is the ID of the image ref on this engine, "" when it has none.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	r, err := e.c.ImageInspect(ctx, ref)
	if err != nil {
		if IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return r.ID, nil
}

// SaveImage streams the images as `docker save` writes them.
func (e *Engine) SaveImage(ctx context.Context, refs ...string) (io.ReadCloser, error) {
	r, err := e.c.ImageSave(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("save %s: %w", strings.Join(refs, ", "), err)
	}
	return r, nil
}

// LoadImage loads a `docker save` stream.
func (e *Engine) LoadImage(ctx context.Context, r io.Reader) error {
	out, err := e.c.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load images into %s: %w", e.host, err)
	}
	defer out.Close()
	b, _ := io.ReadAll(out)
	if i := strings.Index(string(b), `"error"`); i >= 0 {
		return fmt.Errorf("load images into %s: %s", e.host, strings.TrimSpace(string(b[i:])))
	}
	return nil
}

// serviceAuth is the X-Registry-Auth for a service's image (the nodes pull
// with it), or "" for an image ID or no stored login.
func (e *Engine) serviceAuth(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ""
	}
	a, ok := e.registryAuth(ref)
	if !ok {
		return ""
	}
	return a
}

var _ sandbox.Runner = (*Engine)(nil)

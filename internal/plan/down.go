package plan

import (
	"strings"

	"github.com/cjob/cjob/internal/stack"
)

// DownOptions tune Down.
type DownOptions struct {
	Volumes bool            // remove named volumes too (their data goes)
	Network string          // the project network to remove
	Only    map[string]bool // when set, remove only tasks of these jobs and keep sandboxes, network, volumes
}

// Down plans removing what the engine holds for a project's environment:
// tasks first, then sandboxes, then the network and (on request) volumes.
func Down(project string, env stack.Env, observed *stack.Observed, opts DownOptions) *Plan {
	b := &builder{p: &Plan{Project: project, Env: env}, byKey: map[string]*Op{}}
	var tasks []int
	byHost := map[string][]int{} // engine/host -> the tasks that join its sandbox
	for _, c := range observed.Containers {
		if c.Kind() == stack.KindSandbox {
			continue
		}
		if opts.Only != nil && !opts.Only[c.Labels[stack.LabelJob]] {
			continue
		}
		id := b.add(&Op{Action: ActionRemove, Subject: orphanName(c), Current: c, Engine: c.Engine}).ID
		tasks = append(tasks, id)
		host := c.Engine + "/" + c.Labels[stack.LabelHost]
		byHost[host] = append(byHost[host], id)
	}
	if opts.Only != nil {
		return b.p
	}
	var all []int
	all = append(all, tasks...)
	// A host's sandbox goes as soon as the tasks in its namespaces are gone.
	for _, c := range observed.Containers {
		if c.Kind() == stack.KindSandbox {
			deps := byHost[c.Engine+"/"+c.Labels[stack.LabelHost]]
			all = append(all, b.add(&Op{Action: ActionRemove, Subject: orphanName(c), Current: c, Engine: c.Engine, Deps: deps}).ID)
		}
	}
	if observed.NetworkExists && opts.Network != "" {
		b.add(&Op{Action: ActionRemoveNetwork, Subject: opts.Network, Deps: all})
	}
	if opts.Volumes {
		var names []string
		for v := range observed.Volumes {
			names = append(names, v)
		}
		sortStrings(names)
		for _, v := range names {
			engine, name := "", v
			if e, n, ok := strings.Cut(v, "/"); ok {
				engine, name = e, n
			}
			b.add(&Op{Action: ActionRemoveVolume, Subject: name, Engine: engine, Deps: all})
		}
	}
	return b.p
}

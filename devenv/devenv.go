// Package devenv rewrites production onto one local Docker engine:
// production in miniature. Each production host becomes a host sandbox (a
// small container on the project network that carries the host's names);
// each task joins its host's sandbox namespaces, so production addresses,
// ports and localhost between co-located jobs work unchanged.
//
// Rewrite is a pure function from a jobs file to a desired stack plus the
// list of every rewrite it applied; it never talks to an engine.
package devenv

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Options tune the rewrite.
type Options struct {
	// SandboxImage is the image of host sandboxes (made locally from the
	// cjob binary).
	SandboxImage string
	// KeepReplicas runs every task of a job; by default only the first.
	KeepReplicas bool
	// Only restricts the stack to these jobs (full or unique short names)
	// and, transitively, what they depend on. Empty means every job.
	Only []string
	// HostPathExists reports whether a host-config path (e.g.
	// /etc/localtime) exists on this machine; nil assumes it does.
	HostPathExists func(string) bool
	// StopTimeout is how long a task gets to stop before it is killed.
	StopTimeout time.Duration
}

// Env is the environment devenv builds.
const Env = stack.Dev

// NetworkName is the dev stack's network.
func NetworkName(project string) string { return project + "-" + Env.String() }

// SandboxName is the container name of a host's sandbox.
func SandboxName(project, host string) string { return project + "-" + Env.String() + ".host." + host }

// SandboxKey is the unit key of a host's sandbox.
func SandboxKey(host string) string { return "host/" + host }

// Result is the outcome of Rewrite: the dev stack, and every rewrite
// applied to get there (see rewrite.Note).
type Result = rewrite.Result

// Rewrite turns the production jobs file into the dev stack.
func Rewrite(f *prodspec.File, opts Options) (*Result, error) {
	f, envNotes, err := f.ForEnvironment(Env.String())
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, n := range envNotes {
		res.Note("stack", n)
	}
	selected, added, err := selectJobs(f, opts.Only)
	if err != nil {
		return nil, err
	}
	// Every job shapes its host's sandbox (names, ports), selected or not,
	// so that bringing up a few jobs never changes a sandbox that the whole
	// stack uses. The selection filters the result at the end.
	jobs := f.Jobs()
	res.Added = added
	for _, a := range added {
		res.Note(a, "added: a selected job depends on it")
	}

	st := &stack.Stack{Project: f.Project, Env: Env, Network: NetworkName(f.Project)}
	res.Stack = st
	hostAddr := rewrite.HostAddresses(f)
	shortCount := map[string]int{}
	for _, j := range f.Jobs() {
		shortCount[j.Name]++
	}
	sandboxes := map[string]*stack.Unit{}
	volumes := map[string]bool{}
	stopTimeout := opts.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 10 * time.Second
	}

	sandboxFor := func(host string) *stack.Unit {
		if sb := sandboxes[host]; sb != nil {
			return sb
		}
		h := f.Host(host)
		sb := &stack.Unit{
			Key: SandboxKey(host), Name: SandboxName(f.Project, host), Kind: stack.KindSandbox, Host: host,
			Spec: stack.Spec{
				Image:       opts.SandboxImage,
				Hostname:    host,
				Aliases:     []string{host, host + f.DNSSuffix},
				StopTimeout: time.Second,
				Labels:      map[string]string{stack.LabelSandboxAPI: stack.SandboxAPI},
			},
		}
		text := "host sandbox " + sb.Name + " on network " + st.Network + ", answering as " + host + " and " + host + f.DNSSuffix
		if h != nil && h.Address != "" {
			text += " (production address " + h.Address + ")"
		}
		res.Note("host "+host, text)
		sandboxes[host] = sb
		return sb
	}

	for _, j := range jobs {
		name := j.FullName()
		tasks := j.Tasks
		if !opts.KeepReplicas && len(tasks) > 1 {
			res.Note(name, fmt.Sprintf("runs 1 of %d tasks (the one on %s); --replicas keep runs all", len(tasks), tasks[0].Host))
			tasks = tasks[:1]
		}
		check := rewrite.JobCheck(j)
		if check != nil {
			switch {
			case check.Implicit:
				res.Note(name, fmt.Sprintf("health: none declared; ready when port %d accepts connections", check.Port))
			case check.HTTP != "":
				res.Note(name, fmt.Sprintf("health: GET %s on port %d, made by cjob through the host sandbox", check.HTTP, check.Port))
			case len(check.Cmd) > 0:
				res.Note(name, "health: "+strings.Join(check.Cmd, " ")+", run in the container")
			default:
				res.Note(name, fmt.Sprintf("health: TCP connect to port %d, made by cjob through the host sandbox", check.Port))
			}
		}
		for _, t := range tasks {
			sb := sandboxFor(t.Host)
			num := t.Index + 1
			u := &stack.Unit{
				Key: rewrite.TaskKey(name, num), Name: rewrite.TaskName(f.Project, Env, j, num), Kind: stack.KindTask,
				Service: j.Service, Job: name, Task: num, Host: t.Host, Sandbox: sb.Key,
				Health: check, Oneshot: j.Oneshot, Critical: j.Critical,
				DependsOn: []string{sb.Key},
				Spec: stack.Spec{
					Image: j.Image, Command: j.Command, Entrypoint: j.Entrypoint,
					Memory: j.Memory, JoinSandbox: sb.Name, StopTimeout: stopTimeout,
				},
			}
			u.Spec.Env = rewrite.TaskEnv(j, t, hostAddr, func(text string) {
				res.Note(name, text)
			})
			u.Spec.Mounts = rewrite.TaskMounts(f.Project, Env, t.Host, j, opts.HostPathExists, res)
			for _, m := range u.Spec.Mounts {
				if m.Type == "volume" {
					volumes[m.Source] = true
				}
			}
			// Names this job answers on: <job>.<service><suffix>, and
			// <job><suffix> where the job name is unique.
			sb.Spec.Aliases = append(sb.Spec.Aliases, j.Name+"."+j.Service+f.DNSSuffix)
			if shortCount[j.Name] == 1 {
				sb.Spec.Aliases = append(sb.Spec.Aliases, j.Name+f.DNSSuffix)
			}
			for _, p := range j.Ports {
				if publishes(sb, p) {
					res.Note(name, fmt.Sprintf("port %d is also used by another job on %s: only one of them can listen on it, as in production", p, t.Host))
				} else {
					sb.Spec.Publish = append(sb.Spec.Publish, stack.Publish{ContainerPort: p, HostPort: p})
				}
				u.URLs = append(u.URLs, stack.URL{Port: p, Production: fmt.Sprintf("%s:%d", t.Host, p), HTTP: check != nil && check.HTTP != ""})
			}
			st.Units = append(st.Units, u)
		}
	}
	aliasDroppedHosts(f, jobs, opts.KeepReplicas, sandboxes, res)
	// Dependencies: a task waits for every task of each job it depends on.
	byJob := map[string][]string{}
	for _, u := range st.Units {
		byJob[u.Job] = append(byJob[u.Job], u.Key)
	}
	jobByName := make(map[string]*prodspec.Job, len(jobs))
	for _, j := range jobs {
		jobByName[j.FullName()] = j
	}
	for _, u := range st.Units {
		j := jobByName[u.Job]
		for _, d := range j.DependsOn {
			u.DependsOn = append(u.DependsOn, byJob[d]...)
		}
		sort.Strings(u.DependsOn)
	}
	for _, sb := range sandboxes {
		sb.Spec.Aliases = rewrite.Dedupe(sb.Spec.Aliases)
		sort.Slice(sb.Spec.Publish, func(i, k int) bool { return sb.Spec.Publish[i].ContainerPort < sb.Spec.Publish[k].ContainerPort })
		st.Units = append(st.Units, sb)
	}
	if len(opts.Only) > 0 {
		keepSelected(res, selected)
	} else {
		for v := range volumes {
			st.Volumes = append(st.Volumes, stack.Volume{Name: v})
		}
	}
	st.Sort()
	res.SortNotes()
	return res, nil
}

func publishes(sb *stack.Unit, port int) bool {
	for _, p := range sb.Spec.Publish {
		if p.ContainerPort == port {
			return true
		}
	}
	return false
}

// aliasDroppedHosts keeps every production host name resolvable in dev. A
// host left with no task (its tasks were replicas dropped by --replicas one)
// answers at the sandbox that runs the job's one dev task, so an address such
// as app-2:8000 still reaches the job. A host whose jobs are all excluded
// has nothing to answer for it, and explain says so.
func aliasDroppedHosts(f *prodspec.File, jobs []*prodspec.Job, keep bool, sandboxes map[string]*stack.Unit, res *Result) {
	target := map[string]string{} // dropped host -> sandbox host
	why := map[string]string{}
	for _, j := range jobs {
		if keep || len(j.Tasks) < 2 {
			continue
		}
		for _, t := range j.Tasks[1:] {
			if sandboxes[t.Host] != nil || target[t.Host] != "" {
				continue
			}
			target[t.Host] = j.Tasks[0].Host
			why[t.Host] = j.FullName()
		}
	}
	for _, h := range f.Hosts {
		if sandboxes[h.Name] != nil {
			continue
		}
		to, ok := target[h.Name]
		if !ok {
			res.Note("host "+h.Name, "no job runs here in dev: the names "+h.Name+" and "+h.Name+f.DNSSuffix+" do not resolve")
			continue
		}
		sb := sandboxes[to]
		sb.Spec.Aliases = append(sb.Spec.Aliases, h.Name, h.Name+f.DNSSuffix)
		res.Note("host "+h.Name, fmt.Sprintf("no task runs here in dev: its names answer at host sandbox %s, where %s runs its one dev task", to, why[h.Name]))
	}
}

// keepSelected narrows a full rewrite to the selected jobs, the sandboxes
// they run in, the volumes they mount, and the notes about them.
func keepSelected(res *Result, selected []*prodspec.Job) {
	st := res.Stack
	keepJob := map[string]bool{}
	for _, j := range selected {
		keepJob[j.FullName()] = true
	}
	keepHost := map[string]bool{}
	vols := map[string]bool{}
	for _, u := range st.Units {
		if u.Kind == stack.KindTask && keepJob[u.Job] {
			keepHost[u.Host] = true
			for _, m := range u.Spec.Mounts {
				if m.Type == "volume" {
					vols[m.Source] = true
				}
			}
		}
	}
	units := st.Units[:0]
	for _, u := range st.Units {
		if keepJob[u.Job] || u.Kind == stack.KindSandbox && keepHost[u.Host] {
			units = append(units, u)
		}
	}
	st.Units = units
	for v := range vols {
		st.Volumes = append(st.Volumes, stack.Volume{Name: v})
	}
	notes := res.Notes[:0]
	for _, n := range res.Notes {
		if n.Subject == "stack" || keepJob[n.Subject] || keepHost[strings.TrimPrefix(n.Subject, "host ")] {
			notes = append(notes, n)
		}
	}
	res.Notes = notes
}

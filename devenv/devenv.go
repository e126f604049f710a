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
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Env is the environment name devenv builds.
const Env = "dev"

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

// Note is one rewrite applied, for `cjob dev explain`.
type Note struct {
	Subject string // full job name, or "host <name>", or "stack"
	Text    string
}

func (n Note) String() string { return n.Subject + ": " + n.Text }

// Result is the outcome of Rewrite.
type Result struct {
	Stack *stack.Stack
	Notes []Note
	// Added lists jobs pulled in as dependencies of Options.Only.
	Added []string
}

// Names used for engine objects.
func NetworkName(project string) string { return project + "-" + Env }

// SandboxName is the container name of a host's sandbox.
func SandboxName(project, host string) string { return project + "-" + Env + ".host." + host }

// TaskName is the container name of a task (task numbers start at 1).
func TaskName(project, env string, j *prodspec.Job, task int) string {
	return fmt.Sprintf("%s-%s.%s.%s.%d", project, env, j.Service, j.Name, task)
}

// SandboxKey is the unit key of a host's sandbox.
func SandboxKey(host string) string { return "host/" + host }

// TaskKey is the unit key of a task.
func TaskKey(job string, task int) string { return fmt.Sprintf("%s/%d", job, task) }

// Rewrite turns the production jobs file into the dev stack.
func Rewrite(f *prodspec.File, opts Options) (*Result, error) {
	f, envNotes, err := f.ForEnvironment(Env)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, n := range envNotes {
		res.Notes = append(res.Notes, Note{Subject: "stack", Text: n})
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
		res.Notes = append(res.Notes, Note{Subject: a, Text: "added: a selected job depends on it"})
	}

	st := &stack.Stack{Project: f.Project, Env: Env, Network: NetworkName(f.Project)}
	res.Stack = st
	hostAddr := hostAddresses(f)
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
			},
		}
		text := "host sandbox " + sb.Name + " on network " + st.Network + ", answering as " + host + " and " + host + f.DNSSuffix
		if h != nil && h.Address != "" {
			text += " (production address " + h.Address + ")"
		}
		res.Notes = append(res.Notes, Note{Subject: "host " + host, Text: text})
		sandboxes[host] = sb
		return sb
	}

	for _, j := range jobs {
		name := j.FullName()
		tasks := j.Tasks
		if !opts.KeepReplicas && len(tasks) > 1 {
			res.Notes = append(res.Notes, Note{Subject: name, Text: fmt.Sprintf("runs 1 of %d tasks (the one on %s); --replicas keep runs all", len(tasks), tasks[0].Host)})
			tasks = tasks[:1]
		}
		check := jobCheck(j)
		if check != nil {
			switch {
			case check.Implicit:
				res.Notes = append(res.Notes, Note{Subject: name, Text: fmt.Sprintf("health: none declared; ready when port %d accepts connections", check.Port)})
			case check.HTTP != "":
				res.Notes = append(res.Notes, Note{Subject: name, Text: fmt.Sprintf("health: GET %s on port %d, made by cjob through the host sandbox", check.HTTP, check.Port)})
			case len(check.Cmd) > 0:
				res.Notes = append(res.Notes, Note{Subject: name, Text: "health: " + strings.Join(check.Cmd, " ") + ", run in the container"})
			default:
				res.Notes = append(res.Notes, Note{Subject: name, Text: fmt.Sprintf("health: TCP connect to port %d, made by cjob through the host sandbox", check.Port)})
			}
		}
		for _, t := range tasks {
			sb := sandboxFor(t.Host)
			num := t.Index + 1
			u := &stack.Unit{
				Key: TaskKey(name, num), Name: TaskName(f.Project, Env, j, num), Kind: stack.KindTask,
				Service: j.Service, Job: name, Task: num, Host: t.Host, Sandbox: sb.Key,
				Health: check, Oneshot: j.Oneshot, Critical: j.Critical,
				DependsOn: []string{sb.Key},
				Spec: stack.Spec{
					Image: j.Image, Command: j.Command, Entrypoint: j.Entrypoint,
					Memory: j.Memory, JoinSandbox: sb.Name, StopTimeout: stopTimeout,
				},
			}
			u.Spec.Env = taskEnv(j, t, hostAddr, func(text string) {
				res.Notes = append(res.Notes, Note{Subject: name, Text: text})
			})
			u.Spec.Mounts = taskMounts(f.Project, Env, t.Host, j, opts.HostPathExists, res)
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
					res.Notes = append(res.Notes, Note{Subject: name, Text: fmt.Sprintf("port %d is also used by another job on %s: only one of them can listen on it, as in production", p, t.Host)})
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
		sb.Spec.Aliases = dedupe(sb.Spec.Aliases)
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
	sort.SliceStable(res.Notes, func(i, k int) bool { return noteOrder(res.Notes[i]) < noteOrder(res.Notes[k]) })
	return res, nil
}

func noteOrder(n Note) string {
	switch {
	case n.Subject == "stack":
		return "0"
	case n.Subject == "placement":
		return "0p"
	case strings.HasPrefix(n.Subject, "host "):
		return "1" + n.Subject
	}
	return "2" + n.Subject
}

// jobCheck is how readiness of a job's tasks is judged: its declared
// health check, or, with none, a TCP connect to its main port (nil for a
// job with no port, and for one-shot jobs, which are ready when they exit).
func jobCheck(j *prodspec.Job) *stack.Check {
	if j.Health != nil {
		return toCheck(j)
	}
	if p := j.MainPort(); p != 0 && !j.Oneshot {
		return &stack.Check{Port: p, Interval: 2 * time.Second, Timeout: 2 * time.Second, Retries: 30, Implicit: true}
	}
	return nil
}

// taskMounts rewrites a job's volumes for a task on host, noting each
// rewrite.
func taskMounts(project, env, host string, j *prodspec.Job, exists func(string) bool, res *Result) []stack.Mount {
	var out []stack.Mount
	for _, v := range j.Volumes {
		m, note := rewriteVolume(project, env, host, v, exists)
		if note != "" {
			res.Notes = append(res.Notes, Note{Subject: j.FullName(), Text: note})
		}
		if m != nil {
			out = append(out, *m)
		}
	}
	return out
}

func toCheck(j *prodspec.Job) *stack.Check {
	h := j.Health
	c := &stack.Check{Interval: h.Interval, Timeout: h.Timeout, Retries: h.Retries, StartPeriod: h.StartPeriod}
	switch {
	case h.HTTP != "":
		c.HTTP, c.Port = h.HTTP, j.MainPort()
	case h.TCP != 0:
		c.Port = h.TCP
	default:
		c.Cmd = h.Cmd
	}
	return c
}

// hostAddresses maps production addresses that are IP literals to host names.
func hostAddresses(f *prodspec.File) map[string]string {
	m := map[string]string{}
	for _, h := range f.Hosts {
		if h.Address != "" && h.Address != h.Name {
			m[h.Address] = h.Name
		}
	}
	return m
}

// taskEnv merges job and task env and rewrites production IP addresses to
// the host names that reach the same host in dev.
func taskEnv(j *prodspec.Job, t *prodspec.Task, hostAddr map[string]string, note func(string)) []string {
	env := map[string]string{}
	for k, v := range j.Env {
		env[k] = v
	}
	for k, v := range t.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		if nv := replaceAddresses(v, hostAddr); nv != v {
			note(fmt.Sprintf("env %s: %q -> %q (production address to host name)", k, v, nv))
			v = nv
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

var ipLiteral = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

func replaceAddresses(v string, hostAddr map[string]string) string {
	if len(hostAddr) == 0 {
		return v
	}
	return ipLiteral.ReplaceAllStringFunc(v, func(ip string) string {
		if h, ok := hostAddr[ip]; ok {
			return h
		}
		return ip
	})
}

// hostConfigPaths are production host paths that hold the host's own
// configuration (locale, timezone, users, certificates, service config);
// they stay read-only bind mounts in dev, of this machine's copy.
var hostConfigPaths = []string{"/etc", "/usr/share/zoneinfo", "/usr/share/ca-certificates"}

func isHostConfig(p string) bool {
	for _, c := range hostConfigPaths {
		if p == c || strings.HasPrefix(p, c+"/") {
			return true
		}
	}
	return false
}

var volumeNameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// VolumeName is the named volume standing in for a production host path.
func VolumeName(project, env, host, hostPath string) string {
	p := strings.Trim(volumeNameUnsafe.ReplaceAllString(path.Clean(hostPath), "_"), "_")
	return project + "-" + env + "." + host + "." + p
}

func rewriteVolume(project, env, host string, v prodspec.Volume, exists func(string) bool) (*stack.Mount, string) {
	if !strings.HasPrefix(v.Source, "/") {
		// Already a named volume: scope it to the project so dev never
		// touches a volume of the same name outside it.
		name := project + "-" + env + "." + v.Source
		return &stack.Mount{Type: "volume", Source: name, Target: v.Target, ReadOnly: v.ReadOnly},
			fmt.Sprintf("volume %s -> named volume %s", v.Source, name)
	}
	if isHostConfig(v.Source) {
		if exists != nil && !exists(v.Source) {
			return nil, fmt.Sprintf("volume %s:%s dropped: host-config path %s does not exist on this machine", v.Source, v.Target, v.Source)
		}
		return &stack.Mount{Type: "bind", Source: v.Source, Target: v.Target, ReadOnly: true},
			fmt.Sprintf("volume %s:%s kept as a read-only bind mount (host configuration)", v.Source, v.Target)
	}
	name := VolumeName(project, env, host, v.Source)
	return &stack.Mount{Type: "volume", Source: name, Target: v.Target, ReadOnly: v.ReadOnly},
		fmt.Sprintf("volume %s (on %s) -> named volume %s; data survives `down`, goes with `down --volumes`", v.Source, host, name)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func publishes(sb *stack.Unit, port int) bool {
	for _, p := range sb.Spec.Publish {
		if p.ContainerPort == port {
			return true
		}
	}
	return false
}

// FormatNotes renders notes grouped by subject, for `cjob dev explain`.
func FormatNotes(notes []Note) string {
	notes = append([]Note(nil), notes...)
	sort.SliceStable(notes, func(i, k int) bool { return noteOrder(notes[i]) < noteOrder(notes[k]) })
	var b strings.Builder
	last := ""
	for _, n := range notes {
		if n.Subject != last {
			if last != "" {
				b.WriteByte('\n')
			}
			b.WriteString(n.Subject + ":\n")
			last = n.Subject
		}
		b.WriteString("  - " + n.Text + "\n")
	}
	return b.String()
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
			res.Notes = append(res.Notes, Note{Subject: "host " + h.Name, Text: "no job runs here in dev: the names " + h.Name + " and " + h.Name + f.DNSSuffix + " do not resolve"})
			continue
		}
		sb := sandboxes[to]
		sb.Spec.Aliases = append(sb.Spec.Aliases, h.Name, h.Name+f.DNSSuffix)
		res.Notes = append(res.Notes, Note{Subject: "host " + h.Name, Text: fmt.Sprintf("no task runs here in dev: its names answer at host sandbox %s, where %s runs its one dev task", to, why[h.Name])})
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

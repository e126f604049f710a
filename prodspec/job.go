package prodspec

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Health check defaults, used for keys a health check leaves out.
const (
	DefaultHealthInterval    = 2 * time.Second
	DefaultHealthTimeout     = 2 * time.Second
	DefaultHealthRetries     = 30
	DefaultHealthStartPeriod = 0
)

// minMemory is Docker's smallest memory limit.
const minMemory = 6 * MiB

// Keys of services, jobs, tasks and health checks.
var (
	serviceKeys = []string{"jobs"}
	jobKeys     = []string{"image", "command", "entrypoint", "port", "ports", "env", "volumes", "memory",
		"depends_on", "health", "critical", "oneshot", "run_on_host", "tasks"}
	taskKeys   = []string{"host", "env"}
	healthKeys = []string{"http", "tcp", "cmd", "interval", "timeout", "retries", "start_period"}
)

// services decodes the services mapping, sorted by name.
func (d *decoder) services(n *yaml.Node, src *sources) []*Service {
	es, _ := d.mapping(n, "services")
	var out []*Service
	for _, e := range es {
		path := join("services", e.key)
		if err := checkName("service", e.key); err != nil {
			d.errorAt(pos(e.k), path, "%v", err)
		}
		s := &Service{Name: e.key, Pos: pos(e.k)}
		out = append(out, s)
		fs, ok := d.fields(e.v, path, serviceKeys)
		if !ok {
			continue
		}
		je, ok := fs["jobs"]
		if !ok {
			d.errorAt(pos(e.k), path, "service has no jobs").Hint = "add jobs: with at least one job"
			continue
		}
		jobs, _ := d.mapping(je.v, join(path, "jobs"))
		if len(jobs) == 0 && je.v.Kind == yaml.MappingNode {
			d.errorAt(pos(je.k), join(path, "jobs"), "service has no jobs")
		}
		for _, j := range jobs {
			s.Jobs = append(s.Jobs, d.job(s.Name, j, join(join(path, "jobs"), j.key), src))
		}
		slices.SortFunc(s.Jobs, func(a, b *Job) int { return strings.Compare(a.Name, b.Name) })
	}
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// job decodes one job. Names it refers to (hosts, dependencies) are
// recorded in src for validate.
func (d *decoder) job(service string, def entry, path string, src *sources) *Job {
	if err := checkName("job", def.key); err != nil {
		d.errorAt(pos(def.k), path, "%v", err)
	}
	j := &Job{Service: service, Name: def.key, Pos: pos(def.k)}
	js := &jobSource{job: j, path: path}
	src.jobs = append(src.jobs, js)
	fs, ok := d.fields(def.v, path, jobKeys)
	if !ok {
		return j
	}
	at := func(key string) string { return join(path, key) }

	if e, ok := fs["image"]; ok {
		j.Image, _ = d.image(e.v, at("image"))
	} else {
		d.errorAt(pos(def.k), path, "missing required key %q", "image")
	}
	if e, ok := fs["command"]; ok {
		j.Command, _ = d.words(e.v, at("command"))
	}
	if e, ok := fs["entrypoint"]; ok {
		j.Entrypoint, _ = d.words(e.v, at("entrypoint"))
	}
	d.ports(j, fs, path)
	if e, ok := fs["env"]; ok {
		j.Env, _ = d.strMap(e.v, at("env"), checkEnvKey)
	}
	if e, ok := fs["volumes"]; ok {
		j.Volumes = d.volumes(e.v, at("volumes"))
	}
	if e, ok := fs["memory"]; ok {
		j.Memory, _ = d.memory(e.v, at("memory"))
	}
	if e, ok := fs["depends_on"]; ok {
		names, nodes, _ := d.strList(e.v, at("depends_on"))
		for i, name := range names {
			p := at("depends_on")
			if e.v.Kind == yaml.SequenceNode {
				p = index(p, i)
			}
			js.deps = append(js.deps, ref{name: name, pos: pos(nodes[i]), path: p})
		}
	}
	if e, ok := fs["health"]; ok {
		j.Health = d.health(e.v, at("health"), j)
	}
	if e, ok := fs["critical"]; ok {
		j.Critical, _ = d.boolean(e.v, at("critical"))
	}
	if e, ok := fs["oneshot"]; ok {
		j.Oneshot, _ = d.boolean(e.v, at("oneshot"))
	}
	run, hasRun := fs["run_on_host"]
	tasks, hasTasks := fs["tasks"]
	switch {
	case hasRun && hasTasks:
		d.errorAt(pos(tasks.k), at("tasks"), "both run_on_host and tasks given").Hint =
			"run_on_host: h is short for tasks: [{host: h}]; keep one"
	case hasRun:
		if h, ok := d.str(run.v, at("run_on_host")); ok {
			j.Tasks = []*Task{{Index: 0, Host: h, Pos: pos(run.v)}}
			js.hosts = []ref{{name: h, pos: pos(run.v), path: at("run_on_host")}}
		}
	case hasTasks:
		d.tasks(tasks.v, at("tasks"), js)
	default:
		d.errorAt(pos(def.k), path, "job has no task: add run_on_host or tasks")
	}
	return j
}

// image decodes an image reference and applies the registry prefix.
func (d *decoder) image(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	img := withRegistry(d.registry, s)
	if err := checkImage(img); err != nil {
		d.errorAt(pos(n), path, "%v", err)
		return "", false
	}
	return img, true
}

// memory decodes a job's memory limit: a size of at least 6MiB, or 0 for
// no limit.
func (d *decoder) memory(n *yaml.Node, path string) (int64, bool) {
	m, ok := d.size(n, path)
	if !ok {
		return 0, false
	}
	if msg, hint := checkMemory(m); msg != "" {
		d.errorAt(pos(n), path, "%s", msg).Hint = hint
		return 0, false
	}
	return m, true
}

// checkMemory checks a job's memory limit, returning a message and a hint
// when it is too small for Docker.
func checkMemory(m int64) (msg, hint string) {
	if m == 0 || m >= minMemory {
		return "", ""
	}
	msg = fmt.Sprintf("memory limit of %d bytes is below Docker's minimum of 6MiB", m)
	if m < 1<<16 {
		hint = fmt.Sprintf("plain numbers are bytes; did you mean %dMiB?", m)
	}
	return msg, hint
}

// ports decodes port or ports into j.Ports.
func (d *decoder) ports(j *Job, fs map[string]entry, path string) {
	one, hasOne := fs["port"]
	many, hasMany := fs["ports"]
	switch {
	case hasOne && hasMany:
		d.errorAt(pos(many.k), join(path, "ports"), "both port and ports given").Hint =
			"port: p is short for ports: [p]; keep one"
	case hasOne:
		if p, ok := d.port(one.v, join(path, "port")); ok {
			j.Ports = []int{p}
		}
	case hasMany:
		p := join(path, "ports")
		if many.v.Kind != yaml.SequenceNode {
			d.wrongType(many.v, p, "a list of ports")
			return
		}
		for i, item := range many.v.Content {
			item = d.node(item)
			port, ok := d.port(item, index(p, i))
			if !ok {
				continue
			}
			if slices.Contains(j.Ports, port) {
				d.errorAt(pos(item), index(p, i), "port %d listed twice", port)
				continue
			}
			j.Ports = append(j.Ports, port)
		}
	}
}

// volumes decodes a list of volumes.
func (d *decoder) volumes(n *yaml.Node, path string) []Volume {
	list, nodes, _ := d.strList(n, path)
	var out []Volume
	for i, s := range list {
		v, err := ParseVolume(s)
		p := path
		if n.Kind == yaml.SequenceNode {
			p = index(path, i)
		}
		if err != nil {
			d.errorAt(pos(nodes[i]), p, "%v", err)
			continue
		}
		if slices.ContainsFunc(out, func(o Volume) bool { return o.Target == v.Target }) {
			d.errorAt(pos(nodes[i]), p, "two volumes mount on %s", v.Target)
			continue
		}
		out = append(out, v)
	}
	return out
}

// health decodes a health check and fills in the defaults.
func (d *decoder) health(n *yaml.Node, path string, j *Job) *Health {
	fs, ok := d.fields(n, path, healthKeys)
	if !ok {
		return nil
	}
	h := &Health{
		Interval:    DefaultHealthInterval,
		Timeout:     DefaultHealthTimeout,
		Retries:     DefaultHealthRetries,
		StartPeriod: DefaultHealthStartPeriod,
	}
	var kinds []string
	for _, k := range []string{"http", "tcp", "cmd"} {
		if _, ok := fs[k]; ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		d.errorAt(pos(n), path, "health check has none of http, tcp and cmd").Hint = "add one, e.g. http: /healthz"
	case 1:
	default:
		d.errorAt(pos(fs[kinds[1]].k), path, "health check has both %s and %s", kinds[0], kinds[1]).Hint = "keep one of http, tcp and cmd"
	}
	at := func(key string) string { return join(path, key) }
	if e, ok := fs["http"]; ok {
		if s, ok := d.str(e.v, at("http")); ok {
			switch {
			case !strings.HasPrefix(s, "/"):
				d.errorAt(pos(e.v), at("http"), "health http path %q must start with /", s)
			case len(j.Ports) == 0:
				d.errorAt(pos(e.v), at("http"), "health http check needs a port").Hint = "add port: to the job; the check calls its first port"
			default:
				h.HTTP = s
			}
		}
	}
	if e, ok := fs["tcp"]; ok {
		h.TCP, _ = d.port(e.v, at("tcp"))
	}
	if e, ok := fs["cmd"]; ok {
		h.Cmd, _ = d.words(e.v, at("cmd"))
	}
	if e, ok := fs["interval"]; ok {
		if v, ok := d.duration(e.v, at("interval")); ok {
			if v == 0 {
				d.errorAt(pos(e.v), at("interval"), "interval must be positive")
			} else {
				h.Interval = v
			}
		}
	}
	if e, ok := fs["timeout"]; ok {
		if v, ok := d.duration(e.v, at("timeout")); ok {
			if v == 0 {
				d.errorAt(pos(e.v), at("timeout"), "timeout must be positive")
			} else {
				h.Timeout = v
			}
		}
	}
	if e, ok := fs["retries"]; ok {
		if v, ok := d.integer(e.v, at("retries")); ok {
			if v < 1 {
				d.errorAt(pos(e.v), at("retries"), "retries must be at least 1, got %d", v)
			} else {
				h.Retries = v
			}
		}
	}
	if e, ok := fs["start_period"]; ok {
		h.StartPeriod, _ = d.duration(e.v, at("start_period"))
	}
	return h
}

// tasks decodes a job's task list. An item is a mapping {host, env} or
// just a host name.
func (d *decoder) tasks(n *yaml.Node, path string, js *jobSource) {
	if n.Kind != yaml.SequenceNode {
		d.wrongType(n, path, "a list of tasks")
		return
	}
	if len(n.Content) == 0 {
		d.errorAt(pos(n), path, "job has no task: add run_on_host or tasks")
		return
	}
	for i, item := range n.Content {
		item = d.node(item)
		p := index(path, i)
		t := &Task{Index: i, Pos: pos(item)}
		if item.Kind == yaml.ScalarNode && !isNull(item) {
			h, ok := d.str(item, p)
			if !ok {
				continue
			}
			t.Host = h
			js.job.Tasks = append(js.job.Tasks, t)
			js.hosts = append(js.hosts, ref{name: h, pos: pos(item), path: p})
			continue
		}
		fs, ok := d.fields(item, p, taskKeys)
		if !ok {
			continue
		}
		he, ok := fs["host"]
		if !ok {
			d.errorAt(pos(item), p, "missing required key %q", "host")
			continue
		}
		h, ok := d.str(he.v, join(p, "host"))
		if !ok {
			continue
		}
		t.Host = h
		if e, ok := fs["env"]; ok {
			t.Env, _ = d.strMap(e.v, join(p, "env"), checkEnvKey)
		}
		js.job.Tasks = append(js.job.Tasks, t)
		js.hosts = append(js.hosts, ref{name: h, pos: pos(he.v), path: join(p, "host")})
	}
}

// Keys of environments and job patches.
var (
	environmentKeys = []string{"exclude", "jobs", "pool", "pin", "extra_hosts", "orchestrator"}
	patchKeys       = []string{"image", "command", "env", "memory"}
)

// environments decodes the environments mapping.
func (d *decoder) environments(n *yaml.Node, src *sources) map[string]*Environment {
	es, _ := d.mapping(n, "environments")
	if len(es) == 0 {
		return nil
	}
	out := make(map[string]*Environment, len(es))
	for _, e := range es {
		path := join("environments", e.key)
		if err := checkName("environment", e.key); err != nil {
			d.errorAt(pos(e.k), path, "%v", err)
		}
		env := &Environment{Name: e.key, Pos: pos(e.k)}
		out[e.key] = env
		esrc := &envSource{env: env, path: path}
		src.envs = append(src.envs, esrc)
		fs, ok := d.fields(e.v, path, environmentKeys)
		if !ok {
			continue
		}
		if e, ok := fs["exclude"]; ok {
			esrc.exclude = d.refs(e.v, join(path, "exclude"))
		}
		if e, ok := fs["pool"]; ok {
			esrc.pool = d.refs(e.v, join(path, "pool"))
		}
		if e, ok := fs["pin"]; ok {
			pins, _ := d.mapping(e.v, join(path, "pin"))
			for _, p := range pins {
				pp := join(join(path, "pin"), p.key)
				if to, ok := d.str(p.v, pp); ok {
					esrc.pin = append(esrc.pin, pinSource{
						from: ref{name: p.key, pos: pos(p.k), path: pp},
						to:   ref{name: to, pos: pos(p.v), path: pp},
					})
				}
			}
		}
		if e, ok := fs["extra_hosts"]; ok {
			if b, ok := d.boolean(e.v, join(path, "extra_hosts")); ok {
				env.ExtraHosts = &b
			}
		}
		if e, ok := fs["orchestrator"]; ok {
			op := join(path, "orchestrator")
			if o, ok := d.str(e.v, op); ok {
				switch {
				case o != OrchestratorCjob && o != OrchestratorSwarm:
					d.errorAt(pos(e.v), op, "unknown orchestrator %q: use %s (cjob places and runs the containers itself, the default) or %s (Docker Swarm does, on the environment's nodes)", o, OrchestratorCjob, OrchestratorSwarm)
				case o == OrchestratorSwarm && env.Name != "staging" && env.Name != "production":
					d.errorAt(pos(e.v), op, "orchestrator %s is for the staging and production environments; %s runs on cjob's own", o, env.Name)
				default:
					env.Orchestrator = o
				}
			}
		}
		if e, ok := fs["jobs"]; ok {
			patches, _ := d.mapping(e.v, join(path, "jobs"))
			for _, p := range patches {
				pp := join(join(path, "jobs"), p.key)
				esrc.patches = append(esrc.patches, patchSource{
					ref:   ref{name: p.key, pos: pos(p.k), path: pp},
					patch: d.patch(p.v, pp, pos(p.k)),
				})
			}
		}
	}
	return out
}

// refs decodes a list of names with their positions.
func (d *decoder) refs(n *yaml.Node, path string) []ref {
	names, nodes, _ := d.strList(n, path)
	out := make([]ref, len(names))
	for i, name := range names {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = index(path, i)
		}
		out[i] = ref{name: name, pos: pos(nodes[i]), path: p}
	}
	return out
}

// patch decodes an environment's changes to one job.
func (d *decoder) patch(n *yaml.Node, path string, at Pos) *JobPatch {
	p := &JobPatch{Pos: at}
	fs, ok := d.fields(n, path, patchKeys)
	if !ok {
		return p
	}
	if e, ok := fs["image"]; ok {
		if img, ok := d.image(e.v, join(path, "image")); ok {
			p.Image = &img
		}
	}
	if e, ok := fs["command"]; ok {
		p.Command, _ = d.words(e.v, join(path, "command"))
	}
	if e, ok := fs["env"]; ok {
		p.Env, _ = d.strMap(e.v, join(path, "env"), checkEnvKey)
	}
	if e, ok := fs["memory"]; ok {
		if m, ok := d.memory(e.v, join(path, "memory")); ok {
			p.Memory = &m
		}
	}
	return p
}

// Package export describes a dev stack in Docker Compose's terms: as a
// Compose project (`cjob dev export --compose`), and as the labels Compose
// reads on containers, so `docker compose -p <project>-dev ps` and `logs`
// list the containers cjob made.
//
// The project is built from compose-go's types and marshalled by compose-go;
// no YAML is written by hand.
//
// # Topology
//
// Each host sandbox is a service named after its production host, on the
// project network with the production names as aliases, publishing its
// ports on 127.0.0.1. Each task is a service named after its job and task
// number ("coding-core.api/1" -> "coding-core-api-1") with
// `network_mode: service:<sandbox>` and `pid: service:<sandbox>`: Docker
// Compose v2 resolves both references to the sandbox's container
// (convergence.resolveSharedNamespaces), exactly as cjob joins the
// namespaces. Container names are cjob's own, so `docker exec` and logs read
// the same either way.
//
// # Readiness
//
// Compose runs a healthcheck inside the container it describes, and the
// images cjob runs are often FROM scratch: no shell, no curl. cjob makes HTTP
// and TCP checks itself, from outside. The export keeps those checks with a
// probe service per checked task ("<task>-ready"): the sandbox image (the
// static cjob binary, idling as `cjob sandbox`) joined to the sandbox's
// network namespace, so 127.0.0.1:PORT is the task's port, with the
// healthcheck `/cjob-sandbox probe http://127.0.0.1:PORT/path` (or
// tcp://127.0.0.1:PORT). Dependents wait for the probe service to be
// healthy. Cmd checks are run in the task itself, as cjob does, so they
// become the task's own healthcheck (exec form, no shell).
//
// Dependency conditions: a sandbox -> service_started; a one-shot job ->
// service_completed_successfully; a job with a Cmd check -> service_healthy;
// a job with an HTTP or TCP check -> service_healthy on its probe service
// (and service_started on the job); otherwise service_started.
package export

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/cjob/cjob/internal/stack"
)

// ProbeSuffix names the probe service of a task with an HTTP or TCP check.
const ProbeSuffix = "-ready"

// ProjectName is the Compose project of a stack: "<project>-<env>",
// normalised as Compose normalises project names.
func ProjectName(st *stack.Stack) string {
	return loader.NormalizeProjectName(st.Project + "-" + st.Env.String())
}

// ServiceName is the Compose service of a unit: the production host for a
// sandbox, "<service>-<job>-<task>" for a task, lower case, with every
// character Compose does not allow in a service name replaced by '-'.
func ServiceName(u *stack.Unit) string {
	if u.Kind == stack.KindSandbox {
		return safeName(u.Host)
	}
	return safeName(u.Job + "-" + strconv.Itoa(u.Task))
}

// safeName maps s to [a-z0-9_-]: dots and slashes become '-', so names stay
// readable and never need quoting.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-_")
}

// Compose returns the stack as a Compose project, the project's YAML (what
// `cjob dev export --compose` prints), and warnings: what the file cannot
// express as cjob does. The project holds the values as they are; the YAML
// escapes '$' as "$$" so Compose does not interpolate them.
func Compose(st *stack.Stack) (*types.Project, []byte, []string, error) {
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	p := &types.Project{
		Name:     ProjectName(st),
		Services: types.Services{},
		Networks: types.Networks{},
		Volumes:  types.Volumes{},
	}
	if p.Name != st.Project+"-"+st.Env.String() {
		warn("compose project name %q (Compose allows only lower case letters, digits, '-' and '_'; cjob's project is %q)", p.Name, st.Project+"-"+st.Env.String())
	}
	netKey := safeName(st.Network)
	p.Networks[netKey] = types.NetworkConfig{Name: st.Network}

	// Service names, checked for collisions first.
	names := map[string]string{} // unit key -> service name
	owner := map[string]string{} // service name -> unit key
	claim := func(name, key string) error {
		if name == "" {
			return fmt.Errorf("unit %s: no usable Compose service name", key)
		}
		if other, ok := owner[name]; ok {
			return fmt.Errorf("units %s and %s both map to Compose service %q", other, key, name)
		}
		owner[name] = key
		return nil
	}
	for _, u := range st.Units {
		if u.Engine != "" {
			return nil, nil, nil, fmt.Errorf("unit %s runs on engine %s: a Compose file describes a single-engine stack (dev), not a pool", u.Key, u.Engine)
		}
		if u.Kind != stack.KindSandbox && u.Kind != stack.KindTask {
			return nil, nil, nil, fmt.Errorf("unit %s: unknown kind", u.Key)
		}
		n := ServiceName(u)
		if err := claim(n, u.Key); err != nil {
			return nil, nil, nil, err
		}
		names[u.Key] = n
	}
	for _, u := range st.Units {
		if needsProbe(u) {
			if err := claim(names[u.Key]+ProbeSuffix, u.Key+" (probe)"); err != nil {
				return nil, nil, nil, err
			}
		}
	}

	for _, u := range st.Units {
		switch u.Kind {
		case stack.KindSandbox:
			p.Services[names[u.Key]] = sandboxService(u, names[u.Key], netKey)
		case stack.KindTask:
			svc, err := taskService(st, u, names, p.Volumes, warn)
			if err != nil {
				return nil, nil, nil, err
			}
			p.Services[svc.Name] = svc
			if needsProbe(u) {
				pr, err := probeService(st, u, names)
				if err != nil {
					return nil, nil, nil, err
				}
				p.Services[pr.Name] = pr
			}
		}
	}

	data, err := escaped(p).MarshalYAML()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("marshal compose project: %w", err)
	}
	return p, data, warnings, nil
}

// needsProbe says whether a unit's readiness is an HTTP or TCP check, which
// the export makes through a probe service.
func needsProbe(u *stack.Unit) bool {
	return u.Kind == stack.KindTask && !u.Oneshot && u.Health != nil && len(u.Health.Cmd) == 0 && u.Health.Port != 0
}

func sandboxService(u *stack.Unit, name, netKey string) types.ServiceConfig {
	s := types.ServiceConfig{Name: name, ContainerName: u.Name}
	s.Image = u.Spec.Image
	s.Hostname = u.Spec.Hostname
	s.Init = ptr(false) // the sandbox is PID 1 itself: it reaps its tasks' zombies
	s.Networks = map[string]*types.ServiceNetworkConfig{
		netKey: {Aliases: slices.Clone(u.Spec.Aliases)},
	}
	s.Labels = labels(u.Spec.Labels)
	s.ExtraHosts = hosts(u.Spec.ExtraHosts)
	s.StopGracePeriod = duration(u.Spec.StopTimeout)
	if u.Spec.Memory > 0 {
		s.MemLimit = types.UnitBytes(u.Spec.Memory)
	}
	for _, pub := range u.Spec.Publish {
		s.Ports = append(s.Ports, types.ServicePortConfig{
			Mode:      "ingress",
			HostIP:    "127.0.0.1",
			Target:    uint32(pub.ContainerPort),
			Published: strconv.Itoa(pub.HostPort),
			Protocol:  "tcp",
		})
	}
	return s
}

func taskService(st *stack.Stack, u *stack.Unit, names map[string]string, vols types.Volumes, warn func(string, ...any)) (types.ServiceConfig, error) {
	s := types.ServiceConfig{Name: names[u.Key], ContainerName: u.Name}
	s.Image = u.Spec.Image
	s.Command = types.ShellCommand(u.Spec.Command)
	s.Entrypoint = types.ShellCommand(u.Spec.Entrypoint)
	s.Environment = environment(u.Spec.Env)
	s.Labels = labels(u.Spec.Labels)
	s.StopGracePeriod = duration(u.Spec.StopTimeout)
	s.DependsOn = types.DependsOnConfig{}
	if u.Spec.Init {
		s.Init = ptr(true)
	}
	if u.Spec.Memory > 0 {
		s.MemLimit = types.UnitBytes(u.Spec.Memory)
	}
	if u.Spec.Labels[stack.LabelSwapped] != "" {
		warn("%s: runs the local build %s (cjob dev swap); `docker compose up` needs that image on the engine", s.Name, u.Spec.Image)
	}

	var sb *stack.Unit
	if u.Sandbox != "" {
		sb = st.Unit(u.Sandbox)
		if sb == nil || sb.Kind != stack.KindSandbox {
			return s, fmt.Errorf("task %s: sandbox %s is not in the stack", u.Key, u.Sandbox)
		}
	}
	switch {
	case sb != nil:
		ref := types.ServicePrefix + names[sb.Key]
		s.NetworkMode = ref
		s.Pid = ref
		if u.Spec.Hostname != "" {
			warn("%s: hostname %s dropped: a task shares its sandbox's network namespace, whose hostname is %s", s.Name, u.Spec.Hostname, sb.Spec.Hostname)
		}
		if len(u.Spec.ExtraHosts) > 0 {
			warn("%s: extra_hosts dropped: a container in another container's network namespace cannot have its own; the sandbox's apply", s.Name)
		}
	case u.Spec.HostNetwork:
		s.NetworkMode = "host"
		s.Hostname = u.Spec.Hostname
		s.ExtraHosts = hosts(u.Spec.ExtraHosts)
	default:
		return s, fmt.Errorf("task %s has no host sandbox", u.Key)
	}

	for _, m := range u.Spec.Mounts {
		v := types.ServiceVolumeConfig{Type: m.Type, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case types.VolumeTypeVolume:
			key := safeName(m.Source)
			if have, ok := vols[key]; ok && have.Name != m.Source {
				return s, fmt.Errorf("volumes %s and %s both map to Compose volume %q", have.Name, m.Source, key)
			}
			vols[key] = types.VolumeConfig{Name: m.Source}
			v.Source = key
		case types.VolumeTypeBind:
			// Long syntax: Compose does not create a missing host path
			// (create_host_path defaults to false), as cjob does not.
			v.Source = m.Source
		default:
			return s, fmt.Errorf("task %s: mount %s has unknown type %q", u.Key, m.Target, m.Type)
		}
		s.Volumes = append(s.Volumes, v)
	}

	if c := u.Health; c != nil && len(c.Cmd) > 0 && !u.Oneshot {
		s.HealthCheck = healthcheck(append([]string{"CMD"}, c.Cmd...), c)
	}

	for _, key := range u.DependsOn {
		dep := st.Unit(key)
		if dep == nil {
			return s, fmt.Errorf("task %s depends on %s, which is not in the stack", u.Key, key)
		}
		name := names[key]
		switch {
		case dep.Kind == stack.KindSandbox:
			s.DependsOn[name] = dependency(types.ServiceConditionStarted)
		case dep.Oneshot:
			s.DependsOn[name] = dependency(types.ServiceConditionCompletedSuccessfully)
		case needsProbe(dep):
			s.DependsOn[name] = dependency(types.ServiceConditionStarted)
			s.DependsOn[name+ProbeSuffix] = dependency(types.ServiceConditionHealthy)
		case dep.Health != nil && len(dep.Health.Cmd) > 0:
			s.DependsOn[name] = dependency(types.ServiceConditionHealthy)
		default:
			s.DependsOn[name] = dependency(types.ServiceConditionStarted)
		}
	}
	if sb != nil {
		// Joining a namespace needs the sandbox running, whatever DependsOn says.
		if _, ok := s.DependsOn[names[sb.Key]]; !ok {
			s.DependsOn[names[sb.Key]] = dependency(types.ServiceConditionStarted)
		}
	}
	if len(s.DependsOn) == 0 {
		s.DependsOn = nil
	}
	return s, nil
}

// probeService checks a task's HTTP or TCP port from its sandbox's network
// namespace, with the cjob binary of the sandbox image.
func probeService(st *stack.Stack, u *stack.Unit, names map[string]string) (types.ServiceConfig, error) {
	sb := st.Unit(u.Sandbox)
	if sb == nil {
		return types.ServiceConfig{}, fmt.Errorf("task %s: its %s check needs a host sandbox to probe from", u.Key, checkKind(u.Health))
	}
	c := u.Health
	target := fmt.Sprintf("tcp://127.0.0.1:%d", c.Port)
	if c.HTTP != "" {
		path := c.HTTP
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target = fmt.Sprintf("http://127.0.0.1:%d%s", c.Port, path)
	}
	name := names[u.Key]
	s := types.ServiceConfig{Name: name + ProbeSuffix}
	s.Image = sb.Spec.Image
	s.Init = ptr(false)
	s.NetworkMode = types.ServicePrefix + names[sb.Key]
	s.HealthCheck = healthcheck([]string{"CMD", "/cjob-sandbox", "probe", target}, c)
	s.DependsOn = types.DependsOnConfig{
		names[sb.Key]: dependency(types.ServiceConditionStarted),
		name:          dependency(types.ServiceConditionStarted),
	}
	s.StopGracePeriod = duration(time.Second)
	s.Labels = types.Labels{"cjob.probe-for": u.Key}
	return s, nil
}

func checkKind(c *stack.Check) string {
	if c.HTTP != "" {
		return "HTTP"
	}
	return "TCP"
}

func healthcheck(test []string, c *stack.Check) *types.HealthCheckConfig {
	h := &types.HealthCheckConfig{
		Test:        types.HealthCheckTest(test),
		Interval:    duration(c.Interval),
		Timeout:     duration(c.Timeout),
		StartPeriod: duration(c.StartPeriod),
	}
	if c.Retries > 0 {
		h.Retries = ptr(uint64(c.Retries))
	}
	return h
}

func dependency(condition string) types.ServiceDependency {
	return types.ServiceDependency{Condition: condition, Required: true}
}

func environment(env []string) types.MappingWithEquals {
	if len(env) == 0 {
		return nil
	}
	m := types.MappingWithEquals{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			m[k] = nil // passed through from the environment of `docker compose`
			continue
		}
		m[k] = ptr(v)
	}
	return m
}

func labels(l map[string]string) types.Labels {
	if len(l) == 0 {
		return nil
	}
	return types.Labels(maps.Clone(l))
}

// hosts turns "name:address" entries into compose-go's host list.
func hosts(entries []string) types.HostsList {
	if len(entries) == 0 {
		return nil
	}
	h := types.HostsList{}
	for _, e := range entries {
		name, addr, ok := strings.Cut(e, ":")
		if !ok {
			name, addr, _ = strings.Cut(e, "=")
		}
		h[name] = append(h[name], addr)
	}
	return h
}

func duration(d time.Duration) *types.Duration {
	if d <= 0 {
		return nil
	}
	v := types.Duration(d)
	return &v
}

func ptr[T any](v T) *T { return &v }

// escaped returns a copy of p for marshalling, with '$' written as "$$" in
// every value Compose interpolates, so a value such as "pa$$word" or
// "$HOME" reaches the container as cjob would pass it.
func escaped(p *types.Project) *types.Project {
	q := *p
	q.Services = types.Services{}
	for name, s := range p.Services {
		s.Command = escapeList(s.Command)
		s.Entrypoint = escapeList(s.Entrypoint)
		if s.Environment != nil {
			env := types.MappingWithEquals{}
			for k, v := range s.Environment {
				if v != nil {
					v = ptr(esc(*v))
				}
				env[k] = v
			}
			s.Environment = env
		}
		if s.Labels != nil {
			l := types.Labels{}
			for k, v := range s.Labels {
				l[k] = esc(v)
			}
			s.Labels = l
		}
		if s.HealthCheck != nil {
			h := *s.HealthCheck
			h.Test = types.HealthCheckTest(escapeList(h.Test))
			s.HealthCheck = &h
		}
		if s.Volumes != nil {
			vs := slices.Clone(s.Volumes)
			for i := range vs {
				vs[i].Source = esc(vs[i].Source)
				vs[i].Target = esc(vs[i].Target)
			}
			s.Volumes = vs
		}
		q.Services[name] = s
	}
	return &q
}

func escapeList(l []string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = esc(s)
	}
	return out
}

func esc(s string) string { return strings.ReplaceAll(s, "$", "$$") }

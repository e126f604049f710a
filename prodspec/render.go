package prodspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Render returns f in the YAML format Load reads, normalised: vars already
// substituted into every value (Render escapes any "{{" left in a value so
// that it reads back unchanged), registry prefixes applied, run_on_host and
// port written as tasks: and port:/ports:, sizes in the largest exact binary
// unit, health checks with every default spelt out, and names sorted. Keys
// of a section come in a fixed order, the order of the format's
// documentation; names (hosts, services, jobs, env, labels, vars) are
// sorted. The output is deterministic, and Parse(Render(f)) equals f except
// for Path, positions and, after --set, the warning about undeclared vars.
func Render(f *File) ([]byte, error) {
	root := mapNode()
	addStr(root, "project", f.Project, false)
	if f.Registry != "" {
		addStr(root, "registry", f.Registry, true)
	}
	addStr(root, "dns_suffix", f.DNSSuffix, true)
	if len(f.Vars) > 0 {
		add(root, "vars", strMapNode(f.Vars, false))
	}
	if len(f.Hosts) > 0 {
		hosts := mapNode()
		for _, h := range f.Hosts {
			add(hosts, h.Name, renderHost(h))
		}
		add(root, "hosts", hosts)
	}
	// yaml.v3's emitter keeps every event of a document in memory and is
	// slow on big ones, so each service is encoded on its own and indented
	// under services:.
	var b bytes.Buffer
	if err := encodeYAML(&b, root, ""); err != nil {
		return nil, err
	}
	if len(f.Services) > 0 {
		b.WriteString("services:\n")
		for _, s := range f.Services {
			jobs := mapNode()
			for _, j := range s.Jobs {
				add(jobs, j.Name, renderJob(j))
			}
			svc := mapNode()
			add(svc, "jobs", jobs)
			one := mapNode()
			add(one, s.Name, svc)
			if err := encodeYAML(&b, one, "  "); err != nil {
				return nil, err
			}
		}
	}
	if len(f.Environments) > 0 {
		envs := mapNode()
		for _, name := range sortedKeys(f.Environments) {
			add(envs, name, renderEnvironment(f.Environments[name]))
		}
		top := mapNode()
		add(top, "environments", envs)
		if err := encodeYAML(&b, top, ""); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// encodeYAML writes n as a YAML document, each non-empty line prefixed with
// indent. Indenting every line keeps block scalars and their indentation
// indicators valid, since those are relative to the enclosing node.
func encodeYAML(w *bytes.Buffer, n *yaml.Node, indent string) error {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if indent == "" {
		w.Write(b.Bytes())
		return nil
	}
	for line := range bytes.Lines(b.Bytes()) {
		if len(line) > 1 {
			w.WriteString(indent)
		}
		w.Write(line)
	}
	return nil
}

func renderHost(h *Host) *yaml.Node {
	n := mapNode()
	if h.Address != "" {
		addStr(n, "address", h.Address, true)
	}
	if h.Docker != "" {
		addStr(n, "docker", h.Docker, true)
	}
	if h.Memory != 0 {
		addStr(n, "memory", FormatSize(h.Memory), false)
	}
	if len(h.Labels) > 0 {
		add(n, "labels", strMapNode(h.Labels, true))
	}
	return n
}

func renderJob(j *Job) *yaml.Node {
	n := mapNode()
	addStr(n, "image", j.Image, true)
	if j.Command != nil {
		add(n, "command", listNode(j.Command, true))
	}
	if j.Entrypoint != nil {
		add(n, "entrypoint", listNode(j.Entrypoint, true))
	}
	switch len(j.Ports) {
	case 0:
	case 1:
		add(n, "port", intNode(j.Ports[0]))
	default:
		ports := seqNode()
		for _, p := range j.Ports {
			ports.Content = append(ports.Content, intNode(p))
		}
		add(n, "ports", ports)
	}
	if len(j.Env) > 0 {
		add(n, "env", strMapNode(j.Env, true))
	}
	if len(j.Volumes) > 0 {
		vols := make([]string, len(j.Volumes))
		for i, v := range j.Volumes {
			vols[i] = v.String()
		}
		add(n, "volumes", listNode(vols, true))
	}
	if j.Memory != 0 {
		addStr(n, "memory", FormatSize(j.Memory), false)
	}
	if len(j.DependsOn) > 0 {
		add(n, "depends_on", listNode(j.DependsOn, false))
	}
	if j.Health != nil {
		add(n, "health", renderHealth(j.Health))
	}
	if j.Critical {
		add(n, "critical", boolNode(true))
	}
	if j.Oneshot {
		add(n, "oneshot", boolNode(true))
	}
	tasks := seqNode()
	tasks.Style = 0
	for _, t := range j.Tasks {
		tn := mapNode()
		addStr(tn, "host", t.Host, false)
		if len(t.Env) > 0 {
			add(tn, "env", strMapNode(t.Env, true))
		}
		if len(t.Env) == 0 {
			tn.Style = yaml.FlowStyle
		}
		tasks.Content = append(tasks.Content, tn)
	}
	add(n, "tasks", tasks)
	return n
}

func renderHealth(h *Health) *yaml.Node {
	n := mapNode()
	switch {
	case h.HTTP != "":
		addStr(n, "http", h.HTTP, true)
	case h.TCP != 0:
		add(n, "tcp", intNode(h.TCP))
	case h.Cmd != nil:
		add(n, "cmd", listNode(h.Cmd, true))
	}
	addStr(n, "interval", h.Interval.String(), false)
	addStr(n, "timeout", h.Timeout.String(), false)
	add(n, "retries", intNode(h.Retries))
	addStr(n, "start_period", h.StartPeriod.String(), false)
	return n
}

func renderEnvironment(e *Environment) *yaml.Node {
	n := mapNode()
	if len(e.Exclude) > 0 {
		add(n, "exclude", listNode(e.Exclude, false))
	}
	if len(e.Jobs) > 0 {
		jobs := mapNode()
		for _, name := range sortedKeys(e.Jobs) {
			p := e.Jobs[name]
			pn := mapNode()
			if p.Image != nil {
				addStr(pn, "image", *p.Image, true)
			}
			if p.Command != nil {
				add(pn, "command", listNode(p.Command, true))
			}
			if len(p.Env) > 0 {
				add(pn, "env", strMapNode(p.Env, true))
			}
			if p.Memory != nil {
				addStr(pn, "memory", FormatSize(*p.Memory), false)
			}
			if len(pn.Content) == 0 {
				pn.Style = yaml.FlowStyle
			}
			add(jobs, name, pn)
		}
		add(n, "jobs", jobs)
	}
	if len(e.Pool) > 0 {
		add(n, "pool", listNode(e.Pool, false))
	}
	if len(e.Pin) > 0 {
		add(n, "pin", strMapNode(e.Pin, false))
	}
	if len(n.Content) == 0 {
		n.Style = yaml.FlowStyle
	}
	return n
}

// Node builders. Values that Parse renders as templates are escaped (see
// escapeTemplate); project, vars, names and numbers are not templates.

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func seqNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
}

func strNode(s string, template bool) *yaml.Node {
	if template {
		s = escapeTemplate(s)
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11Bools[strings.ToLower(s)] {
		// Booleans to YAML 1.1 readers; yaml.v3 would leave them bare.
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

var yaml11Bools = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true}

func intNode(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}

func boolNode(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, strNode(key, false), v)
}

func addStr(m *yaml.Node, key, value string, template bool) {
	add(m, key, strNode(value, template))
}

// listNode is a flow list of strings.
func listNode(items []string, template bool) *yaml.Node {
	n := seqNode()
	for _, s := range items {
		n.Content = append(n.Content, strNode(s, template))
	}
	return n
}

// strMapNode is a mapping of strings, sorted by key.
func strMapNode(m map[string]string, template bool) *yaml.Node {
	n := mapNode()
	for _, k := range sortedKeys(m) {
		addStr(n, k, m[k], template)
	}
	return n
}

package prodspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Render returns f in the YAML format Load reads, normalised: vars already
// substituted into every value (any "{{" left in a value is escaped as
// {{"{{"}} so that it reads back unchanged), registry prefixes applied,
// run_on_host written as tasks:, one port as port: and several as ports:,
// sizes in the largest exact binary unit, health checks with every default
// spelt out, and dependencies as full names. The keys of a section come in
// the fixed order of the format's documentation (project, registry,
// dns_suffix, vars, hosts, services, environments; image, command, ...);
// names (hosts, services, jobs, environments) and the keys of env, labels,
// vars and pin are sorted.
//
// The output is deterministic, and Parse(Render(f)) equals f except for
// Path, positions and, after --set, the warning about undeclared vars.
// Render writes YAML itself rather than through yaml.v3's encoder, which is
// slow and memory hungry on large files; every string that is not
// obviously plain is double-quoted.
func Render(f *File) ([]byte, error) {
	w := &yamlWriter{}
	w.kv(0, "project", w.str(f.Project))
	if f.Registry != "" {
		w.kv(0, "registry", w.tmpl(f.Registry))
	}
	w.kv(0, "dns_suffix", w.tmpl(f.DNSSuffix))
	if len(f.Vars) > 0 {
		w.key(0, "vars")
		w.strMap(2, f.Vars, false)
	}
	if len(f.Hosts) > 0 {
		w.key(0, "hosts")
		for _, h := range f.Hosts {
			w.host(2, h)
		}
	}
	if len(f.Services) > 0 {
		w.key(0, "services")
		for _, s := range f.Services {
			w.key(2, s.Name)
			w.key(4, "jobs")
			for _, j := range s.Jobs {
				w.job(6, j)
			}
		}
	}
	if len(f.Environments) > 0 {
		w.key(0, "environments")
		for _, name := range sortedKeys(f.Environments) {
			w.environment(2, f.Environments[name])
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.b.Bytes(), nil
}

func (w *yamlWriter) host(indent int, h *Host) {
	if h.Address == "" && h.Docker == "" && h.TLS == nil && h.Memory == 0 && len(h.Labels) == 0 {
		w.kv(indent, h.Name, "{}")
		return
	}
	w.key(indent, h.Name)
	indent += 2
	if h.Address != "" {
		w.kv(indent, "address", w.tmpl(h.Address))
	}
	if h.Docker != "" {
		w.kv(indent, "docker", w.tmpl(h.Docker))
	}
	if h.TLS != nil {
		w.key(indent, "tls")
		w.kv(indent+2, "ca", w.tmpl(h.TLS.CA))
		w.kv(indent+2, "cert", w.tmpl(h.TLS.Cert))
		w.kv(indent+2, "key", w.tmpl(h.TLS.Key))
	}
	if h.Memory != 0 {
		w.kv(indent, "memory", FormatSize(h.Memory))
	}
	if len(h.Labels) > 0 {
		w.key(indent, "labels")
		w.strMap(indent+2, h.Labels, true)
	}
}

func (w *yamlWriter) job(indent int, j *Job) {
	w.key(indent, j.Name)
	indent += 2
	w.kv(indent, "image", w.tmpl(j.Image))
	if j.Command != nil {
		w.kv(indent, "command", w.list(j.Command, true))
	}
	if j.Entrypoint != nil {
		w.kv(indent, "entrypoint", w.list(j.Entrypoint, true))
	}
	switch len(j.Ports) {
	case 0:
	case 1:
		w.kv(indent, "port", strconv.Itoa(j.Ports[0]))
	default:
		ports := make([]string, len(j.Ports))
		for i, p := range j.Ports {
			ports[i] = strconv.Itoa(p)
		}
		w.kv(indent, "ports", "["+strings.Join(ports, ", ")+"]")
	}
	if len(j.Env) > 0 {
		w.key(indent, "env")
		w.strMap(indent+2, j.Env, true)
	}
	if len(j.Volumes) > 0 {
		vols := make([]string, len(j.Volumes))
		for i, v := range j.Volumes {
			vols[i] = v.String()
		}
		w.kv(indent, "volumes", w.list(vols, true))
	}
	if j.Memory != 0 {
		w.kv(indent, "memory", FormatSize(j.Memory))
	}
	if len(j.DependsOn) > 0 {
		w.kv(indent, "depends_on", w.list(j.DependsOn, false))
	}
	if h := j.Health; h != nil {
		w.key(indent, "health")
		in := indent + 2
		switch {
		case h.HTTP != "":
			w.kv(in, "http", w.tmpl(h.HTTP))
		case h.TCP != 0:
			w.kv(in, "tcp", strconv.Itoa(h.TCP))
		case h.Cmd != nil:
			w.kv(in, "cmd", w.list(h.Cmd, true))
		}
		w.kv(in, "interval", h.Interval.String())
		w.kv(in, "timeout", h.Timeout.String())
		w.kv(in, "retries", strconv.Itoa(h.Retries))
		w.kv(in, "start_period", h.StartPeriod.String())
	}
	if j.Critical {
		w.kv(indent, "critical", "true")
	}
	if j.Oneshot {
		w.kv(indent, "oneshot", "true")
	}
	w.key(indent, "tasks")
	for _, t := range j.Tasks {
		w.indent(indent + 2)
		if len(t.Env) == 0 {
			w.b.WriteString("- {host: " + w.tmpl(t.Host) + "}\n")
			continue
		}
		w.b.WriteString("- host: " + w.tmpl(t.Host) + "\n")
		w.key(indent+4, "env")
		w.strMap(indent+6, t.Env, true)
	}
}

func (w *yamlWriter) environment(indent int, e *Environment) {
	if len(e.Exclude) == 0 && len(e.Jobs) == 0 && len(e.Pool) == 0 && len(e.Pin) == 0 && e.ExtraHosts == nil && e.Orchestrator == "" {
		w.kv(indent, e.Name, "{}")
		return
	}
	w.key(indent, e.Name)
	indent += 2
	if len(e.Exclude) > 0 {
		w.kv(indent, "exclude", w.list(e.Exclude, false))
	}
	if len(e.Jobs) > 0 {
		w.key(indent, "jobs")
		for _, name := range sortedKeys(e.Jobs) {
			p := e.Jobs[name]
			if p.Image == nil && p.Command == nil && len(p.Env) == 0 && p.Memory == nil {
				w.kv(indent+2, name, "{}")
				continue
			}
			w.key(indent+2, name)
			in := indent + 4
			if p.Image != nil {
				w.kv(in, "image", w.tmpl(*p.Image))
			}
			if p.Command != nil {
				w.kv(in, "command", w.list(p.Command, true))
			}
			if len(p.Env) > 0 {
				w.key(in, "env")
				w.strMap(in+2, p.Env, true)
			}
			if p.Memory != nil {
				w.kv(in, "memory", FormatSize(*p.Memory))
			}
		}
	}
	if len(e.Pool) > 0 {
		w.kv(indent, "pool", w.list(e.Pool, false))
	}
	if len(e.Pin) > 0 {
		w.key(indent, "pin")
		w.strMap(indent+2, e.Pin, false)
	}
	if e.ExtraHosts != nil {
		w.kv(indent, "extra_hosts", strconv.FormatBool(*e.ExtraHosts))
	}
	if e.Orchestrator != "" {
		w.kv(indent, "orchestrator", e.Orchestrator)
	}
}

// yamlWriter writes block-style YAML. The first error (a string that is
// not valid UTF-8) is kept in err.
type yamlWriter struct {
	b   bytes.Buffer
	err error
}

const spaces = "                                                                "

func (w *yamlWriter) indent(n int) {
	for n > len(spaces) {
		w.b.WriteString(spaces)
		n -= len(spaces)
	}
	w.b.WriteString(spaces[:n])
}

// key writes "key:" on a line of its own; a block follows.
func (w *yamlWriter) key(indent int, k string) {
	w.indent(indent)
	w.b.WriteString(w.str(k))
	w.b.WriteString(":\n")
}

// kv writes "key: value" with value already formatted.
func (w *yamlWriter) kv(indent int, k, v string) {
	w.indent(indent)
	w.b.WriteString(w.str(k))
	w.b.WriteString(": ")
	w.b.WriteString(v)
	w.b.WriteByte('\n')
}

// strMap writes a mapping of strings, sorted by key. Values are escaped
// as templates when template is set; keys never are.
func (w *yamlWriter) strMap(indent int, m map[string]string, template bool) {
	for _, k := range sortedKeys(m) {
		v := w.str(m[k])
		if template {
			v = w.tmpl(m[k])
		}
		w.kv(indent, k, v)
	}
}

// list formats a flow list of strings.
func (w *yamlWriter) list(items []string, template bool) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if template {
			b.WriteString(w.tmpl(s))
		} else {
			b.WriteString(w.str(s))
		}
	}
	b.WriteByte(']')
	return b.String()
}

// tmpl formats a string that Parse will read as a template.
func (w *yamlWriter) tmpl(s string) string { return w.str(escapeTemplate(s)) }

// str formats a string scalar: plain when that is unambiguous in both block
// and flow context, double-quoted otherwise.
func (w *yamlWriter) str(s string) string {
	if !utf8.ValidString(s) {
		if w.err == nil {
			w.err = fmt.Errorf("render: %q is not valid UTF-8", s)
		}
		return `""`
	}
	if isPlain(s) {
		return s
	}
	return quoteYAML(s)
}

// isPlain reports whether s can be written as a plain scalar and read back
// as the same string, in block and in flow context. It is conservative:
// plain scalars hold only letters, digits and - _ . / : = @ +, start with a
// letter, a digit, '/', '_', '.' or '-' (but not "-", "--- " or a sign
// before a digit), do not end in ':', and are not something YAML 1.1 or 1.2
// would read as a number, bool, null or timestamp; anything starting with a
// digit is quoted.
func isPlain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_./:=@+", c) >= 0) {
			return false
		}
	}
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == ':', c == '=', c == '@', c == '+':
		return false
	case c == '-', c == '.':
		if len(s) == 1 || s[1] >= '0' && s[1] <= '9' || s[1] == '.' || s[1] == '-' && c == '-' && strings.HasPrefix(s, "---") {
			return false
		}
	}
	if s[len(s)-1] == ':' {
		return false
	}
	switch strings.ToLower(s) {
	case "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", ".nan":
		return false
	}
	return true
}

// quoteYAML double-quotes s, escaping what YAML cannot hold as is.
func quoteYAML(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0xd800 && r <= 0xdfff || r == 0xfeff || r == 0xfffe || r == 0xffff || r == 0x2028 || r == 0x2029:
			if r <= 0xff {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

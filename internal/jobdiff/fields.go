package jobdiff

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cjob/cjob/prodspec"
)

// entry is one field of a job, a host or the file, as text: the unit that
// diffs compare.
type entry struct {
	name   string   // Field.Name
	sort   string   // orders entries; the same name always has the same sort
	plain  string   // the value as it is; never "" (absent fields have no entry)
	masked string   // the value as it may be shown
	hidden []string // what masked holds back, in order; nil when nothing
}

// entryList builds a list of entries.
type entryList struct {
	es []entry
}

// plain adds a value that holds no secret. An empty text adds nothing: the
// field is absent.
func (l *entryList) plain(name, sort, text string) {
	if text != "" {
		l.es = append(l.es, entry{name: name, sort: sort, plain: text, masked: text})
	}
}

// value adds the value of an environment variable, var, label or pin
// named key, masked as MaskValue does. An empty value is shown as "".
func (l *entryList) value(name, sort, key, v string) {
	var hidden []string
	m := maskValue(key, v, &hidden)
	l.es = append(l.es, entry{name: name, sort: sort, plain: valueText(v), masked: valueText(m), hidden: hidden})
}

// text adds a free-form string (a Docker endpoint), with the secrets
// embedded in it masked. An empty text adds nothing.
func (l *entryList) text(name, sort, v string) {
	if v == "" {
		return
	}
	var hidden []string
	m := maskText(v, &hidden)
	l.es = append(l.es, entry{name: name, sort: sort, plain: v, masked: m, hidden: hidden})
}

// args adds a command. nil (the image's default) adds nothing.
func (l *entryList) args(name, sort string, args []string) {
	if args == nil {
		return
	}
	var hidden []string
	m := maskArgs(args, &hidden)
	l.es = append(l.es, entry{name: name, sort: sort, plain: wordsText(args), masked: wordsText(m), hidden: hidden})
}

// env adds one entry per key of an environment, prefix+KEY.
func (l *entryList) env(prefix, sort string, env map[string]string) {
	for k, v := range env {
		l.value(prefix+k, sort+k, k, v)
	}
}

// valueText shows a string value: as is, or "" in quotes when empty so that
// an empty value differs from an absent one.
func valueText(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// wordsText shows a command as words separated by spaces, quoting the
// words that need it the way prodspec.SplitWords reads them back:
// ["sh", "-c", "echo hi"] is sh -c 'echo hi'. An empty command is [].
func wordsText(words []string) string {
	if len(words) == 0 {
		return "[]"
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}

// quoteWord quotes a word that contains white space, quotes or
// backslashes, or is empty.
func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\r\n'\"\\") {
		return w
	}
	if !strings.Contains(w, "'") {
		return "'" + w + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(w) + `"`
}

// listText joins the items of a list with ", ".
func listText[T any](items []T, format func(T) string) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = format(it)
	}
	return strings.Join(s, ", ")
}

// sizeText shows a memory size, or "" for 0 (no limit, unknown).
func sizeText(n int64) string {
	if n == 0 {
		return ""
	}
	return prodspec.FormatSize(n)
}

// healthText shows a health check: "http /healthz every 2s, timeout 2s,
// 30 retries", with ", start period 5s" when there is one. cmd is the
// check's command as it is to be shown.
func healthText(h *prodspec.Health, cmd string) string {
	if h == nil {
		return ""
	}
	var check string
	switch {
	case h.HTTP != "":
		check = "http " + h.HTTP
	case h.TCP != 0:
		check = "tcp " + strconv.Itoa(h.TCP)
	case h.Cmd != nil:
		check = "cmd " + cmd
	default:
		check = "none"
	}
	s := fmt.Sprintf("%s every %s, timeout %s, %d retries", check, h.Interval, h.Timeout, h.Retries)
	if h.StartPeriod != 0 {
		s += ", start period " + h.StartPeriod.String()
	}
	return s
}

// boolText shows a flag.
func boolText(b bool) string { return strconv.FormatBool(b) }

// jobEntries returns the fields of a job, in the order of the jobs file
// format: image, command, entrypoint, ports, env.KEY (by key), volumes,
// memory, depends_on, health, critical, oneshot, tasks (the task hosts in
// order), task[N].env.KEY (N counts from 1).
func jobEntries(j *prodspec.Job) []entry {
	var l entryList
	l.plain("image", "00", j.Image)
	l.args("command", "01", j.Command)
	l.args("entrypoint", "02", j.Entrypoint)
	l.plain("ports", "03", listText(j.Ports, strconv.Itoa))
	l.env("env.", "04 ", j.Env)
	l.plain("volumes", "05", listText(j.Volumes, prodspec.Volume.String))
	l.plain("memory", "06", sizeText(j.Memory))
	l.plain("depends_on", "07", listText(j.DependsOn, func(s string) string { return s }))
	if h := j.Health; h != nil {
		var hidden []string
		masked := maskArgs(h.Cmd, &hidden)
		l.es = append(l.es, entry{name: "health", sort: "08",
			plain: healthText(h, wordsText(h.Cmd)), masked: healthText(h, wordsText(masked)), hidden: hidden})
	}
	l.plain("critical", "09", boolText(j.Critical))
	l.plain("oneshot", "10", boolText(j.Oneshot))
	l.plain("tasks", "11", listText(j.Tasks, func(t *prodspec.Task) string { return t.Host }))
	for i, t := range j.Tasks {
		l.env(fmt.Sprintf("task[%d].env.", i+1), fmt.Sprintf("12 %08d ", i+1), t.Env)
	}
	return l.es
}

// hostEntries returns the fields of a host, named prefix+field: address,
// docker, tls, memory, labels.KEY.
func hostEntries(prefix, sort string, h *prodspec.Host) []entry {
	var l entryList
	l.plain(prefix+"address", sort+"0", h.Address)
	l.text(prefix+"docker", sort+"1", h.Docker)
	if h.TLS != nil {
		l.plain(prefix+"tls", sort+"2", fmt.Sprintf("ca %s, cert %s, key %s", h.TLS.CA, h.TLS.Cert, h.TLS.Key))
	}
	l.plain(prefix+"memory", sort+"3", sizeText(h.Memory))
	l.env(prefix+"labels.", sort+"4 ", h.Labels)
	return l.es
}

// summary joins entries into one line, "address 10.0.2.12, memory 32GiB",
// naming each by its name less prefix; "{}" when there are none. It is how
// an added or removed host is shown.
func summary(prefix, name, sort string, es []entry) entry {
	sortEntries(es)
	out := entry{name: name, sort: sort, plain: "{}", masked: "{}"}
	var plain, masked []string
	for _, e := range es {
		n := strings.TrimPrefix(e.name, prefix)
		plain = append(plain, n+" "+e.plain)
		masked = append(masked, n+" "+e.masked)
		out.hidden = append(out.hidden, e.hidden...)
	}
	if len(es) > 0 {
		out.plain, out.masked = strings.Join(plain, ", "), strings.Join(masked, ", ")
	}
	return out
}

// fileEntries returns the fields of a file other than its jobs and hosts:
// project, registry, dns_suffix, vars.NAME and the environments,
// environments.ENV.exclude, .jobs.JOB.image, .jobs.JOB.command,
// .jobs.JOB.env.KEY, .jobs.JOB.memory, .pool, .pin.HOST, .extra_hosts and
// .orchestrator. An environment
// or a job patch that is empty is one entry, "{}", so that adding or
// removing it shows.
func fileEntries(f *prodspec.File) []entry {
	var l entryList
	l.plain("project", "0", f.Project)
	l.plain("registry", "1", f.Registry)
	l.plain("dns_suffix", "2", f.DNSSuffix)
	l.env("vars.", "3 ", f.Vars)
	for name, e := range f.Environments {
		p, s := "environments."+name, "4 "+name+"\x00"
		if len(e.Exclude) == 0 && len(e.Jobs) == 0 && len(e.Pool) == 0 && len(e.Pin) == 0 && e.ExtraHosts == nil && e.Orchestrator == "" {
			l.plain(p, s, "{}")
			continue
		}
		l.plain(p+".exclude", s+"0", strings.Join(e.Exclude, ", "))
		if e.ExtraHosts != nil {
			l.plain(p+".extra_hosts", s+"5", boolText(*e.ExtraHosts))
		}
		l.plain(p+".orchestrator", s+"6", e.Orchestrator)
		for job, jp := range e.Jobs {
			jp2, js := p+".jobs."+job, s+"1 "+job+"\x00"
			if jp.Image == nil && jp.Command == nil && len(jp.Env) == 0 && jp.Memory == nil {
				l.plain(jp2, js, "{}")
				continue
			}
			if jp.Image != nil {
				l.plain(jp2+".image", js+"0", valueText(*jp.Image))
			}
			l.args(jp2+".command", js+"1", jp.Command)
			l.env(jp2+".env.", js+"2 ", jp.Env)
			if jp.Memory != nil {
				l.plain(jp2+".memory", js+"3", prodspec.FormatSize(*jp.Memory))
			}
		}
		l.plain(p+".pool", s+"2", strings.Join(e.Pool, ", "))
		for host, to := range e.Pin {
			l.plain(p+".pin."+host, s+"3 "+host, valueText(to))
		}
	}
	return l.es
}

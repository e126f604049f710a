// Package rewrite turns the production jobs file into the desired state of
// an environment: a stack.Stack, pure data for the planner. The staging and
// production rewrites are here (every task on the engine its production
// host is placed on, with host networking); the dev rewrite (host
// sandboxes on one engine) is package devenv, which builds on the same
// pieces: job checks, env and volume rewriting, and the notes that
// `explain` prints. Nothing here talks to an engine.
package rewrite

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

// Note is one rewrite applied, for `explain`.
type Note struct {
	Subject string // full job name, or "host <name>", or "stack"
	Text    string
}

func (n Note) String() string { return n.Subject + ": " + n.Text }

// Result is the outcome of a rewrite.
type Result struct {
	Stack *stack.Stack
	Notes []Note
	// Added lists jobs pulled in as dependencies of the jobs asked for.
	Added []string
}

// Note adds a note.
func (r *Result) Note(subject, text string) {
	r.Notes = append(r.Notes, Note{Subject: subject, Text: text})
}

// SortNotes orders the notes as explain prints them: the stack, placement,
// hosts, then jobs.
func (r *Result) SortNotes() {
	sort.SliceStable(r.Notes, func(i, k int) bool { return noteOrder(r.Notes[i]) < noteOrder(r.Notes[k]) })
}

// TaskName is the container name of a task (task numbers start at 1).
func TaskName(project string, env stack.Env, j *prodspec.Job, task int) string {
	return fmt.Sprintf("%s-%s.%s.%s.%d", project, env, j.Service, j.Name, task)
}

// TaskKey is the unit key of a task.
func TaskKey(job string, task int) string { return fmt.Sprintf("%s/%d", job, task) }

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

// JobCheck is how readiness of a job's tasks is judged: its declared
// health check, or, with none, a TCP connect to its main port (nil for a
// job with no port, and for one-shot jobs, which are ready when they exit).
func JobCheck(j *prodspec.Job) *stack.Check {
	if j.Health != nil {
		return toCheck(j)
	}
	if p := j.MainPort(); p != 0 && !j.Oneshot {
		return &stack.Check{Port: p, Interval: 2 * time.Second, Timeout: 2 * time.Second, Retries: 30, Implicit: true}
	}
	return nil
}

// TaskMounts rewrites a job's volumes for a task on host, noting each
// rewrite: host paths become named volumes of the project, environment and
// host; host configuration (/etc/...) stays a read-only bind mount of this
// machine's copy, dropped where exists says it is missing (nil: assume it
// exists).
func TaskMounts(project string, env stack.Env, host string, j *prodspec.Job, exists func(string) bool, res *Result) []stack.Mount {
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

// HostAddresses maps production addresses that are IP literals to host names.
func HostAddresses(f *prodspec.File) map[string]string {
	m := map[string]string{}
	for _, h := range f.Hosts {
		if h.Address != "" && h.Address != h.Name {
			m[h.Address] = h.Name
		}
	}
	return m
}

// TaskEnv merges job and task env and rewrites production IP addresses to
// the host names that reach the same host in dev.
func TaskEnv(j *prodspec.Job, t *prodspec.Task, hostAddr map[string]string, note func(string)) []string {
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

func replaceAddresses(v string, hostAddr map[string]string) string {
	if len(hostAddr) == 0 || strings.Count(v, ".") < 3 {
		return v // no IP literal in it
	}
	var b strings.Builder
	last := 0 // v[:last] is written
	for i := 0; i < len(v); {
		n := ipLiteralAt(v, i)
		if n == 0 {
			i++
			continue
		}
		if h, ok := hostAddr[v[i:i+n]]; ok {
			b.WriteString(v[last:i])
			b.WriteString(h)
			last = i + n
		}
		i += n
	}
	if last == 0 {
		return v
	}
	b.WriteString(v[last:])
	return b.String()
}

// ipLiteralAt is the length of the IP literal (four dot-separated runs of
// one to three digits, on word boundaries: `\b\d{1,3}(\.\d{1,3}){3}\b`) that
// starts at v[i], or 0.
func ipLiteralAt(v string, i int) int {
	if i > 0 && isWordByte(v[i-1]) {
		return 0
	}
	j := i
	for part := range 4 {
		k := j
		for k < len(v) && k-j < 4 && v[k] >= '0' && v[k] <= '9' {
			k++
		}
		if k == j || k-j > 3 {
			return 0
		}
		j = k
		if part < 3 {
			if j >= len(v) || v[j] != '.' {
				return 0
			}
			j++
		}
	}
	if j < len(v) && isWordByte(v[j]) {
		return 0
	}
	return j - i
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
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
func VolumeName(project string, env stack.Env, host, hostPath string) string {
	p := strings.Trim(volumeNameUnsafe.ReplaceAllString(path.Clean(hostPath), "_"), "_")
	return project + "-" + env.String() + "." + host + "." + p
}

func rewriteVolume(project string, env stack.Env, host string, v prodspec.Volume, exists func(string) bool) (*stack.Mount, string) {
	if !strings.HasPrefix(v.Source, "/") {
		// Already a named volume: scope it to the project so dev never
		// touches a volume of the same name outside it.
		name := project + "-" + env.String() + "." + v.Source
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

// Dedupe drops repeated strings, keeping the first of each, in place.
func Dedupe(s []string) []string {
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

// FormatNotes renders notes grouped by subject, for `explain`.
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

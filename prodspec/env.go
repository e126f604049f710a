package prodspec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ForEnvironment returns a deep copy of f with the named environment
// applied: its excluded jobs removed (and services left with no job), and
// its job patches applied (env merged key by key; image, command and memory
// replaced). The notes say what changed, one line per change, e.g.
// "excluded monitoring.prober" and "coding-blog.blog: env DEBUG=1 (dev
// patch)". An environment f does not declare gives an unchanged copy and no
// notes: a file without environments.dev runs as is under `cjob dev`.
//
// The copy keeps every environment, but the applied one is left with only
// its pool and pin (applying it again changes nothing), and other
// environments no longer name the excluded jobs: the copy renders and loads
// back. It is an error, naming both jobs, for a kept job to depend on an
// excluded one. Warnings are copied from f as they are.
func (f *File) ForEnvironment(name string) (*File, []string, error) {
	out := f.Clone()
	env := out.Environments[name]
	if env == nil {
		return out, nil, nil
	}
	var notes []string
	excluded := map[string]bool{}
	for _, full := range env.Exclude {
		excluded[full] = true
	}
	var errs ErrorList
	for _, j := range out.Jobs() {
		if excluded[j.FullName()] {
			continue
		}
		for _, dep := range j.DependsOn {
			if excluded[dep] {
				errs = append(errs, &Error{
					File: f.Path, Line: env.Pos.Line, Column: env.Pos.Column,
					Path: "environments." + name + ".exclude",
					Msg:  fmt.Sprintf("%s depends on %s, which environment %q excludes", j.FullName(), dep, name),
					Hint: fmt.Sprintf("exclude %s too, or stop excluding %s", j.FullName(), dep),
				})
			}
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, nil, errs
	}
	jobs := make(map[string]*Job)
	for _, j := range out.Jobs() {
		jobs[j.FullName()] = j
	}
	for _, full := range env.Exclude {
		if jobs[full] != nil {
			notes = append(notes, "excluded "+full)
		}
	}
	services := out.Services[:0]
	for _, s := range out.Services {
		s.Jobs = slices.DeleteFunc(s.Jobs, func(j *Job) bool { return excluded[j.FullName()] })
		if len(s.Jobs) > 0 {
			services = append(services, s)
		}
	}
	out.Services = services

	suffix := fmt.Sprintf(" (%s patch)", name)
	for _, full := range sortedKeys(env.Jobs) {
		p, j := env.Jobs[full], jobs[full]
		if j == nil {
			continue
		}
		if p.Image != nil {
			j.Image = *p.Image
			notes = append(notes, fmt.Sprintf("%s: image %s%s", full, j.Image, suffix))
		}
		if p.Command != nil {
			j.Command = slices.Clone(p.Command)
			notes = append(notes, fmt.Sprintf("%s: command %s%s", full, quoteWords(j.Command), suffix))
		}
		for _, k := range sortedKeys(p.Env) {
			if j.Env == nil {
				j.Env = map[string]string{}
			}
			j.Env[k] = p.Env[k]
			notes = append(notes, fmt.Sprintf("%s: env %s=%s%s", full, k, p.Env[k], suffix))
		}
		if p.Memory != nil {
			j.Memory = *p.Memory
			m := "no limit"
			if j.Memory > 0 {
				m = FormatSize(j.Memory)
			}
			notes = append(notes, fmt.Sprintf("%s: memory %s%s", full, m, suffix))
		}
	}
	// The overlay is applied: drop it, keeping pool and pin, and drop what
	// other environments say about jobs the copy no longer has, so that
	// the copy is a valid file that renders and loads back.
	env.Exclude, env.Jobs = nil, nil
	for _, e := range out.Environments {
		e.Exclude = slices.DeleteFunc(e.Exclude, func(full string) bool { return jobs[full] == nil || excluded[full] })
		if len(e.Exclude) == 0 {
			e.Exclude = nil
		}
		maps.DeleteFunc(e.Jobs, func(full string, _ *JobPatch) bool { return excluded[full] })
		if len(e.Jobs) == 0 {
			e.Jobs = nil
		}
	}
	return out, notes, nil
}

// quoteWords formats a command for notes: ["/blog", "--port", "9090"].
func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = fmt.Sprintf("%q", w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Clone returns a deep copy of f.
func (f *File) Clone() *File {
	if f == nil {
		return nil
	}
	out := *f
	out.Vars = maps.Clone(f.Vars)
	out.Warnings = slices.Clone(f.Warnings)
	out.Hosts = make([]*Host, len(f.Hosts))
	for i, h := range f.Hosts {
		c := *h
		c.Labels = maps.Clone(h.Labels)
		if h.TLS != nil {
			t := *h.TLS
			c.TLS = &t
		}
		out.Hosts[i] = &c
	}
	if f.Hosts == nil {
		out.Hosts = nil
	}
	out.Services = nil
	for _, s := range f.Services {
		c := *s
		c.Jobs = make([]*Job, len(s.Jobs))
		for i, j := range s.Jobs {
			c.Jobs[i] = j.Clone()
		}
		out.Services = append(out.Services, &c)
	}
	if f.Environments != nil {
		out.Environments = make(map[string]*Environment, len(f.Environments))
		for name, e := range f.Environments {
			out.Environments[name] = e.Clone()
		}
	}
	return &out
}

// Clone returns a deep copy of j.
func (j *Job) Clone() *Job {
	c := *j
	c.Command = slices.Clone(j.Command)
	c.Entrypoint = slices.Clone(j.Entrypoint)
	c.Ports = slices.Clone(j.Ports)
	c.Env = maps.Clone(j.Env)
	c.Volumes = slices.Clone(j.Volumes)
	c.DependsOn = slices.Clone(j.DependsOn)
	if j.Health != nil {
		h := *j.Health
		h.Cmd = slices.Clone(j.Health.Cmd)
		c.Health = &h
	}
	c.Tasks = nil
	for _, t := range j.Tasks {
		tc := *t
		tc.Env = maps.Clone(t.Env)
		c.Tasks = append(c.Tasks, &tc)
	}
	return &c
}

// Clone returns a deep copy of e.
func (e *Environment) Clone() *Environment {
	c := *e
	c.Exclude = slices.Clone(e.Exclude)
	c.Pool = slices.Clone(e.Pool)
	c.Pin = maps.Clone(e.Pin)
	if e.ExtraHosts != nil {
		b := *e.ExtraHosts
		c.ExtraHosts = &b
	}
	if e.Jobs != nil {
		c.Jobs = make(map[string]*JobPatch, len(e.Jobs))
		for name, p := range e.Jobs {
			pc := *p
			if p.Image != nil {
				img := *p.Image
				pc.Image = &img
			}
			if p.Memory != nil {
				m := *p.Memory
				pc.Memory = &m
			}
			pc.Command = slices.Clone(p.Command)
			pc.Env = maps.Clone(p.Env)
			c.Jobs[name] = &pc
		}
	}
	return &c
}

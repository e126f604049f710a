package prodspec

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cjob/cjob/prodspec/legacy"
)

// DefaultProject is the project of a legacy file whose directory name gives
// no valid project name.
const DefaultProject = "coding"

// parseLegacy parses a jobs file in the original tool's protobuf text format
// (see legacy/jobs.proto) with prototext, and turns each entry into a
// service holding one job of the same name, running on its run_on_host. The
// file names no hosts: every run_on_host becomes a Host with no address.
// The project is opts.Project, or the file's directory name made into a
// valid name (see legacyProject). Legacy files have no templates or vars.
func parseLegacy(path string, data []byte, opts LoadOptions) (*File, error) {
	r := &reporter{file: path}
	var msg legacy.Jobs
	if err := prototext.Unmarshal(data, &msg); err != nil {
		r.protoError(err)
		return nil, r.result()
	}
	f := &File{Path: path, DNSSuffix: DefaultDNSSuffix, Project: opts.Project}
	if f.Project == "" {
		f.Project = legacyProject(path)
	} else if err := checkName("project", f.Project); err != nil {
		r.errorAt(Pos{}, "", "%v", err)
	}
	c := &legacyConverter{r: r, tree: scanText(data), src: &sources{}, hosts: map[string]*Host{}, names: map[string]Pos{}}
	for _, k := range sortedKeys(opts.Set) {
		c.src.warnings = append(c.src.warnings, fmt.Sprintf("--set %s: legacy files have no vars", k))
	}
	for i, lj := range msg.Jobs {
		if j := c.job(i, lj); j != nil {
			f.Services = append(f.Services, &Service{Name: j.Name, Jobs: []*Job{j}, Pos: j.Pos})
		}
	}
	for _, h := range c.hosts {
		f.Hosts = append(f.Hosts, h)
	}
	slices.SortFunc(f.Hosts, func(a, b *Host) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(f.Services, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	validate(f, c.src, r, &suggester{})
	if err := r.result(); err != nil {
		return nil, err
	}
	f.Warnings = append(c.src.warnings, placementWarnings(f)...)
	slices.Sort(f.Warnings)
	return f, nil
}

// legacyConverter turns legacy jobs into Jobs, checking their values.
type legacyConverter struct {
	r     *reporter
	tree  *textMsg // where fields were written
	src   *sources
	hosts map[string]*Host // every run_on_host
	names map[string]Pos   // job names seen, for duplicates
}

// job converts the i-th legacy job. It returns nil for a duplicate name.
func (c *legacyConverter) job(i int, lj *legacy.Job) *Job {
	r, path := c.r, index("jobs", i)
	jt, jpos := c.tree.sub("jobs", i), Pos{Line: 1, Column: 1}
	if i < len(c.tree.fields["jobs"]) {
		jpos = c.tree.fields["jobs"][i].name
	}
	// at is where a field of this job was written: its value, or the job.
	at := func(field string) Pos { return jt.at(field, 0, jpos) }
	j := &Job{Service: lj.GetName(), Name: lj.GetName(), Pos: jpos, Critical: lj.GetCritical(), Oneshot: lj.GetOneshot()}

	switch first, dup := c.names[j.Name]; {
	case j.Name == "":
		r.errorAt(jpos, path, "job has no name")
	case dup:
		r.errorAt(at("name"), join(path, "name"), "duplicate job name %q", j.Name).Hint = fmt.Sprintf("first used at line %d", first.Line)
		return nil
	default:
		if err := checkName("job", j.Name); err != nil {
			r.errorAt(at("name"), join(path, "name"), "%v", err)
		}
		c.names[j.Name] = at("name")
	}
	if lj.GetImage() == "" {
		r.errorAt(jpos, path, "missing required field %q", "image")
	} else if err := checkImage(lj.GetImage()); err != nil {
		r.errorAt(at("image"), join(path, "image"), "%v", err)
	} else {
		j.Image = lj.GetImage()
	}
	if h := lj.GetRunOnHost(); h == "" {
		r.errorAt(jpos, path, "job has no task: add run_on_host")
	} else if err := checkHostName(h); err != nil {
		r.errorAt(at("run_on_host"), join(path, "run_on_host"), "%v", err)
	} else {
		j.Tasks = []*Task{{Host: h, Pos: at("run_on_host")}}
		if c.hosts[h] == nil {
			c.hosts[h] = &Host{Name: h, Pos: at("run_on_host")}
		}
	}
	if p := strings.TrimSpace(lj.GetPort()); p != "" {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil:
			r.errorAt(at("port"), join(path, "port"), "invalid port %q: want a number from 1 to 65535", p)
		case n < 1 || n > 65535:
			r.errorAt(at("port"), join(path, "port"), "port %d out of range 1-65535", n)
		default:
			j.Ports = []int{n}
		}
	}
	for k, e := range lj.GetEnvs() {
		p := index(join(path, "envs"), k)
		keyPos := jt.sub("envs", k).at("key", 0, jt.at("envs", k, jpos))
		if err := checkEnvKey(e.GetKey()); err != nil {
			r.errorAt(keyPos, join(p, "key"), "%v", err)
			continue
		}
		if _, dup := j.Env[e.GetKey()]; dup {
			r.errorAt(keyPos, join(p, "key"), "duplicate environment variable %q", e.GetKey())
			continue
		}
		if j.Env == nil {
			j.Env = map[string]string{}
		}
		j.Env[e.GetKey()] = e.GetValue()
	}
	for k, s := range lj.GetVolumes() {
		v, err := ParseVolume(s)
		if err == nil && slices.ContainsFunc(j.Volumes, func(o Volume) bool { return o.Target == v.Target }) {
			err = fmt.Errorf("two volumes mount on %s", v.Target)
		}
		if err != nil {
			r.errorAt(jt.at("volumes", k, jpos), index(join(path, "volumes"), k), "%v", err)
			continue
		}
		j.Volumes = append(j.Volumes, v)
	}
	if s := lj.GetMemory(); s != "" {
		m, err := ParseSize(s)
		if err != nil {
			r.errorAt(at("memory"), join(path, "memory"), "%v", err)
		} else if msg, hint := checkMemory(m); msg != "" {
			r.errorAt(at("memory"), join(path, "memory"), "%s", msg).Hint = hint
		} else {
			j.Memory = m
		}
	}
	if s := lj.GetCommand(); s != "" {
		w, err := SplitWords(s)
		if err == nil && len(w) == 0 {
			err = fmt.Errorf("empty command")
		}
		if err != nil {
			r.errorAt(at("command"), join(path, "command"), "%v", err)
		} else {
			j.Command = w
		}
	}
	js := &jobSource{job: j, path: path}
	for k, dep := range lj.GetDependsOn() {
		js.deps = append(js.deps, ref{name: dep, pos: jt.at("depends_on", k, jpos), path: index(join(path, "depends_on"), k)})
	}
	c.src.jobs = append(c.src.jobs, js)
	return j
}

// legacyProject names the project of a legacy file after its directory:
// lowercased, with runs of other characters than letters and digits made
// into one '-', and cut to 63 characters. It is DefaultProject when that
// leaves nothing.
func legacyProject(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	var b strings.Builder
	for _, c := range strings.ToLower(filepath.Base(dir)) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.Trim(name, "-")
	if name == "" {
		return DefaultProject
	}
	return name
}

// protoErrorRE matches the position prototext puts in its errors.
var protoErrorRE = regexp.MustCompile(`\(line (\d+):(\d+)\): (.*)$`)

// unknownFieldRE matches prototext's unknown field error.
var unknownFieldRE = regexp.MustCompile(`^unknown field: (\S+)`)

// protoError records a prototext error at the position it names.
func (r *reporter) protoError(err error) {
	msg := err.Error()
	var p Pos
	if m := protoErrorRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column, _ = strconv.Atoi(m[2])
		msg = m[3]
		if strings.Contains(err.Error(), "syntax error (line") {
			msg = "syntax error: " + msg
		}
	} else {
		// "proto: " with a regular or a non-breaking space.
		msg = strings.TrimLeft(strings.TrimPrefix(msg, "proto:"), " \u00a0")
	}
	e := r.errorAt(p, "", "%s", msg)
	if v, ok := strings.CutPrefix(msg, "invalid value for string type: "); ok {
		e.Hint = fmt.Sprintf("write it in quotes: %q", v)
	}
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		if m[1] == "jobs" {
			e.Hint = "is the job before it missing its closing >?"
		} else {
			var s suggester
			e.Hint = s.didYouMean(m[1], legacyFieldNames())
		}
	}
}

// legacyFieldNames lists every field name of the legacy schema.
func legacyFieldNames() []string {
	var out []string
	for _, md := range []protoreflect.MessageDescriptor{
		(&legacy.Jobs{}).ProtoReflect().Descriptor(),
		(&legacy.Job{}).ProtoReflect().Descriptor(),
		(&legacy.Env{}).ProtoReflect().Descriptor(),
	} {
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			out = append(out, string(fields.Get(i).Name()))
		}
	}
	return out
}

// Package jobdiff compares two versions of a production jobs file, job by
// job and field by field, and masks the secrets in a jobs file so that no
// read of the production server shows them.
//
// Files compares two files as they are. FilesMasked compares them as users
// may see them: values that SecretKey and MaskValue hide are shown as
// Masked, and a change that only a hidden value makes is still reported,
// as a field whose old and new texts are the same masked text and with
// Job.Secret set. FilesAgainstHashes does the same for `cjob diff`, which
// has the pushed file only masked, with the JobHash of each of its jobs.
//
// MaskFile and MaskRendered mask a whole file; MaskValue and MaskEnv mask
// single values.
package jobdiff

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cjob/cjob/prodspec"
)

// Field is the change of one field of a job, a host or the file.
//
// Job fields are named "image", "command", "entrypoint", "ports",
// "env.KEY", "volumes", "memory", "depends_on", "health", "critical",
// "oneshot", "tasks" (the hosts of the tasks, in order) and
// "task[N].env.KEY" (N counts from 1). Host fields are named
// "hosts.NAME.address", ".docker", ".tls", ".memory" and ".labels.KEY", or
// "hosts.NAME" for a host added or removed. The file's other fields are
// "project", "registry", "dns_suffix", "vars.NAME" and
// "environments.ENV.exclude", ".jobs.JOB.image", ".jobs.JOB.command",
// ".jobs.JOB.env.KEY", ".jobs.JOB.memory", ".pool" and ".pin.HOST".
//
// Values are human text: commands as words separated by spaces (quoted
// where needed), other lists joined with ", ", sizes as
// prodspec.FormatSize, health checks as "http /healthz every 5s, timeout
// 2s, 30 retries", volumes as Volume.String, flags as "true" or "false",
// an empty string value as "". A masked diff shows secrets as Masked; when
// only a hidden value changed, Old and New are the same text.
type Field struct {
	Name string `json:"field"`
	Old  string `json:"old,omitempty"` // "" when the field was absent
	New  string `json:"new,omitempty"` // "" when the field is absent
}

// Changes of a job.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Job is the change of one job.
type Job struct {
	Job    string  `json:"job"`              // the full name, service.job
	Change string  `json:"change"`           // Added, Removed or Changed
	Fields []Field `json:"fields,omitempty"` // what changed, for Changed only

	// Secret reports that a value that masking hides was added, removed
	// or changed. Fields holds the field; when only the hidden value in
	// it changed, its Old and New are the same masked text, such as
	// Masked. Only the masked diffs set it.
	Secret bool `json:"secret_changed,omitempty"`
}

// Diff is the difference between two jobs files.
type Diff struct {
	Jobs  []Job   `json:"jobs"`            // sorted by name; only changed, added and removed jobs
	Hosts []Field `json:"hosts,omitempty"` // by host name, then field
	Other []Field `json:"other,omitempty"` // project, registry, dns_suffix, vars, environments
}

// Empty reports whether the files are the same.
func (d Diff) Empty() bool {
	return len(d.Jobs) == 0 && len(d.Hosts) == 0 && len(d.Other) == 0
}

// JobNames returns the full names of the jobs changed, added or removed,
// sorted.
func (d Diff) JobNames() []string {
	names := make([]string, len(d.Jobs))
	for i, j := range d.Jobs {
		names[i] = j.Job
	}
	return names
}

// String formats the diff for people, one job, host section or file
// section after another, each field indented under its heading:
//
//	~ coding-core.api
//	    image: coding/api:1.0.0 -> coding/api:1.1.0
//	    env.DEBUG: (none) -> 1
//	    env.DB_PASSWORD: ******** (hidden value changed)
//	+ coding-core.worker
//	- coding-mail.sms
//	~ hosts
//	    hosts.core-app-1.address: 10.0.2.11 -> 10.0.2.21
//	~ file
//	    registry: registry-a:5000 -> registry-b:5000
//
// An absent value is "(none)". The output ends with a newline unless the
// diff is empty, when it is "".
func (d Diff) String() string {
	var b strings.Builder
	for _, j := range d.Jobs {
		switch j.Change {
		case Added:
			b.WriteString("+ ")
		case Removed:
			b.WriteString("- ")
		default:
			b.WriteString("~ ")
		}
		b.WriteString(j.Job)
		b.WriteByte('\n')
		writeFields(&b, j.Fields)
	}
	if len(d.Hosts) > 0 {
		b.WriteString("~ hosts\n")
		writeFields(&b, d.Hosts)
	}
	if len(d.Other) > 0 {
		b.WriteString("~ file\n")
		writeFields(&b, d.Other)
	}
	return b.String()
}

func writeFields(b *strings.Builder, fields []Field) {
	show := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	for _, f := range fields {
		b.WriteString("    ")
		b.WriteString(f.Name)
		b.WriteString(": ")
		if f.Old == f.New {
			b.WriteString(show(f.Old))
			b.WriteString(" (hidden value changed)\n")
			continue
		}
		b.WriteString(show(f.Old))
		b.WriteString(" -> ")
		b.WriteString(show(f.New))
		b.WriteByte('\n')
	}
}

// mode says how a diff compares and shows values.
type mode struct {
	// compareMasked compares masked texts rather than the values
	// (FilesAgainstHashes, whose old file is already masked).
	compareMasked bool
	// showMasked shows masked texts.
	showMasked bool
	// hashes, for FilesAgainstHashes, are the job hashes of the old file
	// before it was masked.
	hashes map[string]string
}

// Files returns the difference between two files, showing every value as
// it is: use it only where secrets may be shown, and FilesMasked where a
// diff is shown to users. A nil file is an empty one: with old nil, every
// job and host is added.
func Files(old, new *prodspec.File) Diff {
	return files(old, new, mode{})
}

// FilesMasked returns the difference between two files as users may see
// it: every value is shown masked, as MaskFile masks it, and a change of a
// value that masking hides sets Job.Secret and shows the field, with Old
// and New both Masked (or, when only the secret in them changed, both the
// same masked text: "postgres://u:********@db/x"). The real values of
// secrets appear nowhere in the result. Use it wherever a diff is shown to
// users.
//
// This is Files on masked copies of the files plus the changes that only
// hidden values make; with both files at hand, it finds them field by field
// rather than through JobHash.
func FilesMasked(old, new *prodspec.File) Diff {
	return files(old, new, mode{showMasked: true})
}

// FilesAgainstHashes returns the difference between the masked pushed file
// remoteMasked (as MaskRendered gives it), whose jobs had the JobHashes
// remoteHashes before masking, and the local unmasked file local, as
// FilesMasked would show it. It is for `cjob diff` on the client, which
// never receives the pushed secrets.
//
// Fields are compared masked. A secret that changed shows as a change of
// JobHash: when a job's hash differs from remoteHashes, the pushed job is
// rebuilt with the local job's secrets in place of its Masked values; if
// that still does not have the pushed hash, a hidden value changed. Which
// one cannot be told, so the job is reported with Secret set and with
// every local field that masking hides something in (Old and New both
// masked text, when nothing visible changed in it). When the rebuild is
// impossible (a field hides a different number of secrets on each side,
// as when a secret key is removed), only the visible changes are
// reported. Secret is also set when a field hiding a secret is added or
// removed, or starts or stops hiding one. A job missing from remoteHashes is compared masked only, and
// so are hosts and the file's other fields, which have no hashes.
func FilesAgainstHashes(remoteMasked *prodspec.File, remoteHashes map[string]string, local *prodspec.File) Diff {
	return files(remoteMasked, local, mode{compareMasked: true, showMasked: true, hashes: remoteHashes})
}

// files computes a Diff.
func files(old, new *prodspec.File, m mode) Diff {
	if old == nil {
		old = &prodspec.File{}
	}
	if new == nil {
		new = &prodspec.File{}
	}
	d := Diff{Jobs: []Job{}}

	oldJobs, newJobs := jobMap(old), jobMap(new)
	for _, name := range unionKeys(oldJobs, newJobs) {
		oj, nj := oldJobs[name], newJobs[name]
		switch {
		case oj == nil:
			d.Jobs = append(d.Jobs, Job{Job: name, Change: Added})
		case nj == nil:
			d.Jobs = append(d.Jobs, Job{Job: name, Change: Removed})
		default:
			if j, changed := jobDiff(name, oj, nj, m); changed {
				d.Jobs = append(d.Jobs, j)
			}
		}
	}

	oldHosts, newHosts := hostMap(old), hostMap(new)
	for _, name := range unionKeys(oldHosts, newHosts) {
		oh, nh := oldHosts[name], newHosts[name]
		prefix, sort := "hosts."+name+".", name+"\x00"
		switch {
		case oh == nil:
			e := summary(prefix, "hosts."+name, sort, hostEntries(prefix, sort, nh))
			d.Hosts = append(d.Hosts, diffEntries(nil, []entry{e}, m, nil)...)
		case nh == nil:
			e := summary(prefix, "hosts."+name, sort, hostEntries(prefix, sort, oh))
			d.Hosts = append(d.Hosts, diffEntries([]entry{e}, nil, m, nil)...)
		default:
			d.Hosts = append(d.Hosts, diffEntries(hostEntries(prefix, sort, oh), hostEntries(prefix, sort, nh), m, nil)...)
		}
	}

	d.Other = diffEntries(fileEntries(old), fileEntries(new), m, nil)
	return d
}

// jobDiff compares one job of both files.
func jobDiff(name string, oj, nj *prodspec.Job, m mode) (Job, bool) {
	oes, nes := jobEntries(oj), jobEntries(nj)
	var force map[string]bool
	secret := false
	if want, ok := m.hashes[name]; ok && JobHash(nj) != want {
		if pushed, ok := unmaskJob(oj, nj); ok && JobHash(pushed) != want {
			// A hidden value changed, but which one cannot be told: show
			// every field of the local job that hides something.
			secret = true
			force = map[string]bool{}
			for _, e := range nes {
				if e.hidden != nil {
					force[e.name] = true
				}
			}
		}
	}
	fields, hiddenChanged := diffFieldsSecret(oes, nes, m, force)
	if len(fields) == 0 && !secret {
		return Job{}, false
	}
	return Job{Job: name, Change: Changed, Fields: fields, Secret: secret || hiddenChanged}, true
}

// diffEntries compares two lists of entries.
func diffEntries(old, new []entry, m mode, force map[string]bool) []Field {
	fields, _ := diffFieldsSecret(old, new, m, force)
	return fields
}

// diffFieldsSecret compares two lists of entries, in sort order. It
// reports a field when its values differ (masked or not, as m says) or
// when force names it. When showing masked values, it also reports
// whether a hidden value was added, removed or (in unmasked files)
// changed.
func diffFieldsSecret(old, new []entry, m mode, force map[string]bool) ([]Field, bool) {
	byName := func(es []entry) map[string]entry {
		out := make(map[string]entry, len(es))
		for _, e := range es {
			out[e.name] = e
		}
		return out
	}
	om, nm := byName(old), byName(new)
	all := append(slices.Clone(old), new...)
	sortEntries(all)
	var (
		fields []Field
		secret bool
	)
	for i, e := range all {
		if i > 0 && all[i-1].name == e.name {
			continue
		}
		o, n := om[e.name], nm[e.name]
		oc, nc := o.plain, n.plain
		if m.compareMasked {
			oc, nc = o.masked, n.masked
		}
		if oc == nc && !force[e.name] {
			continue
		}
		if !m.showMasked {
			fields = append(fields, Field{Name: e.name, Old: o.plain, New: n.plain})
			continue
		}
		fields = append(fields, Field{Name: e.name, Old: o.masked, New: n.masked})
		if m.compareMasked {
			// The old file is masked: what it hides is unknown, but a
			// secret added or removed shows.
			secret = secret || (o.hidden == nil) != (n.hidden == nil)
		} else {
			secret = secret || !slices.Equal(o.hidden, n.hidden)
		}
	}
	return fields, secret
}

// sortEntries sorts entries by sort key, then name.
func sortEntries(es []entry) {
	slices.SortStableFunc(es, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.sort, b.sort), strings.Compare(a.name, b.name))
	})
}

// jobMap indexes a file's jobs by full name.
func jobMap(f *prodspec.File) map[string]*prodspec.Job {
	out := map[string]*prodspec.Job{}
	for _, s := range f.Services {
		for _, j := range s.Jobs {
			out[j.FullName()] = j
		}
	}
	return out
}

// hostMap indexes a file's hosts by name.
func hostMap(f *prodspec.File) map[string]*prodspec.Host {
	out := make(map[string]*prodspec.Host, len(f.Hosts))
	for _, h := range f.Hosts {
		out[h.Name] = h
	}
	return out
}

// unionKeys returns the keys of both maps, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

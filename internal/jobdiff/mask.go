package jobdiff

import (
	"strings"

	"github.com/cjob/cjob/prodspec"
)

// MaskFile returns a copy of f (see prodspec.File.Clone) with its secrets
// masked, as MaskValue masks them:
//
//   - the env of every job, of every task and of every environment's job
//     patches, and the file's vars and the hosts' labels, by key;
//   - the commands and entrypoints of jobs, the commands of health checks
//     and of patches, by argument (a URL's password, --password=x,
//     "--password", "x"; see MaskValue);
//   - the hosts' Docker endpoints, by the password of their URL.
//
// Everything else is copied as is. The copy renders, and loads back (the
// masked values are valid values). f is not changed; nil gives nil.
func MaskFile(f *prodspec.File) *prodspec.File {
	out := f.Clone()
	if out == nil {
		return nil
	}
	out.Vars = maskMap(out.Vars)
	for _, h := range out.Hosts {
		h.Docker = maskText(h.Docker, nil)
		h.Labels = maskMap(h.Labels)
	}
	for _, j := range out.Jobs() {
		maskJob(j)
	}
	for _, e := range out.Environments {
		for _, p := range e.Jobs {
			p.Command = maskArgs(p.Command, nil)
			p.Env = maskMap(p.Env)
		}
	}
	return out
}

// maskJob masks a job in place. unmaskJob undoes exactly what it does.
func maskJob(j *prodspec.Job) {
	j.Command = maskArgs(j.Command, nil)
	j.Entrypoint = maskArgs(j.Entrypoint, nil)
	j.Env = maskMap(j.Env)
	if j.Health != nil {
		j.Health.Cmd = maskArgs(j.Health.Cmd, nil)
	}
	for _, t := range j.Tasks {
		t.Env = maskMap(t.Env)
	}
}

// maskMap masks the values of a map in place with MaskValue and returns it.
func maskMap(m map[string]string) map[string]string {
	for k, v := range m {
		m[k] = MaskValue(k, v)
	}
	return m
}

// unmaskJob rebuilds the unmasked job of which remote is the masked copy,
// assuming that its secrets are those of local: each Masked in a value of
// remote is replaced by the secret local hides at the same place (the same
// env key, the same argument), in order. It reports false when it cannot:
// local hides a different number of secrets there, or nothing.
func unmaskJob(remote, local *prodspec.Job) (*prodspec.Job, bool) {
	out := remote.Clone()
	ok := true
	value := func(masked string, secrets []string) string {
		n := strings.Count(masked, Masked)
		if n == 0 {
			return masked
		}
		if n != len(secrets) {
			ok = false
			return masked
		}
		return fill(masked, secrets)
	}
	args := func(dst, l []string) {
		_, secrets := maskEachArg(l)
		for i := range dst {
			var s []string
			if len(dst) == len(l) {
				s = secrets[i]
			}
			dst[i] = value(dst[i], s)
		}
	}
	env := func(dst, l map[string]string) {
		for k, v := range dst {
			var secrets []string
			if lv, has := l[k]; has {
				maskValue(k, lv, &secrets)
			}
			dst[k] = value(v, secrets)
		}
	}
	args(out.Command, local.Command)
	args(out.Entrypoint, local.Entrypoint)
	if out.Health != nil {
		var cmd []string
		if local.Health != nil {
			cmd = local.Health.Cmd
		}
		args(out.Health.Cmd, cmd)
	}
	env(out.Env, local.Env)
	for i, t := range out.Tasks {
		var l map[string]string
		if i < len(local.Tasks) {
			l = local.Tasks[i].Env
		}
		env(t.Env, l)
	}
	return out, ok
}

// fill replaces the Masked in s by secrets, in order; there must be as
// many as there are Masked.
func fill(s string, secrets []string) string {
	parts := strings.Split(s, Masked)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(secrets[i-1])
		}
		b.WriteString(p)
	}
	return b.String()
}

// MaskRendered parses a jobs file (see prodspec.Parse; path is only used
// in errors), masks it with MaskFile and renders it back with
// prodspec.Render: what the server gives whoever reads a pushed file.
// Apart from the masked values, the output is Render's of the unmasked
// file.
func MaskRendered(path string, data []byte) ([]byte, error) {
	f, err := prodspec.Parse(path, data, prodspec.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return prodspec.Render(MaskFile(f))
}

// JobHashes returns the JobHash of every job of f, by full name.
func JobHashes(f *prodspec.File) map[string]string {
	out := map[string]string{}
	if f == nil {
		return out
	}
	for _, j := range f.Jobs() {
		out[j.FullName()] = JobHash(j)
	}
	return out
}

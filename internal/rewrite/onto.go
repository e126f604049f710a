package rewrite

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// StagingOptions describe a placement of production onto a pool.
type StagingOptions struct {
	// Assign maps each production host to the pool host it runs on.
	Assign map[string]string
	// Address maps each pool host to the address other hosts reach it at.
	Address map[string]string
	// Notes from the placement, carried into the result.
	PlacementNotes []string
	HostPathExists func(string) bool
	StopTimeout    time.Duration
}

// RewriteStaging turns production into the staging stack: every task of
// every job (all replicas, as in production) runs with host networking on
// the pool host its production host was placed on, and every production
// host name (and <host><dns_suffix>, and each job's DNS names) is written
// into every container's /etc/hosts, pointing at the pool host that carries
// it. So env values that name production hosts work unchanged. It is the
// dev rewrite with a different placement: no sandboxes, one engine per pool
// host.
func Staging(f *prodspec.File, opts StagingOptions) (*Result, error) {
	return onto(f, stack.Staging, opts)
}

// Production is production as version `version` of the jobs file declares
// it: every task on its own host's engine (the unit's Engine is the
// production host name), with host networking; the production names are
// written into /etc/hosts too, so a host whose DNS lags still reaches its
// peers by name. The environment "production", when the file declares one,
// is applied first. Every container carries the version it was made from
// (cjob.version, not part of the config hash); version 0 sets none.
func Production(f *prodspec.File, version int64) (*Result, error) {
	opts := StagingOptions{Assign: map[string]string{}, Address: map[string]string{}}
	used := map[string]bool{}
	for _, j := range f.Jobs() {
		for _, t := range j.Tasks {
			used[t.Host] = true
		}
	}
	var missing []string
	for _, h := range f.Hosts {
		opts.Assign[h.Name] = h.Name
		addr := h.Address
		if addr == "" {
			addr = h.Name + f.DNSSuffix
		}
		opts.Address[h.Name] = addr
		if used[h.Name] && h.Docker == "" {
			missing = append(missing, h.Name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("production host %s has no docker: endpoint; give each host its engine (docker: tcp://ADDRESS:2376 with tls:, or ssh://user@ADDRESS)", strings.Join(missing, ", "))
	}
	res, err := onto(f, stack.Production, opts)
	if err != nil || version == 0 {
		return res, err
	}
	v := strconv.FormatInt(version, 10)
	for _, u := range res.Stack.Units {
		u.Labels = map[string]string{stack.LabelVersion: v}
	}
	return res, nil
}

// onto places every task on the engine its host is assigned to.
func onto(f *prodspec.File, env stack.Env, opts StagingOptions) (*Result, error) {
	f, envNotes, err := f.ForEnvironment(env.String())
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, n := range envNotes {
		res.Notes = append(res.Notes, Note{Subject: "stack", Text: n})
	}
	for _, n := range opts.PlacementNotes {
		res.Notes = append(res.Notes, Note{Subject: "placement", Text: n})
	}
	st := &stack.Stack{Project: f.Project, Env: env}
	res.Stack = st
	stopTimeout := opts.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 10 * time.Second
	}

	// Every production name, pointing at the pool host that carries it.
	extra := map[string]string{}
	shortCount := map[string]int{}
	for _, j := range f.Jobs() {
		shortCount[j.Name]++
	}
	var missing []string
	for _, h := range f.Hosts {
		pool, ok := opts.Assign[h.Name]
		if !ok {
			continue
		}
		addr := opts.Address[pool]
		if addr == "" {
			missing = append(missing, pool)
			continue
		}
		extra[h.Name] = addr
		extra[h.Name+f.DNSSuffix] = addr
		if env != stack.Production {
			res.Notes = append(res.Notes, Note{Subject: "host " + h.Name, Text: fmt.Sprintf("placed on pool host %s (%s); its names point there in every container's /etc/hosts", pool, addr)})
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("pool host %s has no address: give it `address:` in the jobs file (or a tcp:// docker endpoint)", strings.Join(Dedupe(missing), ", "))
	}
	for _, j := range f.Jobs() {
		if len(j.Tasks) == 0 {
			continue
		}
		addr := extra[j.Tasks[0].Host]
		if addr == "" {
			continue
		}
		extra[j.Name+"."+j.Service+f.DNSSuffix] = addr
		if shortCount[j.Name] == 1 {
			extra[j.Name+f.DNSSuffix] = addr
		}
	}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	extraHosts := make([]string, len(names))
	for i, n := range names {
		extraHosts[i] = n + ":" + extra[n]
	}
	if e := f.Environments[env.String()]; e != nil && e.ExtraHosts != nil && !*e.ExtraHosts {
		extraHosts = nil
		res.Note("stack", "production names are not written into /etc/hosts (environments."+env.String()+".extra_hosts: false): DNS serves them")
	}

	hostAddr := HostAddresses(f)
	volumes := map[string]stack.Volume{}
	byJob := map[string][]string{}
	for _, j := range f.Jobs() {
		name := j.FullName()
		check := JobCheck(j)
		for _, t := range j.Tasks {
			pool := opts.Assign[t.Host]
			if pool == "" {
				return nil, fmt.Errorf("%s: production host %s has no place in the pool", name, t.Host)
			}
			num := t.Index + 1
			u := &stack.Unit{
				Key: TaskKey(name, num), Name: TaskName(f.Project, env, j, num), Kind: stack.KindTask,
				Service: j.Service, Job: name, Task: num, Host: t.Host, Engine: pool, Probe: opts.Address[pool],
				Health: check, Oneshot: j.Oneshot, Critical: j.Critical,
				Spec: stack.Spec{
					Image: j.Image, Command: j.Command, Entrypoint: j.Entrypoint, Memory: j.Memory,
					HostNetwork: true, ExtraHosts: extraHosts, StopTimeout: stopTimeout,
				},
			}
			u.Spec.Env = TaskEnv(j, t, hostAddr, func(text string) {
				res.Notes = append(res.Notes, Note{Subject: name, Text: text})
			})
			if env == stack.Production {
				u.Spec.Mounts = prodMounts(j)
				for _, m := range u.Spec.Mounts {
					if m.Type == "bind" {
						res.Note(name, fmt.Sprintf("host path %s on %s is bound at %s; the engine makes the folder when it is missing", m.Source, t.Host, m.Target))
					}
				}
			} else {
				u.Spec.Mounts = TaskMounts(f.Project, env, t.Host, j, opts.HostPathExists, res)
			}
			for _, m := range u.Spec.Mounts {
				if m.Type == "volume" {
					volumes[stack.VolumeKey(pool, m.Source)] = stack.Volume{Name: m.Source, Engine: pool}
				}
			}
			for _, p := range j.Ports {
				u.URLs = append(u.URLs, stack.URL{Port: p, Production: fmt.Sprintf("%s:%d", t.Host, p),
					Local: fmt.Sprintf("http://%s:%d", opts.Address[pool], p), HTTP: check != nil && check.HTTP != ""})
			}
			st.Units = append(st.Units, u)
			byJob[name] = append(byJob[name], u.Key)
		}
	}
	jobByName := map[string]*prodspec.Job{}
	for _, j := range f.Jobs() {
		jobByName[j.FullName()] = j
	}
	for _, u := range st.Units {
		for _, d := range jobByName[u.Job].DependsOn {
			u.DependsOn = append(u.DependsOn, byJob[d]...)
		}
		sort.Strings(u.DependsOn)
	}
	for _, v := range volumes {
		st.Volumes = append(st.Volumes, v)
	}
	st.Sort()
	res.SortNotes()
	return res, nil
}

// prodMounts are a job's volumes as production declares them: host paths
// bound, named volumes by their own name (the engine creates them).
func prodMounts(j *prodspec.Job) []stack.Mount {
	var out []stack.Mount
	for _, v := range j.Volumes {
		typ := "volume"
		if strings.HasPrefix(v.Source, "/") {
			typ = "bind"
		}
		out = append(out, stack.Mount{Type: typ, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	return out
}

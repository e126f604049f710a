package prodspec

import (
	"fmt"
	"slices"
	"strings"
)

// ref is a name written in the file, kept with where it was written so that
// validate can report it.
type ref struct {
	name string
	pos  Pos
	path string
}

// sources records the names a decoded File refers to, for validate.
type sources struct {
	jobs     []*jobSource
	envs     []*envSource
	warnings []string // found while decoding
}

type jobSource struct {
	job   *Job
	path  string
	deps  []ref // depends_on entries as written
	hosts []ref // the host of each task
}

type envSource struct {
	env     *Environment
	path    string
	exclude []ref
	pool    []ref
	pin     []pinSource
	patches []patchSource
}

type pinSource struct{ from, to ref }

type patchSource struct {
	ref   ref
	patch *JobPatch
}

// nameIndex is a File's names, for resolving references.
type nameIndex struct {
	hosts      map[string]*Host
	hostNames  []string
	jobs       map[string]*Job     // by full name
	short      map[string][]string // job name -> full names
	services   map[string]*Service
	fullNames  []string // sorted
	shortNames []string // sorted, unique
}

func newIndex(f *File) *nameIndex {
	ix := &nameIndex{
		hosts:    make(map[string]*Host, len(f.Hosts)),
		jobs:     map[string]*Job{},
		short:    map[string][]string{},
		services: make(map[string]*Service, len(f.Services)),
	}
	for _, h := range f.Hosts {
		ix.hosts[h.Name] = h
		ix.hostNames = append(ix.hostNames, h.Name)
	}
	for _, s := range f.Services {
		ix.services[s.Name] = s
		for _, j := range s.Jobs {
			full := j.FullName()
			ix.jobs[full] = j
			ix.fullNames = append(ix.fullNames, full)
			if len(ix.short[j.Name]) == 0 {
				ix.shortNames = append(ix.shortNames, j.Name)
			}
			ix.short[j.Name] = append(ix.short[j.Name], full)
		}
	}
	slices.Sort(ix.fullNames)
	slices.Sort(ix.shortNames)
	return ix
}

// validator checks the references of a decoded File.
type validator struct {
	r  *reporter
	sg *suggester
	ix *nameIndex
}

// validate resolves and checks every reference in f: task hosts,
// dependencies (and their cycles), and environments. It fills in
// Job.DependsOn, Environment.Exclude, Jobs, Pool and Pin.
func validate(f *File, src *sources, r *reporter, sg *suggester) {
	v := &validator{r: r, sg: sg, ix: newIndex(f)}
	edges := map[string][]edge{}
	for _, js := range src.jobs {
		for _, h := range js.hosts {
			v.host(h)
		}
		full := js.job.FullName()
		seen := map[string]bool{}
		for _, dep := range js.deps {
			to, ok := v.job(dep)
			switch {
			case !ok:
			case to == full:
				v.r.errorAt(dep.pos, dep.path, "job %s depends on itself", full)
			case seen[to]:
				v.r.errorAt(dep.pos, dep.path, "depends on %s twice", to)
			default:
				seen[to] = true
				js.job.DependsOn = append(js.job.DependsOn, to)
				edges[full] = append(edges[full], edge{to: to, ref: dep})
			}
		}
		slices.Sort(js.job.DependsOn)
	}
	v.cycles(edges)
	for _, es := range src.envs {
		v.environment(es)
	}
}

// host checks that a host name is declared.
func (v *validator) host(h ref) bool {
	if v.ix.hosts[h.name] != nil {
		return true
	}
	e := v.r.errorAt(h.pos, h.path, "unknown host %q", h.name)
	if e.Hint = v.sg.didYouMean(h.name, v.ix.hostNames); e.Hint == "" {
		e.Hint = "declare it under hosts:"
	}
	return false
}

// job resolves a job reference: a full name, or a job name that only one
// service uses.
func (v *validator) job(r ref) (string, bool) {
	if v.ix.jobs[r.name] != nil {
		return r.name, true
	}
	if !strings.Contains(r.name, ".") {
		switch m := v.ix.short[r.name]; len(m) {
		case 0:
		case 1:
			return m[0], true
		default:
			v.r.errorAt(r.pos, r.path, "ambiguous job name %q: it matches %s", r.name, quoteList(m)).Hint =
				"use the full name, <service>.<job>"
			return "", false
		}
	}
	e := v.r.errorAt(r.pos, r.path, "unknown job %q", r.name)
	if s := v.ix.services[r.name]; s != nil {
		names := make([]string, len(s.Jobs))
		for i, j := range s.Jobs {
			names[i] = j.FullName()
		}
		e.Hint = fmt.Sprintf("%q is a service; name one of its jobs: %s", r.name, quoteList(names))
		return "", false
	}
	candidates := v.ix.shortNames
	if strings.Contains(r.name, ".") {
		candidates = v.ix.fullNames
	}
	e.Hint = v.sg.didYouMean(r.name, candidates)
	return "", false
}

// edge is a dependency, with where it was written.
type edge struct {
	to  string
	ref ref
}

// cycles reports each dependency cycle once, as a -> b -> a starting from
// the cycle's first job by name, at that job's depends_on entry.
func (v *validator) cycles(edges map[string][]edge) {
	names := v.ix.fullNames
	id := make(map[string]int, len(names))
	for i, n := range names {
		id[n] = i
	}
	adj := make([][]edge, len(names))
	for from, es := range edges {
		es = slices.Clone(es)
		slices.SortFunc(es, func(a, b edge) int { return strings.Compare(a.to, b.to) })
		adj[id[from]] = es
	}
	// Tarjan's strongly connected components, iteratively.
	var (
		index   = make([]int, len(names)) // 0: unvisited; else visit order + 1
		low     = make([]int, len(names))
		onStack = make([]bool, len(names))
		stack   []int
		counter int
		sccOf   = make([]int, len(names))
		nscc    int
	)
	type frame struct{ n, next int }
	for root := range names {
		if index[root] != 0 {
			continue
		}
		call := []frame{{n: root}}
		counter++
		index[root], low[root] = counter, counter
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			fr := &call[len(call)-1]
			if fr.next < len(adj[fr.n]) {
				w := id[adj[fr.n][fr.next].to]
				fr.next++
				if index[w] == 0 {
					counter++
					index[w], low[w] = counter, counter
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{n: w})
				} else if onStack[w] {
					low[fr.n] = min(low[fr.n], index[w])
				}
				continue
			}
			n := fr.n
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].n
				low[p] = min(low[p], low[n])
			}
			if low[n] == index[n] {
				nscc++
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					sccOf[w] = nscc
					if w == n {
						break
					}
				}
			}
		}
	}
	size := make([]int, nscc+1)
	for _, c := range sccOf {
		size[c]++
	}
	reported := make([]bool, nscc+1)
	for start := range names { // in name order, so start is the SCC's first name
		c := sccOf[start]
		if size[c] < 2 || reported[c] {
			continue
		}
		reported[c] = true
		path := v.shortestCycle(start, adj, id, sccOf)
		cycle := make([]string, len(path)+1)
		for i, n := range path {
			cycle[i] = names[n]
		}
		cycle[len(path)] = names[start]
		first := adj[start][slices.IndexFunc(adj[start], func(e edge) bool { return id[e.to] == path[1] })].ref
		v.r.errorAt(first.pos, first.path, "dependency cycle: %s", strings.Join(cycle, " -> ")).Hint =
			"remove one of these dependencies"
	}
}

// shortestCycle finds, by breadth-first search inside start's component,
// the shortest path from start back to itself. It returns the nodes from
// start up to the last one before start.
func (v *validator) shortestCycle(start int, adj [][]edge, id map[string]int, sccOf []int) []int {
	prev := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range adj[n] {
			w := id[e.to]
			if sccOf[w] != sccOf[start] {
				continue
			}
			if w == start {
				var path []int
				for x := n; x != -1; x = prev[x] {
					path = append(path, x)
				}
				slices.Reverse(path)
				return path
			}
			if _, seen := prev[w]; !seen {
				prev[w] = n
				queue = append(queue, w)
			}
		}
	}
	return []int{start} // not reached: start is in a cycle
}

// environment resolves and checks an environment's names.
func (v *validator) environment(es *envSource) {
	env := es.env
	excluded := map[string]bool{}
	for _, r := range es.exclude {
		full, ok := v.job(r)
		if !ok {
			continue
		}
		if excluded[full] {
			v.r.errorAt(r.pos, r.path, "%s excluded twice", full)
			continue
		}
		excluded[full] = true
		env.Exclude = append(env.Exclude, full)
	}
	slices.Sort(env.Exclude)
	for _, p := range es.patches {
		full, ok := v.job(p.ref)
		if !ok {
			continue
		}
		if excluded[full] {
			v.r.errorAt(p.ref.pos, p.ref.path, "%s is both excluded and patched in environment %q", full, env.Name).Hint =
				"drop the patch or the exclusion"
			continue
		}
		if env.Jobs[full] != nil {
			v.r.errorAt(p.ref.pos, p.ref.path, "%s patched twice in environment %q", full, env.Name)
			continue
		}
		if env.Jobs == nil {
			env.Jobs = map[string]*JobPatch{}
		}
		env.Jobs[full] = p.patch
	}
	inPool := map[string]bool{}
	for _, r := range es.pool {
		if !v.host(r) {
			continue
		}
		if inPool[r.name] {
			v.r.errorAt(r.pos, r.path, "host %s is in the pool twice", r.name)
			continue
		}
		inPool[r.name] = true
		env.Pool = append(env.Pool, r.name)
	}
	for _, p := range es.pin {
		okFrom, okTo := v.host(p.from), v.host(p.to)
		if !okFrom || !okTo {
			continue
		}
		if len(env.Pool) > 0 && !inPool[p.to.name] {
			v.r.errorAt(p.to.pos, p.to.path, "pin target %s is not in the pool", p.to.name).Hint =
				fmt.Sprintf("add it to environments.%s.pool", env.Name)
			continue
		}
		if env.Pin == nil {
			env.Pin = map[string]string{}
		}
		env.Pin[p.from.name] = p.to.name
	}
}

// placementWarnings finds likely trouble in where tasks run: two tasks on a
// host using one port, and hosts whose jobs ask for more memory than the
// host has.
func placementWarnings(f *File) []string {
	type hostPort struct {
		host string
		port int
	}
	users := map[hostPort][]string{}
	mem := map[string]int64{}
	for _, s := range f.Services {
		for _, j := range s.Jobs {
			for _, t := range j.Tasks {
				for _, p := range j.Ports {
					k := hostPort{t.Host, p}
					users[k] = append(users[k], j.FullName())
				}
				mem[t.Host] += j.Memory
			}
		}
	}
	var out []string
	keys := make([]hostPort, 0, len(users))
	for k, u := range users {
		if len(u) > 1 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b hostPort) int {
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		return a.port - b.port
	})
	for _, k := range keys {
		u := slices.Clone(users[k])
		slices.Sort(u)
		out = append(out, fmt.Sprintf("host %s: port %d is used by %d tasks: %s", k.host, k.port, len(u), strings.Join(u, ", ")))
	}
	for _, h := range f.Hosts {
		if h.Memory > 0 && mem[h.Name] > h.Memory {
			out = append(out, fmt.Sprintf("host %s: its tasks ask for %s of memory, the host has %s",
				h.Name, FormatSize(mem[h.Name]), FormatSize(h.Memory)))
		}
	}
	return out
}

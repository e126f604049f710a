package devenv

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cjob/cjob/prodspec"
)

// ResolveJob finds a job by full name (service.job) or by a job name that is
// unique in the file. The error lists candidates.
func ResolveJob(f *prodspec.File, name string) (*prodspec.Job, error) {
	if j := f.Job(name); j != nil {
		return j, nil
	}
	var matches []*prodspec.Job
	for _, j := range f.Jobs() {
		if j.Name == name {
			matches = append(matches, j)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		var all []string
		for _, j := range f.Jobs() {
			all = append(all, j.FullName())
		}
		return nil, fmt.Errorf("unknown job %q%s (jobs: %s)", name, suggest(name, all), strings.Join(all, ", "))
	}
	var names []string
	for _, m := range matches {
		names = append(names, m.FullName())
	}
	return nil, fmt.Errorf("job name %q is ambiguous: use one of %s", name, strings.Join(names, ", "))
}

func suggest(name string, all []string) string {
	best, bestD := "", 4
	for _, a := range all {
		short := a[strings.IndexByte(a, '.')+1:]
		for _, cand := range []string{a, short} {
			if d := distance(name, cand); d < bestD {
				best, bestD = a, d
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// selectJobs returns the jobs of the stack: all, or the named ones and their
// transitive dependencies (the second result lists those added).
func selectJobs(f *prodspec.File, only []string) ([]*prodspec.Job, []string, error) {
	if len(only) == 0 {
		return f.Jobs(), nil, nil
	}
	chosen := map[string]bool{}
	var errs []string
	var queue []string
	for _, n := range only {
		j, err := ResolveJob(f, n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		chosen[j.FullName()] = true
		queue = append(queue, j.FullName())
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	var added []string
	for len(queue) > 0 {
		j := f.Job(queue[0])
		queue = queue[1:]
		for _, d := range j.DependsOn {
			if !chosen[d] {
				chosen[d] = true
				added = append(added, d)
				queue = append(queue, d)
			}
		}
	}
	sort.Strings(added)
	var out []*prodspec.Job
	for _, j := range f.Jobs() {
		if chosen[j.FullName()] {
			out = append(out, j)
		}
	}
	return out, added, nil
}

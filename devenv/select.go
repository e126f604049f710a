package devenv

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cjob/cjob/prodspec"
)

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
		j, err := f.ResolveJob(n)
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

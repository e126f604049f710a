package prodspec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnknownJob means the file declares no job of that name; ErrAmbiguousJob
// that a short name is shared by jobs of several services.
var (
	ErrUnknownJob   = errors.New("unknown job")
	ErrAmbiguousJob = errors.New("ambiguous")
)

// ResolveJob finds a job by its full name (service.job) or by a job name
// that is unique in the file. The error says which job was probably meant
// and lists them all, or, for a shared short name, the full names to use.
func (f *File) ResolveJob(name string) (*Job, error) {
	if j := f.Job(name); j != nil {
		return j, nil
	}
	var matches, all []string
	short := map[string]string{} // candidate name -> full name
	for _, j := range f.Jobs() {
		full := j.FullName()
		all = append(all, full)
		short[full] = full
		if j.Name == name {
			matches = append(matches, full)
		}
		if _, taken := short[j.Name]; !taken {
			short[j.Name] = full
		}
	}
	switch len(matches) {
	case 1:
		return f.Job(matches[0]), nil
	case 0:
		hint := ""
		cands := make([]string, 0, len(short))
		for c := range short {
			cands = append(cands, c)
		}
		sort.Strings(cands)
		if c := (&suggester{}).closest(name, cands); c != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", short[c])
		}
		return nil, fmt.Errorf("%w %q%s (jobs: %s)", ErrUnknownJob, name, hint, strings.Join(all, ", "))
	}
	return nil, fmt.Errorf("job name %q is %w: use one of %s", name, ErrAmbiguousJob, strings.Join(matches, ", "))
}

package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Matcher decides which paths of a source folder stay out of the build
// context: the folder's .dockerignore, with docker's semantics (`!`
// exceptions, `**`, later lines win), and .git always. It is safe for
// concurrent use.
type Matcher struct {
	mu       sync.Mutex
	pm       *patternmatcher.PatternMatcher
	patterns []string
}

// Ignore returns the matcher for dir's .dockerignore (plus .git, always),
// for a file watcher to skip what a build would not send. .dockerignore and
// Dockerfile themselves are never ignored: a Dockerfile build still sends
// them, so a change to either matters.
func Ignore(dir string) (*Matcher, error) {
	return newMatcher(dir, nil, []string{".dockerignore", "Dockerfile"})
}

// newMatcher reads dir/.dockerignore (a missing file is no error), then
// ignores .git and the extra patterns, then re-includes the keep paths when
// the patterns so far would leave them out (as docker does for the
// Dockerfile and .dockerignore).
func newMatcher(dir string, extra, keep []string) (*Matcher, error) {
	var patterns []string
	b, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	switch {
	case err == nil:
		patterns, err = ignorefile.ReadAll(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ".dockerignore"), err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	patterns = append(patterns, ".git")
	patterns = append(patterns, extra...)
	for _, k := range keep {
		if k == "" {
			continue
		}
		if out, _ := patternmatcher.MatchesOrParentMatches(k, patterns); out {
			patterns = append(patterns, "!"+k)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	return &Matcher{pm: pm, patterns: patterns}, nil
}

// Patterns returns the patterns in force, in order: .dockerignore's, then
// the ones cjob adds.
func (m *Matcher) Patterns() []string { return append([]string(nil), m.patterns...) }

// Ignored reports whether relPath (relative to the source folder, either
// separator) stays out of the build context. A directory is ignored only
// when nothing below it can come back through a `!` exception, so a watcher
// may skip it whole. .dockerignore itself is never ignored: a change to it
// changes what is built (and calls for a new Matcher).
func (m *Matcher) Ignored(relPath string, isDir bool) bool {
	rel := path.Clean(filepath.ToSlash(relPath))
	if rel == "." || rel == "/" || rel == ".dockerignore" || strings.HasPrefix(rel, "../") {
		return false
	}
	rel = strings.TrimPrefix(rel, "/")
	m.mu.Lock()
	defer m.mu.Unlock()
	out, err := m.pm.MatchesOrParentMatches(rel)
	if err != nil || !out {
		return false
	}
	return !isDir || !m.reincludesBelow(rel)
}

// match is the walk's test: rel against the patterns, given the result of
// its parent directory.
func (m *Matcher) match(rel string, parent patternmatcher.MatchInfo) (bool, patternmatcher.MatchInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pm.MatchesUsingParentResults(rel, parent)
}

// reincludesBelow reports whether an exception pattern may re-include
// something inside the ignored directory dir, so the walk must still enter
// it. This is docker's test (a prefix check on the pattern text).
func (m *Matcher) reincludesBelow(dir string) bool {
	if !m.pm.Exclusions() {
		return false
	}
	prefix := dir + "/"
	for _, p := range m.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", prefix) {
			return true
		}
	}
	return false
}

package prodspec

import (
	"fmt"
	"strings"
)

// maxSuggestions bounds how many "did you mean" searches one load does, so a
// file with thousands of bad references against thousands of names stays
// fast. Later errors simply carry no suggestion.
const maxSuggestions = 200

// suggester finds the closest known name for a misspelt one.
type suggester struct{ used int }

// closest returns the candidate nearest to name by edit distance (with
// transpositions), or "" when none is near enough: at most one edit for
// short names, a third of the length for longer ones. Ties go to the first
// candidate.
func (s *suggester) closest(name string, candidates []string) string {
	if s.used >= maxSuggestions || name == "" {
		return ""
	}
	s.used++
	limit := max(1, len(name)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := len(c) - len(name); d > limit || -d > limit {
			continue
		}
		if d := editDistance(name, c, bestDist); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean returns the hint for the closest candidate, or "".
func (s *suggester) didYouMean(name string, candidates []string) string {
	if c := s.closest(name, candidates); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and swaps of adjacent bytes). It
// gives up and returns limit once every alignment costs at least limit.
func editDistance(a, b string, limit int) int {
	if a == b {
		return 0
	}
	// Three rows: two back (for swaps), previous, current.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// quoteList formats names as "a", "b" and "c" for messages.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

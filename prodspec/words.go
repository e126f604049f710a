package prodspec

import (
	"errors"
	"strings"
)

// SplitWords splits a command written as one string into its arguments,
// the way a shell would split it but with nothing else a shell does:
//
//   - arguments are separated by runs of spaces, tabs and newlines;
//   - 'single quotes' keep everything inside them as is;
//   - "double quotes" keep everything inside them, except that \" and \\
//     stand for " and \;
//   - outside quotes, a backslash keeps the next character as is;
//   - quoted and unquoted parts next to each other join into one argument,
//     and "" is an empty argument.
//
// There is no variable expansion, globbing, piping or redirection: to use a
// shell, write the command as a list, ["/bin/sh", "-c", "..."].
func SplitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word (possibly an empty quoted one)
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New(`unterminated " quote`)
			}
			in = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("backslash at the end of the command")
			}
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

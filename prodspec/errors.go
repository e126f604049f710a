package prodspec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a jobs file. Its Error method formats it as
//
//	jobs.yml:31:9: services.coding-blog.jobs.blog.depends_on[0]: unknown job "cache.redsi" (did you mean "cache.redis"?)
//
// that is File:Line:Column: Path: Msg (Hint), leaving out the parts that are
// empty or zero.
type Error struct {
	File   string // the path as given to Load or Parse
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based, in characters; 0 when unknown
	Path   string // where in the document, e.g. services.coding-blog.jobs.blog.image; may be empty
	Msg    string // what is wrong
	Hint   string // how to fix it, e.g. `did you mean "cache.redis"?`; may be empty
}

// Error formats e as File:Line:Column: Path: Msg (Hint).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteByte(')')
	}
	return b.String()
}

// Pos returns the error's position.
func (e *Error) Pos() Pos { return Pos{Line: e.Line, Column: e.Column} }

// ErrorList is every problem found in a file, sorted by position. Load and
// Parse return one (as an error) when there is any; use errors.As to get it.
type ErrorList []*Error

// Error returns the first error and, like go/scanner, how many more there are.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Format lists every error, one per line, each line ending in a newline.
func (l ErrorList) Format() string {
	var b strings.Builder
	for _, e := range l {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// Unwrap returns the errors, so errors.As can find an *Error in an ErrorList.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Sort sorts l by file, position, path and message, and drops exact
// duplicates (a node reached through several YAML aliases is reported once).
func (l *ErrorList) Sort() {
	slices.SortStableFunc(*l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	*l = slices.CompactFunc(*l, func(a, b *Error) bool { return *a == *b })
}

// reporter collects errors for one file.
type reporter struct {
	file   string
	errs   ErrorList
	closed bool // set once decoding is abandoned; later errors are dropped
}

// errorAt records an error at p and returns it so the caller can set a Hint.
func (r *reporter) errorAt(p Pos, path, format string, args ...any) *Error {
	e := &Error{File: r.file, Line: p.Line, Column: p.Column, Path: path, Msg: format}
	if len(args) > 0 {
		e.Msg = fmt.Sprintf(format, args...)
	}
	if !r.closed {
		r.errs = append(r.errs, e)
	}
	return e
}

// result sorts the collected errors and returns them as an error, or nil.
func (r *reporter) result() error {
	r.errs.Sort()
	return r.errs.Err()
}

// Package table renders aligned, plain-text tables for CLI output:
//
//	NAME             STATUS   AGE
//	coding-core.api  running  3m
//	coding-core.db   exited   10s
//
// Columns are separated by two spaces, headers are upper-cased, and lines
// carry no trailing spaces. Cells may hold ANSI color sequences (see Color)
// and multi-byte UTF-8; widths are counted in terminal columns, ignoring
// escape sequences and counting East Asian wide characters as two.
package table

import (
	"io"
	"strings"
	"unicode"
)

// Table is a table under construction. The zero value is an empty table
// without headers.
type Table struct {
	headers []string
	rows    [][]string
	right   map[int]bool
}

// New returns a table with the given column headers. Headers are rendered in
// upper case. With no headers, no header line is rendered.
func New(headers ...string) *Table {
	return &Table{headers: headers}
}

// Row appends a row. A row may have fewer cells than there are headers
// (missing cells are empty) or more (the extra columns have no header).
func (t *Table) Row(cells ...string) {
	t.rows = append(t.rows, cells)
}

// AlignRight right-aligns the given columns (0-based), e.g. for numbers.
// It returns t so it can be chained after New.
func (t *Table) AlignRight(cols ...int) *Table {
	if t.right == nil {
		t.right = make(map[int]bool)
	}
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

// Len returns the number of rows added so far.
func (t *Table) Len() int { return len(t.rows) }

// Render writes the table to w in a single Write.
func (t *Table) Render(w io.Writer) error {
	_, err := io.WriteString(w, t.String())
	return err
}

// String returns the rendered table, every line ending in "\n". A table with
// neither headers nor rows renders as "".
func (t *Table) String() string {
	var lines [][]string
	if len(t.headers) > 0 {
		h := make([]string, len(t.headers))
		for i, s := range t.headers {
			h[i] = upper(s)
		}
		lines = append(lines, h)
	}
	lines = append(lines, t.rows...)

	ncol := 0
	for _, l := range lines {
		ncol = max(ncol, len(l))
	}
	widths := make([]int, ncol)
	for _, l := range lines {
		for i, c := range l {
			widths[i] = max(widths[i], Width(c))
		}
	}

	var b strings.Builder
	for _, l := range lines {
		// Stop at the last cell with visible content, so that empty
		// trailing cells add no padding.
		last := -1
		for i, c := range l {
			if Width(c) > 0 {
				last = i
			}
		}
		for i := 0; i <= last; i++ {
			if i > 0 {
				b.WriteString("  ")
			}
			c := l[i]
			switch {
			case t.right[i]:
				b.WriteString(PadLeft(c, widths[i]))
			case i == last:
				b.WriteString(c)
			default:
				b.WriteString(PadRight(c, widths[i]))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// upper upper-cases the visible text of s, leaving escape sequences alone.
func upper(s string) string {
	if !strings.Contains(s, "\x1b") {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\x1b' {
			l := escapeLen(s[i:])
			b.WriteString(s[i : i+l])
			i += l
			continue
		}
		j := strings.IndexByte(s[i:], '\x1b')
		if j < 0 {
			j = len(s) - i
		}
		b.WriteString(strings.Map(unicode.ToUpper, s[i:i+j]))
		i += j
	}
	return b.String()
}

package progress

import (
	"fmt"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/table"
)

// unit is what a reporter knows about one unit.
type unit struct {
	name   string
	status Status
	text   string
	detail string
	err    error
	start  time.Time // first Working event; zero until then
	end    time.Time // latest Done/Failed/Skipped after start; zero while running
}

// elapsed returns the unit's elapsed time at now, and false when the unit
// has never been Working.
func (u *unit) elapsed(now time.Time) (time.Duration, bool) {
	if u.start.IsZero() {
		return 0, false
	}
	end := u.end
	if end.IsZero() {
		end = now
	}
	return max(end.Sub(u.start), 0), true
}

// message is the unit's one-line action text: its text (or the status
// label when empty), followed by ": <error>" unless the text already says it.
func (u *unit) message() string {
	s := u.text
	if s == "" {
		s = u.status.label()
	}
	if u.err != nil {
		if e := u.err.Error(); e != "" && !strings.Contains(s, e) {
			if s == "" {
				s = e
			} else {
				s += ": " + e
			}
		}
	}
	return s
}

// tracker holds units in first-seen order. It is not safe for concurrent
// use; reporters guard it with their mutex.
type tracker struct {
	units  []*unit
	byName map[string]*unit
}

// apply records e (whose Time is set) and returns the unit it changed.
func (t *tracker) apply(e Event) *unit {
	u := t.byName[e.Unit]
	if u == nil {
		if t.byName == nil {
			t.byName = make(map[string]*unit)
		}
		u = &unit{name: e.Unit, status: Waiting}
		t.byName[e.Unit] = u
		t.units = append(t.units, u)
	}
	if e.Status == Unknown {
		// A text-only update: keep the status and anything not given.
		if e.Text != "" {
			u.text = e.Text
		}
		if e.Detail != "" {
			u.detail = e.Detail
		}
		if e.Err != nil {
			u.err = e.Err
		}
		return u
	}
	u.status = e.Status
	u.text, u.detail, u.err = e.Text, e.Detail, e.Err
	switch {
	case e.Status == Working:
		if u.start.IsZero() {
			u.start = e.Time
		}
		u.end = time.Time{}
	case e.Status.terminal():
		if !u.start.IsZero() {
			u.end = e.Time
		}
	default: // Waiting: the clock, if started, keeps running
		u.end = time.Time{}
	}
	return u
}

// formatElapsed formats d as seconds with one decimal: "1.2s".
func formatElapsed(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// oneLine makes s safe for a single output line: escape sequences are
// removed and every run of control characters (newlines, tabs, carriage
// returns) becomes one space.
func oneLine(s string) string {
	s = table.StripANSI(s)
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if isControl(r) {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// detailLines splits a detail text into lines for printing under a unit:
// escape sequences and control characters other than tabs are removed,
// trailing space is trimmed, and leading and trailing empty lines dropped.
func detailLines(s string) []string {
	s = table.StripANSI(strings.ReplaceAll(s, "\r\n", "\n"))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.Map(func(r rune) rune {
			if r != '\t' && isControl(r) {
				return -1
			}
			return r
		}, l)
		lines[i] = strings.TrimRight(l, " \t")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

package progress

import (
	"io"
	"strings"
	"sync"
	"time"
)

// plainThrottle is the least time between two lines of one unit that differ
// only in their numbers ("Pulling 34%" then "Pulling 35%").
const plainThrottle = time.Second

// plainReporter writes one line per change:
//
//	12:00:01.234 coding-core.api  Started  (0.8s)
//
// Lines are written whole, one Write each. Repeated lines are dropped, and
// a Waiting or Working line that differs from the unit's previous line only
// in its numbers is dropped unless a second has passed since. An event with
// a Detail is never dropped; its detail follows the line, indented.
type plainReporter struct {
	w   io.Writer
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	err     error
	tracker tracker
	last    map[*unit]plainLast
}

// plainLast is the last line printed for a unit.
type plainLast struct {
	status Status
	msg    string
	time   time.Time
}

func newPlain(w io.Writer) *plainReporter {
	return &plainReporter{w: w, now: time.Now, last: make(map[*unit]plainLast)}
}

func (p *plainReporter) Report(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = p.now()
	}
	u := p.tracker.apply(e)
	msg := oneLine(u.message())

	prev, printed := p.last[u]
	if printed && e.Detail == "" && u.status == prev.status {
		if msg == prev.msg {
			return
		}
		if !u.status.terminal() && numberless(msg) == numberless(prev.msg) &&
			e.Time.Sub(prev.time) < plainThrottle {
			return
		}
	}
	p.last[u] = plainLast{status: u.status, msg: msg, time: e.Time}

	var b strings.Builder
	b.WriteString(e.Time.Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(oneLine(u.name))
	b.WriteString("  ")
	b.WriteString(msg)
	if u.status.terminal() {
		if d, ok := u.elapsed(e.Time); ok {
			b.WriteString("  (")
			b.WriteString(formatElapsed(d))
			b.WriteString(")")
		}
	}
	b.WriteByte('\n')
	if e.Detail != "" {
		for _, l := range detailLines(e.Detail) {
			b.WriteString("    ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(p.w, b.String()); err != nil && p.err == nil {
		p.err = err
	}
}

func (p *plainReporter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.err
}

// numberless returns s with every run of digits (with the '.' and ','
// between them) replaced by '#', so "Pulling 12.5MB/40MB" and
// "Pulling 13.0MB/40MB" compare equal.
func numberless(s string) string {
	var b strings.Builder
	inNum := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		sep := (c == '.' || c == ',') && inNum && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'
		if isDigit || sep {
			if !inNum {
				b.WriteByte('#')
			}
			inNum = true
			continue
		}
		inNum = false
		b.WriteByte(c)
	}
	return b.String()
}

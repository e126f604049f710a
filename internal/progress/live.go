package progress

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/table"
)

// liveInterval is the least time between two frames.
const liveInterval = 100 * time.Millisecond

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// liveReporter redraws a frame in place, like `docker compose up`:
//
//	[+] Running 1/3
//	 ✔ coding-core.db    Healthy                 3.1s
//	 ⠹ coding-core.api   Pulling 34%             1.2s
//	 · coding-core.web   Waiting
//
// A background goroutine, started by the first event, draws a frame every
// liveInterval when something changed or a unit is working (the spinner and
// elapsed times move). Each frame moves the cursor up over the previous one
// and rewrites it line by line, in a single Write. Close stops the goroutine
// and draws the final frame, with every unit and the details, and leaves it
// on screen.
type liveReporter struct {
	w        io.Writer
	now      func() time.Time
	size     func() (width, height int)
	color    bool
	interval time.Duration // 0: no background goroutine (tests draw by hand)

	mu      sync.Mutex
	tracker tracker
	closed  bool
	dirty   bool
	running bool
	stop    chan struct{}
	stopped chan struct{}

	// Used only by the goroutine that draws: the loop, then Close after the
	// loop has ended.
	lines int   // lines of the frame on screen
	err   error // first write error

	closeOnce sync.Once
}

func newLive(w io.Writer, color bool, size func() (int, int)) *liveReporter {
	return &liveReporter{
		w:        w,
		now:      time.Now,
		size:     size,
		color:    color,
		interval: liveInterval,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

func (l *liveReporter) Report(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	l.tracker.apply(e)
	l.dirty = true
	if !l.running && l.interval > 0 {
		l.running = true
		go l.loop()
	}
}

func (l *liveReporter) loop() {
	defer close(l.stopped)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.draw(false)
		}
	}
}

func (l *liveReporter) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		running := l.running
		l.mu.Unlock()
		close(l.stop)
		if running {
			<-l.stopped
		}
		l.draw(true)
	})
	return l.err
}

// draw writes a frame if anything changed since the last one (always when
// final).
func (l *liveReporter) draw(final bool) {
	width, height := l.size()
	l.mu.Lock()
	if !final && !l.dirty && !l.animated() {
		l.mu.Unlock()
		return
	}
	l.dirty = false
	lines := renderFrame(l.tracker.units, frameOptions{
		width:  width,
		height: height,
		now:    l.now(),
		color:  l.color,
		final:  final,
	})
	l.mu.Unlock()

	if len(lines) == 0 && l.lines == 0 {
		return
	}
	var b strings.Builder
	if l.lines > 0 {
		b.WriteString("\r\x1b[")
		b.WriteString(strconv.Itoa(l.lines))
		b.WriteString("A")
	}
	for _, line := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteString("\x1b[J")
	l.lines = len(lines)
	if _, err := io.WriteString(l.w, b.String()); err != nil && l.err == nil {
		l.err = err
	}
}

// animated reports whether a frame would differ from the last one without
// any new event: a unit is running its clock.
func (l *liveReporter) animated() bool {
	for _, u := range l.tracker.units {
		if !u.start.IsZero() && u.end.IsZero() { // includes every Working unit
			return true
		}
	}
	return false
}

// frameOptions are the inputs of renderFrame besides the units.
type frameOptions struct {
	width  int // terminal columns; <= 0: 80
	height int // terminal rows; <= 0: unlimited
	now    time.Time
	color  bool
	// final: the last frame, drawn on Close: every unit (no collapse), and
	// details and cut-off errors under their units.
	final bool
}

// renderFrame returns the lines (without newlines) of a live frame:
//
//	[+] Running 2/4
//	 ✔ <unit>  <text>  <elapsed>
//
// Lines are cut to width-1 columns so they never wrap; elapsed times are
// right-aligned at that column. When the units do not fit in height-2 lines
// (and the frame is not final), only the working, failed and waiting units
// are shown, working first, followed by a "… N done" line.
func renderFrame(units []*unit, o frameOptions) []string {
	if len(units) == 0 {
		return nil
	}
	p := table.Color(o.color)
	width := o.width
	if width <= 0 {
		width = 80
	}
	lineWidth := max(width-1, 1)

	finished, failed := 0, 0
	nameW := 0
	for _, u := range units {
		if u.status.terminal() {
			finished++
		}
		if u.status == Failed {
			failed++
		}
		nameW = max(nameW, table.Width(oneLine(u.name)))
	}
	nameW = min(nameW, max(8, (lineWidth-3)/2))

	header := fmt.Sprintf("[+] Running %d/%d", finished, len(units))
	if failed > 0 {
		header += fmt.Sprintf(", %d failed", failed)
	}
	headerLine, _ := fitSegments([]segment{{header, p.Bold}}, lineWidth)
	lines := []string{headerLine}

	shown, summary := collapse(units, o)
	spin := spinner[int(o.now.UnixMilli()/liveInterval.Milliseconds())%len(spinner)]
	for _, u := range shown {
		line, cut := unitLine(u, o.now, spin, nameW, lineWidth, p)
		lines = append(lines, line)
		if !o.final {
			continue
		}
		if cut && u.err != nil {
			for _, l := range detailLines(u.err.Error()) {
				lines = append(lines, "    "+l)
			}
		}
		for _, l := range detailLines(u.detail) {
			lines = append(lines, "    "+l)
		}
	}
	if summary != "" {
		line, _ := fitSegments([]segment{{" " + summary, p.Dim}}, lineWidth)
		lines = append(lines, line)
	}
	return lines
}

// collapse picks the units to show and the summary line for hidden ones.
func collapse(units []*unit, o frameOptions) (shown []*unit, summary string) {
	budget := o.height - 2 // lines for units, summary included
	if o.final || o.height <= 0 || len(units) <= max(budget, 1) {
		return units, ""
	}
	slots := max(budget, 1) - 1
	pick := make(map[*unit]bool)
	for _, pass := range [][]Status{{Working}, {Failed}, {Waiting, Unknown}} {
		for _, u := range units {
			if len(pick) == slots {
				break
			}
			for _, s := range pass {
				if u.status == s {
					pick[u] = true
				}
			}
		}
	}
	var done, failed, more int
	for _, u := range units {
		switch {
		case pick[u]:
			shown = append(shown, u)
		case u.status == Done || u.status == Skipped:
			done++
		case u.status == Failed:
			failed++
		default:
			more++
		}
	}
	var parts []string
	if done > 0 {
		parts = append(parts, fmt.Sprintf("%d done", done))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d more", more))
	}
	return shown, "… " + strings.Join(parts, ", ")
}

// unitLine renders one unit's line and reports whether its text was cut.
func unitLine(u *unit, now time.Time, spin string, nameW, lineWidth int, p table.Palette) (string, bool) {
	var icon segment
	msgColor := func(s string) string { return s }
	switch u.status {
	case Working:
		icon = segment{spin, nil}
	case Done:
		icon = segment{"✔", p.Green}
	case Failed:
		icon = segment{"✘", p.Red}
		msgColor = p.Red
	case Skipped:
		icon = segment{"–", p.Dim}
		msgColor = p.Dim
	default:
		icon = segment{"·", p.Dim}
		msgColor = p.Dim
	}

	name := oneLine(u.name)
	if table.Width(name) > nameW {
		name = table.Truncate(name, nameW)
	}
	name = table.PadRight(name, nameW)
	msg := oneLine(u.message())

	elapsed := ""
	if d, ok := u.elapsed(now); ok {
		elapsed = formatElapsed(d)
	}
	avail := lineWidth - (3 + nameW + 2)
	if elapsed != "" {
		avail -= 1 + len(elapsed)
	}
	if avail < 1 {
		// No room for the elapsed time and any text: keep the text.
		elapsed = ""
		avail = lineWidth - (3 + nameW + 2)
	}
	cut := false
	pad := ""
	if w := table.Width(msg); w > avail {
		if avail >= 1 {
			msg = table.Truncate(msg, avail)
		}
		cut = true
	} else if elapsed != "" {
		pad = strings.Repeat(" ", avail-w)
	}

	segs := []segment{{" ", nil}, icon, {" " + name + "  ", nil}, {msg, msgColor}, {pad, nil}}
	if elapsed != "" {
		segs = append(segs, segment{" " + elapsed, nil})
	}
	line, cutLine := fitSegments(segs, lineWidth)
	return line, cut || cutLine
}

// segment is plain text and the color to draw it in (nil: none).
type segment struct {
	s     string
	color func(string) string
}

// fitSegments joins segs, cut to width columns (the last column then holds
// "…"), without trailing spaces, coloring each segment after cutting. It
// reports whether it cut.
func fitSegments(segs []segment, width int) (string, bool) {
	cut := false
	total := 0
	for _, s := range segs {
		total += table.Width(s.s)
	}
	if total > width {
		budget := max(width-1, 0)
		for i := range segs {
			w := table.Width(segs[i].s)
			if w <= budget {
				budget -= w
				continue
			}
			segs[i].s = cutWidth(segs[i].s, budget) + "…"
			segs = segs[:i+1]
			cut = true
			break
		}
	}
	for i := len(segs) - 1; i >= 0; i-- {
		segs[i].s = strings.TrimRight(segs[i].s, " ")
		if segs[i].s != "" {
			break
		}
	}
	var b strings.Builder
	for _, s := range segs {
		if s.color != nil {
			b.WriteString(s.color(s.s))
		} else {
			b.WriteString(s.s)
		}
	}
	return b.String(), cut
}

// cutWidth returns the longest prefix of s (no escape sequences) at most
// w columns wide.
func cutWidth(s string, w int) string {
	n := 0
	for i, r := range s {
		rw := table.RuneWidth(r)
		if n+rw > w {
			return s[:i]
		}
		n += rw
	}
	return s
}

// Package progress reports the progress of long-running, parallel operations
// (pulling images, creating, starting and removing containers, waiting for
// health checks) to the user.
//
// The executor sends an Event to a Reporter each time a unit (a job task such
// as "coding-core.api" or a host sandbox such as "host core-app-1") changes
// state. The Reporter renders events in one of four ways:
//
//   - Live: a view redrawn in place, like `docker compose up`, for terminals.
//   - Plain: one timestamped line per change, for logs and pipes.
//   - JSON: one JSON object per event per line, for scripts.
//   - Quiet: nothing.
//
// Per unit the package keeps the status, text, detail and error of the last
// event, and the elapsed time from the unit's first Working event to its
// latest Done, Failed or Skipped event.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Status is the state of a unit.
type Status int

const (
	// Unknown is the zero Status. An event with status Unknown changes only
	// the unit's text (and detail and error, when set) and keeps its status;
	// a unit first seen with Unknown is Waiting.
	Unknown Status = iota
	Waiting        // queued, e.g. on a dependency
	Working        // in progress; starts the unit's clock
	Done           // finished successfully
	Failed         // finished with an error
	Skipped        // not done, on purpose or because a dependency failed
)

var statusNames = [...]string{"unknown", "waiting", "working", "done", "failed", "skipped"}

// String returns the lower-case name of s: "unknown", "waiting", "working",
// "done", "failed" or "skipped".
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if strings.EqualFold(string(b), n) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("progress: unknown status %q", b)
}

// terminal reports whether s ends the unit's work.
func (s Status) terminal() bool { return s == Done || s == Failed || s == Skipped }

// label is the text shown for s when an event carries none.
func (s Status) label() string {
	switch s {
	case Waiting:
		return "Waiting"
	case Working:
		return "Working"
	case Done:
		return "Done"
	case Failed:
		return "Failed"
	case Skipped:
		return "Skipped"
	}
	return ""
}

// Event is one change of a unit.
type Event struct {
	Unit   string // e.g. "coding-core.api" or "host core-app-1"
	Status Status
	Text   string // short human text: "Creating", "Pulling 34%", "Healthy", "Recreated (env DEBUG changed)"
	// Detail is optional longer text, e.g. a log tail on failure. Live
	// prints it indented under the unit in the final frame (on Close);
	// Plain prints it indented under the event's line.
	Detail string
	Err    error     // set when Status == Failed
	Time   time.Time // zero: now
}

// Reporter receives events.
type Reporter interface {
	// Report records e. It is safe for concurrent use. Events reported
	// after Close are dropped.
	Report(Event)
	// Close flushes the output (Live draws its final frame) and returns
	// the first error met writing. It is idempotent.
	Close() error
}

// Mode selects how a Reporter renders.
type Mode int

const (
	Auto  Mode = iota // Live on a terminal, Plain otherwise
	Live              // redrawn in place; ANSI escapes
	Plain             // one line per change
	JSON              // one JSON object per event per line
	Quiet             // nothing
)

var modeNames = [...]string{"auto", "live", "plain", "json", "quiet"}

// String returns the name of m as accepted by ParseMode.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses a mode name: "auto" (or ""), "live" or "tty", "plain",
// "json", "quiet". Case and surrounding space are ignored.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "live", "tty":
		return Live, nil
	case "plain":
		return Plain, nil
	case "json":
		return JSON, nil
	case "quiet":
		return Quiet, nil
	}
	return Auto, fmt.Errorf("invalid progress mode %q (want auto, live, tty, plain, json or quiet)", s)
}

// Set implements the flag.Value and pflag.Value interfaces, so a Mode can be
// a command-line flag: cmd.Flags().Var(&mode, "progress", "...").
func (m *Mode) Set(s string) error {
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Type implements pflag.Value.
func (m *Mode) Type() string { return "mode" }

// New returns a Reporter writing to w in the given mode.
//
// Auto resolves to Live when w is an *os.File connected to a terminal and
// TERM is not "dumb", and to Plain otherwise. Live uses color unless the
// NO_COLOR environment variable is set to a non-empty value. An unknown mode
// is treated as Plain.
func New(w io.Writer, mode Mode) Reporter {
	switch ResolveMode(w, mode) {
	case Live:
		return newLive(w, os.Getenv("NO_COLOR") == "", terminalSize(w))
	case JSON:
		return newJSON(w)
	case Quiet:
		return quiet{}
	default:
		return newPlain(w)
	}
}

// ResolveMode returns the mode New(w, m) would use: Auto becomes Live or
// Plain, any other mode is returned as is.
func ResolveMode(w io.Writer, m Mode) Mode {
	if m != Auto {
		return m
	}
	if isTerminal(w) && os.Getenv("TERM") != "dumb" {
		return Live
	}
	return Plain
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalSize returns a function reporting the size of w's terminal, or
// 80x24 when w is not a terminal or its size is unknown.
func terminalSize(w io.Writer) func() (width, height int) {
	f, ok := w.(*os.File)
	if !ok {
		return func() (int, int) { return 80, 24 }
	}
	fd := int(f.Fd())
	return func() (int, int) {
		wd, ht, err := term.GetSize(fd)
		if err != nil || wd <= 0 {
			return 80, 24
		}
		return wd, ht
	}
}

type quiet struct{}

func (quiet) Report(Event) {}
func (quiet) Close() error { return nil }

// Nop is a Reporter that discards everything.
var Nop Reporter = quiet{}

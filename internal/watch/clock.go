package watch

import "time"

// Clock is the source of time for the debouncer. Production code uses the
// real clock; tests inject a fake one so they can drive time explicitly.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f, in its own goroutine, once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call from happening. It reports whether it stopped
	// the call, false if the call already happened or was already stopped.
	Stop() bool
}

// realClock is the Clock backed by package time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

package watch

import (
	"slices"
	"time"
)

// op is what happened to a path, as far as the coalescer cares.
type op int

const (
	opCreate op = iota // the path came into existence
	opWrite            // the path was written
	opRemove           // the path was removed or renamed away
)

// entry is the net effect of the events seen for one path within a window.
type entry struct {
	// created is true when the first event of the window created the path,
	// i.e. it did not exist when the window began.
	created bool
	// removed is true when the last event of the window removed the path.
	removed bool
}

// transient reports whether the path both appeared and disappeared within
// the window, so that it has no net effect and is reported nowhere.
func (e entry) transient() bool { return e.created && e.removed }

// coalescer turns a stream of per-path events into batches: a burst of events
// is flushed once it has been quiet for the quiet period, or at the latest
// maxWait after the burst's first event.
//
// A coalescer is not safe for concurrent use: add, fire, batch, take and stop
// must all be called from one goroutine (the owner). Its timer calls wake,
// from any goroutine, to ask the owner to call fire.
type coalescer struct {
	clock   Clock
	quiet   time.Duration
	maxWait time.Duration
	wake    func()

	pending map[string]entry // current burst, not yet flushed
	first   time.Time        // time of the burst's first event
	last    time.Time        // time of the burst's latest event
	timer   Timer            // armed while pending is non-empty

	// ready holds flushed bursts the consumer has not taken yet. Later
	// bursts merge into it, so a slow consumer gets one combined batch.
	ready  map[string]entry
	cached *Batch // ready rendered as a Batch; nil when stale
}

func newCoalescer(clock Clock, quiet, maxWait time.Duration, wake func()) *coalescer {
	if maxWait < quiet {
		maxWait = quiet
	}
	return &coalescer{
		clock:   clock,
		quiet:   quiet,
		maxWait: maxWait,
		wake:    wake,
		pending: map[string]entry{},
		ready:   map[string]entry{},
	}
}

// add records that o happened to rel now.
func (c *coalescer) add(rel string, o op) {
	now := c.clock.Now()
	if len(c.pending) == 0 {
		c.first = now
		c.arm(c.quiet)
	}
	c.last = now
	e, ok := c.pending[rel]
	if !ok {
		e.created = o == opCreate
	}
	e.removed = o == opRemove
	c.pending[rel] = e
}

// deadline is when the current burst must be flushed.
func (c *coalescer) deadline() time.Time {
	quiet := c.last.Add(c.quiet)
	if capped := c.first.Add(c.maxWait); capped.Before(quiet) {
		return capped
	}
	return quiet
}

// fire flushes the pending burst if its deadline has passed, and otherwise
// re-arms the timer for the remaining time. Spurious calls are harmless.
func (c *coalescer) fire() {
	if len(c.pending) == 0 {
		return
	}
	if left := c.deadline().Sub(c.clock.Now()); left > 0 {
		c.arm(left)
		return
	}
	c.flush()
}

// arm (re)starts the timer so that it wakes the owner after d.
func (c *coalescer) arm(d time.Duration) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = c.clock.AfterFunc(d, c.wake)
}

// flush moves the pending burst into ready, merging per path: the merged
// entry keeps the older created flag and the newer removed flag.
func (c *coalescer) flush() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	for rel, e := range c.pending {
		if old, ok := c.ready[rel]; ok {
			e.created = old.created
		}
		if e.transient() {
			delete(c.ready, rel)
		} else {
			c.ready[rel] = e
		}
	}
	clear(c.pending)
	c.cached = nil
}

// batch returns the flushed changes not yet taken, and whether there are any.
func (c *coalescer) batch() (Batch, bool) {
	if len(c.ready) == 0 {
		return Batch{}, false
	}
	if c.cached == nil {
		var b Batch
		for rel, e := range c.ready {
			if e.removed {
				b.Removed = append(b.Removed, rel)
			} else {
				b.Changed = append(b.Changed, rel)
			}
		}
		slices.Sort(b.Changed)
		slices.Sort(b.Removed)
		c.cached = &b
	}
	return *c.cached, true
}

// take marks the batch last returned by batch as delivered.
func (c *coalescer) take() {
	clear(c.ready)
	c.cached = nil
}

// stop cancels the timer; the coalescer must not be used afterwards.
func (c *coalescer) stop() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

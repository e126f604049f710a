package watch

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// newTestCoalescer returns a coalescer on a fake clock whose timer calls
// fire synchronously, so advancing the clock flushes exactly as the watcher
// loop would.
func newTestCoalescer(quiet, maxWait time.Duration) (*coalescer, *fakeClock) {
	clk := newFakeClock()
	var c *coalescer
	c = newCoalescer(clk, quiet, maxWait, func() { c.fire() })
	return c, clk
}

// mustBatch takes the ready batch, failing if there is none.
func mustBatch(t *testing.T, c *coalescer) Batch {
	t.Helper()
	b, ok := c.batch()
	if !ok {
		t.Fatal("no batch ready")
	}
	c.take()
	return b
}

func mustNoBatch(t *testing.T, c *coalescer) {
	t.Helper()
	if b, ok := c.batch(); ok {
		t.Fatalf("unexpected batch %+v", b)
	}
}

func TestCoalescerQuietPeriod(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	c.add("a.go", opWrite)
	clk.Advance(199 * time.Millisecond)
	mustNoBatch(t, c)
	clk.Advance(time.Millisecond)
	got := mustBatch(t, c)
	if want := (Batch{Changed: []string{"a.go"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	clk.Advance(time.Hour)
	mustNoBatch(t, c)
	if n := clk.pending(); n != 0 {
		t.Fatalf("%d timers still armed after flush", n)
	}
}

func TestCoalescerEventsExtendQuietPeriod(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	for i := range 50 {
		c.add(fmt.Sprintf("f%02d", i), opWrite)
		c.add("same", opWrite)
		clk.Advance(10 * time.Millisecond)
		mustNoBatch(t, c)
	}
	// 500ms since the first event, 10ms since the last.
	clk.Advance(189 * time.Millisecond)
	mustNoBatch(t, c)
	clk.Advance(time.Millisecond)
	got := mustBatch(t, c)
	if len(got.Changed) != 51 || len(got.Removed) != 0 {
		t.Fatalf("got %d changed, %d removed; want 51, 0", len(got.Changed), len(got.Removed))
	}
	if got.Changed[0] != "f00" || got.Changed[50] != "same" {
		t.Fatalf("not sorted: %v", got.Changed)
	}
	if n := clk.pending(); n != 0 {
		t.Fatalf("%d timers still armed after flush", n)
	}
}

func TestCoalescerMaxLatency(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	// A write every 100ms never leaves 200ms of quiet.
	var flushedAt []time.Duration
	start := clk.Now()
	for range 55 {
		c.add("log.txt", opWrite)
		clk.Advance(100 * time.Millisecond)
		if _, ok := c.batch(); ok {
			c.take()
			flushedAt = append(flushedAt, clk.Now().Sub(start))
		}
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second}
	if !reflect.DeepEqual(flushedAt, want) {
		t.Fatalf("flushed at %v, want %v", flushedAt, want)
	}
}

func TestCoalescerTransientPaths(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	// vim: probe file 4913, backup via rename, new file written, backup dropped.
	c.add("4913", opCreate)
	c.add("4913", opWrite)
	c.add("4913", opRemove)
	c.add("main.go", opRemove) // renamed to main.go~
	c.add("main.go~", opCreate)
	c.add("main.go", opCreate)
	c.add("main.go", opWrite)
	c.add("main.go~", opRemove)
	c.add(".main.go.swp", opWrite) // pre-existing swap file
	c.add("gone.txt", opRemove)
	c.add("back.txt", opRemove)
	c.add("back.txt", opCreate)
	clk.Advance(200 * time.Millisecond)
	got := mustBatch(t, c)
	want := Batch{
		Changed: []string{".main.go.swp", "back.txt", "main.go"},
		Removed: []string{"gone.txt"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestCoalescerOnlyTransientGivesNoBatch(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	c.add("x.tmp", opCreate)
	c.add("x.tmp", opRemove)
	clk.Advance(time.Second)
	mustNoBatch(t, c)
}

func TestCoalescerMergesUndeliveredBatches(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	c.add("new.txt", opCreate)
	c.add("kept.txt", opWrite)
	c.add("old.txt", opWrite)
	clk.Advance(time.Second)
	if _, ok := c.batch(); !ok {
		t.Fatal("no batch after first burst")
	}
	// The consumer has not taken it; a second burst merges in.
	c.add("new.txt", opRemove) // never seen by the consumer: vanishes
	c.add("old.txt", opRemove) // seen as existing before: now removed
	clk.Advance(time.Second)
	got := mustBatch(t, c)
	want := Batch{Changed: []string{"kept.txt"}, Removed: []string{"old.txt"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Once taken, later events start afresh.
	c.add("kept.txt", opRemove)
	clk.Advance(time.Second)
	got = mustBatch(t, c)
	if want := (Batch{Removed: []string{"kept.txt"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestCoalescerSpuriousFire(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	c.fire() // nothing pending
	mustNoBatch(t, c)
	c.add("a", opWrite)
	clk.Advance(100 * time.Millisecond)
	c.fire() // too early: re-arms, does not flush
	mustNoBatch(t, c)
	if n := clk.pending(); n != 1 {
		t.Fatalf("%d timers armed, want 1", n)
	}
	clk.Advance(100 * time.Millisecond)
	mustBatch(t, c)
}

func TestCoalescerStop(t *testing.T) {
	c, clk := newTestCoalescer(200*time.Millisecond, 2*time.Second)
	c.add("a", opWrite)
	c.stop()
	if n := clk.pending(); n != 0 {
		t.Fatalf("%d timers armed after stop", n)
	}
}

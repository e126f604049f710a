package trace

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
)

func TestNoRecorder(t *testing.T) {
	ctx, sp := Start(context.Background(), "x")
	if sp != nil || From(ctx) != nil {
		t.Fatal("a span without a recorder")
	}
	sp.Set("k", "v")
	sp.End()
	sp.EndErr(nil)
	lctx, release := Lane(ctx, "l")
	release()
	if lctx != ctx {
		t.Error("Lane without a recorder changed the context")
	}
}

// TestSpansAndLanes: spans nest on a lane, concurrent work takes the
// lowest free lane (reused once released), End counts once, and the JSON is
// Chrome's trace-event format.
func TestSpansAndLanes(t *testing.T) {
	rec := New()
	ctx := With(context.Background(), rec)
	ctx, top := Start(ctx, "cjob dev up")
	var wg, held sync.WaitGroup
	all := make(chan struct{})
	lanes := make([]int, 3)
	held.Add(3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, release := Lane(ctx, "op")
			defer release()
			_, sp := Start(lctx, "create", "unit", "u")
			lanes[i] = sp.lane
			held.Done()
			<-all // all three at once
			sp.End()
			sp.End() // counted once
		}()
	}
	held.Wait()
	close(all)
	wg.Wait()
	lctx, release := Lane(ctx, "later")
	_, sp := Start(lctx, "after")
	sp.EndErr(context.Canceled)
	release()
	top.End()

	spans := rec.Spans()
	if len(spans) != 5 {
		t.Fatalf("%d spans, want 5: %+v", len(spans), spans)
	}
	if spans[0].Name != "cjob dev up" || spans[0].Lane != 0 {
		t.Errorf("first span %+v, want the command on lane 0", spans[0])
	}
	seen := map[int]bool{}
	for _, l := range lanes {
		if l < 1 || l > 3 || seen[l] {
			t.Errorf("concurrent lanes %v: want 1, 2, 3 in some order", lanes)
		}
		seen[l] = true
	}
	last := spans[len(spans)-1]
	if last.Name != "after" || last.Lane != 1 || last.Args["error"] != "context canceled" {
		t.Errorf("a lane taken after the others were released: %+v, want lane 1 with the error", last)
	}

	b, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Name, Ph string
			Ts, Dur  float64
			Pid, Tid int
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	complete, names := 0, 0
	for _, e := range doc.TraceEvents {
		switch e.Ph {
		case "X":
			complete++
			if e.Pid != 1 || e.Dur < 0 || e.Ts < 0 {
				t.Errorf("event %+v", e)
			}
		case "M":
			names++
		}
	}
	if complete != 5 || names != 5 { // the process and 4 lanes
		t.Errorf("%d complete events and %d names, want 5 and 5:\n%s", complete, names, b)
	}
}

// Package trace records where a command's time goes, as spans a user can
// open: Chrome's trace-event JSON (chrome://tracing, https://ui.perfetto.dev,
// speedscope). `cjob dev up --trace FILE` writes one.
//
// A Recorder travels in the context. Without one every call here is a
// cheap no-op, so code is traced unconditionally:
//
//	ctx, sp := trace.Start(ctx, "observe")
//	defer sp.End()
//
// Work running at the same time goes on lanes of its own (trace.Lane), so
// the viewer draws it side by side; spans on one lane nest.
package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder collects spans; safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	start time.Time
	spans []*Span
	lanes []bool            // lane id -> in use; lane 0 is the command's own
	names map[int]string    // lane id -> the name of its first holder
	meta  map[string]string // shown as the trace's metadata
}

// New starts a recording; times are relative to now.
func New() *Recorder {
	return &Recorder{start: time.Now(), lanes: []bool{true}, names: map[int]string{0: "cjob"}, meta: map[string]string{}}
}

// Meta records a key and value about the whole run (the engine, the file).
func (r *Recorder) Meta(k, v string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.meta[k] = v
	r.mu.Unlock()
}

type recorderKey struct{}
type laneKey struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r *Recorder) context.Context {
	if r == nil {
		return ctx
	}
	return context.WithValue(ctx, recorderKey{}, r)
}

// From returns the recorder ctx carries, or nil.
func From(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Span is one timed piece of work. A nil *Span (no recorder) does nothing.
type Span struct {
	r     *Recorder
	name  string
	lane  int
	start time.Time
	end   time.Time
	args  map[string]string
	ended atomic.Bool
}

// Start begins a span named name on ctx's lane; args are key, value pairs
// shown with it.
func Start(ctx context.Context, name string, args ...string) (context.Context, *Span) {
	r := From(ctx)
	if r == nil {
		return ctx, nil
	}
	lane, _ := ctx.Value(laneKey{}).(int)
	sp := &Span{r: r, name: name, lane: lane, start: time.Now()}
	for i := 0; i+1 < len(args); i += 2 {
		sp.Set(args[i], args[i+1])
	}
	return ctx, sp
}

// Set adds an argument to the span.
func (s *Span) Set(k, v string) {
	if s == nil {
		return
	}
	if s.args == nil {
		s.args = map[string]string{}
	}
	s.args[k] = v
}

// End ends the span; only the first End counts.
func (s *Span) End() {
	if s == nil || s.ended.Swap(true) {
		return
	}
	s.end = time.Now()
	s.r.mu.Lock()
	s.r.spans = append(s.r.spans, s)
	s.r.mu.Unlock()
}

// EndErr ends the span, recording err (if any) with it.
func (s *Span) EndErr(err error) {
	if err != nil {
		s.Set("error", err.Error())
	}
	s.End()
}

// Lane returns ctx on a lane of its own (the lowest free one), named name
// in the viewer, for work that runs at the same time as other work; call
// release when that work ends.
func Lane(ctx context.Context, name string) (context.Context, func()) {
	r := From(ctx)
	if r == nil {
		return ctx, func() {}
	}
	r.mu.Lock()
	id := -1
	for i, used := range r.lanes {
		if !used {
			id = i
			break
		}
	}
	if id < 0 {
		id = len(r.lanes)
		r.lanes = append(r.lanes, false)
	}
	r.lanes[id] = true
	if _, ok := r.names[id]; !ok {
		r.names[id] = name
	}
	r.mu.Unlock()
	return context.WithValue(ctx, laneKey{}, id), func() {
		r.mu.Lock()
		r.lanes[id] = false
		r.mu.Unlock()
	}
}

// event is one entry of Chrome's trace-event format.
type event struct {
	Name string            `json:"name"`
	Cat  string            `json:"cat,omitempty"`
	Ph   string            `json:"ph"`
	Ts   float64           `json:"ts"` // microseconds
	Dur  float64           `json:"dur,omitempty"`
	Pid  int               `json:"pid"`
	Tid  int               `json:"tid"`
	Args map[string]string `json:"args,omitempty"`
}

// Spans returns the recorded spans' names and durations, in start order:
// for tests and summaries.
func (r *Recorder) Spans() []Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Summary, 0, len(r.spans))
	for _, s := range r.sorted() {
		out = append(out, Summary{Name: s.name, Lane: s.lane, Start: s.start.Sub(r.start), Dur: s.end.Sub(s.start), Args: s.args})
	}
	return out
}

// Summary is a recorded span.
type Summary struct {
	Name       string
	Lane       int
	Start, Dur time.Duration
	Args       map[string]string
}

func (r *Recorder) sorted() []*Span {
	spans := append([]*Span(nil), r.spans...)
	sort.SliceStable(spans, func(i, j int) bool {
		if !spans[i].start.Equal(spans[j].start) {
			return spans[i].start.Before(spans[j].start)
		}
		return spans[i].end.After(spans[j].end) // the enclosing span first
	})
	return spans
}

// JSON is the recording in Chrome's trace-event format.
func (r *Recorder) JSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	var evs []event
	evs = append(evs, event{Name: "process_name", Ph: "M", Pid: 1, Args: map[string]string{"name": "cjob"}})
	for id, name := range r.names {
		evs = append(evs, event{Name: "thread_name", Ph: "M", Pid: 1, Tid: id, Args: map[string]string{"name": name}})
	}
	for _, s := range r.sorted() {
		evs = append(evs, event{Name: s.name, Ph: "X", Ts: us(s.start.Sub(r.start)), Dur: us(s.end.Sub(s.start)), Pid: 1, Tid: s.lane, Args: s.args})
	}
	return json.MarshalIndent(struct {
		TraceEvents     []event           `json:"traceEvents"`
		DisplayTimeUnit string            `json:"displayTimeUnit"`
		Metadata        map[string]string `json:"metadata,omitempty"`
	}{evs, "ms", r.meta}, "", " ")
}

// WriteFile writes the recording to path.
func (r *Recorder) WriteFile(path string) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the trace: %w", err)
	}
	return nil
}

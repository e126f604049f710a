package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/table"
)

var t0 = time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for the reporters' now field.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t0.Add(d)
}

// step is one scripted event, reported when the clock reads at.
type step struct {
	at time.Duration
	e  Event
}

// script is a typical `up`: a database is pulled, started and becomes
// healthy, an api waiting on it is recreated, a worker fails, a web task is
// skipped and a host sandbox is already running.
var script = []step{
	{0, Event{Unit: "coding-core.api", Status: Waiting, Text: "Waiting for coding-core.db"}},
	{0, Event{Unit: "coding-core.db", Status: Working, Text: "Pulling 0%"}},
	{200 * time.Millisecond, Event{Unit: "coding-core.db", Text: "Pulling 34%"}},                   // throttled
	{500 * time.Millisecond, Event{Unit: "coding-core.db", Status: Working, Text: "Pulling 60%"}},  // throttled
	{1100 * time.Millisecond, Event{Unit: "coding-core.db", Status: Working, Text: "Pulling 80%"}}, // a second since the last line
	{1200 * time.Millisecond, Event{Unit: "coding-core.db", Status: Working, Text: "Pulling 80%"}}, // repeated
	{1500 * time.Millisecond, Event{Unit: "coding-core.db", Status: Working, Text: "Creating"}},
	{1700 * time.Millisecond, Event{Unit: "coding-core.db", Status: Working, Text: "Waiting healthy"}},
	{3234 * time.Millisecond, Event{Unit: "coding-core.db", Status: Done, Text: "Healthy"}},
	{3300 * time.Millisecond, Event{Unit: "coding-core.api", Status: Working, Text: "Recreating"}},
	{4100 * time.Millisecond, Event{Unit: "coding-core.api", Status: Done, Text: "Recreated (env DEBUG changed)"}},
	{4100 * time.Millisecond, Event{Unit: "coding-core.worker", Status: Working, Text: "Starting"}},
	{6000 * time.Millisecond, Event{
		Unit: "coding-core.worker", Status: Failed, Text: "Exited (1)",
		Err:    errors.New("container exited with code 1"),
		Detail: "panic: missing config\n\tmain.go:12\n",
	}},
	{6000 * time.Millisecond, Event{Unit: "coding-core.web", Status: Skipped, Text: "Skipped (coding-core.worker failed)"}},
	{6500 * time.Millisecond, Event{Unit: "host core-app-1", Status: Done, Text: "Running"}},
}

// play reports the script to r, moving clock along. Events carry no time, so
// reporters stamp them with their clock.
func play(r Reporter, clock *fakeClock, steps []step) {
	for _, s := range steps {
		clock.set(s.at)
		r.Report(s.e)
	}
}

func TestPlainGolden(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	p := newPlain(&buf)
	p.now = clock.now
	play(p, clock, script)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := `12:00:00.000 coding-core.api  Waiting for coding-core.db
12:00:00.000 coding-core.db  Pulling 0%
12:00:01.100 coding-core.db  Pulling 80%
12:00:01.500 coding-core.db  Creating
12:00:01.700 coding-core.db  Waiting healthy
12:00:03.234 coding-core.db  Healthy  (3.2s)
12:00:03.300 coding-core.api  Recreating
12:00:04.100 coding-core.api  Recreated (env DEBUG changed)  (0.8s)
12:00:04.100 coding-core.worker  Starting
12:00:06.000 coding-core.worker  Exited (1): container exited with code 1  (1.9s)
    panic: missing config
    	main.go:12
12:00:06.000 coding-core.web  Skipped (coding-core.worker failed)
12:00:06.500 host core-app-1  Running
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("plain output mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(buf.String(), "\x1b") {
		t.Error("plain output contains escape sequences")
	}
}

func TestPlainSanitizesAndLabels(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	p := newPlain(&buf)
	p.now = clock.now
	p.Report(Event{Unit: "a", Status: Working, Text: "line one\nline two\x1b[31m red\x1b[0m"})
	p.Report(Event{Unit: "a", Status: Failed, Err: errors.New("boom")})
	p.Report(Event{Unit: "b", Status: Done})
	p.Report(Event{Unit: "c", Status: Failed, Text: "Error: boom", Err: errors.New("boom")})
	// With an explicit time, the event's time is used.
	p.Report(Event{Unit: "d", Status: Done, Text: "Pulled", Time: t0.Add(90 * time.Minute)})
	p.Close()
	p.Report(Event{Unit: "late", Status: Done}) // dropped after Close
	want := `12:00:00.000 a  line one line two red
12:00:00.000 a  Failed: boom  (0.0s)
12:00:00.000 b  Done
12:00:00.000 c  Error: boom
13:30:00.000 d  Pulled
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestPlainThrottleAcrossStatus(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	p := newPlain(&buf)
	p.now = clock.now
	play(p, clock, []step{
		{0, Event{Unit: "u", Status: Working, Text: "Pulling 1%"}},
		{100 * time.Millisecond, Event{Unit: "u", Status: Working, Text: "Pulling 2%"}},    // throttled
		{200 * time.Millisecond, Event{Unit: "u", Status: Working, Text: "Extracting 2%"}}, // new text
		{300 * time.Millisecond, Event{Unit: "u", Status: Working, Text: "Extracting 3%"}}, // throttled
		{400 * time.Millisecond, Event{Unit: "u", Status: Working, Text: "Extracting 50%", Detail: "slow disk"}},
		{500 * time.Millisecond, Event{Unit: "u", Status: Waiting, Text: "Extracting 50%"}}, // status changed
		{600 * time.Millisecond, Event{Unit: "u", Status: Done, Text: "Pulled"}},
		{700 * time.Millisecond, Event{Unit: "u", Status: Done, Text: "Pulled"}}, // repeated
	})
	want := `12:00:00.000 u  Pulling 1%
12:00:00.200 u  Extracting 2%
12:00:00.400 u  Extracting 50%
    slow disk
12:00:00.500 u  Extracting 50%
12:00:00.600 u  Pulled  (0.6s)
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	j := newJSON(&buf)
	j.now = clock.now
	play(j, clock, script)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-01-02T12:00:00Z","unit":"coding-core.api","action":"Waiting for coding-core.db","status":"waiting"}
{"time":"2025-01-02T12:00:00Z","unit":"coding-core.db","action":"Pulling 0%","status":"working","elapsed_ms":0}
{"time":"2025-01-02T12:00:00.2Z","unit":"coding-core.db","action":"Pulling 34%","status":"working","elapsed_ms":200}
{"time":"2025-01-02T12:00:00.5Z","unit":"coding-core.db","action":"Pulling 60%","status":"working","elapsed_ms":500}
{"time":"2025-01-02T12:00:01.1Z","unit":"coding-core.db","action":"Pulling 80%","status":"working","elapsed_ms":1100}
{"time":"2025-01-02T12:00:01.2Z","unit":"coding-core.db","action":"Pulling 80%","status":"working","elapsed_ms":1200}
{"time":"2025-01-02T12:00:01.5Z","unit":"coding-core.db","action":"Creating","status":"working","elapsed_ms":1500}
{"time":"2025-01-02T12:00:01.7Z","unit":"coding-core.db","action":"Waiting healthy","status":"working","elapsed_ms":1700}
{"time":"2025-01-02T12:00:03.234Z","unit":"coding-core.db","action":"Healthy","status":"done","elapsed_ms":3234}
{"time":"2025-01-02T12:00:03.3Z","unit":"coding-core.api","action":"Recreating","status":"working","elapsed_ms":0}
{"time":"2025-01-02T12:00:04.1Z","unit":"coding-core.api","action":"Recreated (env DEBUG changed)","status":"done","elapsed_ms":800}
{"time":"2025-01-02T12:00:04.1Z","unit":"coding-core.worker","action":"Starting","status":"working","elapsed_ms":0}
{"time":"2025-01-02T12:00:06Z","unit":"coding-core.worker","action":"Exited (1)","status":"failed","detail":"panic: missing config\n\tmain.go:12\n","elapsed_ms":1900,"error":"container exited with code 1"}
{"time":"2025-01-02T12:00:06Z","unit":"coding-core.web","action":"Skipped (coding-core.worker failed)","status":"skipped"}
{"time":"2025-01-02T12:00:06.5Z","unit":"host core-app-1","action":"Running","status":"done"}
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("json output mismatch (-want +got):\n%s", diff)
	}
	// Every line decodes back.
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var ev JSONEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
	}
}

func TestStatus(t *testing.T) {
	for s, want := range map[Status]string{
		Unknown: "unknown", Waiting: "waiting", Working: "working",
		Done: "done", Failed: "failed", Skipped: "skipped", Status(42): "Status(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
		if s == Status(42) {
			continue
		}
		var back Status
		if err := back.UnmarshalText([]byte(want)); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v", want, back, err)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("UnmarshalText(bogus) succeeded")
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  bool
	}{
		{"auto", Auto, false},
		{"", Auto, false},
		{"live", Live, false},
		{"TTY", Live, false},
		{" plain ", Plain, false},
		{"json", JSON, false},
		{"quiet", Quiet, false},
		{"fancy", Auto, true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
		if !tt.err && tt.in != "" {
			var m Mode
			if err := m.Set(tt.in); err != nil || m != tt.want {
				t.Errorf("Set(%q) = %v, %v", tt.in, m, err)
			}
		}
	}
	for _, m := range []Mode{Auto, Live, Plain, JSON, Quiet} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%v.String()) = %v, %v", m, got, err)
		}
	}
}

func TestNewResolvesMode(t *testing.T) {
	var buf bytes.Buffer
	if _, ok := New(&buf, Auto).(*plainReporter); !ok {
		t.Error("Auto on a buffer is not Plain")
	}
	if _, ok := New(&buf, Live).(*liveReporter); !ok {
		t.Error("Live is not Live")
	}
	if _, ok := New(&buf, JSON).(*jsonReporter); !ok {
		t.Error("JSON is not JSON")
	}
	if _, ok := New(&buf, Quiet).(quiet); !ok {
		t.Error("Quiet is not quiet")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := ResolveMode(f, Auto); got != Plain {
		t.Errorf("Auto on a regular file = %v, want plain", got)
	}
	q := New(&buf, Quiet)
	q.Report(Event{Unit: "x", Status: Done})
	if err := q.Close(); err != nil || buf.Len() != 0 {
		t.Errorf("quiet wrote %q, %v", buf.String(), err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, fmt.Errorf("write %d failed", w.n)
}

func TestWriteErrors(t *testing.T) {
	for _, mode := range []Mode{Plain, JSON, Live} {
		w := &failWriter{}
		r := New(w, mode)
		r.Report(Event{Unit: "a", Status: Done})
		r.Report(Event{Unit: "b", Status: Done})
		err := r.Close()
		if err == nil || err.Error() != "write 1 failed" {
			t.Errorf("%v: Close() = %v, want the first write error", mode, err)
		}
		if err2 := r.Close(); err2 != err {
			t.Errorf("%v: second Close() = %v, want %v", mode, err2, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, to catch reporters
// that write from more than one goroutine at once without the race detector
// blaming the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestConcurrentReport(t *testing.T) {
	const goroutines, perUnit = 32, 50
	for _, mode := range []Mode{Plain, JSON, Live, Quiet} {
		t.Run(mode.String(), func(t *testing.T) {
			var out bytes.Buffer // deliberately unsynchronized: reporters must serialize writes
			r := New(&out, mode)
			if l, ok := r.(*liveReporter); ok {
				l.interval = time.Millisecond // many frames while events arrive
				l.size = func() (int, int) { return 100, 10 }
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("svc.job-%02d", g)
					for i := range perUnit {
						r.Report(Event{Unit: name, Status: Working, Text: fmt.Sprintf("Pulling %d%%", i*2)})
						if i%10 == 0 {
							time.Sleep(time.Millisecond)
						}
					}
					r.Report(Event{Unit: name, Status: Done, Text: "Started"})
				}()
			}
			// Close concurrently with late reports must not race either.
			wg.Wait()
			var cwg sync.WaitGroup
			for range 4 {
				cwg.Add(1)
				go func() {
					defer cwg.Done()
					r.Report(Event{Unit: "late", Status: Done})
					if err := r.Close(); err != nil {
						t.Error(err)
					}
				}()
			}
			cwg.Wait()

			s := out.String()
			switch mode {
			case JSON:
				lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
				if min := goroutines * (perUnit + 1); len(lines) < min {
					t.Errorf("got %d JSON lines, want at least %d", len(lines), min)
				}
				for _, l := range lines {
					var ev JSONEvent
					if err := json.Unmarshal([]byte(l), &ev); err != nil {
						t.Fatalf("bad JSON line %q: %v", l, err)
					}
				}
			case Plain:
				if n := strings.Count(s, "  Started  ("); n != goroutines {
					t.Errorf("got %d Started lines, want %d", n, goroutines)
				}
			case Live:
				s = table.StripANSI(s)
				final := s[strings.LastIndex(s, "[+] Running"):]
				for g := range goroutines {
					if !strings.Contains(final, fmt.Sprintf("✔ svc.job-%02d", g)) {
						t.Errorf("final frame lacks unit %d:\n%s", g, final)
					}
				}
			case Quiet:
				if s != "" {
					t.Errorf("quiet wrote %q", s)
				}
			}
		})
	}
}

func TestNumberless(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Pulling 34%", "Pulling 35%"},
		{"Pulling 12.5MB/40MB", "Pulling 13.0MB/40MB"},
		{"Pulling 1,024 layers", "Pulling 2,048 layers"},
	}
	for _, tt := range tests {
		if numberless(tt.a) != numberless(tt.b) {
			t.Errorf("numberless(%q) = %q != numberless(%q) = %q", tt.a, numberless(tt.a), tt.b, numberless(tt.b))
		}
	}
	if got := numberless("v1.2. done, ok"); got != "v#. done, ok" {
		t.Errorf("numberless = %q", got)
	}
}

func TestElapsed(t *testing.T) {
	var tr tracker
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	u := tr.apply(Event{Unit: "u", Status: Waiting, Time: at(0)})
	if _, ok := u.elapsed(at(time.Second)); ok {
		t.Error("elapsed before the first Working event")
	}
	tr.apply(Event{Unit: "u", Status: Working, Text: "Pulling", Time: at(time.Second)})
	if d, _ := u.elapsed(at(1500 * time.Millisecond)); d != 500*time.Millisecond {
		t.Errorf("running elapsed = %v", d)
	}
	tr.apply(Event{Unit: "u", Status: Done, Text: "Pulled", Time: at(2 * time.Second)})
	if d, _ := u.elapsed(at(time.Hour)); d != time.Second {
		t.Errorf("elapsed after Done = %v", d)
	}
	// Working again: the clock runs on from the first Working event.
	tr.apply(Event{Unit: "u", Status: Working, Text: "Creating", Time: at(3 * time.Second)})
	tr.apply(Event{Unit: "u", Text: "Creating 50%", Time: at(4 * time.Second)})
	if u.status != Working || u.text != "Creating 50%" {
		t.Errorf("text-only event: status %v text %q", u.status, u.text)
	}
	tr.apply(Event{Unit: "u", Status: Failed, Err: errors.New("boom"), Time: at(5 * time.Second)})
	if d, _ := u.elapsed(at(time.Hour)); d != 4*time.Second {
		t.Errorf("elapsed after Failed = %v", d)
	}
	if got := u.message(); got != "Failed: boom" {
		t.Errorf("message = %q", got)
	}
	// A new unit seen first through a text-only event is Waiting.
	if v := tr.apply(Event{Unit: "v", Text: "Queued", Time: at(0)}); v.status != Waiting {
		t.Errorf("status = %v, want waiting", v.status)
	}
	if len(tr.units) != 2 || tr.units[0].name != "u" || tr.units[1].name != "v" {
		t.Errorf("units not in first-seen order")
	}
}

package progress

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/table"
)

var elapsedRE = regexp.MustCompile(` \d+\.\ds$`)

// stateAt returns the units after the steps up to and including at.
func stateAt(steps []step, at time.Duration) []*unit {
	var tr tracker
	for _, s := range steps {
		if s.at > at {
			break
		}
		e := s.e
		e.Time = t0.Add(s.at)
		tr.apply(e)
	}
	return tr.units
}

func frame(units []*unit, o frameOptions) string {
	return strings.Join(renderFrame(units, o), "\n") + "\n"
}

// checkLines fails if a frame line is wider than width-1 or ends in a space.
func checkLines(t *testing.T, got string, width int) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if w := table.Width(l); w > width-1 {
			t.Errorf("line %q is %d columns, want <= %d", l, w, width-1)
		}
		if strings.HasSuffix(table.StripANSI(l), " ") {
			t.Errorf("line %q has trailing spaces", l)
		}
		if strings.HasSuffix(l, "s") && elapsedRE.MatchString(table.StripANSI(l)) && table.Width(l) != width-1 {
			t.Errorf("line %q is %d columns, want elapsed right-aligned at %d", l, table.Width(l), width-1)
		}
	}
}

func TestRenderFrame(t *testing.T) {
	tests := []struct {
		name string
		at   time.Duration // script position
		o    frameOptions
		want string
	}{
		{
			name: "working",
			at:   2 * time.Second,
			o:    frameOptions{width: 60, now: t0.Add(2 * time.Second)},
			want: `[+] Running 0/2
 · coding-core.api  Waiting for coding-core.db
 ⠋ coding-core.db   Waiting healthy                    2.0s
`,
		},
		{
			name: "spinner and clock move with now",
			at:   2 * time.Second,
			o:    frameOptions{width: 60, now: t0.Add(2*time.Second + 350*time.Millisecond)},
			want: `[+] Running 0/2
 · coding-core.api  Waiting for coding-core.db
 ⠸ coding-core.db   Waiting healthy                    2.4s
`,
		},
		{
			name: "narrow terminal truncates names and text",
			at:   2 * time.Second,
			o:    frameOptions{width: 30, now: t0.Add(2 * time.Second)},
			want: `[+] Running 0/2
 · coding-core.…  Waiting fo…
 ⠋ coding-core.…  Waiti… 2.0s
`,
		},
		{
			name: "very narrow terminal cuts whole lines",
			at:   2 * time.Second,
			o:    frameOptions{width: 12, now: t0.Add(2 * time.Second)},
			want: `[+] Runnin…
 · coding-…
 ⠋ coding-…
`,
		},
		{
			name: "all done, not final",
			at:   7 * time.Second,
			o:    frameOptions{width: 70, now: t0.Add(7 * time.Second)},
			want: `[+] Running 5/5, 1 failed
 ✔ coding-core.api     Recreated (env DEBUG changed)             0.8s
 ✔ coding-core.db      Healthy                                   3.2s
 ✘ coding-core.worker  Exited (1): container exited with code 1  1.9s
 – coding-core.web     Skipped (coding-core.worker failed)
 ✔ host core-app-1     Running
`,
		},
		{
			name: "final frame shows details and cut-off errors",
			at:   7 * time.Second,
			o:    frameOptions{width: 60, height: 4, now: t0.Add(7 * time.Second), final: true},
			want: `[+] Running 5/5, 1 failed
 ✔ coding-core.api     Recreated (env DEBUG changed)   0.8s
 ✔ coding-core.db      Healthy                         3.2s
 ✘ coding-core.worker  Exited (1): container exited w… 1.9s
    container exited with code 1
    panic: missing config
    	main.go:12
 – coding-core.web     Skipped (coding-core.worker failed)
 ✔ host core-app-1     Running
`,
		},
		{
			name: "final frame does not repeat an error that fits",
			at:   7 * time.Second,
			o:    frameOptions{width: 80, now: t0.Add(7 * time.Second), final: true},
			want: `[+] Running 5/5, 1 failed
 ✔ coding-core.api     Recreated (env DEBUG changed)                       0.8s
 ✔ coding-core.db      Healthy                                             3.2s
 ✘ coding-core.worker  Exited (1): container exited with code 1            1.9s
    panic: missing config
    	main.go:12
 – coding-core.web     Skipped (coding-core.worker failed)
 ✔ host core-app-1     Running
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frame(stateAt(script, tt.at), tt.o)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frame mismatch (-want +got):\n%s", diff)
			}
			if !tt.o.final {
				checkLines(t, got, tt.o.width)
			}
		})
	}
}

func TestRenderFrameEmpty(t *testing.T) {
	if got := renderFrame(nil, frameOptions{width: 80, now: t0}); got != nil {
		t.Errorf("renderFrame(nil) = %q", got)
	}
}

// manyUnits returns 10 units: 6 done, 2 working, 1 failed, 1 waiting.
func manyUnits() []*unit {
	var steps []step
	add := func(at time.Duration, name string, st Status, text string) {
		steps = append(steps, step{at, Event{Unit: name, Status: st, Text: text}})
	}
	for i := range 10 {
		add(0, fmt.Sprintf("svc.job-%d", i), Working, "Creating")
	}
	for _, i := range []int{0, 1, 3, 4, 6, 9} {
		add(time.Second, fmt.Sprintf("svc.job-%d", i), Done, "Started")
	}
	steps = append(steps, step{time.Second, Event{Unit: "svc.job-8", Status: Failed, Err: errors.New("port is already allocated")}})
	add(1500*time.Millisecond, "svc.job-2", Working, "Pulling 34%")
	add(1500*time.Millisecond, "svc.job-5", Waiting, "Waiting for svc.job-2")
	add(1500*time.Millisecond, "svc.job-7", Working, "Waiting healthy")
	return stateAt(steps, time.Hour)
}

func TestRenderFrameCollapse(t *testing.T) {
	now := t0.Add(2 * time.Second)
	tests := []struct {
		name   string
		height int
		want   string
	}{
		{
			name:   "fits",
			height: 12,
			want: `[+] Running 7/10, 1 failed
 ✔ svc.job-0  Started                                  1.0s
 ✔ svc.job-1  Started                                  1.0s
 ⠋ svc.job-2  Pulling 34%                              2.0s
 ✔ svc.job-3  Started                                  1.0s
 ✔ svc.job-4  Started                                  1.0s
 · svc.job-5  Waiting for svc.job-2                    2.0s
 ✔ svc.job-6  Started                                  1.0s
 ⠋ svc.job-7  Waiting healthy                          2.0s
 ✘ svc.job-8  Failed: port is already allocated        1.0s
 ✔ svc.job-9  Started                                  1.0s
`,
		},
		{
			name:   "working, failed and waiting units shown",
			height: 11,
			want: `[+] Running 7/10, 1 failed
 ⠋ svc.job-2  Pulling 34%                              2.0s
 · svc.job-5  Waiting for svc.job-2                    2.0s
 ⠋ svc.job-7  Waiting healthy                          2.0s
 ✘ svc.job-8  Failed: port is already allocated        1.0s
 … 6 done
`,
		},
		{
			name:   "working units first",
			height: 5,
			want: `[+] Running 7/10, 1 failed
 ⠋ svc.job-2  Pulling 34%                              2.0s
 ⠋ svc.job-7  Waiting healthy                          2.0s
 … 6 done, 1 failed, 1 more
`,
		},
		{
			name:   "tiny terminal",
			height: 2,
			want: `[+] Running 7/10, 1 failed
 … 6 done, 1 failed, 3 more
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frame(manyUnits(), frameOptions{width: 60, height: tt.height, now: now})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frame mismatch (-want +got):\n%s", diff)
			}
			checkLines(t, got, 60)
			if n := strings.Count(got, "\n"); tt.height > 2 && n > tt.height-1 {
				t.Errorf("frame has %d lines, want at most %d", n, tt.height-1)
			}
		})
	}
}

func TestRenderFrameColor(t *testing.T) {
	got := renderFrame(manyUnits(), frameOptions{width: 60, height: 5, now: t0.Add(2 * time.Second), color: true})
	want := []string{
		"\x1b[1m[+] Running 7/10, 1 failed\x1b[22m",
		" ⠋ svc.job-2  Pulling 34%                              2.0s",
		" ⠋ svc.job-7  Waiting healthy                          2.0s",
		"\x1b[2m … 6 done, 1 failed, 1 more\x1b[22m",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame mismatch (-want +got):\n%s", diff)
	}
	got = renderFrame(manyUnits()[7:9], frameOptions{width: 40, now: t0.Add(2 * time.Second), color: true})
	want = []string{
		"\x1b[1m[+] Running 1/2, 1 failed\x1b[22m",
		" ⠋ svc.job-7  Waiting healthy      2.0s",
		" \x1b[31m✘\x1b[39m svc.job-8  \x1b[31mFailed: port is alr…\x1b[39m 1.0s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame mismatch (-want +got):\n%s", diff)
	}
	var tr tracker
	tr.apply(Event{Unit: "a", Status: Done, Text: "Started", Time: t0})
	tr.apply(Event{Unit: "b", Status: Skipped, Time: t0})
	tr.apply(Event{Unit: "c", Status: Waiting, Time: t0})
	got = renderFrame(tr.units, frameOptions{width: 40, now: t0, color: true})
	want = []string{
		"\x1b[1m[+] Running 2/3\x1b[22m",
		" \x1b[32m✔\x1b[39m a  Started",
		" \x1b[2m–\x1b[22m b  \x1b[2mSkipped\x1b[22m",
		" \x1b[2m·\x1b[22m c  \x1b[2mWaiting\x1b[22m",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame mismatch (-want +got):\n%s", diff)
	}
}

func TestRenderFrameWideRunes(t *testing.T) {
	var tr tracker
	tr.apply(Event{Unit: "日本.api", Status: Working, Text: "起動中です。しばらくお待ちください", Time: t0})
	tr.apply(Event{Unit: "x", Status: Working, Text: "line\nbreak\tand\x1b[31mcolor", Time: t0})
	got := frame(tr.units, frameOptions{width: 40, now: t0.Add(time.Second)})
	want := `[+] Running 0/2
 ⠋ 日本.api  起動中です。しばらく… 1.0s
 ⠋ x         line break andcolor   1.0s
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame mismatch (-want +got):\n%s", diff)
	}
	checkLines(t, got, 40)
}

func TestLiveWrites(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	l := newLive(&buf, false, func() (int, int) { return 40, 24 })
	l.now = clock.now
	l.interval = 0 // draw by hand

	l.draw(false) // nothing reported: nothing drawn
	if buf.Len() != 0 {
		t.Fatalf("empty frame wrote %q", buf.String())
	}

	l.Report(Event{Unit: "a", Status: Working, Text: "Creating"})
	l.Report(Event{Unit: "b", Status: Waiting})
	l.draw(false)
	clock.set(time.Second)
	l.Report(Event{Unit: "a", Status: Done, Text: "Started"})
	l.Report(Event{Unit: "b", Status: Skipped, Detail: "dependency a\nwas replaced"})
	l.draw(false)
	l.draw(false) // nothing changed, nothing animated: no frame
	clock.set(2 * time.Second)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Report(Event{Unit: "c", Status: Working}) // dropped
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	want := "" +
		// frame 1
		"\x1b[2K[+] Running 0/2\n" +
		"\x1b[2K ⠋ a  Creating                     0.0s\n" +
		"\x1b[2K · b  Waiting\n" +
		"\x1b[J" +
		// frame 2: back up three lines and overwrite
		"\r\x1b[3A" +
		"\x1b[2K[+] Running 2/2\n" +
		"\x1b[2K ✔ a  Started                      1.0s\n" +
		"\x1b[2K – b  Skipped\n" +
		"\x1b[J" +
		// final frame, with details
		"\r\x1b[3A" +
		"\x1b[2K[+] Running 2/2\n" +
		"\x1b[2K ✔ a  Started                      1.0s\n" +
		"\x1b[2K – b  Skipped\n" +
		"\x1b[2K    dependency a\n" +
		"\x1b[2K    was replaced\n" +
		"\x1b[J"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s", diff)
	}
}

func TestLiveBackground(t *testing.T) {
	var out syncBuffer
	clock := newClock()
	l := newLive(&out, true, func() (int, int) { return 50, 24 })
	l.now = clock.now
	l.interval = 5 * time.Millisecond
	l.Report(Event{Unit: "coding-core.api", Status: Working, Text: "Starting"})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "Starting") {
		if time.Now().After(deadline) {
			t.Fatal("no frame drawn by the background goroutine")
		}
		time.Sleep(time.Millisecond)
	}
	clock.set(1200 * time.Millisecond)
	l.Report(Event{Unit: "coding-core.api", Status: Done, Text: "Started"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	final := s[strings.LastIndex(s, "\x1b[2K\x1b[1m[+]"):]
	want := "\x1b[2K\x1b[1m[+] Running 1/1\x1b[22m\n" +
		"\x1b[2K \x1b[32m✔\x1b[39m coding-core.api  Started                  1.2s\n" +
		"\x1b[J"
	if diff := cmp.Diff(want, final); diff != "" {
		t.Errorf("final frame mismatch (-want +got):\n%s", diff)
	}
	// Every frame is one Write: the number of frames equals the number
	// of erase-below sequences, and each starts right after the previous.
	if n := strings.Count(s, "\x1b[J"); n < 2 {
		t.Errorf("got %d frames, want at least 2", n)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// testCtx returns a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// openEmbedded opens a store with an embedded member in dir and closes it
// when the test ends.
func openEmbedded(t *testing.T, dir string) *Store {
	t.Helper()
	start := time.Now()
	s, err := Open(testCtx(t, 60*time.Second), Options{DataDir: dir, DialTimeout: 5 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Logf("embedded member started in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { s.Close() })
	return s
}

func push(t *testing.T, s *Store, r PushRequest) Version {
	t.Helper()
	v, created, err := s.Push(testCtx(t, 10*time.Second), r)
	if err != nil {
		t.Fatalf("Push(base %d): %v", r.Base, err)
	}
	if !created {
		t.Fatalf("Push(base %d): nothing new, want a new version", r.Base)
	}
	return v
}

// numbers returns the version numbers of vs.
func numbers(vs []Version) []int64 {
	ns := make([]int64, len(vs))
	for i, v := range vs {
		ns[i] = v.Number
	}
	return ns
}

func TestPushAndRead(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	if !s.Embedded() || len(s.Endpoints()) != 1 || !strings.HasPrefix(s.Endpoints()[0], "http://127.0.0.1:") {
		t.Fatalf("Embedded() = %v, Endpoints() = %v", s.Embedded(), s.Endpoints())
	}

	if _, err := s.Head(ctx); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Head on empty store: %v, want ErrEmpty", err)
	}
	if v, err := s.Versions(ctx, ListOptions{}); err != nil || len(v) != 0 {
		t.Fatalf("Versions on empty store = %v, %v", v, err)
	}

	v1 := push(t, s, PushRequest{File: "file 1", Author: "alice", Message: "first"})
	want1 := Version{Number: 1, Previous: 0, Base: 0, Hash: Hash("file 1"), Author: "alice", Message: "first", Kind: "push", File: "file 1"}
	if diff := cmp.Diff(want1, v1, cmpopts.IgnoreFields(Version{}, "Time")); diff != "" {
		t.Errorf("v1 (-want +got):\n%s", diff)
	}
	if time.Since(v1.Time) > time.Minute || v1.Time.Location() != time.UTC {
		t.Errorf("v1.Time = %v", v1.Time)
	}
	if !strings.HasPrefix(v1.Hash, "sha256:") || len(v1.Hash) != len("sha256:")+64 {
		t.Errorf("hash %q", v1.Hash)
	}

	v2 := push(t, s, PushRequest{File: "file 2", Author: "bob", Message: "second", Kind: "update", Base: 1})
	if v2.Number != 2 || v2.Previous != 1 || v2.Base != 1 || v2.Kind != "update" || v2.Forced {
		t.Errorf("v2 = %+v", v2)
	}

	// Identical content: nothing new, whatever the base.
	for _, base := range []int64{2, 1} {
		got, created, err := s.Push(ctx, PushRequest{File: "file 2", Author: "carol", Base: base})
		if err != nil || created {
			t.Fatalf("identical push on base %d: created %v, err %v", base, created, err)
		}
		if diff := cmp.Diff(v2, got); diff != "" {
			t.Errorf("identical push returned (-want +got):\n%s", diff)
		}
	}

	// Stale base.
	_, created, err := s.Push(ctx, PushRequest{File: "file 3", Author: "carol", Base: 1})
	var ce *ConflictError
	if !errors.As(err, &ce) || created {
		t.Fatalf("stale push: created %v, err %v; want *ConflictError", created, err)
	}
	if !errors.Is(err, ErrConflict) {
		t.Errorf("errors.Is(err, ErrConflict) = false")
	}
	if ce.Base != 1 || ce.Head.Number != 2 || ce.Head.Author != "bob" {
		t.Errorf("conflict = %+v", ce)
	}
	for _, want := range []string{"version 2 was pushed by bob at ", ` UTC ("second") since version 1, which this push was based on`, "push --force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict message %q lacks %q", err, want)
		}
	}
	// A base past the head is a conflict too.
	if _, _, err := s.Push(ctx, PushRequest{File: "file 3", Base: 7}); !errors.As(err, &ce) {
		t.Errorf("push on future base: %v, want conflict", err)
	}

	// Force on the stale base wins.
	v3 := push(t, s, PushRequest{File: "file 3", Author: "carol", Message: "forced", Base: 1, Force: true})
	if v3.Number != 3 || v3.Previous != 2 || v3.Base != 1 || !v3.Forced {
		t.Errorf("v3 = %+v", v3)
	}
	// Force also stores identical content as a new version.
	v4 := push(t, s, PushRequest{File: "file 3", Author: "dave", Kind: "rollback", Base: 3, Force: true})
	if v4.Number != 4 || v4.Hash != v3.Hash {
		t.Errorf("v4 = %+v", v4)
	}

	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v4, head); diff != "" {
		t.Errorf("Head (-want +got):\n%s", diff)
	}
	for _, want := range []Version{v1, v2, v3, v4} {
		got, err := s.Version(ctx, want.Number)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Version(%d) (-want +got):\n%s", want.Number, diff)
		}
	}
	for _, n := range []int64{0, -1, 5} {
		if _, err := s.Version(ctx, n); !errors.Is(err, ErrNotFound) {
			t.Errorf("Version(%d): %v, want ErrNotFound", n, err)
		}
	}

	list, err := s.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []Version
	for _, v := range []Version{v4, v3, v2, v1} {
		v.File = ""
		want = append(want, v)
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("Versions (-want +got):\n%s", diff)
	}
}

func TestVersionsPaging(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	for i := range 7 {
		push(t, s, PushRequest{File: fmt.Sprint("file ", i), Base: int64(i)})
	}
	defer func(old int) { metaBatch = old }(metaBatch)
	metaBatch = 2 // exercise batching
	for _, tc := range []struct {
		o    ListOptions
		want []int64
	}{
		{ListOptions{}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{ListOptions{Limit: 3}, []int64{7, 6, 5}},
		{ListOptions{Limit: 3, Before: 5}, []int64{4, 3, 2}},
		{ListOptions{Before: 3}, []int64{2, 1}},
		{ListOptions{Before: 1}, []int64{}},
		{ListOptions{Before: 100, Limit: 1}, []int64{7}},
		{ListOptions{Limit: 100}, []int64{7, 6, 5, 4, 3, 2, 1}},
	} {
		got, err := s.Versions(ctx, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, numbers(got)); diff != "" {
			t.Errorf("Versions(%+v) (-want +got):\n%s", tc.o, diff)
		}
		for _, v := range got {
			if v.File != "" || v.Hash == "" {
				t.Errorf("Versions(%+v): version %d has File %q, Hash %q", tc.o, v.Number, v.File, v.Hash)
			}
		}
	}
}

func TestConcurrentPushes(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	push(t, s, PushRequest{File: "base"})

	const n = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		won       []Version
		conflicts int
		errs      []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, created, err := s.Push(ctx, PushRequest{File: fmt.Sprint("file from ", i), Author: fmt.Sprint("user", i), Base: 1})
			mu.Lock()
			defer mu.Unlock()
			var ce *ConflictError
			switch {
			case err == nil && created:
				won = append(won, v)
			case errors.As(err, &ce):
				conflicts++
			default:
				errs = append(errs, fmt.Errorf("push %d: created %v, err %v", i, created, err))
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 || len(won) != 1 || conflicts != n-1 {
		t.Fatalf("%d won, %d conflicts, errors %v; want 1 and %d", len(won), conflicts, errs, n-1)
	}
	if won[0].Number != 2 {
		t.Errorf("winner got version %d", won[0].Number)
	}

	// Forced pushes racing: all of them land, without gaps.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Push(ctx, PushRequest{File: fmt.Sprint("forced ", i), Base: 1, Force: true}); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("forced pushes: %v", errs)
	}
	list, err := s.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	total := int64(2 + n)
	if len(list) != int(total) {
		t.Fatalf("got %d versions, want %d", len(list), total)
	}
	for i, v := range list {
		if want := total - int64(i); v.Number != want || v.Previous != want-1 {
			t.Errorf("list[%d] = version %d (previous %d), want %d", i, v.Number, v.Previous, want)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, 60*time.Second)
	s := openEmbedded(t, dir)
	for i := range 3 {
		push(t, s, PushRequest{File: fmt.Sprint("file ", i), Base: int64(i), Author: "alice"})
	}
	ev, err := s.AddEvent(ctx, Event{Who: "alice", Action: "push", Version: 3, Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	st := JobState{Job: "web.api", Desired: "down", Version: 3, By: "alice"}
	if err := s.SetJobState(ctx, st); err != nil {
		t.Fatal(err)
	}
	wantVersions, err := s.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantStates, err := s.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	endpoints := s.Endpoints()

	// A second server on the same data dir is refused while the first runs.
	_, err = Open(ctx, Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "data dir "+dir) || !strings.Contains(err.Error(), "another cjob server") {
		t.Errorf("second Open on a data dir in use: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s2 := openEmbedded(t, dir)
	if diff := cmp.Diff(endpoints, s2.Endpoints()); diff != "" {
		t.Errorf("endpoints changed across restart (-old +new):\n%s", diff)
	}
	gotVersions, err := s2.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantVersions, gotVersions); diff != "" {
		t.Errorf("versions after restart (-want +got):\n%s", diff)
	}
	head, err := s2.Head(ctx)
	if err != nil || head.Number != 3 || head.File != "file 2" {
		t.Errorf("head after restart = %+v, %v", head, err)
	}
	events, err := s2.Events(ctx, EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Event{ev}, events); diff != "" {
		t.Errorf("events after restart (-want +got):\n%s", diff)
	}
	gotStates, err := s2.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantStates, gotStates); diff != "" {
		t.Errorf("job states after restart (-want +got):\n%s", diff)
	}
	// And it keeps working.
	push(t, s2, PushRequest{File: "after restart", Base: 3})
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// Without the remembered URLs the member comes back on new ports
	// (port 0: pick one), still with all its data.
	if err := os.Remove(filepath.Join(dir, "etcd-urls.json")); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(ctx, Options{DataDir: dir, ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if ep := s3.Endpoints()[0]; !strings.HasPrefix(ep, "http://127.0.0.1:") || strings.HasSuffix(ep, ":0") {
		t.Errorf("endpoint %s, want a concrete loopback port", ep)
	}
	if h, err := s3.Head(ctx); err != nil || h.Number != 4 {
		t.Errorf("head after restart on new ports = %+v, %v", h, err)
	}
	push(t, s3, PushRequest{File: "new ports", Base: 4})
}

func TestWatchHead(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	push(t, s, PushRequest{File: "before the watch"})

	wctx, cancel := context.WithCancel(ctx)
	ch := s.WatchHead(wctx)
	var pushed []Version
	for i := range 3 {
		pushed = append(pushed, push(t, s, PushRequest{File: fmt.Sprint("quick ", i), Base: int64(i + 1)}))
	}
	// Versions 5 and 6 appear in one transaction: one watch event for
	// head 6, yet 5 must be sent too.
	_, err := s.Client().Txn(ctx).Then(
		clientv3.OpPut(s.metaKey(5), `{"number":5,"previous":4,"base":4,"hash":"x","kind":"push","time":"2026-01-02T03:04:05Z"}`),
		clientv3.OpPut(s.fileKey(5), "five"),
		clientv3.OpPut(s.metaKey(6), `{"number":6,"previous":5,"base":5,"hash":"y","kind":"push","time":"2026-01-02T03:04:06Z"}`),
		clientv3.OpPut(s.fileKey(6), "six"),
		clientv3.OpPut(s.key(headKey), "6"),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range pushed {
		got := receive(t, ch)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("watched version (-want +got):\n%s", diff)
		}
	}
	for _, want := range []struct {
		n    int64
		file string
	}{{5, "five"}, {6, "six"}} {
		if got := receive(t, ch); got.Number != want.n || got.File != want.file {
			t.Errorf("watched version %d %q, want %d %q", got.Number, got.File, want.n, want.file)
		}
	}
	cancel()
	select {
	case v, ok := <-ch:
		if ok {
			t.Errorf("unexpected version %d after cancel", v.Number)
		}
	case <-time.After(5 * time.Second):
		t.Error("channel not closed after cancel")
	}
}

// TestWatchHeadCatchUp resumes a watch from a compacted revision: the
// watch fails, and the watcher catches up by version number.
func TestWatchHeadCatchUp(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	var logs []string
	var mu sync.Mutex
	s.logf = func(format string, args ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	v1 := push(t, s, PushRequest{File: "one"})
	for i := 2; i <= 4; i++ {
		push(t, s, PushRequest{File: fmt.Sprint("file ", i), Base: int64(i - 1)})
	}
	_, _, rev, err := s.headNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	// A watcher that last sent version 1, at a revision now compacted.
	ch := make(chan Version)
	go s.watchHead(ctx, ch, v1.Number, 1)
	for want := int64(2); want <= 4; want++ {
		if got := receive(t, ch); got.Number != want || got.File != fmt.Sprint("file ", want) {
			t.Fatalf("got version %d %q, want %d", got.Number, got.File, want)
		}
	}
	push(t, s, PushRequest{File: "five", Base: 4})
	if got := receive(t, ch); got.Number != 5 || got.File != "five" {
		t.Fatalf("got version %d %q, want 5", got.Number, got.File)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 || !strings.Contains(logs[0], "compacted") {
		t.Errorf("logs = %q, want a note about the compacted watch", logs)
	}
}

func receive(t *testing.T, ch <-chan Version) Version {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no version from WatchHead within 10s")
	}
	return Version{}
}

func TestEventsAndJobStates(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)

	if ev, err := s.Events(ctx, EventFilter{}); err != nil || len(ev) != 0 {
		t.Fatalf("Events on empty store = %v, %v", ev, err)
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	in := []Event{
		{Who: "alice", Action: "push", Version: 1, Result: "ok"},
		{Who: "alice", Action: "up", Target: "web.api", Result: "ok"},
		{Who: "bob", Action: "down", Target: "web.worker", Result: "ok"},
		{Who: "bob", Action: "update", Target: "web.api", Version: 2, Result: "failed", Detail: "health check"},
		{Who: "bob", Action: "rollback", Target: "web.api", Version: 1, Result: "rolled back"},
	}
	var stored []Event
	for i, e := range in {
		e.Time = base.Add(time.Duration(i) * time.Second)
		got, err := s.AddEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || got.Time != e.Time {
			t.Errorf("AddEvent = %+v", got)
		}
		stored = append(stored, got)
	}
	now, err := s.AddEvent(ctx, Event{Who: "carol", Action: "reload", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(now.Time) > time.Minute || !strings.HasPrefix(now.ID, fmt.Sprintf("%020d-", now.Time.UnixNano())) {
		t.Errorf("AddEvent without time = %+v", now)
	}
	if _, err := s.AddEvent(ctx, now); err == nil {
		t.Error("AddEvent with an existing ID succeeded")
	}
	stored = append(stored, now)

	ids := func(es []Event) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	id := func(i ...int) []string {
		out := []string{}
		for _, j := range i {
			out = append(out, stored[j].ID)
		}
		return out
	}
	for _, small := range []bool{false, true} {
		if small {
			old := eventPage
			eventPage = 2 // filtering across several pages
			defer func() { eventPage = old }()
		}
		for _, tc := range []struct {
			f    EventFilter
			want []string
		}{
			{EventFilter{}, id(5, 4, 3, 2, 1, 0)},
			{EventFilter{Limit: 2}, id(5, 4)},
			{EventFilter{Limit: -1}, id(5, 4, 3, 2, 1, 0)},
			{EventFilter{Target: "web.api"}, id(4, 3, 1)},
			{EventFilter{Target: "web.api", Limit: 2}, id(4, 3)},
			{EventFilter{Action: "down"}, id(2)},
			{EventFilter{Target: "web.api", Action: "update"}, id(3)},
			{EventFilter{Target: "nope"}, id()},
		} {
			got, err := s.Events(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("Events(%+v), page %d (-want +got):\n%s", tc.f, eventPage, diff)
			}
		}
	}
	all, err := s.Events(ctx, EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stored[3], all[2]); diff != "" {
		t.Errorf("event content (-want +got):\n%s", diff)
	}

	n, err := s.PruneEvents(ctx, base.Add(2*time.Second))
	if err != nil || n != 2 {
		t.Errorf("PruneEvents = %d, %v; want 2", n, err)
	}
	if got, _ := s.Events(ctx, EventFilter{}); len(got) != 4 {
		t.Errorf("%d events after pruning, want 4", len(got))
	}

	// Job states.
	if _, err := s.JobState(ctx, "web.api"); !errors.Is(err, ErrNotFound) {
		t.Errorf("JobState of unknown job: %v, want ErrNotFound", err)
	}
	if m, err := s.JobStates(ctx); err != nil || len(m) != 0 {
		t.Errorf("JobStates on empty store = %v, %v", m, err)
	}
	if err := s.SetJobState(ctx, JobState{Desired: "up"}); err == nil {
		t.Error("SetJobState without a job succeeded")
	}
	api := JobState{Job: "web.api", Desired: "up", Version: 2, By: "alice", Updated: base}
	if err := s.SetJobState(ctx, api); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJobState(ctx, JobState{Job: "web.worker", Desired: "down", Version: 1, By: "bob"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.JobState(ctx, "web.api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(api, got); diff != "" {
		t.Errorf("JobState (-want +got):\n%s", diff)
	}
	api.Desired, api.Version = "down", 3
	if err := s.SetJobState(ctx, api); err != nil {
		t.Fatal(err)
	}
	m, err := s.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["web.api"] != api || m["web.worker"].Desired != "down" || m["web.worker"].Updated.IsZero() {
		t.Errorf("JobStates = %+v", m)
	}
}

func TestPrefixesAreSeparate(t *testing.T) {
	s := openEmbedded(t, t.TempDir())
	ctx := testCtx(t, 30*time.Second)
	other, err := Open(ctx, Options{Endpoints: s.Endpoints(), Prefix: "/other", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Embedded() || other.Prefix() != "/other/" {
		t.Errorf("Embedded %v, Prefix %q", other.Embedded(), other.Prefix())
	}
	push(t, s, PushRequest{File: "a"})
	if _, err := other.Head(ctx); !errors.Is(err, ErrEmpty) {
		t.Errorf("other prefix sees a head: %v", err)
	}
	push(t, other, PushRequest{File: "b"})
	if h, err := s.Head(ctx); err != nil || h.File != "a" {
		t.Errorf("head = %+v, %v", h, err)
	}
}

func TestOpenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ep := "http://" + addr

	start := time.Now()
	_, err = Open(t.Context(), Options{Endpoints: []string{ep}, DialTimeout: time.Second})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	t.Logf("error after %s: %v", took.Round(time.Millisecond), err)
	for _, want := range []string{"etcd at " + ep + ": not reachable within 1s: ", "connection refused", "start the cluster or leave out --etcd to run an embedded member"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if took > 4*time.Second {
		t.Errorf("Open took %s with a 1s timeout", took)
	}

	// A port that accepts connections but never speaks etcd.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = Open(t.Context(), Options{Endpoints: []string{"http://" + l.Addr().String()}, DialTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not reachable within 500ms") {
		t.Errorf("Open on a silent port: %v", err)
	}

	if _, err := Open(t.Context(), Options{Endpoints: []string{"127.0.0.1:2379"}}); err == nil || !strings.Contains(err.Error(), "want a URL") {
		t.Errorf("Open with a bare host:port: %v", err)
	}
	if _, err := Open(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), "no data dir") {
		t.Errorf("Open without endpoints and data dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), Options{DataDir: file}); err == nil || !strings.HasPrefix(err.Error(), "data dir "+file+": ") {
		t.Errorf("Open with a file as data dir: %v", err)
	}
}

func TestConflictErrorMessage(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 1, 2, 0, time.UTC)
	for _, tc := range []struct {
		e    ConflictError
		want string
	}{
		{
			ConflictError{Base: 3, Head: Version{Number: 4, Author: "alice", Message: "msg", Time: at}},
			`version 4 was pushed by alice at 2026-11-22 10:01:02 UTC ("msg") since version 3, which this push was based on; review it (cjob diff) and push again, or push --force`,
		},
		{
			ConflictError{Base: 3, Head: Version{Number: 6, Author: "bob", Time: at.In(time.FixedZone("X", 3600))}},
			`version 6 was pushed by bob at 2026-11-22 10:01:02 UTC since version 3, which this push was based on (3 new versions); review it (cjob diff) and push again, or push --force`,
		},
		{
			ConflictError{Base: 0, Head: Version{Number: 1, Author: "alice", Time: at}},
			`version 1 was pushed by alice at 2026-11-22 10:01:02 UTC, but this push expected an empty store; review it (cjob diff) and push again, or push --force`,
		},
		{
			ConflictError{Base: 9, Head: Version{Number: 4, Time: at}},
			`this push was based on version 9, but the newest version is 4, pushed by an unknown author at 2026-11-22 10:01:02 UTC; review it (cjob diff) and push again, or push --force`,
		},
		{
			ConflictError{Base: 2},
			`this push was based on version 2, but the store has no versions; push --force to store it as version 1`,
		},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// TestIdentity: a store's identity is made once and kept across restarts;
// a new store (another data dir) has another.
func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	s := openEmbedded(t, dir)
	id := s.ID()
	if len(id) != 32 {
		t.Fatalf("ID %q, want 32 hex digits", id)
	}
	s.Close()
	again := openEmbedded(t, dir)
	if again.ID() != id {
		t.Errorf("after a restart the ID is %q, was %q", again.ID(), id)
	}
	other := openEmbedded(t, t.TempDir())
	if other.ID() == id {
		t.Errorf("a new store has the same ID %q", id)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// eventually retries f until it succeeds or d passes, returning the last
// error. A client needs a moment to notice a dead member and fail over.
func eventually(ctx context.Context, d time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(d)
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(actx)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pushRetrying pushes file on base, retrying through fail-over. A retry of
// a push whose first attempt was stored after all finds identical content
// and returns it, so the retry is safe.
func pushRetrying(ctx context.Context, s *Store, file string, base int64) (Version, error) {
	var v Version
	err := eventually(ctx, 15*time.Second, func(ctx context.Context) error {
		var err error
		v, _, err = s.Push(ctx, PushRequest{File: file, Author: "test", Base: base})
		return err
	})
	return v, err
}

func TestCluster(t *testing.T) {
	start := time.Now()
	c, err := StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("3-member cluster ready in %s", time.Since(start).Round(time.Millisecond))
	ctx := testCtx(t, 50*time.Second)

	if eps := c.Endpoints(); len(eps) != 3 {
		t.Fatalf("Endpoints() = %v", eps)
	}
	s, err := Open(ctx, Options{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Embedded() {
		t.Error("Embedded() = true for an external cluster")
	}
	push(t, s, PushRequest{File: "v1"})
	push(t, s, PushRequest{File: "v2", Base: 1})
	if err := s.SetJobState(ctx, JobState{Job: "web.api", Desired: "up", Version: 2}); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := s.WatchHead(wctx)

	// Stop the leader: the hardest member to lose.
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	t.Logf("stopping leader m%d", leader+1)
	stopStart := time.Now()
	if err := c.Stop(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	if err := c.Stop(leader); err == nil {
		t.Error("stopping a stopped member succeeded")
	}
	stopped := time.Now()
	v3, err := pushRetrying(ctx, s, "v3", 2)
	if err != nil {
		t.Fatalf("push with one member down: %v", err)
	}
	t.Logf("first push after losing the leader took %s", time.Since(stopped).Round(time.Millisecond))
	if v3.Number != 3 {
		t.Errorf("v3 = %+v", v3)
	}
	if got := receive(t, watch); got.Number != 3 || got.File != "v3" {
		t.Errorf("watch with one member down: version %d %q", got.Number, got.File)
	}
	var head Version
	if err := eventually(ctx, 10*time.Second, func(ctx context.Context) (err error) {
		head, err = s.Head(ctx)
		return err
	}); err != nil || head.Number != 3 {
		t.Fatalf("Head with one member down = %+v, %v", head, err)
	}
	if _, err := pushRetrying(ctx, s, "v4", 3); err != nil {
		t.Fatal(err)
	}

	// Restart it; it catches up, and a client talking only to it sees
	// everything.
	restartStart := time.Now()
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(restartStart).Round(time.Millisecond))
	if err := c.Restart(leader); err == nil {
		t.Error("restarting a running member succeeded")
	}
	only, err := Open(ctx, Options{Endpoints: c.Endpoints()[leader : leader+1], DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	want, err := s.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := only.Versions(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versions via the restarted member (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{4, 3, 2, 1}, numbers(got)); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if st, err := only.JobState(ctx, "web.api"); err != nil || st.Version != 2 {
		t.Errorf("job state via the restarted member = %+v, %v", st, err)
	}
	if h, err := only.Head(ctx); err != nil || h.File != "v4" {
		t.Errorf("head via the restarted member = %+v, %v", h, err)
	}
	if got := receive(t, watch); got.Number != 4 {
		t.Errorf("watched version %d, want 4", got.Number)
	}

	// Kill another member (a crash: no leadership hand-over): two of
	// three are still a quorum.
	other := (leader + 1) % 3
	if l := c.Leader(); l >= 0 {
		other = l
	}
	t.Logf("killing m%d", other+1)
	if err := c.Kill(other); err != nil {
		t.Fatal(err)
	}
	if _, err := pushRetrying(ctx, s, "v5", 4); err != nil {
		t.Fatalf("push after stopping m%d: %v", other+1, err)
	}
	if got := receive(t, watch); got.Number != 5 {
		t.Errorf("watched version %d, want 5", got.Number)
	}
}

func TestClusterNoQuorum(t *testing.T) {
	c, err := StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	// The remaining member accepts connections but cannot answer.
	_, err = Open(t.Context(), Options{Endpoints: c.Endpoints(), DialTimeout: time.Second})
	if err == nil {
		t.Fatal("Open without quorum succeeded")
	}
	t.Log(err)
	eps := c.Endpoints()
	for _, want := range []string{
		fmt.Sprintf("etcd at %s,%s,%s: not reachable within 1s: ", eps[0], eps[1], eps[2]),
		"connection refused",
		strings.TrimPrefix(eps[2], "http://") + " accepting connections, but the cluster does not answer (no leader or no quorum?)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestClusterQuorumLostAndBack: an open store whose cluster loses its
// quorum fails every request within its request timeout with
// ErrUnavailable (not hanging for as long as the caller would wait), and
// works again, with nothing done to it, once the members are back.
func TestClusterQuorumLostAndBack(t *testing.T) {
	c, err := StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	s, err := Open(ctx, Options{Endpoints: c.Endpoints(), RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := pushRetrying(ctx, s, "v1", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	for name, call := range map[string]func() error{
		"push":     func() error { _, _, err := s.Push(ctx, PushRequest{File: "v2", Base: 1}); return err },
		"head":     func() error { _, err := s.Head(ctx); return err },
		"event":    func() error { _, err := s.AddEvent(ctx, Event{Action: "push"}); return err },
		"jobstate": func() error { return s.SetJobState(ctx, JobState{Job: "web.api", Desired: "up"}) },
	} {
		start := time.Now()
		err := call()
		d := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s without a quorum: %v, want ErrUnavailable", name, err)
			continue
		}
		if d > 5*time.Second {
			t.Errorf("%s without a quorum failed after %s, want about the 2s request timeout", name, d)
		}
		if !strings.Contains(err.Error(), "etcd at "+strings.Join(c.Endpoints(), ",")) || !strings.Contains(err.Error(), "bring the members back") {
			t.Errorf("%s: error %q does not name the endpoints and the fix", name, err)
		}
	}
	t.Logf("without a quorum: %v", func() error { _, err := s.Head(ctx); return err }())
	for i := range 2 {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pushRetrying(ctx, s, "v2", 1); err != nil {
		t.Fatalf("push with the quorum back: %v", err)
	}
	if h, err := s.Head(ctx); err != nil || h.File != "v2" {
		t.Errorf("head with the quorum back = %+v, %v", h, err)
	}
}

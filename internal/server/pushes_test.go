package server

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/store"
)

// pushFile is v1File with the api's log level set to n: a distinct file per
// push.
func pushFile(n int) string { return jobsFile(fmt.Sprintf("level-%d", n), "s3cret", refused) }

// TestPushRaces: two operators push different files on the same base, at
// once, 100 times: exactly one wins each race, the other is refused with
// "someone pushed since", and every winning version is stored and in the
// history.
func TestPushRaces(t *testing.T) {
	f := newFixture(t)
	alice := api.NewClient(f.hs.URL, testToken, "alice")
	bob := api.NewClient(f.hs.URL, testToken, "bob")
	ctx := context.Background()
	var base int64
	var won []string
	for i := range 100 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var wins, refusals int
		for k, cl := range []*api.Client{alice, bob} {
			wg.Go(func() {
				res, err := cl.Push(ctx, api.PushRequest{File: pushFile(2*i + k), Base: base, Message: fmt.Sprintf("race %d by %d", i, k)})
				mu.Lock()
				defer mu.Unlock()
				var se *api.StatusError
				switch {
				case err == nil && res.Created:
					wins++
					won = append(won, res.Version.Message)
				case errors.As(err, &se) && se.Code == 409 && strings.Contains(err.Error(), "pushed"):
					refusals++
				default:
					t.Errorf("race %d: %v %+v", i, err, res)
				}
			})
		}
		wg.Wait()
		if wins != 1 || refusals != 1 {
			t.Fatalf("race %d: %d won, %d refused; want exactly one of each", i, wins, refusals)
		}
		base++
	}
	vs, err := f.st.Versions(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 100 || vs[0].Number != 100 {
		t.Fatalf("%d versions, newest %d; want 100", len(vs), vs[0].Number)
	}
	for i, v := range vs {
		if v.Number != int64(100-i) || v.Message != won[99-i] {
			t.Errorf("version %d: %+v, want the winner of race %d (%q)", 100-i, v, 99-i, won[99-i])
		}
	}
}

// TestManyPushesAcrossRestarts: 1,000 pushes, the server and its embedded
// etcd stopped and started again every 100: no version lost, the history
// complete, numbers monotonic, each version's file as pushed. Skipped with
// -short (about 20 s); `make faults` runs it.
func TestManyPushesAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 pushes with restarts (-short)")
	}
	n := 1000
	if s := os.Getenv("CJOB_PUSHES"); s != "" {
		fmt.Sscan(s, &n)
	}
	dir := t.TempDir()
	ctx := context.Background()
	start := time.Now()
	pushed := 0
	restarts := 0
	for pushed < n {
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		st, err := store.Open(octx, store.Options{DataDir: dir})
		cancel()
		if err != nil {
			t.Fatalf("after %d pushes, reopening the store: %v", pushed, err)
		}
		srv, err := New(Options{Store: st, Tokens: map[string]string{testToken: "ops"}, PollInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		cl := api.NewClient(hs.URL, testToken, "alice")
		for range 100 {
			if pushed == n {
				break
			}
			res, err := cl.Push(ctx, api.PushRequest{File: pushFile(pushed), Base: int64(pushed), Message: fmt.Sprint("push ", pushed+1)})
			if err != nil || !res.Created || res.Version.Number != int64(pushed+1) {
				t.Fatalf("push %d: %v %+v", pushed+1, err, res.Version)
			}
			pushed++
		}
		hs.Close()
		st.Close()
		restarts++
	}
	t.Logf("%d pushes, %d restarts, in %s", pushed, restarts-1, time.Since(start).Round(time.Millisecond))

	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vs, err := st.Versions(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != n {
		t.Fatalf("%d versions after %d pushes", len(vs), n)
	}
	for i, v := range vs {
		want := int64(n - i)
		if v.Number != want || v.Previous != want-1 || v.Message != fmt.Sprint("push ", want) {
			t.Fatalf("versions[%d] = %+v, want number %d after %d", i, v, want, want-1)
		}
	}
	for _, k := range []int64{1, int64(n / 2), int64(n)} {
		v, err := st.Version(ctx, k)
		if err != nil || !strings.Contains(v.File, fmt.Sprintf("level-%d", k-1)) {
			t.Errorf("version %d's file: %v", k, err)
		}
	}
}

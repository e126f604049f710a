package production

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/prodspec"
)

func desired(t *testing.T, tg Target) *status.Desired {
	t.Helper()
	res, err := rewrite.Production(tg.File, tg.Version)
	if err != nil {
		t.Fatal(err)
	}
	return status.Desire(tg.File, tg.Version, res.Stack)
}

// pollWorld is production with core.api and core.db up, task 2 of core.api
// stopped, a container of another project on app-2, and memory use set.
func pollWorld(t *testing.T) (*world, Target) {
	w := newWorld(t)
	// Every in-memory engine numbers its containers from 1, but a
	// snapshot keys memory by container ID across hosts (real IDs are
	// random): start each engine's numbering elsewhere.
	for i, h := range allHosts {
		e := w.engines[h]
		for k := 0; k < 10*i; k++ {
			id, err := e.Create(context.Background(), stack.CreateRequest{Name: "skip", Spec: stack.Spec{Image: apiV1, HostNetwork: true}})
			if err == nil {
				err = e.Remove(context.Background(), id)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	v1 := target(t, spec{}, 1)
	w.up(v1, "core.db")
	w.up(v1, "core.api")
	w.engines["app-2"].Kill(taskName("core.api", 2), 137)
	ctx := context.Background()
	id, err := w.engines["app-2"].Create(ctx, stack.CreateRequest{Name: "someone-else", Spec: stack.Spec{Image: apiV1, HostNetwork: true}})
	if err == nil {
		err = w.engines["app-2"].Start(ctx, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.engines["app-1"].SetMemory(taskName("core.api", 1), 100<<20)
	w.engines["app-3"].SetMemory(taskName("core.api", 3), 30<<20)
	w.engines["db-1"].SetMemory(taskName("core.db", 1), 1<<30)
	return w, v1
}

// pollProbe passes except against app-3.
func pollProbe(_ context.Context, c *stack.Check, ip string) error {
	if ip == hostAddr["app-3"] {
		return errors.New("connection refused")
	}
	return nil
}

func node(name string, tasks, containers, running, tasksRunning int, mem int64) status.Node {
	return status.Node{Name: name, Address: hostAddr[name], Docker: "tcp://" + name + ":2376", Reachable: true,
		CPUs: 4, MemoryBytes: 8 << 30, EngineVersion: "27.0.0-enginetest",
		Tasks: tasks, Containers: containers, Running: running, TasksRunning: tasksRunning, MemoryUsed: mem}
}

var ignoreTimes = cmpopts.IgnoreFields(status.Node{}, "LatencyMS", "Checked")

func TestPoll(t *testing.T) {
	t.Run("every host answers", func(t *testing.T) {
		w, v1 := pollWorld(t)
		snap := Poll(w.ctx(), w.d.Fleet, desired(t, v1), PollOptions{Memory: true, Probe: pollProbe})
		want := []status.Node{
			node("app-1", 2, 1, 1, 1, 100<<20), // core.api and core.web are placed here
			node("app-2", 1, 2, 1, 0, 0),       // task 2 is stopped; someone-else is not cjob's
			node("app-3", 1, 1, 1, 1, 30<<20),
			node("db-1", 1, 1, 1, 1, 1<<30),
		}
		if diff := cmp.Diff(want, snap.Nodes, ignoreTimes); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
		ids := w.ids()
		wantMem := map[string]int64{
			ids["app-1/"+taskName("core.api", 1)]: 100 << 20,
			ids["app-3/"+taskName("core.api", 3)]: 30 << 20,
			ids["db-1/"+taskName("core.db", 1)]:   1 << 30,
		}
		if diff := cmp.Diff(wantMem, snap.Memory); diff != "" {
			t.Errorf("memory (-want +got):\n%s", diff)
		}
		wantHealth := map[string]string{
			"core.api/1": "healthy",
			"core.api/3": "unhealthy: connection refused",
			"core.db/1":  "healthy",
		}
		if diff := cmp.Diff(wantHealth, snap.Health); diff != "" {
			t.Errorf("health (-want +got):\n%s", diff)
		}
		var got []string
		for _, c := range snap.Observed.Containers {
			got = append(got, c.Engine+" "+c.Key()+" "+c.State.String())
		}
		wantObs := []string{"app-1 core.api/1 running", "app-2 core.api/2 exited", "app-3 core.api/3 running", "db-1 core.db/1 running"}
		if diff := cmp.Diff(wantObs, got); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
		if snap.Took <= 0 || snap.At.IsZero() {
			t.Errorf("took %v at %v", snap.Took, snap.At)
		}

		// Decorate puts memory and health on the job states.
		jobs := desired(t, v1).Jobs(snap.Observed, nil)
		snap.Decorate(jobs)
		var api []status.Task
		for _, j := range jobs {
			if j.Job == "core.api" {
				api = j.Tasks
			}
		}
		var deco []string
		for _, tk := range api {
			deco = append(deco, tk.State+" "+tk.Health+" "+strconv.FormatInt(tk.Memory>>20, 10))
		}
		if diff := cmp.Diff([]string{"running healthy 100", "exited  0", "running unhealthy: connection refused 30"}, deco); diff != "" {
			t.Errorf("decorated core.api tasks (-want +got):\n%s", diff)
		}
	})

	t.Run("memory carried over from the previous poll", func(t *testing.T) {
		w, v1 := pollWorld(t)
		d := desired(t, v1)
		first := Poll(w.ctx(), w.d.Fleet, d, PollOptions{Memory: true, Probe: pollProbe})
		w.engines["app-1"].SetMemory(taskName("core.api", 1), 999<<20) // not asked for
		w.engines["app-1"].Fail("MemoryUsage", errors.New("must not be called"))
		next := Poll(w.ctx(), w.d.Fleet, d, PollOptions{Previous: first, Probe: pollProbe})
		if diff := cmp.Diff(first.Memory, next.Memory); diff != "" {
			t.Errorf("memory (-first +next):\n%s", diff)
		}
		if diff := cmp.Diff(first.Nodes, next.Nodes, ignoreTimes); diff != "" {
			t.Errorf("nodes (-first +next):\n%s", diff)
		}
		none := Poll(w.ctx(), w.d.Fleet, d, PollOptions{Probe: pollProbe})
		if len(none.Memory) != 0 || none.Nodes[0].MemoryUsed != 0 {
			t.Errorf("no memory asked and no previous poll: %v, %+v", none.Memory, none.Nodes[0])
		}
	})

	t.Run("a down host is unreachable, the rest answer", func(t *testing.T) {
		w, v1 := pollWorld(t)
		d := desired(t, v1)
		Poll(w.ctx(), w.d.Fleet, d, PollOptions{Probe: pollProbe}) // connect every host
		w.engines["app-2"].SetDown(true)
		snap := Poll(w.ctx(), w.d.Fleet, d, PollOptions{Probe: pollProbe})
		n := snap.Nodes[1]
		if n.Name != "app-2" || n.Reachable || !strings.Contains(n.Error, "unreachable at tcp://app-2:2376") {
			t.Errorf("app-2: %+v, want unreachable", n)
		}
		for _, n := range []status.Node{snap.Nodes[0], snap.Nodes[2], snap.Nodes[3]} {
			if !n.Reachable {
				t.Errorf("%s: unreachable: %s", n.Name, n.Error)
			}
		}
		for _, c := range snap.Observed.Containers {
			if c.Engine == "app-2" {
				t.Errorf("a container of the down host: %s", c.Name)
			}
		}
		// The connection was dropped: when the engine answers again,
		// the next poll dials it and reads it.
		w.engines["app-2"].SetDown(false)
		if n := Poll(w.ctx(), w.d.Fleet, d, PollOptions{Probe: pollProbe}).Nodes[1]; !n.Reachable || n.Containers != 2 {
			t.Errorf("app-2 after it answers again: %+v", n)
		}
	})

	t.Run("a host that does not answer does not hold up the rest", func(t *testing.T) {
		w, v1 := pollWorld(t)
		dial := enginetest.Dialer(w.engines)
		fl := &fleet.Fleet{Timeout: time.Minute, Dial: func(ctx context.Context, h *prodspec.Host, timeout time.Duration) (fleet.Engine, error) {
			if h.Name == "app-3" {
				<-ctx.Done() // a black hole: answers nothing until the poll gives up
				return nil, ctx.Err()
			}
			return dial(ctx, h, timeout)
		}}
		start := time.Now()
		snap := Poll(w.ctx(), fl, desired(t, v1), PollOptions{Timeout: 200 * time.Millisecond, Probe: pollProbe})
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("poll took %v; the per-host timeout is 200ms", took)
		}
		var reach []string
		for _, n := range snap.Nodes {
			reach = append(reach, n.Name+" "+map[bool]string{true: "ok", false: n.Error}[n.Reachable])
		}
		want := []string{"app-1 ok", "app-2 ok", "app-3 host app-3 (tcp://app-3:2376) unreachable: context deadline exceeded", "db-1 ok"}
		if diff := cmp.Diff(want, reach); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
		if snap.Nodes[2].LatencyMS < 200 {
			t.Errorf("app-3 latency %dms, want at least the 200ms it was waited for", snap.Nodes[2].LatencyMS)
		}
	})

	t.Run("a host without docker: and no task is not polled", func(t *testing.T) {
		w := newWorld(t)
		text := strings.Replace(spec{}.yaml(), "hosts:\n", "hosts:\n  spare: {address: 10.0.0.99}\n", 1)
		tg := Target{File: parse(t, text), Version: 1}
		snap := Poll(w.ctx(), w.d.Fleet, desired(t, tg), PollOptions{Probe: pollProbe})
		var names []string
		for _, n := range snap.Nodes {
			names = append(names, n.Name)
		}
		if diff := cmp.Diff(allHosts, names); diff != "" {
			t.Errorf("polled hosts (-want +got):\n%s", diff)
		}
	})
}

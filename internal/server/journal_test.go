package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/store"
)

// TestInterruptedActions: actions a server left in its journal (it was
// killed in the middle) are each reported once when a server starts on the
// store: an "interrupted" event saying what the job runs now, loudly when
// no task of it runs; the journal is then empty.
func TestInterruptedActions(t *testing.T) {
	eng, _ := withEngine(t) // core.api task 1 runs on app-1; task 2 is missing
	f := newFixture(t, func(o *Options) { o.Dial = enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng}) })
	f.push(api.PushRequest{File: v1File}, 201)
	ctx := tctx(t)
	for _, a := range []store.Action{
		{Job: "core.api", Action: "rolling-update", By: "alice", Version: 1},
		{Job: "mail.sms", Action: "up", By: "bob", Version: 1},
	} {
		if err := f.st.BeginAction(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var evs []store.Event
	waitFor(t, "the interrupted events", 10*time.Second, func() bool {
		evs, _ = f.st.Events(ctx, store.EventFilter{Action: ""})
		n := 0
		for _, e := range evs {
			if e.Result == "interrupted" {
				n++
			}
		}
		return n == 2
	})
	for _, e := range evs {
		if e.Result != "interrupted" {
			continue
		}
		switch e.Target {
		case "core.api":
			if e.Action != "rolling-update" || !strings.Contains(e.Detail, "rolling-update by alice") || !strings.Contains(e.Detail, "core.api: 1 of 2 tasks running") {
				t.Errorf("core.api: %+v", e)
			}
		case "mail.sms":
			if !strings.Contains(e.Detail, "mail.sms has no task running: `cjob up mail.sms` brings it back") {
				t.Errorf("mail.sms: %+v", e)
			}
		default:
			t.Errorf("unexpected %+v", e)
		}
	}
	if acts, err := f.st.Actions(ctx); err != nil || len(acts) != 0 {
		t.Errorf("journal after the report: %+v, %v", acts, err)
	}
}

// TestActionsAreJournaled: while an action runs, the journal holds it; when
// it ends, it is gone.
func TestActionsAreJournaled(t *testing.T) {
	f := newFixture(t)
	unlock, err := f.srv.lock("core.api", "reload", "alice")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := f.st.Actions(tctx(t))
	if err != nil || len(acts) != 1 || acts[0].Job != "core.api" || acts[0].Action != "reload" || acts[0].By != "alice" {
		t.Errorf("journal while running: %+v, %v", acts, err)
	}
	unlock()
	if acts, _ := f.st.Actions(tctx(t)); len(acts) != 0 {
		t.Errorf("journal after: %+v", acts)
	}
}

// TestHostAndTaskEvents: the periodic poll records a host that stops
// answering and answers again, and a task that stopped when cjob did not
// stop it (a crash, an engine restarted under it).
func TestHostAndTaskEvents(t *testing.T) {
	eng, _ := withEngine(t)
	f := newFixture(t, func(o *Options) { o.Dial = enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng}) })
	f.push(api.PushRequest{File: v1File}, 201)
	ctx := tctx(t)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	has := func(target, result, detail string) bool {
		evs, _ := f.st.Events(ctx, store.EventFilter{})
		for _, e := range evs {
			if e.Target == target && e.Result == result && strings.Contains(e.Detail, detail) {
				return true
			}
		}
		return false
	}
	waitFor(t, "app-2 reported unreachable", 10*time.Second, func() bool { return has("host app-2", "unreachable", "app-2") })

	eng.Kill("srvtest-core-api-1", 137)
	f.srv.kickPoll()
	waitFor(t, "the stopped task recorded", 10*time.Second, func() bool { return has("core.api", "stopped", "core.api/1 on app-1: Exited (137)") })

	eng.SetDown(true)
	f.srv.kickPoll()
	waitFor(t, "app-1 reported unreachable", 10*time.Second, func() bool { return has("host app-1", "unreachable", "") })
	eng.SetDown(false)
	f.srv.kickPoll()
	waitFor(t, "app-1 reachable again", 10*time.Second, func() bool { return has("host app-1", "reachable", "answers again") })

	// A task that stops while its host is away (an engine restarted
	// across a poll that found it down) is told when the host is back.
	if err := eng.Start(ctx, "srvtest-core-api-1"); err != nil {
		t.Fatal(err)
	}
	f.srv.kickPoll()
	time.Sleep(300 * time.Millisecond) // a poll sees it running
	f.srv.kickPoll()
	time.Sleep(300 * time.Millisecond)
	eng.SetDown(true)
	f.srv.kickPoll()
	count := func() int {
		evs, _ := f.st.Events(ctx, store.EventFilter{})
		n := 0
		for _, e := range evs {
			if e.Target == "core.api" && e.Result == "stopped" {
				n++
			}
		}
		return n
	}
	waitFor(t, "a poll with app-1 down", 10*time.Second, func() bool {
		evs, _ := f.st.Events(ctx, store.EventFilter{})
		n := 0
		for _, e := range evs {
			if e.Target == "host app-1" && e.Result == "unreachable" {
				n++
			}
		}
		return n == 2
	})
	eng.Kill("srvtest-core-api-1", 143)
	eng.SetDown(false)
	f.srv.kickPoll()
	waitFor(t, "the task stopped while app-1 was away recorded", 10*time.Second, func() bool { return count() == 2 && has("core.api", "stopped", "Exited (143)") })
}

// TestActionNotJournaled: an action whose journal entry cannot be written
// (the store is gone) is refused with 503 before it changes anything.
func TestActionNotJournaled(t *testing.T) {
	eng, _ := withEngine(t)
	f := newFixture(t, func(o *Options) { o.Dial = enginetest.Dialer(map[string]*enginetest.Engine{"app-1": eng}) })
	f.push(api.PushRequest{File: v1File}, 201)
	calls := len(eng.Calls())
	f.st.Close()
	code, _, body := f.do("POST", "/jobs/core.api/up", testToken, api.ActionRequest{})
	if code != 503 || !strings.Contains(string(body), "up not started, nothing changed: the action journal") {
		t.Errorf("up with no journal: %d %s", code, body)
	}
	if got := eng.Calls(); len(got) != calls {
		t.Errorf("the engine was called: %v", got[calls:])
	}
	// The job is not left marked busy.
	if err := f.srv.markBusy("core.api", "up", "alice"); err != nil {
		t.Errorf("core.api still busy: %v", err)
	}
}

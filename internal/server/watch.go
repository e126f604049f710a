package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
)

// watch follows the store's head: every new version becomes the head, the
// jobs it changes are outdated (logged, recorded, and sent to the webhook).
func (s *Server) watch(ctx context.Context, heads <-chan store.Version, seen int64) {
	for v := range heads {
		if v.Number <= seen {
			continue
		}
		seen = v.Number
		if err := s.setHead(v); err != nil {
			s.o.Logf("version %d by %s does not load, keeping version %d: %v", v.Number, v.Author, headNumber(s.current()), err)
			continue
		}
		_, cur, err := s.parseVersion(v)
		if err != nil {
			continue
		}
		d := s.diffToPrevious(ctx, v, cur)
		jobs := d.JobNames()
		s.o.Logf("version %d pushed by %s (%q): %s", v.Number, v.Author, v.Message, outdatedText(jobs))
		s.record(ctx, store.Event{Who: v.Author, Action: "outdated", Version: v.Number, Result: "ok",
			Detail: fmt.Sprintf("version %d: %s", v.Number, outdatedText(jobs))})
		if s.o.Webhook != "" {
			go s.notify(ctx, v, d)
		}
		s.kickPoll()
	}
}

func headNumber(h *head) int64 {
	if h == nil {
		return 0
	}
	return h.v.Number
}

func outdatedText(jobs []string) string {
	switch len(jobs) {
	case 0:
		return "no job changed"
	case 1:
		return "job " + jobs[0] + " is outdated"
	}
	return fmt.Sprintf("%d jobs are outdated: %s", len(jobs), strings.Join(jobs, ", "))
}

// Webhook is the body POSTed to the webhook on every new version.
type Webhook struct {
	Event    string        `json:"event"` // "version"
	Version  store.Version `json:"version"`
	Outdated []string      `json:"outdated"`
	Diff     jobdiff.Diff  `json:"diff"`
	Text     string        `json:"text"` // one line for chat tools
}

// notify POSTs the new version to the webhook, trying three times.
func (s *Server) notify(ctx context.Context, v store.Version, d jobdiff.Diff) {
	v.File = ""
	body, _ := json.Marshal(Webhook{Event: "version", Version: v, Outdated: d.JobNames(), Diff: d,
		Text: fmt.Sprintf("cjob: version %d pushed by %s: %s", v.Number, v.Author, outdatedText(d.JobNames()))})
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * 2 * time.Second):
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(rctx, "POST", s.o.Webhook, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "cjob-server")
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				s.record(ctx, store.Event{Who: "cjob-server", Action: "webhook", Version: v.Number, Result: "ok", Detail: s.o.Webhook + ": " + resp.Status})
				return
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		last = err
	}
	s.o.Logf("webhook %s: %v (gave up after 3 tries)", s.o.Webhook, last)
	s.record(ctx, store.Event{Who: "cjob-server", Action: "webhook", Version: v.Number, Result: "failed", Detail: fmt.Sprintf("%s: %v", s.o.Webhook, last)})
}

func (s *Server) snapshot() *production.Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap
}

// pollOnce polls every host of the head now and keeps the result. Memory
// use comes from the last periodic poll (see pollMemory).
func (s *Server) pollOnce(ctx context.Context) *production.Snapshot {
	return s.poll(ctx, false)
}

func (s *Server) poll(ctx context.Context, memory bool) *production.Snapshot {
	h := s.current()
	if h == nil || h.desire == nil {
		return &production.Snapshot{At: time.Now(), Observed: emptyObserved()}
	}
	snap := production.Poll(ctx, s.fleet, h.desire, production.PollOptions{Timeout: s.o.PollTimeout, Probe: s.o.Probe,
		Memory: memory, Previous: s.snapshot()})
	maskNodes(snap.Nodes) // an engine's error names its endpoint, password and all
	kept := lean(snap)
	s.mu.Lock()
	if s.snap == nil || !snap.At.Before(s.snap.At) {
		s.snap = kept
	}
	s.mu.Unlock()
	return snap
}

// lean is the snapshot the server keeps between polls: its containers
// without the spec each records (cjob.spec, which with production names in
// /etc/hosts is tens of KB a container). Reads need the labels that say
// what runs, not the spec; what compares specs (diff, rollbacks) looks
// again.
func lean(snap *production.Snapshot) *production.Snapshot {
	if snap.Observed == nil {
		return snap
	}
	out := *snap
	obs := *snap.Observed
	obs.Containers = make([]*stack.Container, len(snap.Observed.Containers))
	for i, c := range snap.Observed.Containers {
		cc := *c
		if _, ok := c.Labels[stack.LabelSpec]; ok {
			cc.Labels = maps.Clone(c.Labels)
			delete(cc.Labels, stack.LabelSpec)
		}
		obs.Containers[i] = &cc
	}
	out.Observed = &obs
	return &out
}

func (s *Server) kickPoll() {
	select {
	case s.pollNow <- struct{}{}:
	default:
	}
}

func (s *Server) pollLoop(ctx context.Context) {
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	down := map[string]bool{}
	// Each host's containers at the last poll that reached it: a host
	// restarted between two polls, one of which found it down, still has
	// its stopped tasks told.
	seen := map[string][]*stack.Container{}
	var pruned time.Time
	for {
		if s.o.KeepEvents > 0 && time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if n, err := s.o.Store.PruneEvents(ctx, pruned.Add(-s.o.KeepEvents)); err != nil {
				s.o.Logf("pruning events: %v", err)
			} else if n > 0 {
				s.o.Logf("pruned %d events older than %s", n, s.o.KeepEvents)
			}
		}
		snap := s.poll(ctx, true)
		for _, n := range snap.Nodes {
			if !n.Reachable && !down[n.Name] {
				s.o.Logf("host %s unreachable: %s", n.Name, n.Error)
				s.record(ctx, store.Event{Who: "cjob-server", Action: "host", Target: "host " + n.Name, Result: "unreachable", Detail: n.Error})
			} else if n.Reachable && down[n.Name] {
				s.o.Logf("host %s reachable again", n.Name)
				s.record(ctx, store.Event{Who: "cjob-server", Action: "host", Target: "host " + n.Name, Result: "reachable", Detail: "answers again"})
			}
			down[n.Name] = !n.Reachable
		}
		s.taskChanges(ctx, seen, snap)
		remember(seen, snap)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.pollNow:
		}
	}
}

// remember keeps, for each host the poll reached, its containers.
func remember(seen map[string][]*stack.Container, snap *production.Snapshot) {
	if snap.Observed == nil {
		return
	}
	for _, n := range snap.Nodes {
		if n.Reachable {
			seen[n.Name] = nil
		}
	}
	for _, c := range snap.Observed.Containers {
		if _, ok := seen[c.Engine]; ok {
			seen[c.Engine] = append(seen[c.Engine], c)
		}
	}
}

// taskChanges records the tasks that ran when their host was last reached
// and do not now, on a host that answers, while no action of cjob's was
// running on their job: a crash, an engine restarted under them, someone's
// docker stop.
func (s *Server) taskChanges(ctx context.Context, seen map[string][]*stack.Container, now *production.Snapshot) {
	if len(seen) == 0 || now.Observed == nil {
		return
	}
	reachable := map[string]bool{}
	for _, n := range now.Nodes {
		reachable[n.Name] = n.Reachable
	}
	current := map[string]*stack.Container{}
	for _, c := range now.Observed.Containers {
		if old, ok := current[c.Engine+"|"+c.Key()]; !ok || old.State != stack.StateRunning {
			current[c.Engine+"|"+c.Key()] = c
		}
	}
	var before []*stack.Container
	for _, h := range slices.Sorted(maps.Keys(seen)) {
		before = append(before, seen[h]...)
	}
	for _, c := range before {
		job := c.Labels[stack.LabelJob]
		if c.State != stack.StateRunning || job == "" || !reachable[c.Engine] {
			continue
		}
		s.busyMu.Lock()
		_, busy := s.busy[job]
		_, all := s.busy["*"]
		s.busyMu.Unlock()
		if busy || all {
			continue
		}
		what := "its container is gone"
		if n := current[c.Engine+"|"+c.Key()]; n != nil {
			if n.State == stack.StateRunning {
				continue
			}
			what = n.Status
			if what == "" {
				what = n.State.String()
			}
		}
		s.record(ctx, store.Event{Who: "cjob-server", Action: "task", Target: job, Result: "stopped",
			Detail: fmt.Sprintf("%s on %s: %s (not stopped by cjob: a crash, the engine restarted, or by hand)", c.Key(), c.Engine, what)})
	}
}

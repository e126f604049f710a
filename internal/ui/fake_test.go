package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

var testNow = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)

// fakeSource is an environment in memory.
type fakeSource struct {
	env       Env
	snap      *Snapshot
	versions  []Version
	noVersion bool // Versions returns nil
	events    []store.Event
	tokens    map[string]string
	logLines  []string
	logFollow bool // Logs waits for ctx after the lines

	mu      sync.Mutex
	acts    []Action
	actCtx  context.Context
	actDone chan struct{}
	fresh   int
	inspect map[string]json.RawMessage
}

func newFake() *fakeSource {
	snap := &Snapshot{
		At:      testNow.Add(-2 * time.Second),
		Version: 7,
		Jobs: []Job{
			{Job: status.Job{
				Job: "coding-core.api", Service: "coding-core", Image: "coding/api:1.1.0", Needed: 2, Critical: true,
				Running: 2, Outdated: 1, Desired: "up", State: "outdated", Versions: []int64{6, 7},
				Hosts: []string{"core-app-1", "core-app-2"},
				Tasks: []status.Task{
					{Task: 1, Host: "core-app-1", Container: "coding-core.api.1", ID: "aaaaaaaaaaaa1111", Image: "coding/api:1.1.0", State: "running", Status: "Up 2 hours", Health: "healthy", Version: 7, Memory: 200 << 20, Created: testNow.Add(-2 * time.Hour)},
					{Task: 2, Host: "core-app-2", Container: "coding-core.api.2", ID: "bbbbbbbbbbbb2222", Image: "coding/api:1.0.0", State: "running", Status: "Up 3 days", Health: "unhealthy: connection refused", Version: 6, Outdated: true, Memory: 300 << 20},
				}},
				URLs:    []string{"http://127.0.0.1:18080"},
				Deps:    []status.Dep{{To: "coding-mail.migrate", Why: "depends_on"}, {To: "coding-mail.sms", Why: "SMS_URL"}, {To: "gone.job", Why: "X"}},
				Pushed:  "image: coding/api:1.1.0\nenv:\n  DEBUG: \"1\"\n",
				Running: "image: coding/api:1.0.0\nenv:\n  DEBUG: \"1\"\n",
			},
			{Job: status.Job{
				Job: "coding-core.worker", Service: "coding-core", Image: "coding/worker:2", Needed: 1,
				Running: 0, Desired: "up", State: "down", Hosts: []string{"core-app-3"},
				Tasks: []status.Task{{Task: 1, Host: "core-app-3", State: "missing"}},
			}, Deps: []status.Dep{{To: "coding-core.api", Why: "API_URL"}}},
			{Job: status.Job{
				Job: "coding-mail.sms", Service: "coding-mail", Image: "coding/sms:3", Needed: 1,
				Running: 1, Desired: "up", State: "ok", Hosts: []string{"mail-1"},
				Tasks: []status.Task{{Task: 1, Host: "mail-1", Container: "coding-mail.sms.1", ID: "cccccccccccc3333", Image: "coding/sms:3", State: "running", Status: "Up 1 minute", Version: 7}},
			},
				Swap: &Swap{Dir: "/home/dev/sms", Image: "coding/sms:dev-abc123", At: testNow.Add(-time.Minute), Build: 550 * time.Millisecond, Total: 1500 * time.Millisecond, BuildLog: "Step 1/3 : FROM golang\n<b>built</b>"},
			},
			{Job: status.Job{
				Job: "coding-mail.migrate", Service: "coding-mail", Image: "coding/migrate:1", Needed: 1, Oneshot: true,
				Running: 0, Desired: "up", State: "completed", Hosts: []string{"mail-1"},
				Tasks: []status.Task{{Task: 1, Host: "mail-1", Container: "coding-mail.migrate.1", ID: "dddddddddddd4444", Image: "coding/migrate:1", State: "exited", Status: "Exited (0) 5 minutes ago", Version: 7}},
			}},
		},
		Nodes: []status.Node{
			{Name: "core-app-1", Address: "10.0.2.11", Reachable: true, CPUs: 4, MemoryBytes: 8 << 30, EngineVersion: "20.10.24", Containers: 5, Running: 4, Tasks: 1, TasksRunning: 1, MemoryUsed: 200 << 20, LatencyMS: 12, Checked: testNow},
			{Name: "core-app-2", Address: "10.0.2.12", Reachable: true, CPUs: 4, MemoryBytes: 8 << 30, EngineVersion: "20.10.24", Containers: 3, Running: 3, Tasks: 1, TasksRunning: 1, LatencyMS: 15, Checked: testNow},
			{Name: "core-app-3", Address: "10.0.2.13", Reachable: false, Error: "dial tcp 10.0.2.13:2376: i/o timeout", Tasks: 1, LatencyMS: 5000, Checked: testNow},
			{Name: "mail-1", Address: "10.0.3.11", Reachable: true, CPUs: 2, MemoryBytes: 4 << 30, EngineVersion: "24.0.7", Containers: 2, Running: 1, Tasks: 2, TasksRunning: 1, LatencyMS: 8, Checked: testNow},
		},
	}
	return &fakeSource{
		env: Env{Name: stack.Production, Project: "coding", Actions: []string{"up", "down", "reload", "rolling-update", "rollback", "deploy"},
			Detail: "version 7 by alice"},
		snap: snap,
		versions: []Version{
			{Version: store.Version{Number: 7, Previous: 6, Author: "alice", Message: "api 1.1.0 <script>", Kind: "push", Time: testNow.Add(-time.Hour)},
				Diff: jobdiff.Diff{Jobs: []jobdiff.Job{{Job: "coding-core.api", Change: jobdiff.Changed, Fields: []jobdiff.Field{{Name: "image", Old: "coding/api:1.0.0", New: "coding/api:1.1.0"}}}}}},
			{Version: store.Version{Number: 6, Author: "bob", Kind: "push", Time: testNow.Add(-48 * time.Hour)},
				Diff: jobdiff.Diff{Jobs: []jobdiff.Job{{Job: "coding-core.api", Change: jobdiff.Added}, {Job: "coding-mail.sms", Change: jobdiff.Added}}}},
		},
		events: []store.Event{
			{ID: "2", Time: testNow.Add(-time.Minute), Who: "alice", Action: "reload", Target: "coding-core.api", Version: 7, Result: "failed", Detail: "task 2: unhealthy"},
			{ID: "1", Time: testNow.Add(-time.Hour), Who: "alice", Action: "push", Version: 7, Result: "ok", Detail: "1 job changed"},
		},
		tokens:   map[string]string{"s3cret": "alice", "t/x,y;z": "bob"},
		logLines: []string{"starting api", "listening on :8080", "GET /healthz 200"},
		inspect: map[string]json.RawMessage{
			"coding-core.api.1": json.RawMessage(`{"Id":"aaaaaaaaaaaa1111","Name":"/coding-core.api.1","Config":{"Env":["PASSWORD=********","X=</pre><script>alert(1)</script>"]}}`),
		},
	}
}

func (f *fakeSource) Env() Env { return f.env }

func (f *fakeSource) Snapshot(ctx context.Context, fresh bool) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fresh {
		f.fresh++
	}
	return f.snap, nil
}

func (f *fakeSource) Logs(ctx context.Context, container string, tail int, follow bool, w io.Writer) error {
	if container == "nope" {
		return errors.New("no container nope")
	}
	for _, l := range f.logLines {
		// Written in two pieces: the UI must join them.
		half := len(l) / 2
		if _, err := io.WriteString(w, l[:half]); err != nil {
			return err
		}
		if _, err := io.WriteString(w, l[half:]+"\n"); err != nil {
			return err
		}
	}
	if f.logFollow && follow {
		<-ctx.Done()
	}
	return nil
}

func (f *fakeSource) Inspect(ctx context.Context, container string) (json.RawMessage, error) {
	if d, ok := f.inspect[container]; ok {
		return d, nil
	}
	for _, j := range f.snap.Jobs {
		for _, t := range j.Job.Tasks {
			if t.Container == container && t.Container != "" {
				return json.RawMessage(fmt.Sprintf(`{"Name":%q}`, "/"+container)), nil
			}
		}
	}
	return nil, fmt.Errorf("no container %s", container)
}

func (f *fakeSource) Versions(ctx context.Context, limit int) ([]Version, error) {
	if f.noVersion {
		return nil, nil
	}
	if limit > 0 && limit < len(f.versions) {
		return f.versions[:limit], nil
	}
	return f.versions, nil
}

func (f *fakeSource) Events(ctx context.Context, limit int) ([]store.Event, error) {
	return f.events, nil
}

func (f *fakeSource) Authorize(token string) (string, bool) {
	who, ok := f.tokens[token]
	return who, ok
}

func (f *fakeSource) Act(ctx context.Context, a Action, rep progress.Reporter) Result {
	f.mu.Lock()
	f.acts = append(f.acts, a)
	f.actCtx = ctx
	done := f.actDone
	f.mu.Unlock()
	rep.Report(progress.Event{Unit: a.Job, Status: progress.Working, Text: "Recreating", Time: testNow})
	if done != nil {
		<-done
	}
	rep.Report(progress.Event{Unit: a.Job, Status: progress.Done, Text: "Recreated", Time: testNow.Add(250 * time.Millisecond)})
	return Result{OK: true, Message: a.Verb + " " + a.Job + ": 1 change in 250ms", Details: []string{"note <b>"}}
}

func (f *fakeSource) actions() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Action(nil), f.acts...)
}

// bigFake has jobs x tasks containers on nodes hosts.
func bigFake(services, jobsPer, tasks, nodes int) *fakeSource {
	f := newFake()
	s := &Snapshot{At: testNow, Version: 9}
	for n := 0; n < nodes; n++ {
		s.Nodes = append(s.Nodes, status.Node{Name: fmt.Sprintf("host-%02d", n), Address: fmt.Sprintf("10.0.0.%d", n), Reachable: n%17 != 3,
			CPUs: 8, MemoryBytes: 16 << 30, EngineVersion: "20.10.24", Containers: 12, Running: 10, Tasks: 10, TasksRunning: 10, MemoryUsed: 3 << 30, LatencyMS: int64(n), Checked: testNow})
	}
	h := 0
	for sv := 0; sv < services; sv++ {
		svc := fmt.Sprintf("service-%02d", sv)
		for jb := 0; jb < jobsPer; jb++ {
			name := fmt.Sprintf("%s.job-%02d", svc, jb)
			j := status.Job{Job: name, Service: svc, Image: "registry:5000/coding/" + name + ":1.2.3", Needed: tasks, Critical: jb%3 == 0, Desired: "up", Versions: []int64{9}}
			for t := 1; t <= tasks; t++ {
				host := s.Nodes[h%nodes].Name
				h++
				st := "running"
				if (sv+jb+t)%23 == 0 {
					st = "exited"
				}
				task := status.Task{Task: t, Host: host, Container: fmt.Sprintf("%s.%d", name, t), ID: fmt.Sprintf("%064d", h), Image: j.Image,
					State: st, Status: "Up 3 hours", Health: "healthy", Version: 9, Outdated: (sv+jb)%7 == 0, Memory: int64(h) << 20, Created: testNow.Add(-3 * time.Hour)}
				if st == "running" {
					j.Running++
				}
				if task.Outdated {
					j.Outdated++
				}
				j.Tasks = append(j.Tasks, task)
				j.Hosts = append(j.Hosts, host)
			}
			switch {
			case j.Running == 0:
				j.State = "down"
			case j.Running < j.Needed:
				j.State = "degraded"
			case j.Outdated > 0:
				j.State = "outdated"
			default:
				j.State = "ok"
			}
			s.Jobs = append(s.Jobs, Job{Job: j})
		}
	}
	f.snap = s
	return f
}

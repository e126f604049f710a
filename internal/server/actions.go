package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/prodspec"
)

func emptyObserved() *stack.Observed { return &stack.Observed{Volumes: map[string]bool{}} }

const maxFile = 32 << 20

// push stores a new version: the file is parsed (every error is returned,
// nothing is stored), rendered in normal form, and pushed in one
// transaction against the version it was based on.
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	var req api.PushRequest
	switch err := readJSON(w, r, maxFile, &req); {
	case err == io.EOF:
		writeErr(w, http.StatusBadRequest, `the push has no body: want {"file": "…", "base": N}; nothing was stored`, "see docs/api.md")
		return
	case err != nil:
		bodyErr(w, err, "the push", "nothing was stored")
		return
	case strings.TrimSpace(req.File) == "":
		writeErr(w, http.StatusBadRequest, "the push has no file; nothing was stored", "")
		return
	}
	f, err := prodspec.Parse("pushed file", []byte(req.File), prodspec.LoadOptions{})
	if err != nil {
		s.record(r.Context(), store.Event{Who: who(r), Action: "push", Result: "refused", Detail: "invalid jobs file"})
		msg := err.Error()
		var el prodspec.ErrorList
		if errors.As(err, &el) {
			msg = strings.TrimRight(el.Format(), "\n")
		}
		writeErr(w, http.StatusBadRequest, "the jobs file does not load; nothing was stored:\n"+msg, "fix it and check with `cjob validate` before pushing")
		return
	}
	rendered, err := prodspec.Render(f)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	base := req.Base
	if base < 0 {
		base = 0
		if hv, err := s.o.Store.Head(r.Context()); err == nil {
			base = hv.Number
		} else if !errors.Is(err, store.ErrEmpty) {
			storeErr(w, err, "not stored")
			return
		}
	}
	v, created, err := s.o.Store.Push(r.Context(), store.PushRequest{File: string(rendered), Author: who(r), Message: req.Message, Kind: "push", Base: base, Force: req.Force})
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		head := ce.Head
		head.File = ""
		s.record(r.Context(), store.Event{Who: who(r), Action: "push", Result: "refused", Detail: err.Error()})
		writeJSON(w, http.StatusConflict, api.Error{Error: err.Error(), Hint: "see what changed with `cjob diff`, then push again, or `cjob push --force`", Conflict: &head})
		return
	case err != nil:
		storeErr(w, err, "not stored")
		return
	}
	d := s.diffToPrevious(r.Context(), v, f)
	if !created {
		v.File = ""
		writeJSON(w, http.StatusOK, api.PushResult{Version: v, Created: false, Diff: jobdiff.Diff{Jobs: []jobdiff.Job{}}})
		return
	}
	s.newHead(v)
	detail := outdatedText(d.JobNames())
	if req.Message != "" {
		detail = strconv.Quote(req.Message) + ": " + detail
	}
	if v.Forced {
		detail += " (forced)"
	}
	s.record(r.Context(), store.Event{Who: who(r), Action: "push", Version: v.Number, Result: "ok", Detail: detail})
	v.File = ""
	writeJSON(w, http.StatusCreated, api.PushResult{Version: v, Created: true, Diff: d})
}

// stream writes an action's lines as they come.
type stream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
}

func newStream(w http.ResponseWriter) *stream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &stream{w: w, enc: enc}
}

func (st *stream) line(l api.StreamLine) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.enc.Encode(l)
	if f, ok := st.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Report makes the stream a progress.Reporter.
func (st *stream) Report(e progress.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	je := progress.JSONEvent{Time: e.Time, Unit: e.Unit, Action: e.Text, Status: e.Status, Detail: e.Detail}
	if e.Err != nil {
		je.Error = e.Err.Error()
	}
	st.line(api.StreamLine{Event: &je})
}

func (st *stream) Close() error { return nil }

func (st *stream) warn(msg string) { st.line(api.StreamLine{Warning: msg}) }

var actions = map[string]bool{"up": true, "down": true, "reload": true, "update": true, "rolling-update": true, "rollback": true}

// action runs one operator verb on one job, streaming its progress.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if !actions[action] {
		writeErr(w, http.StatusNotFound, "no action "+action, "actions: up, down, reload, update, rolling-update, rollback")
		return
	}
	h, job := s.resolve(w, r)
	if h == nil {
		return
	}
	var req api.ActionRequest
	if err := readJSON(w, r, maxActionBody, &req); err != nil && err != io.EOF {
		bodyErr(w, err, "the request", "nothing was changed")
		return
	}
	if action == "update" && req.Tag == "" {
		writeErr(w, http.StatusBadRequest, "update needs a tag", "list the tags with `cjob update "+job+"`")
		return
	}
	if !s.checkAction(w, r, h, job, action, req) {
		return
	}
	s.streamAction(w, r, job, action, func(ctx context.Context, by string, st sink) api.ActionResult {
		return s.perform(ctx, actionCall{by: by, action: action, head: h, job: job, req: req, out: st})
	})
}

// streamAction locks job ("*": every job) for the request's author, runs
// fn and streams its progress and result. The action goes on if the client
// goes away: production is never left half-changed because a terminal
// closed.
func (s *Server) streamAction(w http.ResponseWriter, r *http.Request, job, action string, fn func(ctx context.Context, by string, st sink) api.ActionResult) {
	by := who(r)
	unlock, err := s.lock(job, action, by)
	if je := (*journalError)(nil); errors.As(err, &je) {
		writeErr(w, http.StatusServiceUnavailable, err.Error(), "")
		return
	}
	if err != nil {
		hint := "wait for it to finish (`cjob events " + job + "`)"
		if job == "*" {
			hint = "wait for them to finish (`cjob events`)"
		}
		writeErr(w, http.StatusConflict, err.Error(), hint)
		return
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Minute)
	defer cancel()
	st := newStream(w)
	res := fn(ctx, by, maskedSink{st})
	maskResult(&res)
	st.line(api.StreamLine{Result: &res})
}

// sink receives an action's progress and notes.
type sink interface {
	progress.Reporter
	warn(string)
}

// lock marks the job busy (or every job, for "*"), or says who holds it,
// and writes the action to the journal before anything changes. An action
// whose journal entry cannot be written (etcd has no quorum) is not
// started: the error wraps store.ErrUnavailable.
func (s *Server) lock(job, action, by string) (func(), error) {
	if err := s.markBusy(job, action, by); err != nil {
		return nil, err
	}
	release := func() {
		s.busyMu.Lock()
		delete(s.busy, job)
		s.busyMu.Unlock()
	}
	// The journal: a server that stops before the action ends finds it
	// when it starts again (see recoverActions).
	var version int64
	if h := s.current(); h != nil {
		version = h.v.Number
	}
	// The store bounds each request (a cluster without a quorum fails it
	// with store.ErrUnavailable).
	err := s.o.Store.BeginAction(context.Background(), store.Action{Job: job, Action: action, By: by, Version: version})
	if err != nil {
		release()
		s.o.Logf("journal: %v", err)
		return nil, &journalError{action: action, err: err}
	}
	return func() {
		if err := s.o.Store.EndAction(context.Background(), job); err != nil {
			s.o.Logf("journal: %v", err)
		}
		release()
	}, nil
}

// journalError is an action not started because its journal entry could
// not be written.
type journalError struct {
	action string
	err    error
}

func (e *journalError) Error() string {
	return fmt.Sprintf("%s not started, nothing changed: the action journal: %v", e.action, e.err)
}

func (e *journalError) Unwrap() error { return e.err }

// markBusy marks the job busy, or says who holds it.
func (s *Server) markBusy(job, action, by string) error {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if job == "*" && len(s.busy) > 0 {
		var what []string
		for j, b := range s.busy {
			what = append(what, j+": "+b)
		}
		sort.Strings(what)
		return fmt.Errorf("jobs are busy: %s", strings.Join(what, "; "))
	}
	what, ok := s.busy[job]
	if !ok {
		what, ok = s.busy["*"]
	}
	if ok {
		return fmt.Errorf("%s is busy: %s", job, what)
	}
	s.busy[job] = fmt.Sprintf("%s by %s since %s", action, by, time.Now().UTC().Format("15:04:05 MST"))
	return nil
}

// recoverActions reports the actions a server left unfinished (it was
// killed, or its machine lost, in the middle): one "interrupted" event
// each, saying what the job runs now after a fresh look at the hosts, and
// loudly when a job has no task running.
func (s *Server) recoverActions(ctx context.Context) {
	acts, err := s.o.Store.Actions(ctx)
	if err != nil {
		s.o.Logf("journal: %v", err)
		return
	}
	if len(acts) == 0 {
		return
	}
	h := s.current()
	var jobs []status.Job
	if h != nil && h.desire != nil {
		jobs, _, _ = s.jobStates(ctx, h, true)
	}
	for _, a := range acts {
		s.busyMu.Lock()
		_, busy := s.busy[a.Job]
		s.busyMu.Unlock()
		if busy {
			continue // begun by this server since it started
		}
		detail := fmt.Sprintf("the server stopped during %s by %s (started %s, version %d)", a.Action, a.By, a.Started.Format(time.RFC3339), a.Version)
		var lines []string
		for _, j := range jobs {
			if a.Job != "*" && j.Job != a.Job {
				continue
			}
			switch {
			case j.Desired == "up" && j.Running == 0:
				lines = append(lines, fmt.Sprintf("%s has no task running: `cjob up %s` brings it back", j.Job, j.Job))
			case a.Job != "*" || j.Running < j.Needed || j.Outdated > 0:
				lines = append(lines, fmt.Sprintf("%s: %d of %d tasks running, %d outdated, versions %v", j.Job, j.Running, j.Needed, j.Outdated, j.Versions))
			}
		}
		if len(lines) > 0 {
			detail += "; now " + strings.Join(lines, "; ")
		} else if a.Job == "*" {
			detail += "; every job has its tasks running"
		}
		target := a.Job
		if target == "*" {
			target = "(all jobs)"
		}
		s.record(ctx, store.Event{Who: "cjob-server", Action: a.Action, Target: target, Version: a.Version, Result: "interrupted", Detail: detail})
		s.o.Logf("%s of %s by %s was interrupted: %s", a.Action, target, a.By, detail)
		if err := s.o.Store.EndAction(ctx, a.Job); err != nil {
			s.o.Logf("journal: %v", err)
		}
	}
}

// actionCall is one operator verb on one job: who asks, on which version,
// with what, and where its progress goes.
type actionCall struct {
	by, action string
	head       *head
	job        string // full name; "*" for every job
	req        api.ActionRequest
	out        sink
}

// perform runs an action (the job locked by the caller), records its
// event and polls, so what follows reads the new state.
func (s *Server) perform(ctx context.Context, a actionCall) api.ActionResult {
	res := s.run(ctx, a)
	ev := store.Event{Who: a.by, Action: a.action, Target: a.job, Version: res.Version, Result: "ok"}
	if res.Outcome != nil && ev.Version == 0 {
		ev.Version = res.Outcome.Version
	}
	var details []string
	if a.req.Tag != "" {
		details = append(details, "tag "+a.req.Tag)
	}
	if a.req.Task > 0 {
		details = append(details, fmt.Sprintf("task %d", a.req.Task))
	}
	if a.req.To > 0 {
		details = append(details, fmt.Sprintf("to version %d", a.req.To))
	}
	if res.Error != "" {
		ev.Result = "failed"
		if res.Outcome != nil && res.Outcome.RolledBack {
			ev.Result = "rolled back"
		}
		details = append(details, res.Error)
	} else if res.Outcome != nil {
		details = append(details, fmt.Sprintf("%d change(s) in %s", res.Outcome.Changed, res.Outcome.Elapsed.Round(time.Millisecond)))
	}
	if res.Reverted > 0 {
		details = append(details, fmt.Sprintf("version %d restores the job's previous definition", res.Reverted))
	}
	details = append(details, res.Notes...)
	ev.Detail = strings.Join(details, "; ")
	s.record(ctx, ev)
	s.o.Logf("%s %s by %s: %s (%s)", a.action, a.job, a.by, ev.Result, ev.Detail)
	s.pollOnce(ctx)
	return res
}

func (s *Server) run(ctx context.Context, a actionCall) api.ActionResult {
	target := production.Target{File: a.head.file, Version: a.head.v.Number}
	var out *production.Outcome
	var warns []string
	var err error
	switch a.action {
	case "up":
		out, warns, err = s.dep.Up(ctx, target, a.job, a.out)
		if err == nil {
			s.setJobState(ctx, a.job, "up", target.Version, a.by)
		}
	case "down":
		out, warns, err = s.dep.Down(ctx, target.File, a.job, a.out)
		if err == nil {
			s.setJobState(ctx, a.job, "down", 0, a.by)
		}
	case "reload":
		out, warns, err = s.dep.Reload(ctx, target, a.job, a.req.Task, a.out)
	case "update", "rolling-update":
		if a.req.Tag != "" {
			return s.updateTag(ctx, a)
		}
		ro, rerr := rollingOptions(a.req)
		if rerr != nil {
			return api.ActionResult{Error: rerr.Error()}
		}
		out, warns, err = s.dep.RollingUpdate(ctx, target, a.job, ro, a.out)
		if err == nil {
			s.setJobState(ctx, a.job, "up", target.Version, a.by)
		}
	case "rollback":
		return s.rollback(ctx, a)
	}
	for _, w := range warns {
		a.out.warn(w)
	}
	res := api.ActionResult{Outcome: out, Notes: warns}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

func (s *Server) setJobState(ctx context.Context, job, desired string, version int64, by string) {
	if err := s.o.Store.SetJobState(ctx, store.JobState{Job: job, Desired: desired, Version: version, By: by, Updated: time.Now()}); err != nil {
		s.o.Logf("recording the state of %s: %v", job, err)
	}
}

// updateTag pushes a version with the job's image on the tag and rolls the
// job onto it.
func (s *Server) updateTag(ctx context.Context, a actionCall) api.ActionResult {
	j := a.head.file.Job(a.job)
	image, err := production.WithTag(j.Image, a.req.Tag)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, terr := s.o.Registry.Tag(rctx, image, a.req.Tag)
	cancel()
	switch {
	case errors.Is(terr, registry.ErrTagNotFound):
		return api.ActionResult{Error: fmt.Sprintf("the registry has no tag %s for %s; nothing was changed; list the tags with `cjob update %s`", a.req.Tag, j.Image, a.job)}
	case terr != nil:
		a.out.warn("could not check the tag in the registry (" + terr.Error() + "); the hosts' engines will try to pull it")
	}
	msg := a.req.Message
	if msg == "" {
		msg = fmt.Sprintf("%s %s to %s", a.action, a.job, a.req.Tag)
	}
	return s.roll(ctx, a, production.WithImage(a.head.file, a.job, image), "update", msg)
}

// rollback restores the job's definition from an earlier version (by
// default the newest one that differs from what the job runs) as a new
// version, and rolls the job onto it.
func (s *Server) rollback(ctx context.Context, a actionCall) api.ActionResult {
	to := a.req.To
	if to == 0 {
		var err error
		if to, err = s.previousVersion(ctx, a.head, a.job); err != nil {
			return api.ActionResult{Error: err.Error()}
		}
	}
	_, from, err := s.loadVersion(ctx, to)
	if err != nil {
		return api.ActionResult{Error: fmt.Sprintf("version %d: %v", to, err)}
	}
	nf, err := production.ReplaceJob(a.head.file, a.job, from, to)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	msg := a.req.Message
	if msg == "" {
		msg = fmt.Sprintf("rollback %s to version %d", a.job, to)
	}
	return s.roll(ctx, a, nf, "rollback", msg)
}

// previousVersion is the newest version older than the one the job runs
// whose definition of the job differs from it.
func (s *Server) previousVersion(ctx context.Context, h *head, job string) (int64, error) {
	running := h.v.Number
	if snap := s.snapshot(); snap != nil {
		var max int64
		for _, c := range snap.Observed.Containers {
			if c.Labels[stack.LabelJob] == job {
				if n, err := strconv.ParseInt(c.Labels[stack.LabelVersion], 10, 64); err == nil && n > max {
					max = n
				}
			}
		}
		if max > 0 {
			running = max
		}
	}
	_, cur, err := s.loadVersion(ctx, running)
	if err != nil {
		return 0, err
	}
	want := ""
	if j := cur.Job(job); j != nil {
		want = jobdiff.JobHash(j)
	}
	vs, err := s.o.Store.Versions(ctx, store.ListOptions{Before: running})
	if err != nil {
		return 0, err
	}
	for _, v := range vs {
		_, f, err := s.loadVersion(ctx, v.Number)
		if err != nil {
			continue
		}
		if j := f.Job(job); j != nil && jobdiff.JobHash(j) != want {
			return v.Number, nil
		}
	}
	return 0, fmt.Errorf("no version before %d defines %s differently; nothing to roll back to", running, job)
}

// roll pushes nf (based on the head) and rolls the job onto it
// (production.Deployer.Roll).
func (s *Server) roll(ctx context.Context, a actionCall, nf *prodspec.File, kind, msg string) api.ActionResult {
	ro, err := rollingOptions(a.req)
	if err != nil {
		return api.ActionResult{Error: err.Error() + "; no version was pushed"}
	}
	r, err := s.dep.Roll(ctx, versions{s}, production.Rollout{
		Job: a.job, From: production.Target{File: a.head.file, Version: a.head.v.Number}, To: nf,
		Push: production.PushInfo{Author: a.by, Kind: kind, Message: msg}, Rolling: ro, Note: a.out.warn,
	}, a.out)
	for _, w := range r.Warnings {
		a.out.warn(w)
	}
	res := api.ActionResult{Version: r.Version, Outcome: r.Outcome, Reverted: r.Reverted, Notes: r.Warnings}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	s.setJobState(ctx, a.job, "up", r.Version, a.by)
	return res
}

// versions is the store as a rollout sees it.
type versions struct{ s *Server }

func (v versions) Push(ctx context.Context, f *prodspec.File, p production.PushInfo) (int64, error) {
	ver, err := v.s.pushFile(ctx, f, p)
	return ver.Number, err
}

func (v versions) File(ctx context.Context, n int64) (*prodspec.File, error) {
	_, f, err := v.s.loadVersion(ctx, n)
	return f, err
}

// pushFile stores f as a new version, parsed once: the parsed file is what
// the head and every later read of the version use.
func (s *Server) pushFile(ctx context.Context, f *prodspec.File, p production.PushInfo) (store.Version, error) {
	b, err := prodspec.Render(f)
	if err != nil {
		return store.Version{}, err
	}
	parsed, err := prodspec.Parse("new version", b, prodspec.LoadOptions{})
	if err != nil {
		return store.Version{}, fmt.Errorf("the new version would not load: %v", err)
	}
	v, _, err := s.o.Store.Push(ctx, store.PushRequest{File: string(b), Author: p.Author, Message: p.Message, Kind: p.Kind, Base: p.Base})
	if err != nil {
		return v, err
	}
	v.File = string(b)
	s.cacheVersion(v, parsed)
	s.newHead(v)
	s.record(ctx, store.Event{Who: p.Author, Action: "push", Version: v.Number, Result: "ok", Detail: p.Message})
	return v, nil
}

// upAll brings every job of the head up at once, along depends_on.
func (s *Server) upAll(w http.ResponseWriter, r *http.Request) {
	h := s.needHead(w)
	if h == nil {
		return
	}
	s.streamAction(w, r, "*", "up", func(ctx context.Context, by string, st sink) api.ActionResult {
		return s.upEverything(ctx, actionCall{by: by, action: "up", head: h, job: "*", out: st})
	})
}

// upEverything brings every job of a.head up at once and records it; for
// a deploy, a.req.To is the version whose file was pushed again.
func (s *Server) upEverything(ctx context.Context, a actionCall) api.ActionResult {
	h, by, action := a.head, a.by, a.action
	out, err := s.dep.UpAll(ctx, production.Target{File: h.file, Version: h.v.Number}, a.out)
	res := api.ActionResult{Outcome: out, Version: a.req.To}
	ev := store.Event{Who: by, Action: action, Target: "(all jobs)", Version: h.v.Number, Result: "ok"}
	if action == "deploy" {
		ev.Detail = fmt.Sprintf("version %d as version %d; ", a.req.To, h.v.Number)
	}
	if err != nil {
		res.Error = err.Error()
		ev.Result = "failed"
		ev.Detail += err.Error()
	} else {
		ev.Detail += fmt.Sprintf("%d change(s) in %s", out.Changed, out.Elapsed.Round(time.Millisecond))
		for _, j := range h.file.Jobs() {
			s.setJobState(ctx, j.FullName(), "up", h.v.Number, by)
		}
	}
	s.record(ctx, ev)
	s.o.Logf("%s of every job by %s: %s %s", action, by, ev.Result, ev.Detail)
	s.pollOnce(ctx)
	return res
}

// deploy pushes version n's file again as the newest version and brings
// every job up on it: "deploy this version" from the history.
func (s *Server) deploy(ctx context.Context, by string, n int64, st sink) api.ActionResult {
	h := s.current()
	if h == nil {
		return api.ActionResult{Error: "nothing has been pushed yet"}
	}
	_, f, err := s.loadVersion(ctx, n)
	if err != nil {
		return api.ActionResult{Error: fmt.Sprintf("version %d: %v", n, err)}
	}
	v, err := s.pushFile(ctx, f, production.PushInfo{Author: by, Kind: "deploy", Message: fmt.Sprintf("deploy version %d", n), Base: h.v.Number})
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	st.warn(fmt.Sprintf("version %d pushed: the file of version %d", v.Number, n))
	return s.upEverything(ctx, actionCall{by: by, action: "deploy", head: s.current(), job: "*", req: api.ActionRequest{To: n}, out: st})
}

// deployHandler is POST /api/v1/versions/{n}/deploy.
func (s *Server) deployHandler(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n <= 0 {
		writeErr(w, http.StatusBadRequest, "version: want a number", "")
		return
	}
	if _, err := s.o.Store.Version(r.Context(), n); err != nil {
		storeErr(w, fmt.Errorf("%w; nothing was changed", err), "version")
		return
	}
	s.streamAction(w, r, "*", "deploy", func(ctx context.Context, by string, st sink) api.ActionResult {
		return s.deploy(ctx, by, n, st)
	})
}

// rollingOptions reads a rolling update's options from a request.
func rollingOptions(req api.ActionRequest) (production.RollingOptions, error) {
	o := production.RollingOptions{MaxParallel: req.MaxParallel}
	if req.HealthTimeout != "" {
		d, err := time.ParseDuration(req.HealthTimeout)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("health timeout %q: want a duration such as 20s", req.HealthTimeout)
		}
		o.HealthTimeout = d
	}
	return o, nil
}

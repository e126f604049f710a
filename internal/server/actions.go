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

	"github.com/distribution/reference"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/stack"
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
	if err := json.NewDecoder(io.LimitReader(r.Body, maxFile)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "reading the push: "+err.Error(), "")
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
			storeErr(w, err, "push")
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
		storeErr(w, err, "push")
		return
	}
	d := s.diffToPrevious(r.Context(), v, f)
	if !created {
		v.File = ""
		writeJSON(w, http.StatusOK, api.PushResult{Version: v, Created: false, Diff: jobdiff.Diff{Jobs: []jobdiff.Job{}}})
		return
	}
	s.setHead(v)
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
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil && err != io.EOF {
		writeErr(w, http.StatusBadRequest, "reading the request: "+err.Error(), "")
		return
	}
	if action == "update" && req.Tag == "" {
		writeErr(w, http.StatusBadRequest, "update needs a tag", "list the tags with `cjob update "+job+"`")
		return
	}
	s.streamAction(w, r, job, action, func(ctx context.Context, by string, st sink) api.ActionResult {
		return s.perform(ctx, by, action, h, job, req, st)
	})
}

// streamAction locks job ("*": every job) for the request's author, runs
// fn and streams its progress and result. The action goes on if the client
// goes away: production is never left half-changed because a terminal
// closed.
func (s *Server) streamAction(w http.ResponseWriter, r *http.Request, job, action string, fn func(ctx context.Context, by string, st sink) api.ActionResult) {
	by := who(r)
	unlock, err := s.lock(job, action, by)
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
	res := fn(ctx, by, st)
	st.line(api.StreamLine{Result: &res})
}

// sink receives an action's progress and notes.
type sink interface {
	progress.Reporter
	warn(string)
}

// lock marks the job busy (or every job, for "*"), or says who holds it.
func (s *Server) lock(job, action, by string) (func(), error) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if job == "*" && len(s.busy) > 0 {
		var what []string
		for j, b := range s.busy {
			what = append(what, j+": "+b)
		}
		sort.Strings(what)
		return nil, fmt.Errorf("jobs are busy: %s", strings.Join(what, "; "))
	}
	what, ok := s.busy[job]
	if !ok {
		what, ok = s.busy["*"]
	}
	if ok {
		return nil, fmt.Errorf("%s is busy: %s", job, what)
	}
	s.busy[job] = fmt.Sprintf("%s by %s since %s", action, by, time.Now().UTC().Format("15:04:05 MST"))
	return func() {
		s.busyMu.Lock()
		delete(s.busy, job)
		s.busyMu.Unlock()
	}, nil
}

// perform runs an action (the job locked by the caller), records its
// event and polls, so what follows reads the new state.
func (s *Server) perform(ctx context.Context, by, action string, h *head, job string, req api.ActionRequest, out sink) api.ActionResult {
	res := s.run(ctx, by, action, h, job, req, out)
	ev := store.Event{Who: by, Action: action, Target: job, Version: res.Version, Result: "ok"}
	if res.Outcome != nil && ev.Version == 0 {
		ev.Version = res.Outcome.Version
	}
	var details []string
	if req.Tag != "" {
		details = append(details, "tag "+req.Tag)
	}
	if req.Task > 0 {
		details = append(details, fmt.Sprintf("task %d", req.Task))
	}
	if req.To > 0 {
		details = append(details, fmt.Sprintf("to version %d", req.To))
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
	ev.Detail = strings.Join(details, "; ")
	s.record(ctx, ev)
	s.o.Logf("%s %s by %s: %s (%s)", action, job, by, ev.Result, ev.Detail)
	s.pollOnce(ctx)
	return res
}

func (s *Server) run(ctx context.Context, by, action string, h *head, job string, req api.ActionRequest, st sink) api.ActionResult {
	target := production.Target{File: h.file, Version: h.v.Number}
	var out *production.Outcome
	var warns []string
	var err error
	switch action {
	case "up":
		out, warns, err = s.dep.Up(ctx, target, job, st)
		if err == nil {
			s.setJobState(ctx, job, "up", h.v.Number, by)
		}
	case "down":
		out, warns, err = s.dep.Down(ctx, h.file, job, st)
		if err == nil {
			s.setJobState(ctx, job, "down", 0, by)
		}
	case "reload":
		out, warns, err = s.dep.Reload(ctx, target, job, req.Task, st)
	case "update", "rolling-update":
		if req.Tag == "" {
			ro, rerr := rollingOptions(req)
			if rerr != nil {
				return api.ActionResult{Error: rerr.Error()}
			}
			out, warns, err = s.dep.RollingUpdate(ctx, target, job, ro, st)
			if err == nil {
				s.setJobState(ctx, job, "up", h.v.Number, by)
			}
			break
		}
		return s.updateTag(ctx, by, action, h, job, req, st)
	case "rollback":
		return s.rollback(ctx, by, h, job, req, st)
	}
	for _, w := range warns {
		st.warn(w)
	}
	res := api.ActionResult{Outcome: out}
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
func (s *Server) updateTag(ctx context.Context, by, action string, h *head, job string, req api.ActionRequest, st sink) api.ActionResult {
	j := h.file.Job(job)
	image, err := withTag(j.Image, req.Tag)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, terr := s.o.Registry.Tag(rctx, image, req.Tag)
	cancel()
	switch {
	case errors.Is(terr, registry.ErrTagNotFound):
		return api.ActionResult{Error: fmt.Sprintf("the registry has no tag %s for %s; nothing was changed; list the tags with `cjob update %s`", req.Tag, j.Image, job)}
	case terr != nil:
		st.warn("could not check the tag in the registry (" + terr.Error() + "); the hosts' engines will try to pull it")
	}
	nf := h.file.Clone()
	nf.Job(job).Image = image
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("%s %s to %s", action, job, req.Tag)
	}
	return s.rollOnto(ctx, by, h, job, nf, "update", msg, req, st)
}

// rollback restores the job's definition from an earlier version (by
// default the newest one that differs from what the job runs) as a new
// version, and rolls the job onto it.
func (s *Server) rollback(ctx context.Context, by string, h *head, job string, req api.ActionRequest, st sink) api.ActionResult {
	to := req.To
	if to == 0 {
		var err error
		if to, err = s.previousVersion(ctx, h, job); err != nil {
			return api.ActionResult{Error: err.Error()}
		}
	}
	_, from, err := s.loadVersion(ctx, to)
	if err != nil {
		return api.ActionResult{Error: fmt.Sprintf("version %d: %v", to, err)}
	}
	nf, err := replaceJob(h.file, job, from, to)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("rollback %s to version %d", job, to)
	}
	return s.rollOnto(ctx, by, h, job, nf, "rollback", msg, req, st)
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

// rollOnto pushes nf (based on h) and rolls the job onto it. When the
// rolling update fails and puts the old tasks back, a further version
// restores the job's previous definition, so the pushed config says what
// runs.
func (s *Server) rollOnto(ctx context.Context, by string, h *head, job string, nf *prodspec.File, kind, msg string, req api.ActionRequest, st sink) api.ActionResult {
	ro, err := rollingOptions(req)
	if err != nil {
		return api.ActionResult{Error: err.Error() + "; no version was pushed"}
	}
	if err := s.dep.Preflight(ctx, nf, job); err != nil {
		return api.ActionResult{Error: err.Error() + "; no version was pushed"}
	}
	v, err := s.pushFile(ctx, nf, by, kind, msg, h.v.Number)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	res := api.ActionResult{Version: v.Number}
	_, tf, err := s.loadVersion(ctx, v.Number)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	st.warn(fmt.Sprintf("version %d pushed: %s", v.Number, msg))
	out, warns, err := s.dep.RollingUpdate(ctx, production.Target{File: tf, Version: v.Number}, job, ro, st)
	for _, w := range warns {
		st.warn(w)
	}
	res.Outcome = out
	if err == nil {
		s.setJobState(ctx, job, "up", v.Number, by)
		return res
	}
	res.Error = err.Error()
	if out != nil && out.RolledBack {
		back, rerr := replaceJob(tf, job, h.file, h.v.Number)
		if rerr == nil {
			var rv store.Version
			rv, rerr = s.pushFile(ctx, back, "cjob-server", "rollback", fmt.Sprintf("automatic rollback of %s: %s failed", job, msg), v.Number)
			if rerr == nil {
				res.Reverted = rv.Number
			}
		}
		if rerr != nil {
			res.Error += fmt.Sprintf("; the pushed version %d still names the failed config (%v): run `cjob rollback %s`", v.Number, rerr, job)
		}
	}
	return res
}

func (s *Server) pushFile(ctx context.Context, f *prodspec.File, by, kind, msg string, base int64) (store.Version, error) {
	b, err := prodspec.Render(f)
	if err != nil {
		return store.Version{}, err
	}
	if _, err := prodspec.Parse("new version", b, prodspec.LoadOptions{}); err != nil {
		return store.Version{}, fmt.Errorf("the new version would not load: %v", err)
	}
	v, _, err := s.o.Store.Push(ctx, store.PushRequest{File: string(b), Author: by, Message: msg, Kind: kind, Base: base})
	if err != nil {
		return v, err
	}
	s.setHead(v)
	s.record(ctx, store.Event{Who: by, Action: "push", Version: v.Number, Result: "ok", Detail: msg})
	return v, nil
}

// withTag is image on another tag (any digest dropped).
func withTag(image, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %s: %v", image, err)
	}
	t, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return "", fmt.Errorf("tag %q: %v", tag, err)
	}
	return reference.FamiliarString(t), nil
}

// replaceJob is base with job defined as version `version` (from) defines it.
func replaceJob(base *prodspec.File, job string, from *prodspec.File, version int64) (*prodspec.File, error) {
	src := from.Job(job)
	if src == nil {
		return nil, fmt.Errorf("version %d does not define %s", version, job)
	}
	for _, t := range src.Tasks {
		if base.Host(t.Host) == nil {
			return nil, fmt.Errorf("version %d places %s on host %s, which the current file no longer declares", version, job, t.Host)
		}
	}
	nf := base.Clone()
	nj := src.Clone()
	for _, svc := range nf.Services {
		if svc.Name != nj.Service {
			continue
		}
		for i, j := range svc.Jobs {
			if j.Name == nj.Name {
				svc.Jobs[i] = nj
				return nf, nil
			}
		}
		svc.Jobs = append(svc.Jobs, nj)
		sort.Slice(svc.Jobs, func(a, b int) bool { return svc.Jobs[a].Name < svc.Jobs[b].Name })
		return nf, nil
	}
	nf.Services = append(nf.Services, &prodspec.Service{Name: nj.Service, Jobs: []*prodspec.Job{nj}})
	sort.Slice(nf.Services, func(a, b int) bool { return nf.Services[a].Name < nf.Services[b].Name })
	return nf, nil
}

// upAll brings every job of the head up at once, along depends_on.
func (s *Server) upAll(w http.ResponseWriter, r *http.Request) {
	h := s.needHead(w)
	if h == nil {
		return
	}
	s.streamAction(w, r, "*", "up", func(ctx context.Context, by string, st sink) api.ActionResult {
		return s.upEverything(ctx, by, h, "up", 0, st)
	})
}

// upEverything brings every job of h up at once and records it.
func (s *Server) upEverything(ctx context.Context, by string, h *head, action string, version int64, st sink) api.ActionResult {
	out, err := s.dep.UpAll(ctx, production.Target{File: h.file, Version: h.v.Number}, st)
	res := api.ActionResult{Outcome: out, Version: version}
	ev := store.Event{Who: by, Action: action, Target: "(all jobs)", Version: h.v.Number, Result: "ok"}
	if action == "deploy" {
		ev.Detail = fmt.Sprintf("version %d as version %d; ", version, h.v.Number)
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
	v, err := s.pushFile(ctx, f, by, "deploy", fmt.Sprintf("deploy version %d", n), h.v.Number)
	if err != nil {
		return api.ActionResult{Error: err.Error()}
	}
	st.warn(fmt.Sprintf("version %d pushed: the file of version %d", v.Number, n))
	return s.upEverything(ctx, by, s.current(), "deploy", n, st)
}

// deployHandler is POST /api/v1/versions/{n}/deploy.
func (s *Server) deployHandler(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n <= 0 {
		writeErr(w, http.StatusBadRequest, "version: want a number", "")
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

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/prodspec"
)

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	in := api.Info{Store: s.o.Store.ID(), Etcd: s.o.Store.Endpoints(), Embedded: s.o.Store.Embedded(), PollInterval: s.o.PollInterval.String(),
		Started: s.started, Webhook: s.o.Webhook != ""}
	if h := s.current(); h != nil {
		in.Head, in.Project, in.Hosts = h.v.Number, h.file.Project, len(h.file.Hosts)
	}
	if snap := s.snapshot(); snap != nil {
		in.PolledAt = snap.At
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	vs, err := s.o.Store.Versions(r.Context(), store.ListOptions{Limit: limit, Before: before})
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "reading versions: "+err.Error(), "")
		return
	}
	if vs == nil {
		vs = []store.Version{}
	}
	writeJSON(w, http.StatusOK, vs)
}

// loadVersion reads version n (0: head) and parses it.
func (s *Server) loadVersion(ctx context.Context, n int64) (store.Version, *prodspec.File, error) {
	if h := s.current(); n == 0 && h != nil {
		n = h.v.Number // the watch keeps it current
	}
	if n > 0 {
		if c, ok := s.cachedVersion(n); ok {
			return c.v, c.f, nil
		}
	}
	var v store.Version
	var err error
	if n == 0 {
		v, err = s.o.Store.Head(ctx)
	} else {
		v, err = s.o.Store.Version(ctx, n)
	}
	if err != nil {
		return v, nil, err
	}
	return s.parseVersion(v)
}

// diffToPrevious is what version v (whose file is f) changed against the
// version it followed, secrets masked.
func (s *Server) diffToPrevious(ctx context.Context, v store.Version, f *prodspec.File) jobdiff.Diff {
	var prev *prodspec.File
	if v.Previous > 0 {
		_, prev, _ = s.loadVersion(ctx, v.Previous)
	}
	return jobdiff.FilesMasked(prev, f)
}

// parseVersion parses a version's file once; versions never change, so
// the result is kept.
func (s *Server) parseVersion(v store.Version) (store.Version, *prodspec.File, error) {
	if c, ok := s.cachedVersion(v.Number); ok {
		return c.v, c.f, nil
	}
	f, err := prodspec.Parse(fmt.Sprintf("version %d", v.Number), []byte(v.File), prodspec.LoadOptions{})
	if err == nil {
		s.cacheVersion(v, f)
	}
	return v, f, err
}

// cachedVersion is a version read and parsed before.
type cachedVersion struct {
	v     store.Version // with its file
	f     *prodspec.File
	texts *sync.Map // job -> jobText, made when first asked for
}

// maxCachedVersions bounds the versions kept parsed: the head and those
// production still runs are what reads ask for again and again.
const maxCachedVersions = 64

func (s *Server) cachedVersion(n int64) (cachedVersion, bool) {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	c, ok := s.files[n]
	return c, ok
}

// cacheVersion keeps version v (with its file) and its parsed file,
// dropping the oldest one kept when full.
func (s *Server) cacheVersion(v store.Version, f *prodspec.File) {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	if len(s.files) >= maxCachedVersions {
		oldest := v.Number
		for k := range s.files {
			oldest = min(oldest, k)
		}
		delete(s.files, oldest)
	}
	s.files[v.Number] = cachedVersion{v: v, f: f, texts: &sync.Map{}}
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	var n int64
	if p := r.PathValue("n"); p != "head" {
		var err error
		if n, err = strconv.ParseInt(p, 10, 64); err != nil || n <= 0 {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("version %q: want a number or \"head\"", p), "")
			return
		}
	}
	v, f, err := s.loadVersion(r.Context(), n)
	if err != nil {
		storeErr(w, err, "version")
		return
	}
	masked, err := jobdiff.MaskRendered(fmt.Sprintf("version %d", v.Number), []byte(v.File))
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	v.File = string(masked)
	writeJSON(w, http.StatusOK, api.VersionDetail{Version: v, JobHashes: jobdiff.JobHashes(f), Diff: s.diffToPrevious(r.Context(), v, f)})
}

func storeErr(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, store.ErrEmpty):
		writeErr(w, http.StatusNotFound, "nothing has been pushed yet", "push a jobs file with `cjob push -f jobs.yml`")
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, what+" not found: "+err.Error(), "list the versions with `cjob history`")
	case errors.Is(err, store.ErrUnavailable):
		writeErr(w, http.StatusServiceUnavailable, what+": "+err.Error(), "")
	default:
		writeErr(w, http.StatusServiceUnavailable, what+": "+err.Error(), "is etcd up? `cjob server` logs say more")
	}
}

// needHead answers 404 when nothing was pushed yet.
func (s *Server) needHead(w http.ResponseWriter) *head {
	h := s.current()
	if h == nil {
		writeErr(w, http.StatusNotFound, "nothing has been pushed yet", "push a jobs file with `cjob push -f jobs.yml`")
	}
	return h
}

// look is the last poll, or a new one when fresh or when there is none.
func (s *Server) look(ctx context.Context, fresh bool) *production.Snapshot {
	if snap := s.snapshot(); snap != nil && !fresh {
		return snap
	}
	return s.pollOnce(ctx)
}

// jobStates computes every job's state from the head and a look at the
// hosts, which it returns too.
func (s *Server) jobStates(ctx context.Context, h *head, fresh bool) ([]status.Job, *production.Snapshot, error) {
	if h.desire == nil {
		return nil, nil, fmt.Errorf("version %d cannot run in production: %v", h.v.Number, h.desireErr)
	}
	snap := s.look(ctx, fresh)
	states := s.desiredStates(ctx)
	jobs := h.desire.Jobs(snap.Observed, func(job string) string { return states[job].Desired })
	snap.Decorate(jobs)
	return jobs, snap, nil
}

// statesTimeout bounds reading the job states for a read: when etcd does
// not answer (no quorum), reads answer from the states last read instead
// of waiting for the store's own timeout.
const statesTimeout = 2 * time.Second

// desiredStates is every job's state as stored, or, when the store does
// not answer within statesTimeout, as last read.
func (s *Server) desiredStates(ctx context.Context) map[string]store.JobState {
	cctx, cancel := context.WithTimeout(ctx, statesTimeout)
	defer cancel()
	states, err := s.o.Store.JobStates(cctx)
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.o.Logf("reading job states: %v; answering with the states read at the last look", err)
		}
		return s.lastStates
	}
	s.lastStates = states
	return states
}

func fresh(r *http.Request) bool { return r.URL.Query().Get("fresh") != "" }

// states is jobStates, answering 409 when the head cannot run in
// production.
func (s *Server) states(w http.ResponseWriter, r *http.Request, h *head) ([]status.Job, bool) {
	jobs, _, err := s.jobStates(r.Context(), h, fresh(r))
	if err != nil {
		writeErr(w, http.StatusConflict, err.Error(), "give every host that runs a task its docker: endpoint, and push again")
		return nil, false
	}
	return jobs, true
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	h := s.needHead(w)
	if h == nil {
		return
	}
	if jobs, ok := s.states(w, r, h); ok {
		writeJSON(w, http.StatusOK, jobs)
	}
}

// resolve finds the job named in the path in the head version.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) (*head, string) {
	h := s.needHead(w)
	if h == nil {
		return nil, ""
	}
	job, err := production.ResolveJob(h.file, r.PathValue("job"))
	if err != nil {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("version %d: %v", h.v.Number, err), "list the jobs with `cjob list`")
		return nil, ""
	}
	return h, job
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) {
	h, job := s.resolve(w, r)
	if h == nil {
		return
	}
	jobs, ok := s.states(w, r, h)
	if !ok {
		return
	}
	for _, j := range jobs {
		if j.Job == job {
			writeJSON(w, http.StatusOK, j)
			return
		}
	}
	writeErr(w, http.StatusNotFound, "job "+job+" not found", "")
}

// history lists the versions in which the job's definition changed.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	h, job := s.resolve(w, r)
	if h == nil {
		return
	}
	out, err := s.jobHistory(r.Context(), job, 0)
	if err != nil {
		storeErr(w, err, "history")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// jobHistory walks the versions newest first (at most limit results; 0:
// all) and keeps those that changed the job.
func (s *Server) jobHistory(ctx context.Context, job string, limit int) ([]api.JobHistory, error) {
	vs, err := s.o.Store.Versions(ctx, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := []api.JobHistory{}
	var newer *prodspec.File
	var newerV store.Version
	for i := 0; i <= len(vs); i++ {
		var f *prodspec.File
		if i < len(vs) {
			if _, f, err = s.loadVersion(ctx, vs[i].Number); err != nil {
				return nil, err
			}
		}
		if newer != nil {
			d := jobdiff.FilesMasked(f, newer)
			for k := range d.Jobs {
				if d.Jobs[k].Job == job {
					out = append(out, api.JobHistory{Version: newerV, Change: &d.Jobs[k]})
				}
			}
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		if i < len(vs) {
			newer, newerV = f, vs[i]
		}
	}
	return out, nil
}

func (s *Server) tags(w http.ResponseWriter, r *http.Request) {
	h, job := s.resolve(w, r)
	if h == nil {
		return
	}
	j := h.file.Job(job)
	out := api.Tags{Job: job, Image: j.Image, Running: []status.Task{}}
	if jobs, _, err := s.jobStates(r.Context(), h, false); err == nil {
		for _, js := range jobs {
			if js.Job == job {
				for _, t := range js.Tasks {
					if t.ID != "" {
						out.Running = append(out.Running, t)
					}
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tags, err := s.o.Registry.Tags(ctx, j.Image)
	if err != nil {
		writeErr(w, http.StatusBadGateway, err.Error(), "")
		return
	}
	out.Tags = tags
	writeJSON(w, http.StatusOK, out)
}

// diff says, job by job, how what runs differs from the head version.
func (s *Server) diff(w http.ResponseWriter, r *http.Request) {
	h := s.needHead(w)
	if h == nil {
		return
	}
	snap := s.pollOnce(r.Context())
	if h.desire == nil {
		writeErr(w, http.StatusConflict, fmt.Sprintf("version %d cannot run in production: %v", h.v.Number, h.desireErr), "")
		return
	}
	p := plan.Reconcile(h.desire.Stack, snap.Observed, plan.Options{})
	byJob := map[string]*api.JobDiff{}
	var order []string
	for _, op := range p.Ops {
		if !op.Changes() {
			continue
		}
		job := ""
		switch {
		case op.Unit != nil:
			job = op.Unit.Job
		case op.Current != nil:
			job = op.Current.Labels[stack.LabelJob]
		}
		if job == "" {
			continue
		}
		d := byJob[job]
		if d == nil {
			d = &api.JobDiff{Job: job}
			byJob[job] = d
			order = append(order, job)
		}
		d.Tasks = append(d.Tasks, fmt.Sprintf("%s: %s (%s)", op.Subject, op.Action, maskCause(op.Cause)))
	}
	for _, n := range snap.Nodes {
		if !n.Reachable {
			d := &api.JobDiff{Job: "(host " + n.Name + ")", Tasks: []string{"unreachable: " + n.Error}}
			byJob[d.Job] = d
			order = append(order, d.Job)
		}
	}
	sort.Strings(order)
	out := []api.JobDiff{}
	for _, j := range order {
		out = append(out, *byJob[j])
	}
	writeJSON(w, http.StatusOK, out)
}

// maskCause hides env values in a plan's cause text ("env DB_PASSWORD
// changed" names keys only, but be safe with anything "K=V"-shaped).
func maskCause(c string) string {
	words := strings.Fields(c)
	for i, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok && v != "" {
			words[i] = k + "=" + jobdiff.MaskValue(k, v)
		}
	}
	return strings.Join(words, " ")
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	if s.needHead(w) == nil {
		return
	}
	snap := s.look(r.Context(), fresh(r))
	writeJSON(w, http.StatusOK, snap.Nodes)
}

func (s *Server) containers(w http.ResponseWriter, r *http.Request) {
	h := s.needHead(w)
	if h == nil {
		return
	}
	jobs, ok := s.states(w, r, h)
	if !ok {
		return
	}
	out := []api.Container{}
	for _, j := range jobs {
		for _, t := range j.Tasks {
			if t.ID != "" {
				out = append(out, api.Container{Task: t, Job: j.Job})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// findContainer looks a container up by name or ID prefix, answering 404
// when there is none.
func (s *Server) findContainer(w http.ResponseWriter, r *http.Request) (*stack.Container, *head) {
	if s.needHead(w) == nil {
		return nil, nil
	}
	c, h, err := s.container(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, http.StatusNotFound, err.Error(), "list them with `cjob status JOB`")
		return nil, nil
	}
	return c, h
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	c, h := s.findContainer(w, r)
	if c == nil {
		return
	}
	eng, err := s.engineOf(r.Context(), h, c.Engine)
	if err != nil {
		writeErr(w, http.StatusBadGateway, err.Error(), "")
		return
	}
	tail := r.URL.Query().Get("tail")
	if tail == "" {
		tail = "200"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fw := flushWriter{w}
	follow := r.URL.Query().Get("follow") != ""
	if err := eng.Logs(r.Context(), c.ID, tail, follow, r.URL.Query().Get("timestamps") != "", fw); err != nil && r.Context().Err() == nil {
		fmt.Fprintf(fw, "\ncjob: log stream ended: %v\n", err)
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// inspect is the container's `docker inspect` with env secrets masked.
func (s *Server) inspect(w http.ResponseWriter, r *http.Request) {
	c, h := s.findContainer(w, r)
	if c == nil {
		return
	}
	doc, err := s.maskedInspect(r.Context(), h, c)
	if err != nil {
		writeErr(w, http.StatusBadGateway, err.Error(), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	evs, err := s.o.Store.Events(r.Context(), store.EventFilter{Limit: limit, Target: r.URL.Query().Get("target"), Action: r.URL.Query().Get("action")})
	if err != nil {
		storeErr(w, err, "events")
		return
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}

// jobText is job's definition in version n (whose parsed file is f), as
// jobText makes it, kept with the version when it is cached.
func (s *Server) jobText(n int64, f *prodspec.File, job string) string {
	c, ok := s.cachedVersion(n)
	if !ok || c.f != f {
		return jobText(f, job)
	}
	if t, ok := c.texts.Load(job); ok {
		return t.(string)
	}
	t := jobText(f, job)
	c.texts.Store(job, t)
	return t
}

package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// UI is production as the web UI sees it.
func (s *Server) UI() ui.Source { return uiSource{s} }

type uiSource struct{ s *Server }

var prodActions = []string{"up", "down", "reload", "rolling-update", "rollback", "deploy"}

func (u uiSource) Env() ui.Env {
	e := ui.Env{Name: stack.Production, Actions: prodActions}
	if h := u.s.current(); h != nil {
		e.Project = h.file.Project
		e.Detail = fmt.Sprintf("version %d, pushed by %s %s", h.v.Number, h.v.Author, ago(h.v.Time))
	} else {
		e.Detail = "nothing pushed yet"
	}
	return e
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return "on " + t.Format("2006-01-02")
}

func (u uiSource) Snapshot(ctx context.Context, fresh bool) (*ui.Snapshot, error) {
	s := u.s
	h := s.current()
	if h == nil {
		return &ui.Snapshot{At: time.Now()}, nil
	}
	jobs, snap, err := s.jobStates(ctx, h, fresh)
	if err != nil {
		return nil, err
	}
	out := &ui.Snapshot{At: snap.At, Version: h.v.Number, Nodes: snap.Nodes}
	for _, j := range jobs {
		uj := ui.Job{Job: j, Deps: h.dependencies()[j.Job]}
		if j.Outdated > 0 || len(j.Versions) > 1 || (len(j.Versions) == 1 && j.Versions[0] != h.v.Number) {
			uj.Pushed = s.jobText(h.v.Number, h.file, j.Job)
			if n := maxVersion(j.Versions); n > 0 && n != h.v.Number {
				if _, f, err := s.loadVersion(ctx, n); err == nil {
					uj.Running = s.jobText(n, f, j.Job)
				}
			} else {
				uj.Running = uj.Pushed
			}
		}
		out.Jobs = append(out.Jobs, uj)
	}
	return out, nil
}

func maxVersion(vs []int64) int64 {
	var m int64
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// jobText is a job's definition as YAML, secrets masked.
func jobText(f *prodspec.File, job string) string {
	j := f.Job(job)
	if j == nil {
		return "(not in this version)"
	}
	m := jobdiff.MaskFile(&prodspec.File{Project: f.Project, DNSSuffix: f.DNSSuffix,
		Services: []*prodspec.Service{{Name: j.Service, Jobs: []*prodspec.Job{j}}}})
	b, err := prodspec.Render(m)
	if err != nil {
		return err.Error()
	}
	_, rest, ok := strings.Cut(string(b), "\n    jobs:\n")
	if !ok {
		return string(b)
	}
	lines := strings.Split(strings.TrimRight(rest, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "      ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// container finds a production container by name or ID prefix.
func (s *Server) container(ctx context.Context, name string) (*stack.Container, *head, error) {
	h := s.current()
	if h == nil {
		return nil, nil, errors.New("nothing has been pushed yet")
	}
	for _, snap := range []*production.Snapshot{s.snapshot(), nil} {
		if snap == nil {
			snap = s.pollOnce(ctx)
		}
		for _, c := range snap.Observed.Containers {
			if c.Name == name || (len(name) >= 6 && strings.HasPrefix(c.ID, name)) {
				return c, h, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("no production container %s", name)
}

func (u uiSource) Logs(ctx context.Context, name string, tail int, follow bool, w io.Writer) error {
	c, h, err := u.s.container(ctx, name)
	if err != nil {
		return err
	}
	eng, err := u.s.engineOf(ctx, h, c.Engine)
	if err != nil {
		return err
	}
	t := "all"
	if tail > 0 {
		t = strconv.Itoa(tail)
	}
	return eng.Logs(ctx, c.ID, t, follow, false, w)
}

func (u uiSource) Inspect(ctx context.Context, name string) (json.RawMessage, error) {
	c, h, err := u.s.container(ctx, name)
	if err != nil {
		return nil, err
	}
	return u.s.maskedInspect(ctx, h, c)
}

// maskedInspect is `docker inspect` of a container with env secrets masked
// and cjob's spec label (which holds the env) left out.
func (s *Server) maskedInspect(ctx context.Context, h *head, c *stack.Container) (json.RawMessage, error) {
	eng, err := s.engineOf(ctx, h, c.Engine)
	if err != nil {
		return nil, err
	}
	raw, err := eng.InspectRaw(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return jobdiff.MaskInspect(raw, stack.LabelSpec)
}

func (u uiSource) Versions(ctx context.Context, limit int) ([]ui.Version, error) {
	s := u.s
	vs, err := s.o.Store.Versions(ctx, store.ListOptions{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := []ui.Version{}
	for _, v := range vs {
		uv := ui.Version{Version: v}
		if _, f, err := s.loadVersion(ctx, v.Number); err == nil {
			uv.Diff = s.diffToPrevious(ctx, v, f)
		}
		out = append(out, uv)
	}
	return out, nil
}

func (u uiSource) Events(ctx context.Context, limit int) ([]store.Event, error) {
	return u.s.o.Store.Events(ctx, store.EventFilter{Limit: limit})
}

func (u uiSource) Authorize(token string) (string, bool) {
	name := ""
	for t, n := range u.s.o.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			name = n
		}
	}
	return name, name != ""
}

// reporterSink turns a progress.Reporter into an action's sink; notes
// become events of the unit "note".
type reporterSink struct {
	progress.Reporter
	notes *[]string
}

func (r reporterSink) warn(s string) {
	*r.notes = append(*r.notes, s)
	r.Report(progress.Event{Unit: "note", Status: progress.Done, Text: s})
}

func (u uiSource) Act(ctx context.Context, a ui.Action, rep progress.Reporter) ui.Result {
	s := u.s
	var notes []string
	sk := maskedSink{reporterSink{rep, &notes}}
	by := a.Who + " (web)"
	var res api.ActionResult
	if a.Verb == "deploy" {
		unlock, err := s.lock("*", "deploy", by)
		if err != nil {
			return ui.Result{Message: err.Error()}
		}
		defer unlock()
		res = s.deploy(ctx, by, a.Version, sk)
	} else {
		h := s.current()
		if h == nil {
			return ui.Result{Message: "nothing has been pushed yet"}
		}
		job, err := production.ResolveJob(h.file, a.Job)
		if err != nil {
			return ui.Result{Message: err.Error()}
		}
		unlock, err := s.lock(job, a.Verb, by)
		if err != nil {
			return ui.Result{Message: err.Error()}
		}
		defer unlock()
		res = s.perform(ctx, actionCall{by: by, action: a.Verb, head: h, job: job, req: api.ActionRequest{Task: a.Task, Tag: a.Tag, To: a.Version}, out: sk})
	}
	maskResult(&res)
	return uiResult(a, res, notes)
}

func uiResult(a ui.Action, res api.ActionResult, notes []string) ui.Result {
	r := ui.Result{OK: res.Error == "", Details: notes}
	what := a.Verb
	if a.Job != "" {
		what += " " + a.Job
	}
	if a.Verb == "deploy" {
		what += fmt.Sprintf(" version %d", a.Version)
	}
	if o := res.Outcome; o != nil {
		r.Details = append(r.Details, o.Failures...)
		if r.OK {
			r.Message = fmt.Sprintf("%s: %d change(s) in %s", what, o.Changed, o.Elapsed.Round(time.Millisecond))
			if o.Version > 0 {
				r.Message += fmt.Sprintf("; runs version %d", o.Version)
			}
		}
	}
	if !r.OK {
		r.Message = what + ": " + res.Error
	} else if r.Message == "" {
		r.Message = what + ": done"
	}
	return r
}

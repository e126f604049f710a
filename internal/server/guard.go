package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"unicode/utf8"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
)

// What the server does with input it did not make: request bodies read
// strictly, action options checked before anything starts, refusals
// recorded in bounded size, and the secrets embedded in text it relays
// (engine and fleet errors name the endpoint they dialed, password and
// all) masked.

// maxActionBody bounds an action's request body.
const maxActionBody = 1 << 20

// maxRefused bounds what a refused request may write into an event (its
// author header, the job it names): no client without a token fills the
// store.
const maxRefused = 128

// readJSON reads the request's body into v: one JSON value of at most limit
// bytes, with no field v does not have and nothing after it. An empty body
// is io.EOF; one over the limit an *http.MaxBytesError.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var more json.RawMessage
	switch err := dec.Decode(&more); {
	case err == io.EOF:
		return nil
	case errors.As(err, new(*http.MaxBytesError)):
		return err
	}
	return errors.New("data after the JSON object")
}

// bodyErr answers a body readJSON refused: 413 over the limit, else 400.
// what is the body ("the push"), nothing what was not done.
func bodyErr(w http.ResponseWriter, err error, what, nothing string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is over the server's limit of %d MiB; %s", what, mbe.Limit>>20, nothing), "")
		return
	}
	writeErr(w, http.StatusBadRequest, fmt.Sprintf("reading %s: %v; %s", what, err, nothing), "see docs/api.md for the fields")
}

// checkAction refuses, before anything starts, the options of an action on
// job (of version h) that cannot work: a task the job does not have, a tag
// that is not one, rolling options out of range, a version to roll back to
// that does not exist. It answers the error itself.
func (s *Server) checkAction(w http.ResponseWriter, r *http.Request, h *head, job, action string, req api.ActionRequest) bool {
	const nothing = "; nothing was changed"
	j := h.file.Job(job)
	bad := ""
	switch {
	case req.Task < 0 || req.Task > len(j.Tasks):
		bad = fmt.Sprintf("task %d: %s has %d task(s), numbered from 1 (0: every task)", req.Task, job, len(j.Tasks))
	case req.MaxParallel < 0:
		bad = fmt.Sprintf("max_parallel %d: want 1 or more (0: 1)", req.MaxParallel)
	case req.To < 0:
		bad = fmt.Sprintf("to %d: want a version number (0: the version before)", req.To)
	}
	if bad == "" && req.Tag != "" {
		if _, err := production.WithTag(j.Image, req.Tag); err != nil {
			bad = err.Error()
		}
	}
	if bad == "" {
		if _, err := rollingOptions(req); err != nil {
			bad = err.Error()
		}
	}
	if bad != "" {
		writeErr(w, http.StatusBadRequest, bad+nothing, "see docs/api.md for the options of "+action)
		return false
	}
	if action == "rollback" && req.To > 0 {
		if _, err := s.o.Store.Version(r.Context(), req.To); err != nil {
			storeErr(w, fmt.Errorf("%w%s", err, nothing), "version")
			return false
		}
	}
	return true
}

// clip cuts s to at most n bytes, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// maskText masks the secrets embedded in text the server relays but did
// not write (see jobdiff.MaskValue): a URL's password, --password=x, ...
func maskText(s string) string { return jobdiff.MaskValue("text", s) }

// maskNodes masks the nodes' endpoints and errors in place.
func maskNodes(nodes []status.Node) {
	for i := range nodes {
		nodes[i].Docker = maskText(nodes[i].Docker)
		nodes[i].Error = maskText(nodes[i].Error)
	}
}

// maskResult masks an action's result in place.
func maskResult(res *api.ActionResult) {
	res.Error = maskText(res.Error)
	for i := range res.Notes {
		res.Notes[i] = maskText(res.Notes[i])
	}
	if o := res.Outcome; o != nil {
		for i := range o.Failures {
			o.Failures[i] = maskText(o.Failures[i])
		}
	}
}

// maskedSink masks what an action reports before it reaches the client.
type maskedSink struct{ sink }

func (m maskedSink) Report(e progress.Event) {
	e.Text, e.Detail = maskText(e.Text), maskText(e.Detail)
	if e.Err != nil {
		e.Err = errors.New(maskText(e.Err.Error()))
	}
	m.sink.Report(e)
}

func (m maskedSink) warn(s string) { m.sink.warn(maskText(s)) }

// cleanPaths answers a path with dot segments or empty ones
// ("/jobs/x/../../up", "//") with a JSON 404 instead of the mux's redirect
// to the cleaned path: a client that followed it would send its request,
// token and all, to another endpoint than the one it named.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if c := path.Clean(p); c != p && c+"/" != p {
			writeErr(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, clip(p, 200)), "paths have no . or .. segment and no //; see docs/api.md")
			return
		}
		next.ServeHTTP(w, r)
	})
}

var _ ui.Refuser = uiSource{}

// Refused records an action the UI refused (no login, a wrong token, no
// X-Cjob-UI header), as auth records the API's.
func (u uiSource) Refused(ctx context.Context, a ui.Action, why string) {
	who := "anonymous"
	if a.Who != "" {
		who = a.Who
	}
	action := a.Verb
	if !slices.Contains(prodActions, action) {
		action = "act"
	}
	u.s.record(ctx, store.Event{Who: clip(who, maxRefused) + " (web)", Action: action, Target: clip(a.Job, maxRefused), Result: "refused", Detail: why})
}

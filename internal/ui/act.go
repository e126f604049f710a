package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/progress"
)

// actRequest is the body of POST /ui/act.
type actRequest struct {
	Verb    string `json:"verb"`
	Job     string `json:"job"`
	Task    int    `json:"task"`
	Tag     string `json:"tag"`
	Version int64  `json:"version"`
}

// resultJSON is a Result on the wire.
type resultJSON struct {
	OK      bool     `json:"ok"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

// act runs an action for a logged-in visitor and streams its progress as
// JSON lines: {"event": progress.JSONEvent} per event, then {"result": ...}.
func (u *UI) act(w http.ResponseWriter, r *http.Request) {
	vis := u.visitor(r)
	// The body first, so that a refusal names what it refused.
	var req actRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	decErr := dec.Decode(&req)
	if !vis.LoggedIn {
		what := "no token"
		if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
			what = "a wrong token"
		}
		u.refuse(r, req, "", "401: "+what)
		jsonError(w, http.StatusUnauthorized, "log in first")
		return
	}
	if r.Header.Get("X-Cjob-UI") != "1" {
		u.refuse(r, req, vis.Who, "403: missing X-Cjob-UI header")
		jsonError(w, http.StatusForbidden, "missing X-Cjob-UI header")
		return
	}
	if decErr != nil {
		jsonError(w, http.StatusBadRequest, "reading the request: "+decErr.Error())
		return
	}
	env := u.src.Env()
	if !allowed(env, req.Verb) {
		jsonError(w, http.StatusBadRequest, "this environment does not "+req.Verb)
		return
	}
	req.Job = strings.TrimSpace(req.Job)
	req.Tag = strings.TrimSpace(req.Tag)
	switch {
	case req.Verb == "deploy" && req.Version <= 0:
		jsonError(w, http.StatusBadRequest, "deploy: which version?")
		return
	case req.Verb != "deploy" && req.Job == "":
		jsonError(w, http.StatusBadRequest, req.Verb+": which job?")
		return
	case req.Task < 0 || req.Version < 0:
		jsonError(w, http.StatusBadRequest, "task and version count from 1")
		return
	case req.Verb == "update" && req.Tag == "":
		jsonError(w, http.StatusBadRequest, "update: which tag?")
		return
	case len(req.Tag) > 256 || strings.ContainsAny(req.Tag, " \t\r\n"):
		jsonError(w, http.StatusBadRequest, "tag: not a tag")
		return
	}
	a := Action{Verb: req.Verb, Job: req.Job, Task: req.Task, Tag: req.Tag, Version: req.Version, Who: vis.Who}

	rc := startStream(w, "application/x-ndjson")
	rc.Flush()

	lw := &lineWriter{w: w, rc: rc}
	rep := progress.New(lw, progress.JSON)
	// The action runs to the end even when the browser goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), actTimeout)
	defer cancel()
	res := u.src.Act(ctx, a, rep)
	rep.Close()
	b, _ := json.Marshal(struct {
		Result resultJSON `json:"result"`
	}{resultJSON{OK: res.OK, Message: res.Message, Details: res.Details}})
	lw.writeLine(b)
}

// refuse tells a Source that keeps an audit log of a refused action.
func (u *UI) refuse(r *http.Request, req actRequest, who, why string) {
	if rf, ok := u.src.(Refuser); ok {
		rf.Refused(r.Context(), Action{Verb: req.Verb, Job: strings.TrimSpace(req.Job), Task: req.Task, Tag: req.Tag, Version: req.Version, Who: who}, why)
	}
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

// lineWriter wraps each line the JSON reporter writes as {"event": line}
// and flushes it. Writes after the client left fail quietly.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	rc  *http.ResponseController
	buf []byte
	err error
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(l.buf[:i])
		if len(line) > 0 {
			out := make([]byte, 0, len(line)+12)
			out = append(out, `{"event":`...)
			out = append(out, line...)
			out = append(out, "}\n"...)
			l.send(out)
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) writeLine(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.send(append(b, '\n'))
}

func (l *lineWriter) send(b []byte) {
	if l.err != nil {
		return
	}
	if _, err := l.w.Write(b); err != nil {
		l.err = err
		return
	}
	l.rc.Flush()
}

// logPing is the interval of the comment lines that keep a log stream
// open through proxies.
var logPing = 15 * time.Second

// startStream answers 200 with a stream of contentType that is never
// cached, buffered by a proxy, or cut by the server's write timeout.
func startStream(w http.ResponseWriter, contentType string) *http.ResponseController {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	return rc
}

// logTail is the number of lines a log stream starts with.
const logTail = 200

// logs streams a container's log as server-sent events: each line one
// data event, a comment every 15 s, and an "end" event when the log ends
// (with the error, if any), so the page does not reconnect.
func (u *UI) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rc := startStream(w, "text/event-stream")
	sw := &sseWriter{w: w, rc: rc}
	sw.raw([]byte("retry: 5000\n\n"))

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan struct{})
	pinger := make(chan struct{})
	ping := logPing
	go func() {
		defer close(pinger)
		t := time.NewTicker(ping)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
				if !sw.raw([]byte(": ping\n\n")) {
					cancel()
					return
				}
			}
		}
	}()
	err := u.src.Logs(ctx, name, logTail, true, sw)
	close(done)
	<-pinger
	sw.finish()
	if r.Context().Err() != nil {
		return
	}
	msg := "end of log"
	if err != nil && ctx.Err() == nil {
		msg = err.Error()
	}
	sw.event("end", msg)
}

// sseWriter turns written text into one data event per line.
type sseWriter struct {
	mu     sync.Mutex
	w      io.Writer
	rc     *http.ResponseController
	buf    []byte
	failed bool
}

// maxLine cuts very long lines into events of this size.
const maxLine = 64 << 10

func (s *sseWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return 0, io.ErrClosedPipe
	}
	s.buf = append(s.buf, p...)
	var out []byte
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			if len(s.buf) >= maxLine {
				out = appendData(out, s.buf[:maxLine])
				s.buf = s.buf[maxLine:]
				continue
			}
			break
		}
		out = appendData(out, s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	if len(out) > 0 && !s.writeLocked(out) {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

// appendData appends line as a data event: a carriage return at its end
// is dropped, others (progress bars) split the line.
func appendData(out, line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\r"))
	out = append(out, "data: "...)
	for _, c := range line {
		if c == '\r' {
			out = append(out, "\ndata: "...)
			continue
		}
		out = append(out, c)
	}
	return append(out, '\n', '\n')
}

// finish sends a last line without a newline.
func (s *sseWriter) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && !s.failed {
		s.writeLocked(appendData(nil, s.buf))
		s.buf = nil
	}
}

func (s *sseWriter) event(name, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []byte("event: " + name + "\n")
	out = appendData(out, []byte(strings.ReplaceAll(data, "\n", " ")))
	s.writeLocked(out)
}

func (s *sseWriter) raw(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

func (s *sseWriter) writeLocked(b []byte) bool {
	if s.failed {
		return false
	}
	if _, err := s.w.Write(b); err != nil {
		s.failed = true
		return false
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.failed = true
		return false
	}
	return true
}

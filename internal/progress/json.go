package progress

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// JSONEvent is the object the JSON mode writes, one per line, for each
// event:
//
//	{"time":"2025-01-02T12:00:01.234Z","unit":"coding-core.api","action":"Started","status":"done","elapsed_ms":800}
type JSONEvent struct {
	Time   time.Time `json:"time"`
	Unit   string    `json:"unit"`
	Action string    `json:"action"` // the event's Text
	Status Status    `json:"status"` // the unit's status after the event
	Detail string    `json:"detail,omitempty"`
	// ElapsedMS is the unit's elapsed time in milliseconds; absent until the
	// unit's first Working event.
	ElapsedMS *int64 `json:"elapsed_ms,omitempty"`
	Error     string `json:"error,omitempty"`
}

type jsonReporter struct {
	w   io.Writer
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	err     error
	tracker tracker
	buf     bytes.Buffer
}

func newJSON(w io.Writer) *jsonReporter {
	return &jsonReporter{w: w, now: time.Now}
}

func (j *jsonReporter) Report(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = j.now()
	}
	u := j.tracker.apply(e)
	out := JSONEvent{
		Time:   e.Time,
		Unit:   e.Unit,
		Action: e.Text,
		Status: u.status,
		Detail: e.Detail,
	}
	if d, ok := u.elapsed(e.Time); ok {
		ms := d.Milliseconds()
		out.ElapsedMS = &ms
	}
	if e.Err != nil {
		out.Error = e.Err.Error()
	}
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		if j.err == nil {
			j.err = err
		}
		return
	}
	if _, err := j.w.Write(j.buf.Bytes()); err != nil && j.err == nil {
		j.err = err
	}
}

func (j *jsonReporter) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	return j.err
}

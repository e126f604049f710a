package main

// The notification path: queue, worker, and the mail and sms senders.
//
//	api --POST /enqueue--> queue <--GET /dequeue-- worker --POST /send--> mail, sms

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// msgQueue is the in-memory queue of the queue role.
type msgQueue struct {
	mu                 sync.Mutex
	items              [][]byte
	enqueued, dequeued int
}

func (q *msgQueue) push(m []byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, m)
	q.enqueued++
	return len(q.items)
}

func (q *msgQueue) pop() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	m := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	q.dequeued++
	return m, true
}

func (q *msgQueue) stats() map[string]any {
	q.mu.Lock()
	defer q.mu.Unlock()
	return map[string]any{"depth": len(q.items), "enqueued": q.enqueued, "dequeued": q.dequeued}
}

// buildQueue: POST /enqueue (the body is the message), GET /dequeue (204
// when empty). Messages live in memory only.
func buildQueue(c *config) (*service, error) {
	q := &msgQueue{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /enqueue", func(w http.ResponseWriter, r *http.Request) {
		m, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		depth := q.push(m)
		c.debugf("enqueued %d bytes, depth %d", len(m), depth)
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": true, "depth": depth})
	})
	mux.HandleFunc("GET /dequeue", func(w http.ResponseWriter, r *http.Request) {
		m, ok := q.pop()
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(m)
	})
	return &service{mux: mux, info: q.stats}, nil
}

// buildSender: the mail and sms roles. POST /send accepts a message and
// counts it; GET /messages shows the latest.
func buildSender(c *config) (*service, error) {
	var (
		mu   sync.Mutex
		sent int
		last []string // newest last, at most 10
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		msg := strings.TrimSpace(string(b))
		mu.Lock()
		sent++
		id := sent
		last = append(last, msg)
		if len(last) > 10 {
			last = last[1:]
		}
		mu.Unlock()
		c.logf("%s: sent message #%d: %s", c.role, id, truncate(msg, 80))
		writeJSON(w, http.StatusAccepted, map[string]any{"id": id})
	})
	mux.HandleFunc("GET /messages", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"sent": sent, "last": append([]string{}, last...)})
	})
	return &service{mux: mux, info: func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"sent": sent}
	}}, nil
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// worker moves messages from the queue to mail and sms.
type worker struct {
	c        *config
	queue    string
	targets  []upstream // name and /send URL of mail and sms
	interval time.Duration

	mu        sync.Mutex
	processed int
	pending   []byte          // dequeued, not yet delivered everywhere
	delivered map[string]bool // targets pending has reached
	lastErr   string
}

// buildWorker: polls QUEUE_URL every WORKER_INTERVAL (500ms) and forwards
// each message to MAIL_URL and SMS_URL. A message is retried until both have
// accepted it; neither gets it twice.
func buildWorker(c *config) (*service, error) {
	queue, err := c.baseURL("QUEUE_URL")
	if err != nil {
		return nil, err
	}
	mail, err := c.baseURL("MAIL_URL")
	if err != nil {
		return nil, err
	}
	sms, err := c.baseURL("SMS_URL")
	if err != nil {
		return nil, err
	}
	interval, err := c.duration("WORKER_INTERVAL", 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	wk := &worker{
		c: c, queue: queue, interval: interval,
		targets: []upstream{{"mail", mail + "/send"}, {"sms", sms + "/send"}},
	}
	return &service{
		upstreams: []upstream{
			{"queue", queue + "/healthz"},
			{"mail", mail + "/healthz"},
			{"sms", sms + "/healthz"},
		},
		info:       wk.stats,
		background: []func(context.Context){wk.loop},
	}, nil
}

func (wk *worker) stats() map[string]any {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	s := map[string]any{"processed": wk.processed, "pending": wk.pending != nil}
	if wk.lastErr != "" {
		s["last_error"] = wk.lastErr
	}
	return s
}

func (wk *worker) loop(ctx context.Context) {
	t := time.NewTicker(wk.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			wk.drain(ctx)
		}
	}
}

// drain delivers messages until the queue is empty or something fails.
func (wk *worker) drain(ctx context.Context) {
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		more, err := wk.step(ctx)
		wk.mu.Lock()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		changed := msg != wk.lastErr
		wk.lastErr = msg
		wk.mu.Unlock()
		if err != nil && changed && ctx.Err() == nil {
			wk.c.logf("worker: %v (retrying every %s)", err, wk.interval)
		}
		if !more || err != nil {
			return
		}
	}
}

// step takes one message (or the pending one) and delivers it. more reports
// whether a message was handled.
func (wk *worker) step(ctx context.Context) (more bool, err error) {
	wk.mu.Lock()
	msg := wk.pending
	wk.mu.Unlock()
	if msg == nil {
		code, body, err := wk.c.send(ctx, http.MethodGet, wk.queue+"/dequeue", "", nil)
		if err != nil {
			return false, err
		}
		if code == http.StatusNoContent {
			return false, nil
		}
		msg = append([]byte{}, body...) // never nil: nil means "none pending"
		wk.mu.Lock()
		wk.pending, wk.delivered = msg, map[string]bool{}
		wk.mu.Unlock()
	}
	for _, t := range wk.targets {
		wk.mu.Lock()
		done := wk.delivered[t.name]
		wk.mu.Unlock()
		if done {
			continue
		}
		if _, _, err := wk.c.send(ctx, http.MethodPost, t.url, "text/plain", msg); err != nil {
			return false, err
		}
		wk.mu.Lock()
		wk.delivered[t.name] = true
		wk.mu.Unlock()
	}
	wk.mu.Lock()
	wk.processed++
	n := wk.processed
	wk.pending, wk.delivered = nil, nil
	wk.mu.Unlock()
	wk.c.logf("worker: delivered message #%d to mail and sms: %s", n, truncate(string(msg), 60))
	return true, nil
}

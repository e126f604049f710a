package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// service is what a role builds: its own routes, the upstreams its status
// page calls, and its background loops. A one-shot role sets only oneshot.
type service struct {
	mux        *http.ServeMux // the role's own routes; nil: none
	upstreams  []upstream     // called by GET /
	info       func() map[string]any
	ok         func() bool // extra condition for GET / to answer 200
	background []func(ctx context.Context)
	oneshot    func(ctx context.Context) int
}

// handler adds the routes every role has (/healthz, GET /) to the role's own
// and logs each request.
func handler(c *config, svc *service) http.Handler {
	mux := svc.mux
	if mux == nil {
		mux = http.NewServeMux()
	}
	unhealthy := c.getenv("DEMO_UNHEALTHY") == "1"
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if unhealthy {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "unhealthy (DEMO_UNHEALTHY=1)\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		status := map[string]any{}
		if svc.info != nil {
			for k, v := range svc.info() {
				status[k] = v
			}
		}
		status["role"] = c.role
		status["hostname"] = c.hostname
		status["port"] = localPort(r)
		ok := true
		if len(svc.upstreams) > 0 {
			results := c.callAll(r.Context(), svc.upstreams)
			for _, res := range results {
				ok = ok && res.OK
			}
			status["upstreams"] = results
		}
		if svc.ok != nil {
			ok = ok && svc.ok()
		}
		status["ok"] = ok
		code := http.StatusOK
		if !ok {
			code = http.StatusBadGateway
		}
		writeJSON(w, code, status)
	})
	return logRequests(c, mux)
}

// localPort is the port the request arrived on.
func localPort(r *http.Request) int {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			n, _ := strconv.Atoi(p)
			return n
		}
	}
	return 0
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (used by ReverseProxy) reach the
// real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs one line per request:
//
//	api: GET /healthz 200 0.1ms from 172.18.0.3:51234
func logRequests(c *config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		c.logf("%s: %s %s %d %.1fms from %s", c.role, r.Method, r.URL.RequestURI(), rec.code,
			float64(time.Since(start).Microseconds())/1000, r.RemoteAddr)
	})
}

// serve listens on ports, runs the role's background loops, and serves
// until ctx is cancelled. When tolerant, ports that cannot be bound (e.g.
// EADDRINUSE) are skipped as long as one can. It returns the exit code.
func serve(ctx context.Context, c *config, svc *service, ports []int, tolerant bool) int {
	var lns []net.Listener
	for _, p := range ports {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			if tolerant {
				why := err.Error()
				if errors.Is(err, syscall.EADDRINUSE) {
					why = "address already in use"
				}
				c.logf("%s: skipping port %d: %s", c.role, p, why)
				continue
			}
			c.logf("%s: %v", c.role, err)
			closeAll(lns)
			return 1
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		c.logf("%s: no port could be bound (tried %v)", c.role, ports)
		return 1
	}

	srv := &http.Server{
		Handler:           handler(c, svc),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		c.logf("%s listening on :%d", c.role, ln.Addr().(*net.TCPAddr).Port)
		go func() { errc <- srv.Serve(ln) }()
	}

	bgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var bg sync.WaitGroup
	for _, loop := range svc.background {
		bg.Add(1)
		go func() {
			defer bg.Done()
			loop(bgCtx)
		}()
	}

	code := 0
	select {
	case <-ctx.Done():
		c.logf("%s: shutting down", c.role)
	case err := <-errc:
		c.logf("%s: serve: %v", c.role, err)
		code = 1
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	waitTimeout(&bg, 300*time.Millisecond)
	c.logf("%s: stopped", c.role)
	return code
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// healthcheck implements "demo healthcheck [URL]": it GETs URL, by default
// the role's own /healthz on 127.0.0.1, and exits 0 on a 2xx answer.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, out io.Writer) int {
	target := ""
	if len(args) > 0 {
		target = args[0]
	} else {
		r, ok := roles[getenv("ROLE")]
		if !ok {
			r = roles["generic"]
		}
		ports, _, err := listenPorts(r, getenv)
		if err != nil || len(ports) == 0 || ports[0] == 0 {
			fmt.Fprintf(out, "healthcheck: no port: %v\n", err)
			return 1
		}
		target = fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0])
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(out, "healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(out, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(out, "healthcheck: %s: %s\n", target, resp.Status)
		return 1
	}
	return 0
}

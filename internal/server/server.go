// Package server is `cjob server`: the production control plane. It keeps
// every pushed version, event and job state in etcd (internal/store),
// watches for new versions and says which jobs they make outdated (log,
// event, webhook), polls every production host's engine, and serves the
// JSON API of internal/api, through which operators push and roll out.
//
// Reads are open. Mutations need a bearer token from the token file; a
// missing or wrong token gets 401 and changes nothing. Env values whose keys
// look secret are masked in every read (internal/jobdiff).
package server

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/prodspec"
)

// Options configure a server.
type Options struct {
	Store        *store.Store
	Tokens       map[string]string                                          // token -> the name events record
	Webhook      string                                                     // POSTed on every new version; "" for none
	PollInterval time.Duration                                              // 0: 10 s
	PollTimeout  time.Duration                                              // per host; 0: 5 s
	Registry     *registry.Client                                           // nil: registry.New with Docker's credentials
	Probe        func(ctx context.Context, c *stack.Check, ip string) error // nil: health.Probe
	Dial         fleet.Dialer                                               // how a host's engine is reached; nil: its docker: endpoint
	Logf         func(format string, args ...any)
	// KeepEvents is how long events are kept (0: forever); older ones are
	// removed once an hour.
	KeepEvents time.Duration
}

// Server is the control plane.
type Server struct {
	o       Options
	fleet   *fleet.Fleet
	dep     *production.Deployer
	started time.Time

	mu   sync.RWMutex
	head *head                // nil until the first push
	snap *production.Snapshot // last poll

	busyMu sync.Mutex
	busy   map[string]string // job -> what is running on it

	pollNow chan struct{}

	filesMu sync.Mutex
	files   map[int64]cachedVersion // read and parsed versions (they never change)

	statesMu   sync.Mutex
	lastStates map[string]store.JobState // the job states last read, for when etcd does not answer
}

// head is the newest version, parsed once.
type head struct {
	v         store.Version
	file      *prodspec.File
	desire    *status.Desired // nil when the file cannot run in production (desireErr says why)
	desireErr error
	depsOnce  sync.Once
	deps      map[string][]status.Dep // status.Dependencies of file, made when first asked for
}

// dependencies is the head's dependency graph, computed once.
func (h *head) dependencies() map[string][]status.Dep {
	h.depsOnce.Do(func() { h.deps = status.Dependencies(h.file) })
	return h.deps
}

// New makes a server; Run starts its watch and poll loops.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("server: no store")
	}
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.PollTimeout == 0 {
		o.PollTimeout = 5 * time.Second
	}
	if o.Registry == nil {
		o.Registry = registry.New(registry.Options{})
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	fl := &fleet.Fleet{Timeout: o.PollTimeout, Dial: o.Dial}
	s := &Server{o: o, fleet: fl, dep: &production.Deployer{Fleet: fl, Probe: o.Probe}, started: time.Now(),
		busy: map[string]string{}, pollNow: make(chan struct{}, 1), files: map[int64]cachedVersion{}}
	return s, nil
}

// ReadTokens reads a token file: one token per line, optionally named
// ("alice:TOKEN"); blank lines and # comments are skipped.
func ReadTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, ok := strings.Cut(line, ":")
		if !ok {
			name, tok = "operator", line
		}
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		if name == "" {
			name = "operator"
		}
		if len(tok) < 16 {
			return nil, fmt.Errorf("%s:%d: token is %d characters; use at least 16 (e.g. `openssl rand -hex 20`)", path, n, len(tok))
		}
		out[tok] = name
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", path)
	}
	return out, nil
}

// Run loads the head, then watches the store and polls the hosts until ctx
// is done.
func (s *Server) Run(ctx context.Context) error {
	// Watch first, so a version pushed while the head loads is not missed.
	heads := s.o.Store.WatchHead(ctx)
	var seen int64
	if v, err := s.o.Store.Head(ctx); err == nil {
		seen = v.Number
		if err := s.setHead(v); err != nil {
			s.o.Logf("version %d does not load: %v", v.Number, err)
		}
	} else if !errors.Is(err, store.ErrEmpty) {
		return err
	}
	go s.watch(ctx, heads, seen)
	// Actions a previous run left unfinished, before anything new starts.
	s.recoverActions(ctx)
	s.pollLoop(ctx)
	return nil
}

func (s *Server) setHead(v store.Version) error {
	_, f, err := s.parseVersion(v)
	if err != nil {
		return err
	}
	h := &head{v: v, file: f}
	if res, err := rewrite.Production(f, v.Number); err != nil {
		h.desireErr = err
	} else {
		h.desire = status.Desire(f, v.Number, res.Stack)
	}
	s.mu.Lock()
	if s.head == nil || s.head.v.Number < v.Number {
		s.head = h
	}
	s.mu.Unlock()
	return nil
}

// newHead makes a version this server just pushed the head. It cannot
// fail to parse (the server rendered it); if it does anyway, the head stays
// where it was and the log says so.
func (s *Server) newHead(v store.Version) {
	if err := s.setHead(v); err != nil {
		s.o.Logf("version %d does not load, keeping version %d as the head: %v", v.Number, headNumber(s.current()), err)
	}
}

// engineOf is the engine of host name of version h.
func (s *Server) engineOf(ctx context.Context, h *head, name string) (fleet.Engine, error) {
	set, errs := s.fleet.Connect(ctx, h.file, []string{name})
	if err := errs[name]; err != nil {
		return nil, err
	}
	return set[name].Engine, nil
}

func (s *Server) current() *head {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := api.Prefix
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET "+p+"/info", s.info)
	mux.HandleFunc("GET "+p+"/versions", s.versions)
	mux.HandleFunc("GET "+p+"/versions/{n}", s.version)
	mux.HandleFunc("POST "+p+"/versions", s.auth(s.push))
	mux.HandleFunc("GET "+p+"/jobs", s.jobs)
	mux.HandleFunc("GET "+p+"/jobs/{job}", s.job)
	mux.HandleFunc("GET "+p+"/jobs/{job}/history", s.history)
	mux.HandleFunc("GET "+p+"/jobs/{job}/tags", s.tags)
	mux.HandleFunc("POST "+p+"/jobs/{job}/{action}", s.auth(s.action))
	mux.HandleFunc("POST "+p+"/up", s.auth(s.upAll))
	mux.HandleFunc("POST "+p+"/versions/{n}/deploy", s.auth(s.deployHandler))
	mux.HandleFunc("GET "+p+"/diff", s.diff)
	mux.HandleFunc("GET "+p+"/nodes", s.nodes)
	mux.HandleFunc("GET "+p+"/containers", s.containers)
	mux.HandleFunc("GET "+p+"/containers/{name}/logs", s.logs)
	mux.HandleFunc("GET "+p+"/containers/{name}/inspect", s.inspect)
	mux.HandleFunc("GET "+p+"/events", s.events)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path), "see docs/api.md for the endpoints")
	})
	return cleanPaths(mux)
}

type whoKey struct{}

// auth lets a request through only with a known bearer token. The event
// log records the token's name and the author the client says it is.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		tok, ok := "", len(authz) > 7 && strings.EqualFold(authz[:7], "bearer ")
		if ok {
			tok = authz[7:]
		}
		name := ""
		if ok {
			for t, n := range s.o.Tokens {
				if subtle.ConstantTimeCompare([]byte(t), []byte(strings.TrimSpace(tok))) == 1 {
					name = n
				}
			}
		}
		if name == "" {
			what := "no token"
			if ok {
				what = "a wrong token"
			}
			s.record(r.Context(), store.Event{Who: clip(author(r, "anonymous"), maxRefused), Action: actionOf(r), Target: clip(r.PathValue("job"), maxRefused), Result: "refused", Detail: "401: " + what})
			w.Header().Set("WWW-Authenticate", `Bearer realm="cjob"`)
			writeErr(w, http.StatusUnauthorized, "this needs a valid token: "+what+" was given; nothing was changed",
				"pass --token or set CJOB_TOKEN (the server reads its tokens from --token-file)")
			return
		}
		who := author(r, name)
		if a := r.Header.Get("X-Cjob-Author"); a != "" && a != name {
			who = a + " (token " + name + ")"
		}
		next(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, who)))
	}
}

func author(r *http.Request, def string) string {
	if a := strings.TrimSpace(r.Header.Get("X-Cjob-Author")); a != "" {
		return a
	}
	return def
}

func actionOf(r *http.Request) string {
	if a := r.PathValue("action"); a != "" {
		return a
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/deploy"):
		return "deploy"
	case strings.HasSuffix(r.URL.Path, api.Prefix+"/up"):
		return "up"
	}
	return "push"
}

func who(r *http.Request) string {
	if w, ok := r.Context().Value(whoKey{}).(string); ok {
		return w
	}
	return "anonymous"
}

func (s *Server) record(ctx context.Context, e store.Event) {
	e.Detail = maskText(e.Detail) // errors relayed name endpoints, passwords and all
	if _, err := s.o.Store.AddEvent(context.WithoutCancel(ctx), e); err != nil {
		s.o.Logf("recording event %s %s: %v", e.Action, e.Target, err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg, hint string) {
	writeJSON(w, code, api.Error{Error: msg, Hint: hint})
}

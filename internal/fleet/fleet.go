// Package fleet owns a set of Docker engines: one per host of the jobs file
// (a staging pool's machines, production's hosts). It dials them
// concurrently, each within a timeout, keeps the connections, dials again
// when a host's endpoint changes or a connection was dropped after an
// error, observes them all at once, and names every host that does not
// answer. A slow or dead host never holds up the others.
//
// Everything else sees an engine through the small interfaces it declares
// (apply.Engine, converge.Engine, production.Engine); Engine here is the
// whole surface cjob uses, which *engine.Engine and the in-memory engine of
// package enginetest both provide.
package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Engine is one connected engine, in cjob's own types.
type Engine interface {
	Host() string
	Close() error
	Info(ctx context.Context) (stack.EngineInfo, error)
	Observe(ctx context.Context, project string, env stack.Env, network string) (*stack.Observed, error)

	EnsureNetwork(ctx context.Context, name string, labels map[string]string) error
	RemoveNetwork(ctx context.Context, name string) error
	EnsureVolume(ctx context.Context, name string, labels map[string]string) error
	RemoveVolume(ctx context.Context, name string) error

	ImageExists(ctx context.Context, ref string) (bool, error)
	Pull(ctx context.Context, ref string, progress func(engine.Progress)) error
	Push(ctx context.Context, ref string, progress func(pct int)) error
	ImportFiles(ctx context.Context, ref string, files []engine.File, changes []string) error
	BuildImage(ctx context.Context, buildContext io.Reader, opts engine.BuildOptions, log io.Writer) error
	RemoveDevImages(ctx context.Context, project, repo, keep string) ([]string, error)

	Create(ctx context.Context, r stack.CreateRequest) (string, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Restart(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	Rename(ctx context.Context, id, name string) error
	Inspect(ctx context.Context, id, network string) (stack.Status, error)
	InspectRaw(ctx context.Context, id string) (json.RawMessage, error)
	MemoryUsage(ctx context.Context, id string) (int64, error)
	Exec(ctx context.Context, id string, cmd []string) (int, string, error)
	CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	Logs(ctx context.Context, id, tail string, follow, timestamps bool, w io.Writer) error
	LogTail(ctx context.Context, id string, n int) string
}

var _ Engine = (*engine.Engine)(nil)

// Dialer connects to one host's engine within timeout.
type Dialer func(ctx context.Context, h *prodspec.Host, timeout time.Duration) (Engine, error)

// DialDocker is the default Dialer: the host's docker: endpoint (unix://,
// tcp:// with its tls: files, ssh://).
func DialDocker(ctx context.Context, h *prodspec.Host, timeout time.Duration) (Engine, error) {
	o := engine.Options{Host: h.Docker, PingTimeout: timeout}
	if h.TLS != nil {
		o.CA, o.Cert, o.Key = h.TLS.CA, h.TLS.Cert, h.TLS.Key
	}
	return engine.Dial(ctx, o)
}

// Member is one connected host.
type Member struct {
	Name    string
	Docker  string // the endpoint, as the jobs file gives it
	Engine  Engine
	Address string // where other hosts reach it: address:, else the host of a tcp:// or ssh:// endpoint
	Memory  int64  // bytes: the jobs file's memory:, else the engine's total
}

// Set is connected hosts by name.
type Set map[string]*Member

// Names are the hosts of the set, sorted.
func (s Set) Names() []string { return slices.Sorted(maps.Keys(s)) }

// Engines are the set's engines by host name.
func (s Set) Engines() map[string]Engine {
	out := make(map[string]Engine, len(s))
	for n, m := range s {
		out[n] = m.Engine
	}
	return out
}

// Observe takes one snapshot of every engine of the set at once and merges
// them (each container carries its host's name as Engine). A host that
// fails is in the errors and does not stop the others.
func (s Set) Observe(ctx context.Context, project string, env stack.Env) (*stack.Observed, Errors) {
	all := &stack.Observed{Volumes: map[string]bool{}}
	errs := Errors{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, m := range s {
		wg.Go(func() {
			o, err := m.Engine.Observe(ctx, project, env, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = fmt.Errorf("host %s: %w", name, err)
				return
			}
			all.Add(name, o)
		})
	}
	wg.Wait()
	all.Sort()
	return all, errs
}

// Fleet keeps one connection per host.
type Fleet struct {
	Timeout time.Duration // per dial and first look; 0: 5 s
	Dial    Dialer        // nil: DialDocker

	mu    sync.Mutex
	conns map[string]*conn
}

type conn struct {
	endpoint string // docker endpoint and TLS files: a change means a new connection
	m        *Member
}

func endpointKey(h *prodspec.Host) string {
	k := h.Docker
	if h.TLS != nil {
		k += "|" + h.TLS.CA + "|" + h.TLS.Cert + "|" + h.TLS.Key
	}
	return k
}

// Connect returns the named hosts of f, dialing those not yet connected
// concurrently, each within the timeout. Hosts that cannot be reached are
// in the errors, each naming the host and its endpoint.
func (fl *Fleet) Connect(ctx context.Context, f *prodspec.File, names []string) (Set, Errors) {
	out := Set{}
	errs := Errors{}
	var dial []*prodspec.Host
	fl.mu.Lock()
	if fl.conns == nil {
		fl.conns = map[string]*conn{}
	}
	for _, n := range names {
		h := f.Host(n)
		switch {
		case h == nil:
			errs[n] = fmt.Errorf("host %s is not declared under hosts:", n)
		case h.Docker == "":
			errs[n] = fmt.Errorf("host %s has no docker: endpoint (unix://, tcp:// or ssh://)", n)
		default:
			if c := fl.conns[n]; c != nil && c.endpoint == endpointKey(h) {
				out[n] = c.m
			} else {
				dial = append(dial, h)
			}
		}
	}
	fl.mu.Unlock()
	if len(dial) == 0 {
		return out, errs
	}
	timeout := fl.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	dialer := fl.Dial
	if dialer == nil {
		dialer = DialDocker
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range dial {
		wg.Go(func() {
			m, err := connect(ctx, dialer, h, timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[h.Name] = fmt.Errorf("host %s (%s) unreachable: %w", h.Name, h.Docker, err)
				return
			}
			out[h.Name] = m
			fl.mu.Lock()
			if old := fl.conns[h.Name]; old != nil {
				old.m.Engine.Close()
			}
			fl.conns[h.Name] = &conn{endpoint: endpointKey(h), m: m}
			fl.mu.Unlock()
		})
	}
	wg.Wait()
	return out, errs
}

// Check is Connect that also asks every kept connection whether its engine
// still answers (within the timeout): what must hold before a change is
// recorded for the hosts. A host that does not answer is dropped and in the
// errors.
func (fl *Fleet) Check(ctx context.Context, f *prodspec.File, names []string) (Set, Errors) {
	set, errs := fl.Connect(ctx, f, names)
	timeout := fl.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, m := range set {
		wg.Go(func() {
			ictx, cancel := context.WithTimeout(ctx, timeout)
			_, err := m.Engine.Info(ictx)
			cancel()
			if err == nil {
				return
			}
			fl.Drop(name)
			mu.Lock()
			defer mu.Unlock()
			delete(set, name)
			errs[name] = fmt.Errorf("host %s (%s) unreachable: %w", name, m.Docker, err)
		})
	}
	wg.Wait()
	return set, errs
}

func connect(ctx context.Context, dial Dialer, h *prodspec.Host, timeout time.Duration) (*Member, error) {
	e, err := dial(ctx, h, timeout)
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	info, err := e.Info(ictx)
	cancel()
	if err != nil {
		e.Close()
		return nil, err
	}
	m := &Member{Name: h.Name, Docker: h.Docker, Engine: e, Address: Address(h), Memory: info.MemoryBytes}
	if h.Memory > 0 {
		m.Memory = h.Memory
	}
	return m, nil
}

// Address is where other hosts reach h: its address:, else the host of a
// tcp:// or ssh:// endpoint ("" when neither says).
func Address(h *prodspec.Host) string {
	if h.Address != "" {
		return h.Address
	}
	if u, err := url.Parse(h.Docker); err == nil && (u.Scheme == "tcp" || u.Scheme == "ssh") {
		return u.Hostname()
	}
	return ""
}

// Drop forgets a host's connection after an error, so the next Connect
// dials again.
func (fl *Fleet) Drop(name string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if c := fl.conns[name]; c != nil {
		c.m.Engine.Close()
		delete(fl.conns, name)
	}
}

// Close closes every connection.
func (fl *Fleet) Close() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for n, c := range fl.conns {
		c.m.Engine.Close()
		delete(fl.conns, n)
	}
}

// Errors is every host that could not be reached or observed, by name.
// errors.Is and errors.As see through it to each host's error (so
// errors.Is(err, engine.ErrUnreachable) holds when a host did not answer).
type Errors map[string]error

// Err is e, or nil when it holds no error.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

func (e Errors) names() []string { return slices.Sorted(maps.Keys(e)) }

// Lines are the errors, one per host, sorted by host name.
func (e Errors) Lines() []string {
	var out []string
	for _, n := range e.names() {
		out = append(out, e[n].Error())
	}
	return out
}

func (e Errors) Error() string {
	lines := e.Lines()
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d hosts unreachable:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Unwrap gives the host errors to errors.Is and errors.As.
func (e Errors) Unwrap() []error {
	var out []error
	for _, n := range e.names() {
		out = append(out, e[n])
	}
	return out
}

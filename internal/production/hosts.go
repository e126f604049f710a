// Package production runs a pushed jobs file on the production hosts'
// engines: one job at a time, as operators ask (`up`, `down`, `reload`,
// `rolling-update`), and reports what every host holds.
//
// It takes the same road as the dev and staging commands: the file is
// rewritten into a stack (devenv.RewriteProduction: every task on its own
// host's engine), the hosts are observed, a plan is made and applied. What
// differs is scope: an operation plans one job, so the rest of production is
// never touched by it.
package production

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/prodspec"
)

// Hosts keeps one connection per production host and dials again when a
// host's endpoint changes or a connection was dropped after an error.
type Hosts struct {
	Timeout time.Duration // per dial; 0: 5 s

	mu    sync.Mutex
	conns map[string]*conn
}

type conn struct {
	endpoint string // docker endpoint and TLS files: a change means a new connection
	eng      *engine.Engine
}

func endpointKey(h *prodspec.Host) string {
	k := h.Docker
	if h.TLS != nil {
		k += "|" + h.TLS.CA + "|" + h.TLS.Cert + "|" + h.TLS.Key
	}
	return k
}

// Engines returns the engines of the named hosts of f, dialing those not yet
// connected concurrently. Hosts that cannot be reached are in errs, each
// error naming the host and its endpoint.
func (hs *Hosts) Engines(ctx context.Context, f *prodspec.File, names []string) (map[string]*engine.Engine, map[string]error) {
	out := map[string]*engine.Engine{}
	errs := map[string]error{}
	var dial []*prodspec.Host
	hs.mu.Lock()
	if hs.conns == nil {
		hs.conns = map[string]*conn{}
	}
	for _, n := range names {
		h := f.Host(n)
		switch {
		case h == nil:
			errs[n] = fmt.Errorf("host %s is not declared under hosts:", n)
		case h.Docker == "":
			errs[n] = fmt.Errorf("host %s has no docker: endpoint", n)
		default:
			if c := hs.conns[n]; c != nil && c.endpoint == endpointKey(h) {
				out[n] = c.eng
			} else {
				dial = append(dial, h)
			}
		}
	}
	hs.mu.Unlock()
	if len(dial) > 0 {
		timeout := hs.Timeout
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		p, derrs := converge.DialHosts(ctx, dial, timeout)
		hs.mu.Lock()
		for _, h := range dial {
			if err := derrs[h.Name]; err != nil {
				errs[h.Name] = fmt.Errorf("host %s (%s) unreachable: %w", h.Name, h.Docker, err)
				continue
			}
			if old := hs.conns[h.Name]; old != nil {
				old.eng.Close()
			}
			hs.conns[h.Name] = &conn{endpoint: endpointKey(h), eng: p.Engines[h.Name]}
			out[h.Name] = p.Engines[h.Name]
		}
		hs.mu.Unlock()
	}
	return out, errs
}

// Drop forgets a host's connection after an error, so the next call dials
// again.
func (hs *Hosts) Drop(name string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if c := hs.conns[name]; c != nil {
		c.eng.Close()
		delete(hs.conns, name)
	}
}

// Close closes every connection.
func (hs *Hosts) Close() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for n, c := range hs.conns {
		c.eng.Close()
		delete(hs.conns, n)
	}
}

// HostsError is every host that could not be reached, by name.
type HostsError map[string]error

func (e HostsError) Error() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	for i, n := range names {
		lines[i] = e[n].Error()
	}
	if len(lines) == 1 {
		return lines[0] + "; nothing was changed"
	}
	return fmt.Sprintf("%d hosts unreachable; nothing was changed:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

const jobsFile = `project: ftest
hosts:
  app-1: {address: 10.0.0.1, docker: "tcp://app-1:2376"}
  app-2: {docker: "tcp://10.0.0.2:2376", memory: 16GiB}
  app-3: {docker: "ssh://deploy@app-3.example.com"}
  app-4: {docker: "unix:///var/run/docker.sock"}
  spare: {address: 10.0.0.9}
services:
  core:
    jobs:
      api: {image: example/api:1, tasks: [app-1, app-2, app-3, app-4]}
`

func parse(t *testing.T, text string) *prodspec.File {
	t.Helper()
	f, err := prodspec.Parse("jobs.yml", []byte(text), prodspec.LoadOptions{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

var hosts = []string{"app-1", "app-2", "app-3", "app-4"}

// conn is one engine handed out by the dialer; Close is counted.
type conn struct {
	*enginetest.Engine
	host     string
	endpoint string
	mu       *sync.Mutex
	closed   *int
	// blockInfo makes Info wait for its context to end.
	blockInfo bool
}

func (c conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.closed++
	return nil
}

func (c conn) Info(ctx context.Context) (stack.EngineInfo, error) {
	if c.blockInfo {
		<-ctx.Done()
		return stack.EngineInfo{}, ctx.Err()
	}
	return c.Engine.Info(ctx)
}

// dialer hands out in-memory engines by host name and records every dial.
type dialer struct {
	engines map[string]*enginetest.Engine
	// before runs at the start of every dial (it may block); nil: none.
	before    func(ctx context.Context, h *prodspec.Host) error
	blockInfo map[string]bool

	mu       sync.Mutex
	attempts []string // host names, in order, of every dial
	dials    []string // host names, in order, of every dial that succeeded
	timeouts []time.Duration
	conns    []conn
}

func newDialer() *dialer {
	d := &dialer{engines: map[string]*enginetest.Engine{}}
	for _, h := range hosts {
		d.engines[h] = enginetest.New(h)
	}
	return d
}

func (d *dialer) dial(ctx context.Context, h *prodspec.Host, timeout time.Duration) (fleet.Engine, error) {
	d.mu.Lock()
	d.attempts = append(d.attempts, h.Name)
	d.mu.Unlock()
	if d.before != nil {
		if err := d.before(ctx, h); err != nil {
			return nil, err
		}
	}
	e, err := enginetest.Dialer(d.engines)(ctx, h, timeout)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials = append(d.dials, h.Name)
	d.timeouts = append(d.timeouts, timeout)
	c := conn{Engine: e.(*enginetest.Engine), host: h.Name, endpoint: h.Docker, mu: &d.mu, closed: new(int), blockInfo: d.blockInfo[h.Name]}
	d.conns = append(d.conns, c)
	return c, nil
}

// state is every connection dialled, sorted, with how often it was
// closed: "host endpoint closed n".
func (d *dialer) state() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.conns {
		out = append(out, fmt.Sprintf("%s %s closed %d", c.host, c.endpoint, *c.closed))
	}
	slices.Sort(out) // hosts are dialled concurrently
	return out
}

func (d *dialer) dialCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dials)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func noErrors(t *testing.T, errs fleet.Errors) {
	t.Helper()
	if err := errs.Err(); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

func TestConnectDialsConcurrently(t *testing.T) {
	t.Run("every dial is in flight at once", func(t *testing.T) {
		d := newDialer()
		var mu sync.Mutex
		arrived := 0
		all := make(chan struct{})
		d.before = func(ctx context.Context, h *prodspec.Host) error {
			mu.Lock()
			arrived++
			if arrived == len(hosts) {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all: // every host is being dialled
				return nil
			case <-time.After(5 * time.Second):
				return fmt.Errorf("%s was dialled alone: dials are not concurrent", h.Name)
			}
		}
		fl := &fleet.Fleet{Dial: d.dial}
		set, errs := fl.Connect(ctx(t), parse(t, jobsFile), hosts)
		noErrors(t, errs)
		if diff := cmp.Diff(hosts, set.Names()); diff != "" {
			t.Errorf("connected (-want +got):\n%s", diff)
		}
	})
	t.Run("a slow host delays the others no longer than itself", func(t *testing.T) {
		d := newDialer()
		delay := map[string]time.Duration{"app-1": 400 * time.Millisecond, "app-2": 300 * time.Millisecond, "app-3": 200 * time.Millisecond, "app-4": 100 * time.Millisecond}
		d.before = func(ctx context.Context, h *prodspec.Host) error {
			time.Sleep(delay[h.Name])
			return nil
		}
		fl := &fleet.Fleet{Dial: d.dial}
		start := time.Now()
		_, errs := fl.Connect(ctx(t), parse(t, jobsFile), hosts)
		took := time.Since(start)
		noErrors(t, errs)
		// One after the other: 1s; at once: the slowest, 400ms.
		if took < 400*time.Millisecond || took > 900*time.Millisecond {
			t.Errorf("connect took %v, want about the slowest dial (400ms), well under their sum (1s)", took)
		}
	})
	t.Run("a host that never answers is bounded by the timeout", func(t *testing.T) {
		d := newDialer()
		d.blockInfo = map[string]bool{"app-2": true}
		fl := &fleet.Fleet{Dial: d.dial, Timeout: 100 * time.Millisecond}
		start := time.Now()
		set, errs := fl.Connect(ctx(t), parse(t, jobsFile), hosts)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("connect took %v with a 100ms timeout", took)
		}
		if diff := cmp.Diff([]string{"app-1", "app-3", "app-4"}, set.Names()); diff != "" {
			t.Errorf("connected (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"host app-2 (tcp://10.0.0.2:2376) unreachable: context deadline exceeded"}, errs.Lines()); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
		if !errors.Is(errs, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, context.DeadlineExceeded) is false", errs)
		}
		// The engine dialled but not answering was closed, not kept.
		if diff := cmp.Diff([]string{"app-2 tcp://10.0.0.2:2376 closed 1"}, filter(d.state(), "app-2")); diff != "" {
			t.Errorf("app-2's connection (-want +got):\n%s", diff)
		}
	})
}

func filter(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// TestConnectKeeps: connections are kept across Connect calls and dialled
// again after Drop or when the host's endpoint changes; the old one is
// closed.
func TestConnectKeeps(t *testing.T) {
	f := parse(t, jobsFile)
	moved := parse(t, strings.Replace(jobsFile, `docker: "tcp://10.0.0.2:2376"`, `docker: "tcp://10.0.0.22:2376"`, 1))
	withTLS := parse(t, strings.Replace(jobsFile, `docker: "tcp://10.0.0.2:2376"`, `docker: "tcp://10.0.0.2:2376", tls: {ca: ca.pem, cert: cert.pem, key: key.pem}`, 1))
	otherCert := parse(t, strings.Replace(jobsFile, `docker: "tcp://10.0.0.2:2376"`, `docker: "tcp://10.0.0.2:2376", tls: {ca: ca.pem, cert: cert2.pem, key: key.pem}`, 1))
	for _, c := range []struct {
		name  string
		then  func(fl *fleet.Fleet) *prodspec.File // between the two connects
		dials []string                             // by the second connect
		state []string                             // every connection made, in order
	}{
		{
			name:  "a second connect dials nothing",
			then:  func(*fleet.Fleet) *prodspec.File { return f },
			state: []string{"app-1 tcp://app-1:2376 closed 0", "app-2 tcp://10.0.0.2:2376 closed 0"},
		},
		{
			name:  "drop closes the connection and the next connect dials again",
			then:  func(fl *fleet.Fleet) *prodspec.File { fl.Drop("app-1"); fl.Drop("not-connected"); return f },
			dials: []string{"app-1"},
			state: []string{"app-1 tcp://app-1:2376 closed 0", "app-1 tcp://app-1:2376 closed 1", "app-2 tcp://10.0.0.2:2376 closed 0"},
		},
		{
			name:  "a new docker endpoint",
			then:  func(*fleet.Fleet) *prodspec.File { return moved },
			dials: []string{"app-2"},
			state: []string{"app-1 tcp://app-1:2376 closed 0", "app-2 tcp://10.0.0.22:2376 closed 0", "app-2 tcp://10.0.0.2:2376 closed 1"},
		},
		{
			name:  "tls files given",
			then:  func(*fleet.Fleet) *prodspec.File { return withTLS },
			dials: []string{"app-2"},
			state: []string{"app-1 tcp://app-1:2376 closed 0", "app-2 tcp://10.0.0.2:2376 closed 0", "app-2 tcp://10.0.0.2:2376 closed 1"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDialer()
			fl := &fleet.Fleet{Dial: d.dial}
			names := []string{"app-1", "app-2"}
			first, errs := fl.Connect(ctx(t), f, names)
			noErrors(t, errs)
			next := c.then(fl)
			n := d.dialCount()
			second, errs := fl.Connect(ctx(t), next, names)
			noErrors(t, errs)
			d.mu.Lock()
			dials := append([]string(nil), d.dials[n:]...)
			d.mu.Unlock()
			if diff := cmp.Diff(c.dials, dials); diff != "" {
				t.Errorf("dials of the second connect (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.state, d.state()); diff != "" {
				t.Errorf("connections (-want +got):\n%s", diff)
			}
			for _, h := range names {
				redialled := false
				for _, x := range c.dials {
					redialled = redialled || x == h
				}
				if same := first[h] == second[h]; same == redialled {
					t.Errorf("%s: the same member %v, want %v", h, same, !redialled)
				}
			}
			if second["app-2"].Docker != next.Host("app-2").Docker {
				t.Errorf("app-2's member says docker %q, want %q", second["app-2"].Docker, next.Host("app-2").Docker)
			}
		})
	}
	t.Run("other tls files", func(t *testing.T) {
		d := newDialer()
		fl := &fleet.Fleet{Dial: d.dial}
		for _, file := range []*prodspec.File{withTLS, withTLS, otherCert} {
			_, errs := fl.Connect(ctx(t), file, []string{"app-2"})
			noErrors(t, errs)
		}
		if diff := cmp.Diff([]string{"app-2 tcp://10.0.0.2:2376 closed 0", "app-2 tcp://10.0.0.2:2376 closed 1"}, d.state()); diff != "" {
			t.Errorf("connections (-want +got):\n%s", diff)
		}
	})
	t.Run("close closes every connection", func(t *testing.T) {
		d := newDialer()
		fl := &fleet.Fleet{Dial: d.dial}
		_, errs := fl.Connect(ctx(t), f, hosts)
		noErrors(t, errs)
		fl.Close()
		for _, s := range d.state() {
			if !strings.HasSuffix(s, "closed 1") {
				t.Errorf("after Close: %s", s)
			}
		}
		if _, errs := fl.Connect(ctx(t), f, hosts); errs.Err() != nil || d.dialCount() != 2*len(hosts) {
			t.Errorf("connect after close: %v, %d dials; want every host dialled again", errs.Err(), d.dialCount())
		}
	})
}

func TestConnectErrors(t *testing.T) {
	f := parse(t, jobsFile)
	for _, c := range []struct {
		name        string
		setup       func(d *dialer)
		names       []string
		want        []string // errors.Lines()
		unreachable bool
		connected   []string
		dials       int      // that succeeded
		retried     []string // hosts dialled again by the next connect
	}{
		{
			name: "a host the file does not declare", names: []string{"app-1", "nope"},
			want: []string{"host nope is not declared under hosts:"}, connected: []string{"app-1"}, dials: 1,
		},
		{
			name: "a host without docker:", names: []string{"spare", "app-1"},
			want: []string{"host spare has no docker: endpoint (unix://, tcp:// or ssh://)"}, connected: []string{"app-1"}, dials: 1,
		},
		{
			name:  "an engine that does not answer",
			setup: func(d *dialer) { d.engines["app-3"].SetDown(true) },
			names: hosts, unreachable: true,
			want:      []string{"host app-3 (ssh://deploy@app-3.example.com) unreachable: docker engine unreachable at ssh://deploy@app-3.example.com: connection refused"},
			connected: []string{"app-1", "app-2", "app-4"}, dials: 3, retried: []string{"app-3"},
		},
		{
			name:  "an engine whose info fails",
			setup: func(d *dialer) { d.engines["app-4"].Fail("Info", errors.New("engine info: permission denied")) },
			names: hosts,
			want:  []string{"host app-4 (unix:///var/run/docker.sock) unreachable: engine info: permission denied"}, connected: []string{"app-1", "app-2", "app-3"}, dials: 4, retried: []string{"app-4"},
		},
		{
			name:  "every host fails",
			setup: func(d *dialer) { d.engines = nil },
			names: []string{"app-2", "app-1"}, unreachable: true,
			want: []string{
				"host app-1 (tcp://app-1:2376) unreachable: docker engine unreachable at tcp://app-1:2376: no route to host",
				"host app-2 (tcp://10.0.0.2:2376) unreachable: docker engine unreachable at tcp://10.0.0.2:2376: no route to host",
			},
			retried: []string{"app-1", "app-2"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDialer()
			if c.setup != nil {
				c.setup(d)
			}
			fl := &fleet.Fleet{Dial: d.dial}
			set, errs := fl.Connect(ctx(t), f, c.names)
			if diff := cmp.Diff(c.want, errs.Lines()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if got := errors.Is(errs, engine.ErrUnreachable); got != c.unreachable {
				t.Errorf("errors.Is(errs, engine.ErrUnreachable) = %v, want %v", got, c.unreachable)
			}
			if diff := cmp.Diff(c.connected, set.Names()); diff != "" {
				t.Errorf("connected (-want +got):\n%s", diff)
			}
			if d.dialCount() != c.dials {
				t.Errorf("%d dials, want %d", d.dialCount(), c.dials)
			}
			// A failed host is not kept: the next connect tries it again,
			// and only it.
			d.mu.Lock()
			n := len(d.attempts)
			d.mu.Unlock()
			fl.Connect(ctx(t), f, c.names)
			d.mu.Lock()
			again := append([]string(nil), d.attempts[n:]...)
			d.mu.Unlock()
			slices.Sort(again)
			if diff := cmp.Diff(c.retried, again, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("dialled again (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	d := newDialer()
	fl := &fleet.Fleet{Dial: d.dial}
	set, errs := fl.Connect(ctx(t), parse(t, jobsFile), hosts)
	noErrors(t, errs)
	type member struct {
		Name, Docker, Address string
		Memory                int64
	}
	var got []member
	for _, n := range set.Names() {
		m := set[n]
		got = append(got, member{m.Name, m.Docker, m.Address, m.Memory})
		if m.Engine.Host() != n {
			t.Errorf("%s: engine %s", n, m.Engine.Host())
		}
	}
	want := []member{
		{"app-1", "tcp://app-1:2376", "10.0.0.1", 8 << 30},                        // address:; the engine's memory
		{"app-2", "tcp://10.0.0.2:2376", "10.0.0.2", 16 << 30},                    // the tcp:// host; the file's memory: wins
		{"app-3", "ssh://deploy@app-3.example.com", "app-3.example.com", 8 << 30}, // the ssh:// host
		{"app-4", "unix:///var/run/docker.sock", "", 8 << 30},                     // nothing says
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	engines := set.Engines()
	for _, n := range hosts {
		if engines[n] != set[n].Engine {
			t.Errorf("Engines()[%s] is not the member's engine", n)
		}
	}
	// The dialer is given the fleet's timeout, 5s when none is set.
	d.mu.Lock()
	for _, to := range d.timeouts {
		if to != 5*time.Second {
			t.Errorf("dial timeout %v, want the default 5s", to)
		}
	}
	d.mu.Unlock()
	d2 := newDialer()
	(&fleet.Fleet{Dial: d2.dial, Timeout: 750 * time.Millisecond}).Connect(ctx(t), parse(t, jobsFile), []string{"app-1"})
	if diff := cmp.Diff([]time.Duration{750 * time.Millisecond}, d2.timeouts); diff != "" {
		t.Errorf("dial timeouts (-want +got):\n%s", diff)
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		name string
		host prodspec.Host
		want string
	}{
		{"address: wins", prodspec.Host{Address: "10.1.1.1", Docker: "tcp://10.0.0.1:2376"}, "10.1.1.1"},
		{"tcp:// endpoint", prodspec.Host{Docker: "tcp://10.0.0.1:2376"}, "10.0.0.1"},
		{"tcp:// name without port", prodspec.Host{Docker: "tcp://app-1.example.com"}, "app-1.example.com"},
		{"tcp:// IPv6", prodspec.Host{Docker: "tcp://[fd00::1]:2376"}, "fd00::1"},
		{"ssh:// with user and port", prodspec.Host{Docker: "ssh://deploy@app-3.example.com:2222"}, "app-3.example.com"},
		{"unix:// says nothing", prodspec.Host{Docker: "unix:///var/run/docker.sock"}, ""},
		{"npipe:// says nothing", prodspec.Host{Docker: "npipe:////./pipe/docker_engine"}, ""},
		{"no endpoint", prodspec.Host{}, ""},
		{"an endpoint that does not parse", prodspec.Host{Docker: "tcp://%zz"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fleet.Address(&c.host); got != c.want {
				t.Errorf("Address(%+v) = %q, want %q", c.host, got, c.want)
			}
		})
	}
}

func TestSetObserve(t *testing.T) {
	d := newDialer()
	bg := context.Background()
	run := func(host, name, project string, env stack.Env) {
		e := d.engines[host]
		e.AddImage("example/api:1")
		labels := map[string]string{stack.LabelProject: project, stack.LabelEnv: env.String(), stack.LabelKind: "task", stack.LabelKey: name}
		id, err := e.Create(bg, stack.CreateRequest{Name: name, Spec: stack.Spec{Image: "example/api:1", HostNetwork: true}, Labels: labels})
		if err == nil {
			err = e.Start(bg, id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run("app-1", "core.api/1", "ftest", stack.Production)
	run("app-1", "core.web/1", "ftest", stack.Production)
	run("app-2", "core.api/2", "ftest", stack.Production)
	run("app-2", "staging-copy", "ftest", stack.Staging) // another environment
	run("app-4", "other", "someone-else", stack.Production)
	run("app-3", "core.api/3", "ftest", stack.Production)
	d.engines["app-1"].EnsureVolume(bg, "data", map[string]string{stack.LabelProject: "ftest", stack.LabelEnv: "production"})

	fl := &fleet.Fleet{Dial: d.dial}
	set, errs := fl.Connect(ctx(t), parse(t, jobsFile), hosts)
	noErrors(t, errs)
	d.engines["app-3"].SetDown(true)
	obs, oerrs := set.Observe(ctx(t), "ftest", stack.Production)
	var got []string
	for _, c := range obs.Containers {
		got = append(got, c.Engine+" "+c.Key())
	}
	if diff := cmp.Diff([]string{"app-1 core.api/1", "app-2 core.api/2", "app-1 core.web/1"}, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"app-1/data": true}, obs.Volumes); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"host app-3: docker engine unreachable at app-3: connection refused"}, oerrs.Lines()); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if !errors.Is(oerrs, engine.ErrUnreachable) {
		t.Errorf("errors.Is(%v, engine.ErrUnreachable) is false", oerrs)
	}
	// An empty set observes nothing, without error.
	obs, oerrs = fleet.Set{}.Observe(ctx(t), "ftest", stack.Production)
	if len(obs.Containers) != 0 || oerrs.Err() != nil {
		t.Errorf("empty set: %+v, %v", obs, oerrs)
	}
}

// hostErr is an error type a caller may look for with errors.As.
type hostErr struct{ code int }

func (e *hostErr) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestErrors(t *testing.T) {
	one := fleet.Errors{"app-2": fmt.Errorf("host app-2 (tcp://app-2:2376) unreachable: %w", engine.ErrUnreachable)}
	two := fleet.Errors{
		"app-3": fmt.Errorf("host app-3: %w", &hostErr{7}),
		"app-1": errors.New("host app-1 is not declared under hosts:"),
	}
	for _, c := range []struct {
		name        string
		errs        fleet.Errors
		msg         string
		unreachable bool
		code        int // from errors.As; 0: none
	}{
		{"one host", one, "host app-2 (tcp://app-2:2376) unreachable: " + engine.ErrUnreachable.Error(), true, 0},
		{"several hosts, sorted by name", two, "2 hosts unreachable:\n  host app-1 is not declared under hosts:\n  host app-3: code 7", false, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.errs.Err()
			if err == nil {
				t.Fatal("Err() is nil")
			}
			if got := err.Error(); got != c.msg {
				t.Errorf("Error() = %q, want %q", got, c.msg)
			}
			if got := errors.Is(err, engine.ErrUnreachable); got != c.unreachable {
				t.Errorf("errors.Is(err, engine.ErrUnreachable) = %v, want %v", got, c.unreachable)
			}
			wrapped := fmt.Errorf("up: %w", err)
			if got := errors.Is(wrapped, engine.ErrUnreachable); got != c.unreachable {
				t.Errorf("through a wrap: errors.Is = %v, want %v", got, c.unreachable)
			}
			var he *hostErr
			if got := errors.As(wrapped, &he); got != (c.code != 0) || (got && he.code != c.code) {
				t.Errorf("errors.As: %v %+v, want code %d", got, he, c.code)
			}
			if got := len(c.errs.Unwrap()); got != len(c.errs) {
				t.Errorf("Unwrap gives %d errors, want %d", got, len(c.errs))
			}
		})
	}
	t.Run("no errors", func(t *testing.T) {
		if err := (fleet.Errors{}).Err(); err != nil {
			t.Errorf("Err() of no errors = %v", err)
		}
		if err := fleet.Errors(nil).Err(); err != nil {
			t.Errorf("Err() of nil = %v", err)
		}
	})
}

// TestDialDocker: the default dialer, against endpoints where no engine
// answers (nothing listens on port 1 of the loopback).
func TestDialDocker(t *testing.T) {
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION"} {
		t.Setenv(k, "")
	}
	for _, c := range []struct {
		name, host  string
		msg         string
		unreachable bool
	}{
		{name: "nothing listens", host: `{docker: "tcp://127.0.0.1:1"}`, msg: "host h (tcp://127.0.0.1:1) unreachable: docker engine unreachable at tcp://127.0.0.1:1", unreachable: true},
		{name: "tls files that do not exist", host: `{docker: "tcp://127.0.0.1:1", tls: {ca: /nonexistent/ca.pem, cert: /nonexistent/cert.pem, key: /nonexistent/key.pem}}`, msg: "host h (tcp://127.0.0.1:1) unreachable: docker engine tcp://127.0.0.1:1: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := parse(t, "project: ftest\nhosts:\n  h: "+c.host+"\n")
			fl := &fleet.Fleet{Timeout: 2 * time.Second} // Dial: nil, DialDocker
			set, errs := fl.Connect(ctx(t), f, []string{"h"})
			if len(set) != 0 || !strings.HasPrefix(errs.Error(), c.msg) {
				t.Errorf("connect: %v, %q; want no member and an error starting %q", set, errs, c.msg)
			}
			if got := errors.Is(errs, engine.ErrUnreachable); got != c.unreachable {
				t.Errorf("errors.Is(%v, engine.ErrUnreachable) = %v, want %v", errs, got, c.unreachable)
			}
		})
	}
}

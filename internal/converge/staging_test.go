package converge_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/plan"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// shopFile is production on two hosts, and a staging pool of two machines
// with production's hosts pinned to them.
const shopFile = `
project: shop
registry: registry.example:5000
dns_suffix: .shop.local
hosts:
  app-1: {address: 10.1.0.1}
  db-1:  {address: 10.1.0.2}
  stg-1: {address: 192.168.9.1, docker: "tcp://192.168.9.1:2376"}
  stg-2: {address: 192.168.9.2, docker: "tcp://192.168.9.2:2376"}
services:
  shop:
    jobs:
      db:
        image: shop/db:1
        port: 5432
        health: {tcp: 5432}
        volumes: ["/var/lib/db:/data"]
        run_on_host: db-1
      api:
        image: shop/api:1
        port: 8000
        env: {DB: "10.1.0.2:5432"}
        depends_on: [shop.db]
        health: {http: /healthz}
        run_on_host: app-1
environments:
  staging:
    pool: [stg-1, stg-2]
    pin: {app-1: stg-1, db-1: stg-2}
`

const (
	stgAPI = "shop-staging.shop.api.1"
	stgDB  = "shop-staging.shop.db.1"
)

// pool is two in-memory engines dialled as the staging pool.
func pool(t *testing.T, f *prodspec.File) (*converge.Pool, map[string]*enginetest.Engine) {
	t.Helper()
	engines := map[string]*enginetest.Engine{"stg-1": enginetest.New("stg-1"), "stg-2": enginetest.New("stg-2")}
	fl := &fleet.Fleet{Dial: enginetest.Dialer(engines)}
	t.Cleanup(fl.Close)
	p, err := converge.DialPool(context.Background(), fl, f)
	if err != nil {
		t.Fatalf("DialPool: %v", err)
	}
	return p, engines
}

// probeLog is a probe that passes and records, in order, the port and
// address of every check.
type probeLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *probeLog) probe(_ context.Context, c *stack.Check, addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, addr+":"+strconv.Itoa(c.Port))
	return nil
}

func stagingUp(t *testing.T, p *converge.Pool, f *prodspec.File, probe apply.Prober) *converge.StagingPrepared {
	t.Helper()
	prep, err := converge.PrepareStaging(context.Background(), p, f, plan.Options{})
	if err != nil {
		t.Fatalf("PrepareStaging: %v", err)
	}
	if err := converge.UpStaging(context.Background(), p, prep, converge.UpOptions{Probe: probe}).Err(); err != nil {
		t.Fatalf("UpStaging: %v", err)
	}
	return prep
}

func names(eng *enginetest.Engine) []string {
	var out []string
	for _, c := range eng.Containers() {
		out = append(out, c.Name)
	}
	return out
}

func TestDialPool(t *testing.T) {
	f := parse(t, shopFile)
	tests := []struct {
		name     string
		engines  func() map[string]*enginetest.Engine
		wantErr  []string // in the error
		wantHost []string // pool hosts connected
	}{
		{
			name: "every host answers",
			engines: func() map[string]*enginetest.Engine {
				return map[string]*enginetest.Engine{"stg-1": enginetest.New("stg-1"), "stg-2": enginetest.New("stg-2")}
			},
			wantHost: []string{"stg-1", "stg-2"},
		},
		{
			name: "a host with no engine",
			engines: func() map[string]*enginetest.Engine {
				return map[string]*enginetest.Engine{"stg-1": enginetest.New("stg-1")}
			},
			wantErr: []string{"1 of 2 pool hosts unreachable:", "host stg-2 (tcp://192.168.9.2:2376) unreachable: docker engine unreachable at tcp://192.168.9.2:2376: no route to host"},
		},
		{
			name: "both hosts down",
			engines: func() map[string]*enginetest.Engine {
				a, b := enginetest.New("stg-1"), enginetest.New("stg-2")
				a.SetDown(true)
				b.SetDown(true)
				return map[string]*enginetest.Engine{"stg-1": a, "stg-2": b}
			},
			wantErr: []string{"2 of 2 pool hosts unreachable:", "host stg-1 (tcp://192.168.9.1:2376) unreachable", "host stg-2 (tcp://192.168.9.2:2376) unreachable", "connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := converge.DialPool(context.Background(), &fleet.Fleet{Dial: enginetest.Dialer(tt.engines())}, f)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				_ = p
				if diff := cmp.Diff(tt.wantHost, p.Names()); diff != "" {
					t.Errorf("pool (-want +got):\n%s", diff)
				}
				for _, n := range p.Names() {
					m := p.Set[n]
					if m.Engine.Host() != n || m.Memory != 8<<30 || m.Address != f.Host(n).Address {
						t.Errorf("member %s: engine %s, memory %d, address %q", n, m.Engine.Host(), m.Memory, m.Address)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("DialPool succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			t.Run("errors.Is ErrUnreachable", func(t *testing.T) {
				if !errors.Is(err, engine.ErrUnreachable) {
					t.Errorf("DialPool must keep the hosts' errors: errors.Is(err, engine.ErrUnreachable) is false: %v", err)
				}
			})
		})
	}

	t.Run("no pool", func(t *testing.T) {
		f := parse(t, strings.Split(shopFile, "environments:")[0])
		_, err := converge.DialPool(context.Background(), &fleet.Fleet{Dial: enginetest.Dialer(nil)}, f)
		if !errors.Is(err, converge.ErrNoPool) {
			t.Errorf("DialPool: %v, want ErrNoPool", err)
		}
	})

	t.Run("pool hosts the file does not describe", func(t *testing.T) {
		for _, tc := range []struct{ change, want string }{
			{"undeclared", `environments.staging.pool names "stg-9", which hosts: does not declare`},
			{"no endpoint", "pool host app-1 has no docker: endpoint (unix://, tcp:// or ssh://)"},
		} {
			f := parse(t, shopFile)
			if tc.change == "undeclared" {
				f.Environments["staging"].Pool = append(f.Environments["staging"].Pool, "stg-9")
			} else {
				f.Environments["staging"].Pool = append(f.Environments["staging"].Pool, "app-1")
			}
			_, err := converge.PoolHosts(f)
			if err == nil || err.Error() != tc.want {
				t.Errorf("PoolHosts (%s): %v, want %q", tc.change, err, tc.want)
			}
		}
	})
}

func TestStagingUp(t *testing.T) {
	f := parse(t, shopFile)
	p, engines := pool(t, f)
	var probes probeLog
	prep := stagingUp(t, p, f, probes.probe)
	stg1, stg2 := engines["stg-1"], engines["stg-2"]

	t.Run("hosts placed on their pool engines", func(t *testing.T) {
		if diff := cmp.Diff(map[string]string{"app-1": "stg-1", "db-1": "stg-2"}, prep.Placement.Assign); diff != "" {
			t.Errorf("placement (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{stgAPI}, stg1.Names(stack.StateRunning)); diff != "" {
			t.Errorf("stg-1 runs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{stgDB}, stg2.Names(stack.StateRunning)); diff != "" {
			t.Errorf("stg-2 runs (-want +got):\n%s", diff)
		}
	})

	t.Run("host networking and production names", func(t *testing.T) {
		wantHosts := []string{
			"api.shop.local:192.168.9.1", "api.shop.shop.local:192.168.9.1",
			"app-1:192.168.9.1", "app-1.shop.local:192.168.9.1",
			"db-1:192.168.9.2", "db-1.shop.local:192.168.9.2",
			"db.shop.local:192.168.9.2", "db.shop.shop.local:192.168.9.2",
		}
		for _, c := range append(stg1.Containers(), stg2.Containers()...) {
			if !c.Spec.HostNetwork || c.Network != "" || c.Spec.JoinSandbox != "" || len(c.Spec.Publish) != 0 {
				t.Errorf("%s: host network %v, network %q, sandbox %q, publish %v", c.Name, c.Spec.HostNetwork, c.Network, c.Spec.JoinSandbox, c.Spec.Publish)
			}
			if diff := cmp.Diff(wantHosts, c.Spec.ExtraHosts); diff != "" {
				t.Errorf("%s extra hosts (-want +got):\n%s", c.Name, diff)
			}
			if c.Labels[stack.LabelEnv] != "staging" || c.Labels[stack.LabelProject] != "shop" {
				t.Errorf("%s labels %v", c.Name, c.Labels)
			}
		}
		api, _ := stg1.Container(stgAPI)
		if !slices.Contains(api.Spec.Env, "DB=db-1:5432") || api.Image != "registry.example:5000/shop/api:1" {
			t.Errorf("api env %q image %s", api.Spec.Env, api.Image)
		}
		if len(stg1.Networks())+len(stg2.Networks()) != 0 {
			t.Errorf("networks made: %q %q", stg1.Networks(), stg2.Networks())
		}
		if diff := cmp.Diff([]string{"shop-staging.db-1.var_lib_db"}, stg2.Volumes()); diff != "" || len(stg1.Volumes()) != 0 {
			t.Errorf("volumes on stg-2 (-want +got):\n%s; on stg-1 %q", diff, stg1.Volumes())
		}
	})

	t.Run("checks go to the pool host, dependencies first across engines", func(t *testing.T) {
		if diff := cmp.Diff([]string{"192.168.9.2:5432", "192.168.9.1:8000"}, probes.calls); diff != "" {
			t.Errorf("checks (-want +got):\n%s", diff)
		}
	})

	t.Run("a second prepare plans nothing", func(t *testing.T) {
		again, err := converge.PrepareStaging(context.Background(), p, f, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !again.Plan.Empty() {
			t.Errorf("plan:\n%s", again.Plan)
		}
	})

	t.Run("a host moved to another pool engine", func(t *testing.T) {
		f2 := parse(t, strings.Replace(shopFile, "db-1: stg-2", "db-1: stg-1", 1))
		prep := stagingUp(t, p, f2, healthy)
		var got []string
		for _, o := range prep.Plan.Ops {
			if o.Changes() {
				got = append(got, o.Action.String()+" "+o.Subject+" @"+o.Engine+" ("+o.Cause+")")
			}
		}
		// db moves; api stays, but is recreated for db's names, which
		// now point at stg-1.
		want := []string{
			"create volume shop-staging.db-1.var_lib_db @stg-1 (missing)",
			"recreate shop.db/1 @stg-1 (moves from stg-2 to stg-1)",
			"recreate shop.api/1 @stg-1 (extra hosts changed)",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("plan (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{stgAPI, stgDB}, names(stg1)); diff != "" {
			t.Errorf("stg-1 holds (-want +got):\n%s", diff)
		}
		api, _ := stg1.Container(stgAPI)
		if !slices.Contains(api.Spec.ExtraHosts, "db-1:192.168.9.1") {
			t.Errorf("api's extra hosts %q do not point db-1 at stg-1", api.Spec.ExtraHosts)
		}
		if got := names(stg2); len(got) != 0 {
			t.Errorf("stg-2 still holds %q", got)
		}
		// The data stays where it was.
		if diff := cmp.Diff([]string{"shop-staging.db-1.var_lib_db"}, stg2.Volumes()); diff != "" {
			t.Errorf("stg-2 volumes (-want +got):\n%s", diff)
		}
	})
}

func TestStagingLostEngine(t *testing.T) {
	// An engine lost after the plan fails only its ops and their
	// dependents; observing the pool then names it.
	f := parse(t, shopFile)
	p, engines := pool(t, f)
	prep, err := converge.PrepareStaging(context.Background(), p, f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	engines["stg-2"].SetDown(true)
	res := converge.UpStaging(context.Background(), p, prep, converge.UpOptions{Probe: healthy})
	if !errors.Is(res.Err(), engine.ErrUnreachable) {
		t.Errorf("UpStaging: %v, want ErrUnreachable in it", res.Err())
	}
	var failed []string
	for _, fl := range res.Failures {
		failed = append(failed, fl.Subject)
	}
	if diff := cmp.Diff([]string{"shop-staging.db-1.var_lib_db"}, failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shop.api/1", "shop.db/1"}, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if got := names(engines["stg-1"]); len(got) != 0 {
		t.Errorf("stg-1 holds %q", got)
	}
	_, err = converge.PrepareStaging(context.Background(), p, f, plan.Options{})
	if err == nil || !strings.Contains(err.Error(), "host stg-2:") || !errors.Is(err, engine.ErrUnreachable) {
		t.Errorf("PrepareStaging with stg-2 down: %v", err)
	}
}

func TestDownStaging(t *testing.T) {
	for _, volumes := range []bool{false, true} {
		name := map[bool]string{false: "keeps volumes", true: "with volumes"}[volumes]
		t.Run(name, func(t *testing.T) {
			f := parse(t, shopFile)
			p, engines := pool(t, f)
			stagingUp(t, p, f, healthy)
			dp, res, err := converge.DownStaging(context.Background(), p, converge.DownOptions{Project: "shop", Volumes: volumes, Only: map[string]bool{"shop.db": true}})
			if err != nil || res.Err() != nil {
				t.Fatalf("DownStaging: %v, %v", err, res.Err())
			}
			for n, e := range engines {
				if got := names(e); len(got) != 0 {
					t.Errorf("%s still holds %q (Only is not used by staging)", n, got)
				}
			}
			var wantVolumes []string
			if !volumes {
				wantVolumes = []string{"shop-staging.db-1.var_lib_db"}
			}
			if diff := cmp.Diff(wantVolumes, engines["stg-2"].Volumes()); diff != "" {
				t.Errorf("stg-2 volumes (-want +got):\n%s", diff)
			}
			want := map[string]int{"remove": 2}
			if volumes {
				want["remove volume"] = 1
			}
			got := map[string]int{}
			for _, o := range dp.Ops {
				got[o.Action.String()]++
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("down plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoolLogs(t *testing.T) {
	f := parse(t, shopFile)
	p, engines := pool(t, f)
	engines["stg-1"].SetLog("registry.example:5000/shop/api:1", "api ready")
	engines["stg-2"].SetLog("registry.example:5000/shop/db:1", "db ready", "checkpoint")
	stagingUp(t, p, f, healthy)
	var b bytes.Buffer
	if err := converge.PoolLogs(context.Background(), p, "shop", converge.LogOptions{}, &b); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(b.String()), "\n")
	slices.Sort(got)
	want := []string{"shop.api/1 | api ready", "shop.db/1  | checkpoint", "shop.db/1  | db ready"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	b.Reset()
	if err := converge.PoolLogs(context.Background(), p, "nothing", converge.LogOptions{}, &b); err == nil || !strings.Contains(err.Error(), "is the staging stack up? (`cjob staging ps`)") {
		t.Errorf("PoolLogs of an empty project: %v", err)
	}
}

func TestPushImages(t *testing.T) {
	st := &stack.Stack{Units: []*stack.Unit{
		{Key: "a", Spec: stack.Spec{Image: "registry.example:5000/shop/api:1"}},
		{Key: "b", Spec: stack.Spec{Image: "registry.example:5000/shop/api:1"}}, // once
		{Key: "c", Spec: stack.Spec{Image: "registry.example:5000/shop/db:1"}},  // not here
		{Key: "d", Spec: stack.Spec{Image: "redis:7"}},                          // Docker Hub
		{Key: "e", Spec: stack.Spec{Image: "ghcr.io/shop/worker:2"}},
	}}
	tests := []struct {
		name       string
		fault      error
		wantPushed []string
		wantErr    bool
		wantEvents []string
	}{
		{
			name:       "only images with a registry that this machine holds",
			wantPushed: []string{"ghcr.io/shop/worker:2", "registry.example:5000/shop/api:1"},
			wantEvents: []string{
				"ghcr.io/shop/worker:2: working Pushing",
				"ghcr.io/shop/worker:2: working Pushing 100%",
				"ghcr.io/shop/worker:2: done Pushed",
				"redis:7: skipped not pushed: the image names no registry (set registry: in the jobs file)",
				"registry.example:5000/shop/api:1: working Pushing",
				"registry.example:5000/shop/api:1: working Pushing 100%",
				"registry.example:5000/shop/api:1: done Pushed",
				"registry.example:5000/shop/db:1: skipped not on this machine: the pool pulls the registry's",
			},
		},
		{
			name:    "a push that fails stops",
			fault:   errors.New("denied: requested access to the resource is denied"),
			wantErr: true,
			wantEvents: []string{
				"ghcr.io/shop/worker:2: working Pushing",
				"ghcr.io/shop/worker:2: failed Push failed",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := enginetest.New("local")
			local.AddImage("registry.example:5000/shop/api:1", "redis:7", "ghcr.io/shop/worker:2")
			if tt.fault != nil {
				local.Fail("Push", tt.fault)
			}
			var rep recorder
			pushed, err := converge.PushImages(context.Background(), local, st, &rep)
			if (err != nil) != tt.wantErr || tt.wantErr && !errors.Is(err, tt.fault) {
				t.Fatalf("PushImages: %v", err)
			}
			if diff := cmp.Diff(tt.wantPushed, pushed); diff != "" {
				t.Errorf("returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPushed, local.Pushed()); diff != "" {
				t.Errorf("pushed to the registries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEvents, rep.lines()); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("an image reference that does not parse", func(t *testing.T) {
		bad := &stack.Stack{Units: []*stack.Unit{{Spec: stack.Spec{Image: "Shop/API:1"}}}}
		if _, err := converge.PushImages(context.Background(), enginetest.New("local"), bad, &recorder{}); err == nil || !strings.HasPrefix(err.Error(), "push Shop/API:1:") {
			t.Errorf("PushImages: %v", err)
		}
	})
}

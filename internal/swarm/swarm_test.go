package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/stack"
)

// swarmEngines are engines of hosts with the given swarm states; the
// managers map holds one fake manager per host whose state says manager.
func swarmEngines(infos map[string]stack.SwarmInfo) (map[string]NodeEngine, map[string]Manager, *fakeManager) {
	ev := &events{}
	m := newFakeManager(ev)
	engines := map[string]NodeEngine{}
	managers := map[string]Manager{}
	for h, i := range infos {
		n := newFakeNode(ev, h)
		n.info = stack.EngineInfo{Host: h, Swarm: i}
		engines[h] = n
		if i.Manager {
			managers[h] = m
		}
	}
	return engines, managers, m
}

func TestConnect(t *testing.T) {
	engines, managers, m := swarmEngines(map[string]stack.SwarmInfo{
		"pool-1": {NodeID: "node-1", NodeAddr: "10.0.0.1", State: "active"},
		"pool-2": {NodeID: "node-2", NodeAddr: "10.0.0.2", State: "active", Manager: true},
		"pool-3": {NodeID: "node-3", NodeAddr: "10.0.0.3", State: "active", Manager: true},
	})
	address := map[string]string{"pool-1": "a1", "pool-2": "a2", "pool-3": "a3"}
	c, err := Connect(context.Background(), engines, managers, address)
	if err != nil {
		t.Fatal(err)
	}
	if c.ManagerHost != "pool-2" || c.Manager != Manager(m) {
		t.Errorf("manager = %s (%v), want pool-2, the first manager by name", c.ManagerHost, c.Manager)
	}
	if diff := cmp.Diff(map[string]string{"pool-1": "node-1", "pool-2": "node-2", "pool-3": "node-3"}, c.NodeID); diff != "" {
		t.Errorf("NodeID (-want +got):\n%s", diff)
	}
	if c.Address["pool-3"] != "a3" || len(c.Engines) != 3 {
		t.Errorf("cluster = %+v", c)
	}
}

func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name  string
		infos map[string]stack.SwarmInfo
		want  []string
	}{
		{
			name: "no host in a swarm",
			infos: map[string]stack.SwarmInfo{
				"pool-1": {State: "inactive"},
				"pool-2": {State: "inactive"},
			},
			want: []string{"no host of the environment is in a swarm (pool-1, pool-2)", "docker swarm init --advertise-addr", "docker swarm join --token TOKEN"},
		},
		{
			name: "no manager",
			infos: map[string]stack.SwarmInfo{
				"pool-1": {NodeID: "node-1", State: "active"},
				"pool-2": {NodeID: "node-2", State: "active"},
			},
			want: []string{"no host of the environment manages the swarm", "docker node promote NODE"},
		},
		{
			name: "a host not in the swarm",
			infos: map[string]stack.SwarmInfo{
				"pool-1": {NodeID: "node-1", NodeAddr: "192.168.5.1", State: "active", Manager: true},
				"pool-2": {NodeID: "node-2", State: "active"},
				"pool-3": {State: "inactive"},
			},
			want: []string{`pool-3 (swarm state "inactive") not in the swarm pool-1 manages`, "docker swarm join --token TOKEN 192.168.5.1:2377", "docker swarm join-token worker` on pool-1"},
		},
		{
			name: "a host in error, the manager's address from the environment",
			infos: map[string]stack.SwarmInfo{
				"pool-1": {NodeID: "node-1", State: "active", Manager: true},
				"pool-2": {State: "error", Error: "certificate expired"},
			},
			want: []string{`pool-2 (swarm state "error": certificate expired) not in the swarm pool-1 manages`, "docker swarm join --token TOKEN addr-1:2377"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			engines, managers, _ := swarmEngines(tt.infos)
			c, err := Connect(context.Background(), engines, managers, map[string]string{"pool-1": "addr-1"})
			if !errors.Is(err, ErrNotSwarm) {
				t.Fatalf("Connect = %v, %v; want an error wrapping ErrNotSwarm", c, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestConnectInfoError(t *testing.T) {
	engines, managers, _ := swarmEngines(map[string]stack.SwarmInfo{"pool-1": {NodeID: "node-1", State: "active", Manager: true}})
	boom := errors.New("connection refused")
	engines["pool-1"].(*fakeNode).infoErr = boom
	_, err := Connect(context.Background(), engines, managers, nil)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "pool-1: ") {
		t.Errorf("Connect = %v, want pool-1's error", err)
	}
}

// swarmName is what Swarm accepts as a service name.
var swarmName = regexp.MustCompile(`^[a-z0-9](?:[-_]*[a-z0-9]+)*$`)

func TestServiceName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"shop-staging.edge.api.1", "shop-staging-edge-api-1"},
		{"Shop-Staging.Edge.API.2", "shop-staging-edge-api-2"},
		{"shop-staging.my_svc.job+x.1", "shop-staging-my_svc-job-x-1"},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
	}
	for _, tt := range tests {
		if got := ServiceName(tt.in); got != tt.want {
			t.Errorf("ServiceName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !swarmName.MatchString(ServiceName(tt.in)) {
			t.Errorf("ServiceName(%q) = %q: not a Swarm service name", tt.in, ServiceName(tt.in))
		}
	}

	long := "shop-staging." + strings.Repeat("backend", 6) + ".worker-with-a-long-name.1"
	other := "shop-staging." + strings.Repeat("backend", 6) + ".worker-with-a-long-name.2"
	got := ServiceName(long)
	if len(got) > 63 {
		t.Errorf("ServiceName(long) = %q: %d characters", got, len(got))
	}
	if !regexp.MustCompile(`^shop-staging-backend.*-[0-9a-f]{8}$`).MatchString(got) {
		t.Errorf("ServiceName(long) = %q, want the name's start and a hash suffix", got)
	}
	if !swarmName.MatchString(got) {
		t.Errorf("ServiceName(long) = %q: not a Swarm service name", got)
	}
	if again := ServiceName(long); again != got {
		t.Errorf("ServiceName is not stable: %q then %q", got, again)
	}
	if o := ServiceName(other); o == got || len(o) > 63 {
		t.Errorf("ServiceName(other) = %q, ServiceName(long) = %q: want distinct names of at most 63", o, got)
	}

	// Cut where the name has a dot: no "--" before the hash.
	cut := strings.Repeat("x", 53) + "." + strings.Repeat("y", 20)
	if got := ServiceName(cut); strings.Contains(got, "--") || !strings.HasPrefix(got, strings.Repeat("x", 53)+"-") || len(got) != 62 {
		t.Errorf("ServiceName(%q) = %q", cut, got)
	}
}

func TestServicesLabels(t *testing.T) {
	api := httpCheck(needs(task("edge.api", 1, "web-1", "pool-2", "shop/api:1.2"), "edge.db/1"), 8080, 10)
	api.Health.StartPeriod = 20 * time.Second
	api.Labels = map[string]string{stack.LabelVersion: "41"}
	db := oneshot(task("edge.migrate", 1, "db-1", "pool-1", "shop/migrate:1"))
	sandbox := &stack.Unit{Key: "host/web-1", Name: "shop-staging.host.web-1", Kind: stack.KindSandbox, Host: "web-1", Engine: "pool-2", Spec: stack.Spec{Image: "cjob-sandbox:1"}}
	st := newStack(api, db, sandbox)

	svcs, err := Services(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 {
		t.Fatalf("%d services, want 2 (tasks only): %+v", len(svcs), svcs)
	}
	s := svcs[0]
	if s.Name != "shop-staging-edge-api-1" || s.Node != "pool-2" || s.Image != "shop/api:1.2" || s.Unit != api || s.Monitor != 25*time.Second {
		t.Errorf("service = %+v", s)
	}
	wantLabels := map[string]string{
		stack.LabelProject: "shop", stack.LabelEnv: "staging", stack.LabelKey: "edge.api/1", stack.LabelService: "edge",
		stack.LabelJob: "edge.api", stack.LabelTask: "1", stack.LabelHost: "web-1", LabelPlaced: "pool-2",
		LabelImage: "shop/api:1.2", stack.LabelVersion: "41", stack.LabelHash: Hash(s), stack.LabelSpec: s.Labels[stack.LabelSpec],
	}
	if diff := cmp.Diff(wantLabels, s.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	var spec stack.Spec
	if err := json.Unmarshal([]byte(s.Labels[stack.LabelSpec]), &spec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(api.Spec, spec); diff != "" {
		t.Errorf("spec label (-want +got):\n%s", diff)
	}
	wantContainer := map[string]string{
		stack.LabelProject: "shop", stack.LabelEnv: "staging", stack.LabelKind: "task", stack.LabelKey: "edge.api/1",
		stack.LabelService: "edge", stack.LabelJob: "edge.api", stack.LabelTask: "1", stack.LabelHost: "web-1",
		stack.LabelVersion: "41", stack.LabelHash: api.Hash(), stack.LabelSpec: s.Labels[stack.LabelSpec],
	}
	if diff := cmp.Diff(wantContainer, s.ContainerLabels); diff != "" {
		t.Errorf("container labels (-want +got):\n%s", diff)
	}

	m := svcs[1]
	if m.Labels[stack.LabelOneshot] != "true" || m.ContainerLabels[stack.LabelOneshot] != "true" || m.Monitor != 5*time.Second {
		t.Errorf("one-shot service: labels %v, container labels %v, monitor %s", m.Labels, m.ContainerLabels, m.Monitor)
	}
	if _, ok := s.Labels[stack.LabelOneshot]; ok {
		t.Errorf("service api has %s", stack.LabelOneshot)
	}

	// With the image resolved to an ID, the service names the ID and
	// keeps the name in a label.
	svcs, err = Services(st, Images{"shop/api:1.2": {Name: "shop/api:1.2", ID: "sha256:abc"}, "shop/migrate:1": {Name: "shop/migrate:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if svcs[0].Image != "sha256:abc" || svcs[0].Labels[LabelImage] != "shop/api:1.2" || svcs[1].Image != "shop/migrate:1" {
		t.Errorf("images: %s (%s), %s", svcs[0].Image, svcs[0].Labels[LabelImage], svcs[1].Image)
	}
}

func TestServicesHash(t *testing.T) {
	base := func() *stack.Unit {
		u := httpCheck(task("edge.api", 1, "web-1", "pool-1", "shop/api:1"), 8080, 10)
		u.DependsOn = []string{"edge.db/1"}
		return u
	}
	hash := func(u *stack.Unit, images Images) string {
		t.Helper()
		svcs, err := Services(newStack(u), images)
		if err != nil {
			t.Fatal(err)
		}
		if svcs[0].Labels[stack.LabelHash] != Hash(svcs[0]) {
			t.Errorf("label %s = %s, Hash = %s", stack.LabelHash, svcs[0].Labels[stack.LabelHash], Hash(svcs[0]))
		}
		return svcs[0].Labels[stack.LabelHash]
	}
	h0 := hash(base(), nil)
	if h := hash(base(), nil); h != h0 {
		t.Fatalf("hash not stable: %s, %s", h0, h)
	}
	tests := []struct {
		name    string
		change  func(u *stack.Unit)
		images  Images
		changes bool
	}{
		{name: "image", change: func(u *stack.Unit) { u.Spec.Image = "shop/api:2" }, changes: true},
		{name: "env", change: func(u *stack.Unit) { u.Spec.Env = append(u.Spec.Env, "DEBUG=1") }, changes: true},
		{name: "node", change: func(u *stack.Unit) { u.Engine = "pool-2" }, changes: true},
		{name: "command", change: func(u *stack.Unit) { u.Spec.Command = []string{"serve"} }, changes: true},
		{name: "one-shot", change: func(u *stack.Unit) { u.Oneshot = true }, changes: true},
		{name: "start period (Swarm's monitor)", change: func(u *stack.Unit) { u.Health.StartPeriod = time.Minute }, changes: true},
		{name: "image resolved to an ID", images: Images{"shop/api:1": {Name: "shop/api:1", ID: "sha256:1"}}, changes: true},
		{name: "image resolved to no ID", images: Images{"shop/api:1": {Name: "shop/api:1"}}},
		{name: "unit labels (the version)", change: func(u *stack.Unit) { u.Labels = map[string]string{stack.LabelVersion: "9"} }},
		{name: "dependencies", change: func(u *stack.Unit) { u.DependsOn = nil }},
		{name: "probe address", change: func(u *stack.Unit) { u.Probe = "10.1.1.1" }},
		{name: "critical", change: func(u *stack.Unit) { u.Critical = true }},
	}
	for _, tt := range tests {
		u := base()
		if tt.change != nil {
			tt.change(u)
		}
		if h := hash(u, tt.images); (h != h0) != tt.changes {
			t.Errorf("%s: hash %s -> %s, want changed=%v", tt.name, h0, h, tt.changes)
		}
	}
	a := hash(base(), Images{"shop/api:1": {Name: "shop/api:1", ID: "sha256:1"}})
	b := hash(base(), Images{"shop/api:1": {Name: "shop/api:1", ID: "sha256:2"}})
	if a == b {
		t.Errorf("hash unchanged when the image's ID changes: %s", a)
	}
}

func TestServicesDuplicateNames(t *testing.T) {
	a := task("edge.api", 1, "web-1", "pool-1", "x")
	b := task("edge-api", 1, "web-1", "pool-1", "x") // shop-staging.edge-api.1: the same DNS label
	_, err := Services(newStack(a, b), nil)
	if err == nil {
		t.Fatal("Services accepted two tasks with one service name")
	}
	for _, w := range []string{"edge-api/1", "edge.api/1", "shop-staging-edge-api-1", "rename one job"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

// imageStack runs image on pool-1 and pool-2.
func imageStack(image string) *stack.Stack {
	return newStack(task("edge.api", 1, "web-1", "pool-1", image), task("edge.api", 2, "web-2", "pool-2", image))
}

func TestResolveImages(t *testing.T) {
	const img = "shop/api:dev"
	tests := []struct {
		name   string
		local  string            // this machine's ID, "" none
		nodes  map[string]string // host -> name:ID held, "" none
		noSrc  bool
		want   Image
		how    string
		svcImg string
	}{
		{
			name:   "on every node",
			nodes:  map[string]string{"pool-1": img + "=sha256:aaa", "pool-2": img + "=sha256:aaa"},
			want:   Image{ID: "sha256:aaa", Have: map[string]string{"pool-1": "sha256:aaa", "pool-2": "sha256:aaa"}},
			how:    "on pool-1, pool-2; services name it by ID aaa (no registry asked)",
			svcImg: "sha256:aaa",
		},
		{
			name:   "on every node and this machine",
			local:  "sha256:aaa",
			nodes:  map[string]string{"pool-1": img + "=sha256:aaa", "pool-2": img + "=sha256:aaa"},
			want:   Image{ID: "sha256:aaa", Local: "sha256:aaa", Have: map[string]string{"pool-1": "sha256:aaa", "pool-2": "sha256:aaa"}},
			how:    "on pool-1, pool-2; services name it by ID aaa (no registry asked)",
			svcImg: "sha256:aaa",
		},
		{
			name:   "only on this machine",
			local:  "sha256:bbb",
			want:   Image{ID: "sha256:bbb", Local: "sha256:bbb", Have: map[string]string{"pool-1": "", "pool-2": ""}, Copy: []string{"pool-1", "pool-2"}},
			how:    "copied to pool-1, pool-2 from this machine's engine (docker save | docker load); services name it by ID bbb (no registry asked)",
			svcImg: "sha256:bbb",
		},
		{
			name:   "on this machine and one node",
			local:  "sha256:bbb",
			nodes:  map[string]string{"pool-2": img + "=sha256:bbb"},
			want:   Image{ID: "sha256:bbb", Local: "sha256:bbb", Have: map[string]string{"pool-1": "", "pool-2": "sha256:bbb"}, Copy: []string{"pool-1"}},
			how:    "on pool-2; copied to pool-1 from this machine's engine (docker save | docker load); services name it by ID bbb (no registry asked)",
			svcImg: "sha256:bbb",
		},
		{
			name:   "a node holds the same ID under another name",
			local:  "sha256:bbb",
			nodes:  map[string]string{"pool-1": "shop/api:old=sha256:bbb", "pool-2": img + "=sha256:bbb"},
			want:   Image{ID: "sha256:bbb", Local: "sha256:bbb", Have: map[string]string{"pool-1": "sha256:bbb", "pool-2": "sha256:bbb"}},
			how:    "on pool-1, pool-2; services name it by ID bbb (no registry asked)",
			svcImg: "sha256:bbb",
		},
		{
			name:   "a node holds another build under the name",
			local:  "sha256:new",
			nodes:  map[string]string{"pool-1": img + "=sha256:old", "pool-2": img + "=sha256:new"},
			want:   Image{ID: "sha256:new", Local: "sha256:new", Have: map[string]string{"pool-1": "sha256:old", "pool-2": "sha256:new"}, Copy: []string{"pool-1"}},
			how:    "on pool-2; copied to pool-1 from this machine's engine (docker save | docker load); services name it by ID new (no registry asked)",
			svcImg: "sha256:new",
		},
		{
			name:   "nobody has it",
			want:   Image{Have: map[string]string{"pool-1": "", "pool-2": ""}, Pull: []string{"pool-1", "pool-2"}},
			how:    "pulled by pool-1, pool-2 from its registry",
			svcImg: img,
		},
		{
			name:   "one node has it, this machine does not",
			nodes:  map[string]string{"pool-1": img + "=sha256:aaa"},
			want:   Image{Have: map[string]string{"pool-1": "sha256:aaa", "pool-2": ""}, Pull: []string{"pool-1", "pool-2"}},
			how:    "pulled by pool-1, pool-2 from its registry",
			svcImg: img,
		},
		{
			name:   "nodes hold different builds",
			nodes:  map[string]string{"pool-1": img + "=sha256:aaa", "pool-2": img + "=sha256:ccc"},
			want:   Image{Have: map[string]string{"pool-1": "sha256:aaa", "pool-2": "sha256:ccc"}, Pull: []string{"pool-1", "pool-2"}},
			how:    "pulled by pool-1, pool-2 from its registry",
			svcImg: img,
		},
		{
			name:   "no source engine",
			noSrc:  true,
			nodes:  map[string]string{"pool-1": img + "=sha256:aaa"},
			want:   Image{Have: map[string]string{"pool-1": "sha256:aaa", "pool-2": ""}, Pull: []string{"pool-1", "pool-2"}},
			how:    "pulled by pool-1, pool-2 from its registry",
			svcImg: img,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 2)
			if tt.local != "" {
				f.src.images[img] = tt.local
			}
			for h, held := range tt.nodes {
				name, id, _ := strings.Cut(held, "=")
				f.nodes[h].images[name] = id
			}
			var src Source = f.src
			if tt.noSrc {
				src = nil
			}
			st := imageStack(img)
			images, err := ResolveImages(context.Background(), f.c, st, src)
			if err != nil {
				t.Fatal(err)
			}
			if len(images) != 1 || images[img] == nil {
				t.Fatalf("images = %v", images)
			}
			tt.want.Name = img
			if diff := cmp.Diff(&tt.want, images[img]); diff != "" {
				t.Errorf("image (-want +got):\n%s", diff)
			}
			if got := images[img].How(); got != tt.how {
				t.Errorf("How = %q\n   want %q", got, tt.how)
			}
			svcs, err := Services(st, images)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range svcs {
				if s.Image != tt.svcImg {
					t.Errorf("service %s names %s, want %s", s.Name, s.Image, tt.svcImg)
				}
			}
			if f.src.saves != 0 || len(f.nodes["pool-1"].loaded)+len(f.nodes["pool-2"].loaded) != 0 {
				t.Errorf("ResolveImages copied images")
			}
		})
	}
}

func TestResolveImagesErrors(t *testing.T) {
	f := newFixture(t, 2)
	boom := errors.New("engine gone")
	f.nodes["pool-2"].imageErr = boom
	_, err := ResolveImages(context.Background(), f.c, imageStack("x:1"), nil)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "pool-2") {
		t.Errorf("node error: %v", err)
	}

	f = newFixture(t, 2)
	f.src.err = boom
	_, err = ResolveImages(context.Background(), f.c, imageStack("x:1"), f.src)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "this machine's engine") {
		t.Errorf("source error: %v", err)
	}

}

// A host whose engine does not answer (no engine in the cluster) is not
// known to hold anything: nothing is copied to it nor pulled by it.
func TestResolveImagesUnknownHost(t *testing.T) {
	f := newFixture(t, 2)
	st := newStack(task("edge.api", 1, "web-1", "pool-9", "x:1"), task("edge.api", 2, "web-2", "pool-1", "x:1"))
	f.nodes["pool-1"].images["x:1"] = "sha256:abc"
	images, err := ResolveImages(context.Background(), f.c, st, f.src)
	if err != nil {
		t.Fatal(err)
	}
	im := images["x:1"]
	if !slices.Equal(im.Unknown, []string{"pool-9"}) || len(im.Copy)+len(im.Pull) != 0 || im.ID != "sha256:abc" {
		t.Errorf("image %+v", im)
	}
	if want := "on pool-1; not known on pool-9 (its engine does not answer); services name it by ID abc (no registry asked)"; im.How() != want {
		t.Errorf("How = %q\n   want %q", im.How(), want)
	}
}

package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/stack"
)

// The fakes: an in-memory swarm manager that "schedules" tasks as it is
// polled, the nodes' own engines, and this machine's engine. They share
// one event log, so tests can say what happened before what.

const (
	testProject = "shop"
	failExit    = "task: non-zero exit (1)"
)

var testEnv = stack.Staging

// events is the fakes' shared log of what they were asked to do and what
// their tasks did, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, a...))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

// index is the position of the first event equal to s, -1 when none.
func (e *events) index(s string) int {
	for i, x := range e.list() {
		if x == s {
			return i
		}
	}
	return -1
}

// count is how many events start with prefix.
func (e *events) count(prefix string) int {
	n := 0
	for _, x := range e.list() {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}

// before fails the test unless a and b both happened, a first.
func (e *events) before(t *testing.T, a, b string) {
	t.Helper()
	i, j := e.index(a), e.index(b)
	if i < 0 || j < 0 || i >= j {
		t.Errorf("want %q (at %d) before %q (at %d); events:\n  %s", a, i, b, j, strings.Join(e.list(), "\n  "))
	}
}

// fakeManager is a swarm's manager. Every ServiceStatus call moves the
// service's newest task one step: new -> running (complete for a
// replicated job), or failed when it names failImage. A failed task of an
// update starts Swarm's rollback (Update rollback_started); at the next
// call the rollback completes (never, with stallRollback): the previous
// spec, labels included, runs again and Update is rollback_completed.
// Any other failed task is followed by another at the next call, unless
// the service is a job. A running task of an update makes the update
// completed at the next call. A task whose node (the node labelled
// cjob.host=Service.Node) is missing or down stays pending.
type fakeManager struct {
	mu            sync.Mutex
	ev            *events
	clock         time.Time // moves one second at every task change
	seq           int
	nodes         map[string]*stack.SwarmNode // by ID
	services      map[string]*fakeService     // by ID
	failImage     string                      // tasks naming it exit 1
	stuckImage    string                      // tasks naming it stay preparing
	stallRollback bool                        // a rollback Swarm starts never completes
	errs          map[string]error            // by event, e.g. "create NAME", "label NODE"
	observeErr    error
}

type fakeService struct {
	st    stack.ServiceState
	svc   stack.Service
	prev  *fakeService // the spec before the last update (st and svc only)
	tasks []stack.TaskState
}

var fakeEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeManager(ev *events) *fakeManager {
	return &fakeManager{ev: ev, clock: fakeEpoch, nodes: map[string]*stack.SwarmNode{}, services: map[string]*fakeService{}, errs: map[string]error{}}
}

func (m *fakeManager) tick() time.Time {
	m.clock = m.clock.Add(time.Second)
	return m.clock
}

func (m *fakeManager) now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clock
}

// record logs the event and returns the error the test set for it.
func (m *fakeManager) record(format string, a ...any) error {
	e := fmt.Sprintf(format, a...)
	m.ev.add("%s", e)
	return m.errs[e]
}

func (m *fakeManager) addNode(n stack.SwarmNode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n.State == "" {
		n.State = "ready"
	}
	if n.Availability == "" {
		n.Availability = "active"
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	m.nodes[n.ID] = &n
}

func (m *fakeManager) setNodeState(id, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[id].State = state
}

// nodeFor is the ready node labelled cjob.host=host, nil when none.
func (m *fakeManager) nodeFor(host string) *stack.SwarmNode {
	for _, id := range sortedKeys(m.nodes) {
		n := m.nodes[id]
		if n.Labels[stack.LabelNode] == host && n.State == "ready" {
			return n
		}
	}
	return nil
}

func (m *fakeManager) byName(name string) *fakeService {
	for _, s := range m.services {
		if s.st.Name == name {
			return s
		}
	}
	return nil
}

// service is the manager's record of service name (a copy), nil when none.
func (m *fakeManager) service(name string) *stack.ServiceState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byName(name)
	if s == nil {
		return nil
	}
	st := s.st
	st.Labels = maps.Clone(st.Labels)
	return &st
}

// setUpdate sets the state of service name's last update.
func (m *fakeManager) setUpdate(name, state, message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byName(name)
	s.st.Update, s.st.UpdateMessage = state, message
	s.st.Version++
}

// bump changes service name's version as Swarm's own work does.
func (m *fakeManager) bump(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byName(name).st.Version++
}

func (m *fakeManager) addTask(s *fakeService) *stack.TaskState {
	m.seq++
	desired := "running"
	if s.svc.Unit.Oneshot {
		desired = "complete"
	}
	s.tasks = append(s.tasks, stack.TaskState{
		ID: fmt.Sprintf("task%d", m.seq), Service: s.st.ID, Slot: 1, Desired: desired, State: "new",
		Image: s.svc.Image, Since: m.tick(),
	})
	return &s.tasks[len(s.tasks)-1]
}

// step moves the service's newest task on, as the orchestrator and the
// node's agent would between two polls.
func (m *fakeManager) step(s *fakeService) {
	if len(s.tasks) == 0 {
		return
	}
	t := &s.tasks[len(s.tasks)-1]
	switch t.State {
	case "new", "pending", "preparing":
		n := m.nodeFor(s.svc.Node)
		if n == nil {
			t.State, t.Err = "pending", fmt.Sprintf("no suitable node (scheduling constraints not satisfied on %d nodes)", len(m.nodes))
			return
		}
		t.Node, t.Err, t.ContainerID = n.ID, "", "ctr-"+t.ID
		switch {
		case t.Image == m.stuckImage:
			t.State, t.Message = "preparing", "preparing"
		case t.Image == m.failImage:
			t.State, t.Desired, t.Err, t.ExitCode, t.Since = "failed", "shutdown", failExit, 1, m.tick()
			m.ev.add("failed %s", s.st.Name)
			if s.st.Update == "updating" && s.prev != nil {
				// FailureAction rollback: Swarm starts rolling back, and
				// at the next call the previous spec runs again.
				s.st.Update, s.st.UpdateMessage = "rollback_started", "update rolled back due to failure or early termination of task "+t.ID
				m.ev.add("rolling back %s", s.st.Name)
			}
		case s.svc.Unit.Oneshot:
			t.State, t.Message, t.Since = "complete", "finished", m.tick()
			m.ev.add("complete %s", s.st.Name)
		default:
			t.State, t.Message, t.Since = "running", "started", m.tick()
			m.ev.add("running %s", s.st.Name)
		}
	case "running":
		if s.st.Update == "updating" {
			s.st.Update, s.st.UpdateMessage = "completed", "update completed"
			m.ev.add("updated %s", s.st.Name)
		}
	case "failed":
		switch {
		case s.st.Update == "rollback_started":
			if !m.stallRollback {
				m.completeRollback(s)
			}
		case !s.svc.Unit.Oneshot:
			m.addTask(s) // restart policy any
		}
	}
}

// completeRollback puts the service back on its previous spec, labels
// included, with a task of it running.
func (m *fakeManager) completeRollback(s *fakeService) {
	m.ev.add("rolled back %s", s.st.Name)
	s.svc, s.st.Labels, s.st.Image = s.prev.svc, s.prev.st.Labels, s.prev.st.Image
	s.st.Version++
	s.st.Update, s.st.UpdateMessage = "rollback_completed", "rollback completed"
	r := m.addTask(s)
	if n := m.nodeFor(s.svc.Node); n != nil {
		r.State, r.Node, r.ContainerID, r.Message = "running", n.ID, "ctr-"+r.ID, "started"
	}
}

func (m *fakeManager) SwarmObserve(ctx context.Context, proj string, e stack.Env) (*stack.SwarmObserved, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.observeErr != nil {
		return nil, m.observeErr
	}
	o := &stack.SwarmObserved{}
	for _, id := range sortedKeys(m.nodes) {
		n := *m.nodes[id]
		n.Labels = maps.Clone(n.Labels)
		o.Nodes = append(o.Nodes, n)
	}
	sort.Slice(o.Nodes, func(i, j int) bool { return o.Nodes[i].Hostname < o.Nodes[j].Hostname })
	for _, id := range sortedKeys(m.services) {
		s := m.services[id]
		if s.st.Labels[stack.LabelProject] != proj || s.st.Labels[stack.LabelEnv] != e.String() {
			continue
		}
		st := s.st
		st.Labels = maps.Clone(st.Labels)
		o.Services = append(o.Services, st)
		o.Tasks = append(o.Tasks, s.tasks...)
	}
	sort.Slice(o.Services, func(i, j int) bool { return o.Services[i].Name < o.Services[j].Name })
	sort.SliceStable(o.Tasks, func(i, j int) bool { return o.Tasks[i].Since.After(o.Tasks[j].Since) })
	return o, nil
}

func (m *fakeManager) ServiceStatus(ctx context.Context, id string) (stack.ServiceState, []stack.TaskState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.services[id]
	if s == nil {
		return stack.ServiceState{}, nil, fmt.Errorf("service %s not found", id)
	}
	if err := m.errs["status "+s.st.Name]; err != nil {
		return stack.ServiceState{}, nil, err
	}
	m.step(s)
	st := s.st
	st.Labels = maps.Clone(st.Labels)
	var ts []stack.TaskState
	for i := len(s.tasks) - 1; i >= 0; i-- { // newest first
		ts = append(ts, s.tasks[i])
	}
	return st, ts, nil
}

func (m *fakeManager) CreateService(ctx context.Context, s stack.Service) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("create %s", s.Name); err != nil {
		return "", err
	}
	if m.byName(s.Name) != nil {
		return "", fmt.Errorf("create service %s: name conflicts with an existing object", s.Name)
	}
	m.seq++
	fs := &fakeService{svc: s, st: stack.ServiceState{
		ID: fmt.Sprintf("svc%d", m.seq), Name: s.Name, Version: 1, Labels: maps.Clone(s.Labels), Image: s.Image,
		Job: s.Unit.Oneshot, Created: m.clock, Updated: m.clock,
	}}
	m.services[fs.st.ID] = fs
	m.addTask(fs)
	return fs.st.ID, nil
}

func (m *fakeManager) UpdateService(ctx context.Context, cur stack.ServiceState, s stack.Service) error {
	id, version := cur.ID, cur.Version
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("update %s", s.Name); err != nil {
		return err
	}
	fs := m.services[id]
	if fs == nil {
		return fmt.Errorf("service %s not found", id)
	}
	if version != fs.st.Version {
		return fmt.Errorf("update service %s: update out of sequence (version %d, now %d)", s.Name, version, fs.st.Version)
	}
	if s.Force {
		m.ev.add("forced %s", s.Name)
	}
	fs.prev = &fakeService{st: fs.st, svc: fs.svc}
	fs.svc = s
	fs.st.Labels, fs.st.Image, fs.st.Job = maps.Clone(s.Labels), s.Image, s.Unit.Oneshot
	fs.st.Version++
	fs.st.Previous = true
	fs.st.Update, fs.st.UpdateMessage = "updating", "update in progress"
	for i := range fs.tasks { // stop-first
		if t := &fs.tasks[i]; t.Desired == "running" {
			t.Desired = "shutdown"
			if t.State == "running" {
				t.State = "shutdown"
			}
		}
	}
	m.addTask(fs)
	return nil
}

func (m *fakeManager) RollbackService(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := m.services[id]
	if fs == nil {
		return fmt.Errorf("service %s not found", id)
	}
	return m.record("rollback %s", fs.st.Name)
}

func (m *fakeManager) RemoveService(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := m.services[id]
	if fs == nil {
		return nil // as the engine: not found is removed
	}
	if err := m.record("remove %s", fs.st.Name); err != nil {
		return err
	}
	delete(m.services, id)
	return nil
}

func (m *fakeManager) LabelNode(ctx context.Context, id, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("label %s", id); err != nil {
		return err
	}
	n := m.nodes[id]
	if n == nil {
		return fmt.Errorf("inspect node %s: not found", id)
	}
	m.ev.add("labelled %s %s=%s", id, key, value)
	n.Labels[key] = value
	return nil
}

// fakeNode is a node's own engine.
type fakeNode struct {
	mu       sync.Mutex
	host     string
	ev       *events
	info     stack.EngineInfo
	infoErr  error
	imageErr error
	loadErr  error
	images   map[string]string // name -> ID
	loaded   []string          // what LoadImage read
	volumes  []string          // removed
}

func newFakeNode(ev *events, host string) *fakeNode {
	return &fakeNode{host: host, ev: ev, images: map[string]string{}}
}

func (n *fakeNode) Info(ctx context.Context) (stack.EngineInfo, error) {
	return n.info, n.infoErr
}

// ImageID finds ref by name, or by ID under any name.
func (n *fakeNode) ImageID(ctx context.Context, ref string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.imageErr != nil {
		return "", n.imageErr
	}
	if id, ok := n.images[ref]; ok {
		return id, nil
	}
	for _, id := range n.images {
		if id == ref {
			return id, nil
		}
	}
	return "", nil
}

// LoadImage reads what fakeSource.SaveImage writes: "name id" lines.
func (n *fakeNode) LoadImage(ctx context.Context, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.loadErr != nil {
		return n.loadErr
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, id, _ := strings.Cut(line, " ")
		n.images[name] = id
		n.loaded = append(n.loaded, name)
		n.ev.add("load %s %s", n.host, name)
	}
	return nil
}

func (n *fakeNode) LogTail(ctx context.Context, id string, lines int) string {
	return fmt.Sprintf("%s: last %d lines of %s", n.host, lines, id)
}

func (n *fakeNode) RemoveVolume(ctx context.Context, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.volumes = append(n.volumes, name)
	n.ev.add("rmvol %s %s", n.host, name)
	return nil
}

// observingNode is a node engine that also lists the project's
// containers, as the real one does: it reports linger containers for
// that many calls.
type observingNode struct {
	*fakeNode
	linger  int
	calls   int
	removed []string
	stopped []string
}

func (n *observingNode) Observe(ctx context.Context, proj string, e stack.Env, network string) (*stack.Observed, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	o := &stack.Observed{}
	if n.linger > 0 {
		n.linger--
		o.Containers = append(o.Containers, &stack.Container{ID: "ctr", Name: "lingering", State: stack.StateRunning,
			Labels: map[string]string{stack.LabelSwarmService: "shop-staging-edge-db-1"}})
	}
	return o, nil
}

// Stop stops a lingering container (Down does, gracefully).
func (n *observingNode) Stop(ctx context.Context, id string, timeout time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = append(n.stopped, id)
	return nil
}

// Remove removes a lingering container (Down does, once stopped).
func (n *observingNode) Remove(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linger = 0
	n.removed = append(n.removed, id)
	return nil
}

// fakeSource is this machine's engine.
type fakeSource struct {
	mu     sync.Mutex
	ev     *events
	images map[string]string
	saves  int
	closed int
	err    error
}

func newFakeSource(ev *events) *fakeSource {
	return &fakeSource{ev: ev, images: map[string]string{}}
}

func (s *fakeSource) ImageID(ctx context.Context, ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	return s.images[ref], nil
}

func (s *fakeSource) SaveImage(ctx context.Context, refs ...string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range refs {
		id, ok := s.images[r]
		if !ok {
			return nil, fmt.Errorf("save %s: no such image", r)
		}
		fmt.Fprintf(&b, "%s %s\n", r, id)
	}
	s.saves++
	s.ev.add("save %s", strings.Join(refs, " "))
	return &closer{Reader: strings.NewReader(b.String()), close: func() {
		s.mu.Lock()
		s.closed++
		s.mu.Unlock()
	}}, nil
}

type closer struct {
	io.Reader
	close func()
}

func (c *closer) Close() error { c.close(); return nil }

// fixture is a swarm of pool hosts pool-1..pool-N (nodes node-1..node-N,
// hostnames stg-a, stg-b, ...; none labelled yet), managed by pool-1, and
// this machine's engine.
type fixture struct {
	ev    *events
	m     *fakeManager
	nodes map[string]*fakeNode
	src   *fakeSource
	c     *Cluster
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ev := &events{}
	f := &fixture{ev: ev, m: newFakeManager(ev), nodes: map[string]*fakeNode{}, src: newFakeSource(ev)}
	engines := map[string]NodeEngine{}
	managers := map[string]Manager{}
	address := map[string]string{}
	for i := 1; i <= n; i++ {
		host, id := fmt.Sprintf("pool-%d", i), fmt.Sprintf("node-%d", i)
		hostname := "stg-" + string(rune('a'+i-1))
		nd := newFakeNode(ev, host)
		nd.info = stack.EngineInfo{Host: host, Swarm: stack.SwarmInfo{NodeID: id, NodeAddr: fmt.Sprintf("10.0.0.%d", i), State: "active", Manager: i == 1}}
		f.nodes[host] = nd
		engines[host], managers[host], address[host] = nd, f.m, fmt.Sprintf("10.0.0.%d", i)
		f.m.addNode(stack.SwarmNode{ID: id, Hostname: hostname, Addr: address[host], Manager: i == 1, Leader: i == 1, EngineVersion: "28.0.1"})
	}
	c, err := Connect(context.Background(), engines, managers, address)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// plan resolves the stack's images, makes its services and plans them
// against the fake swarm.
func (f *fixture) plan(t *testing.T, st *stack.Stack) *Plan {
	t.Helper()
	ctx := context.Background()
	images, err := ResolveImages(ctx, f.c, st, f.src)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := Services(st, images)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := f.c.Manager.SwarmObserve(ctx, st.Project, st.Env)
	if err != nil {
		t.Fatal(err)
	}
	return Reconcile(st.Project, st.Env, f.c.ManagerHost, svcs, obs, f.c.NodeID, images)
}

// up plans the stack and applies the plan with fast options.
func (f *fixture) up(t *testing.T, st *stack.Stack, opts UpOptions) *Result {
	t.Helper()
	return Up(context.Background(), f.c, f.plan(t, st), f.src, fast(opts))
}

// fast fills in quick polling and a short run bound.
func fast(opts UpOptions) UpOptions {
	if opts.Poll == 0 {
		opts.Poll = time.Millisecond
	}
	if opts.Run == 0 {
		opts.Run = 2 * time.Second
	}
	if opts.Probe == nil {
		opts.Probe = func(context.Context, *stack.Check, string) error { return errors.New("no probe expected") }
	}
	return opts
}

// task is a task unit of job (service.name) on production host host,
// placed on pool host pool.
func task(job string, n int, host, pool, image string) *stack.Unit {
	service, _, _ := strings.Cut(job, ".")
	return &stack.Unit{
		Key: fmt.Sprintf("%s/%d", job, n), Name: fmt.Sprintf("%s-%s.%s.%d", testProject, testEnv, job, n), Kind: stack.KindTask,
		Service: service, Job: job, Task: n, Host: host, Engine: pool,
		Spec: stack.Spec{Image: image, HostNetwork: true, Env: []string{"PORT=8080"}},
	}
}

func needs(u *stack.Unit, keys ...string) *stack.Unit {
	u.DependsOn = append(u.DependsOn, keys...)
	return u
}

func oneshot(u *stack.Unit) *stack.Unit {
	u.Oneshot = true
	return u
}

// httpCheck gives u an HTTP check on port that polls every millisecond.
func httpCheck(u *stack.Unit, port, retries int) *stack.Unit {
	u.Health = &stack.Check{HTTP: "/healthz", Port: port, Interval: time.Millisecond, Timeout: time.Second, Retries: retries}
	return u
}

func newStack(units ...*stack.Unit) *stack.Stack {
	st := &stack.Stack{Project: testProject, Env: testEnv, Units: units}
	st.Sort()
	return st
}

// svcName is the service name of the task unit of job/n.
func svcName(job string, n int) string {
	return ServiceName(fmt.Sprintf("%s-%s.%s.%d", testProject, testEnv, job, n))
}

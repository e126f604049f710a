package server

// The server at production size: a generated jobs file of thousands of
// jobs on hundreds of hosts, their containers on in-memory engines, and
// hosts that do not answer. BenchmarkServer measures what operators wait
// for (list, status, the services page, a poll) and what the server holds
// (its heap); TestServerLoad asserts the same properties cheaply at a
// smaller size.
//
//	go test -run '^$' -bench Server -benchtime 1x ./internal/server/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/api"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/enginetest"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
	"github.com/cjob/cjob/internal/ui"
	"github.com/cjob/cjob/prodspec"
)

// loadSize is the shape of a generated production.
type loadSize struct {
	Jobs     int // 10 per service; task count 1, 2, 3, 1, 2, 3, ...
	Hosts    int // production hosts, the last Dead of them do not answer
	Dead     int
	Engines  int // in-memory engines the answering hosts share
	Outdated int // jobs changed by the second version, still running the first
	// DNSNames sets environments.production.extra_hosts: false (DNS
	// serves the production names); without it the file has the default,
	// every production name in every container's /etc/hosts, and so in
	// its spec and its cjob.spec label.
	DNSNames bool
}

// prodSize is the benchmarks' production: 2,000 jobs (about 4,000 tasks)
// on 200 hosts, 10 of which do not answer.
var prodSize = loadSize{Jobs: 2000, Hosts: 200, Dead: 10, Engines: 10, Outdated: 20}

func loadHostName(i int) string { return fmt.Sprintf("prod-%03d", i) }

func (z loadSize) dead(i int) bool { return i >= z.Hosts-z.Dead }

// outdated says whether the second version changes job j.
func (z loadSize) outdated(j int) bool {
	return z.Outdated > 0 && j%(z.Jobs/z.Outdated) == z.Jobs/z.Outdated/2
}

func loadJobName(j int) string { return fmt.Sprintf("svc-%03d.job-%d", j/10, j%10) }

// loadJobsFile is version rev (1 or 2) of the generated jobs file: every
// job with a port, env (one secret), memory, an HTTP health check, a
// dependency on the job before it in its service, and 1 to 3 tasks on
// distinct hosts. Version 2 changes the log level of the outdated jobs.
func loadJobsFile(z loadSize, rev int) string {
	var b strings.Builder
	b.WriteString("project: load\nregistry: registry.example.com\nvars: {tag: \"1.4.2\"}\nhosts:\n")
	for i := range z.Hosts {
		fmt.Fprintf(&b, "  %s: {address: 10.1.%d.%d, docker: \"tcp://10.1.%d.%d:2376\", memory: 64GiB, labels: {rack: r%d}}\n",
			loadHostName(i), i/250, i%250, i/250, i%250, i%8)
	}
	b.WriteString("services:\n")
	for j := range z.Jobs {
		if j%10 == 0 {
			fmt.Fprintf(&b, "  svc-%03d:\n    jobs:\n", j/10)
		}
		level := "info"
		if rev > 1 && z.outdated(j) {
			level = "debug"
		}
		port := 10000 + j
		fmt.Fprintf(&b, "      job-%d:\n", j%10)
		fmt.Fprintf(&b, "        image: svc-%03d/job-%d:{{ .Vars.tag }}\n", j/10, j%10)
		fmt.Fprintf(&b, "        command: [/app, --port, \"%d\"]\n", port)
		fmt.Fprintf(&b, "        port: %d\n", port)
		fmt.Fprintf(&b, "        env: {ROLE: job-%d, LOG_LEVEL: %s, DB_PASSWORD: \"pw-%d-s3cret\", UPSTREAM_URL: \"http://%s:%d\"}\n",
			j%10, level, j, loadHostName((j*13)%z.Hosts), 10000+(j+1)%z.Jobs)
		b.WriteString("        memory: 256MiB\n")
		b.WriteString("        health: {http: /healthz}\n")
		if j%10 > 0 {
			fmt.Fprintf(&b, "        depends_on: [svc-%03d.job-%d]\n", j/10, j%10-1)
		}
		var hosts []string
		for k := range 1 + j%3 {
			hosts = append(hosts, loadHostName((j*7+k*(z.Hosts/3+1))%z.Hosts))
		}
		fmt.Fprintf(&b, "        tasks: [%s]\n", strings.Join(hosts, ", "))
	}
	if z.DNSNames {
		b.WriteString("environments:\n  production:\n    extra_hosts: false\n")
	}
	return b.String()
}

// hostEngine is one production host's view of an in-memory engine that
// several hosts share: it holds only the host's own containers, as the
// host's real engine would.
type hostEngine struct {
	*enginetest.Engine
	host                string
	containers, running int
}

func (h *hostEngine) Info(ctx context.Context) (stack.EngineInfo, error) {
	i, err := h.Engine.Info(ctx)
	i.Containers, i.Running = h.containers, h.running
	return i, err
}

func (h *hostEngine) Observe(ctx context.Context, project string, env stack.Env, network string) (*stack.Observed, error) {
	o, err := h.Engine.Observe(ctx, project, env, network)
	if err != nil {
		return nil, err
	}
	o.Containers = slices.DeleteFunc(o.Containers, func(c *stack.Container) bool { return c.Labels[stack.LabelHost] != h.host })
	// A real engine's answer is JSON: every label is a new string the
	// server holds until the next poll. The in-memory engine hands out its
	// own; copy them so the server's heap is what it would be.
	for _, c := range o.Containers {
		for k, v := range c.Labels {
			c.Labels[k] = strings.Clone(v)
		}
	}
	return o, nil
}

// loadWorld is a generated production: its two versions and the engines
// of its hosts.
type loadWorld struct {
	z            loadSize
	v1, v2       string                 // the jobs files
	hosts        map[string]*hostEngine // answering hosts
	tasks        int                    // containers made
	specBytes    int64                  // bytes of the cjob.spec labels of those containers
	dialsToDead  atomic.Int64
	deadTimeouts atomic.Int64
}

// newLoadWorld generates the files and puts every task of an answering
// host on its engine, running: the outdated jobs made from version 1, the
// others from version 2 (as `cjob up --all` of version 2 left them).
func newLoadWorld(tb testing.TB, z loadSize) *loadWorld {
	tb.Helper()
	w := &loadWorld{z: z, v1: loadJobsFile(z, 1), v2: loadJobsFile(z, 2), hosts: map[string]*hostEngine{}}
	stacks := map[int]*stack.Stack{}
	for rev, text := range map[int]string{1: w.v1, 2: w.v2} {
		f, err := prodspec.Parse(fmt.Sprintf("load v%d", rev), []byte(text), prodspec.LoadOptions{})
		if err != nil {
			tb.Fatalf("generated file v%d: %v", rev, err)
		}
		res, err := rewrite.Production(f, int64(rev))
		if err != nil {
			tb.Fatal(err)
		}
		stacks[rev] = res.Stack
	}
	engines := make([]*enginetest.Engine, z.Engines)
	for i := range engines {
		engines[i] = enginetest.New(fmt.Sprintf("tcp://engine-%d:2376", i))
	}
	for i := range z.Hosts {
		if !z.dead(i) {
			w.hosts[loadHostName(i)] = &hostEngine{Engine: engines[i%z.Engines], host: loadHostName(i)}
		}
	}
	changed := map[string]bool{}
	for j := range z.Jobs {
		changed[loadJobName(j)] = z.outdated(j)
	}
	ctx := context.Background()
	for _, u := range stacks[2].Units {
		he := w.hosts[u.Host]
		if he == nil {
			continue // a dead host
		}
		st := stacks[2]
		if changed[u.Job] {
			st = stacks[1]
			u = st.Unit(u.Key)
		}
		he.AddImage(u.Spec.Image)
		labels := st.Labels(u)
		id, err := he.Create(ctx, stack.CreateRequest{Name: u.Name, Spec: u.Spec, Labels: labels, Network: st.Network})
		if err == nil {
			err = he.Start(ctx, id)
		}
		if err != nil {
			tb.Fatal(err)
		}
		he.SetMemory(u.Name, int64(40+len(w.hosts)%7*10)<<20)
		he.containers++
		he.running++
		w.tasks++
		w.specBytes += int64(len(labels[stack.LabelSpec]))
	}
	return w
}

// dial reaches the answering hosts' engines; a dead host's dial blocks
// until its context ends, as a host that drops packets does.
func (w *loadWorld) dial(ctx context.Context, h *prodspec.Host, _ time.Duration) (fleet.Engine, error) {
	if he := w.hosts[h.Name]; he != nil {
		return he, nil
	}
	w.dialsToDead.Add(1)
	<-ctx.Done()
	w.deadTimeouts.Add(1)
	return nil, fmt.Errorf("%w at %s: dial tcp: i/o timeout (%v)", engine.ErrUnreachable, h.Docker, context.Cause(ctx))
}

// loadServer is a server over an embedded etcd member and a loadWorld,
// with versions 1 and 2 pushed, every job's state recorded "up" (as `cjob
// up --all` leaves it) and one periodic poll made.
type loadServer struct {
	w        *loadWorld
	st       *store.Store
	srv      *Server
	hs       *httptest.Server
	client   *http.Client
	timeout  time.Duration // PollTimeout
	setup    time.Duration
	phases   []string
	heapBase uint64 // heap in use with etcd and the engines, before the server
}

func newLoadServer(tb testing.TB, z loadSize, pollTimeout time.Duration) *loadServer {
	tb.Helper()
	start := time.Now()
	last := start
	ls := &loadServer{timeout: pollTimeout}
	phase := func(what string) {
		ls.phases = append(ls.phases, fmt.Sprintf("%s %.2fs", what, time.Since(last).Seconds()))
		last = time.Now()
	}
	ls.w = newLoadWorld(tb, z)
	phase("engines")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	ls.st = st
	phase("etcd")
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				if err := st.SetJobState(ctx, store.JobState{Job: loadJobName(j), Desired: "up", Version: 2, By: "ops"}); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	for j := range z.Jobs {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		tb.Fatal(err)
	}
	phase("job states")
	ls.heapBase = heapInUse()

	srv, err := New(Options{
		Store:        st,
		Tokens:       map[string]string{testToken: "ops"},
		PollInterval: time.Hour, // polls are the benchmarks' to make
		PollTimeout:  pollTimeout,
		Registry: registry.New(registry.Options{
			HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, fmt.Errorf("no registry in tests")
			})},
			Auth: func(string) (string, string, bool) { return "", "", false },
		}),
		Probe: func(context.Context, *stack.Check, string) error { return nil },
		Dial:  ls.w.dial,
		Logf:  func(string, ...any) {},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ls.srv = srv
	// As `cjob server` mounts them.
	apiH := srv.Handler()
	mux := http.NewServeMux()
	mux.Handle("/api/", apiH)
	mux.Handle("/healthz", apiH)
	mux.Handle("/", ui.New(srv.UI(), ui.Options{}).Handler())
	ls.hs = httptest.NewServer(mux)
	tb.Cleanup(ls.hs.Close)
	ls.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	tb.Cleanup(ls.client.CloseIdleConnections)

	for rev, file := range []string{ls.w.v1, ls.w.v2} {
		ls.push(tb, api.PushRequest{File: file, Base: int64(rev), Message: fmt.Sprintf("load v%d", rev+1)})
	}
	phase("2 pushes")
	srv.poll(ctx, true)
	phase("first poll")
	ls.setup = time.Since(start)
	return ls
}

func (ls *loadServer) push(tb testing.TB, req api.PushRequest) {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := http.NewRequest("POST", ls.hs.URL+api.Prefix+"/versions", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := ls.client.Do(r)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("push: %s: %.500s", resp.Status, b)
	}
}

// get GETs path (the UI's, or the API's when it starts with /api) and
// reads the whole answer, which must be 200.
func (ls *loadServer) get(tb testing.TB, path string) ([]byte, time.Duration) {
	tb.Helper()
	start := time.Now()
	resp, err := ls.client.Get(ls.hs.URL + path)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %v: %.300s", path, resp.Status, err, b)
	}
	return b, d
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// latencies GETs path(i) for i = 0, 1, ... in rounds, one round per
// benchmark iteration: 100 requests, or fewer (at least 3) when a round
// has taken 10 s. It reports the median, p99 and largest latency, the
// answer's size and the bytes allocated per request (server and client,
// both in this process).
func (ls *loadServer) latencies(b *testing.B, path func(i int) string) {
	var ds []time.Duration
	var size int
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		round := time.Now()
		for k := 0; k < 100 && (k < 3 || time.Since(round) < 10*time.Second); k++ {
			body, d := ls.get(b, path(len(ds)))
			ds = append(ds, d)
			size = len(body)
		}
	}
	runtime.ReadMemStats(&m1)
	slices.Sort(ds)
	b.ReportMetric(ms(percentile(ds, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(ds, 0.99)), "p99-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
	b.ReportMetric(float64(len(ds)), "requests")
	b.ReportMetric(float64(size)/1024, "KiB/answer")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(len(ds))/(1<<20), "alloc-MiB/req")
}

func (ls *loadServer) jobPath(i int) string {
	return api.Prefix + "/jobs/" + loadJobName((i*37)%ls.w.z.Jobs)
}

// freshPoll is what `?fresh=1` costs: GET /api/v1/nodes?fresh=1 (the
// smallest answer that polls first). It checks that the dead hosts, and
// only they, are unreachable.
func (ls *loadServer) freshPoll(tb testing.TB) ([]status.Node, time.Duration) {
	tb.Helper()
	body, d := ls.get(tb, api.Prefix+"/nodes?fresh=1")
	var nodes []status.Node
	if err := json.Unmarshal(body, &nodes); err != nil {
		tb.Fatal(err)
	}
	z := ls.w.z
	if len(nodes) != z.Hosts {
		tb.Fatalf("%d nodes, want %d", len(nodes), z.Hosts)
	}
	running := 0
	for i, n := range nodes {
		if n.Name != loadHostName(i) || n.Reachable == z.dead(i) {
			tb.Fatalf("node %d: %s reachable=%v error=%q; want %s reachable=%v", i, n.Name, n.Reachable, n.Error, loadHostName(i), !z.dead(i))
		}
		if z.dead(i) && !strings.Contains(n.Error, "unreachable") {
			tb.Errorf("dead host %s: error %q does not say unreachable", n.Name, n.Error)
		}
		running += n.TasksRunning
	}
	if running != ls.w.tasks {
		tb.Errorf("nodes report %d tasks running, want %d", running, ls.w.tasks)
	}
	return nodes, d
}

// BenchmarkServer is `cjob server` at production size (prodSize: 2,000
// jobs, about 3,800 running tasks on 190 answering hosts, 10 hosts that do
// not answer, PollTimeout 2 s) with the jobs file's default: every
// production name in every container's /etc/hosts.
func BenchmarkServer(b *testing.B) { benchServer(b, prodSize) }

// BenchmarkServerDNS is the same production with
// environments.production.extra_hosts: false (names from DNS), where a
// container's spec is a few hundred bytes instead of ~90 KB.
func BenchmarkServerDNS(b *testing.B) {
	z := prodSize
	z.DNSNames = true
	benchServer(b, z)
}

func benchServer(b *testing.B, z loadSize) {
	if testing.Short() {
		b.Skip("production-size server benchmark: not with -short")
	}
	ls := newLoadServer(b, z, 2*time.Second)
	b.Logf("setup %.1fs (%s): %d jobs, %d tasks running on %d hosts (%d engines), %d dead hosts; jobs file %d KB; spec labels %.0f MiB",
		ls.setup.Seconds(), strings.Join(ls.phases, ", "), z.Jobs, ls.w.tasks, len(ls.w.hosts), z.Engines, z.Dead, len(ls.w.v2)/1000, float64(ls.w.specBytes)/(1<<20))

	b.Run("List", func(b *testing.B) {
		ls.latencies(b, func(int) string { return api.Prefix + "/jobs" })
	})
	b.Run("Status", func(b *testing.B) { ls.latencies(b, ls.jobPath) })
	b.Run("ServicesPage", func(b *testing.B) {
		ls.latencies(b, func(int) string { return "/services" })
	})
	// List while a poll is under way, its dead hosts timing out: reads use
	// the last poll and never wait for one.
	b.Run("ListDuringPoll", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		var polls sync.WaitGroup
		polls.Go(func() {
			for ctx.Err() == nil {
				ls.srv.pollOnce(ctx)
			}
		})
		ls.latencies(b, func(int) string { return api.Prefix + "/jobs" })
		cancel()
		polls.Wait()
	})
	b.Run("Poll", func(b *testing.B) {
		var fresh, periodic, slowestLive []time.Duration
		for b.Loop() {
			nodes, d := ls.freshPoll(b)
			fresh = append(fresh, d)
			var live time.Duration
			for _, n := range nodes {
				if n.Reachable {
					live = max(live, time.Duration(n.LatencyMS)*time.Millisecond)
				}
			}
			slowestLive = append(slowestLive, live)
			start := time.Now()
			ls.srv.poll(context.Background(), true) // the periodic poll, with memory use
			periodic = append(periodic, time.Since(start))
		}
		for _, s := range [][]time.Duration{fresh, periodic, slowestLive} {
			slices.Sort(s)
		}
		b.ReportMetric(ms(percentile(fresh, 0.5)), "fresh-poll-ms")
		b.ReportMetric(float64(percentile(fresh, 0.5))/float64(ls.timeout), "fresh-poll/timeout")
		b.ReportMetric(ms(percentile(periodic, 0.5)), "periodic-poll-ms")
		b.ReportMetric(ms(percentile(slowestLive, 0.5)), "slowest-live-host-ms")
	})
	// Heap in use after a periodic poll and a round of every read, with
	// the last poll held: the whole process (etcd member and in-memory
	// engines included) and the part added since the server was made.
	b.Run("Heap", func(b *testing.B) {
		var heap uint64
		for b.Loop() {
			ls.srv.poll(context.Background(), true)
			for i := range 10 {
				ls.get(b, api.Prefix+"/jobs")
				ls.get(b, ls.jobPath(i))
				ls.get(b, "/services")
			}
			heap = heapInUse()
		}
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric((float64(heap)-float64(ls.heapBase))/(1<<20), "server-heap-MiB")
		b.ReportMetric(float64(ls.heapBase)/(1<<20), "base-heap-MiB")
		b.ReportMetric(ls.setup.Seconds(), "setup-s")
	})
	// Last, as it changes the head: one job's log level pushed (what every
	// `cjob update` does), so every other job runs an older version than
	// the head.
	b.Run("ServicesPageAfterPush", func(b *testing.B) {
		v3 := strings.Replace(ls.w.v2, "LOG_LEVEL: info", "LOG_LEVEL: warn", 1)
		ls.push(b, api.PushRequest{File: v3, Base: 2, Message: "one job's log level"})
		ls.latencies(b, func(int) string { return "/services" })
	})
}

// TestServerLoad is the benchmarks' production at a small size (200 jobs
// on 20 hosts, 2 not answering): every job listed with its tasks running
// on the answering hosts, the outdated ones marked, the dead hosts named
// in the nodes (freshPoll checks them), and the services page after a
// push shows every service.
func TestServerLoad(t *testing.T) {
	z := loadSize{Jobs: 200, Hosts: 20, Dead: 2, Engines: 3, Outdated: 10}
	ls := newLoadServer(t, z, 300*time.Millisecond)
	ls.freshPoll(t)
	body, _ := ls.get(t, api.Prefix+"/jobs")
	var jobs []status.Job
	if err := json.Unmarshal(body, &jobs); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != z.Jobs {
		t.Fatalf("listed %d jobs, want %d", len(jobs), z.Jobs)
	}
	running, outdated := 0, 0
	for _, j := range jobs {
		running += j.Running
		if j.Outdated > 0 {
			outdated++
		}
	}
	if running != ls.w.tasks {
		t.Errorf("jobs list %d tasks running, want %d", running, ls.w.tasks)
	}
	if outdated != z.Outdated {
		t.Errorf("%d jobs outdated, want %d", outdated, z.Outdated)
	}
	body, _ = ls.get(t, ls.jobPath(1))
	var one status.Job
	if err := json.Unmarshal(body, &one); err != nil || one.Job != loadJobName(37) {
		t.Errorf("GET %s: %+v, %v", ls.jobPath(1), one, err)
	}
	v3 := strings.Replace(ls.w.v2, "LOG_LEVEL: info", "LOG_LEVEL: warn", 1)
	ls.push(t, api.PushRequest{File: v3, Base: 2, Message: "one job's log level"})
	page, _ := ls.get(t, "/services")
	for s := range z.Jobs / 10 {
		if name := fmt.Sprintf("svc-%03d", s); !bytes.Contains(page, []byte(name)) {
			t.Errorf("services page lacks %s", name)
		}
	}
}

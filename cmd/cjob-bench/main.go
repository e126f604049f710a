// Command cjob-bench brings the same generated stack up several ways,
// several rounds each, alternating, and prints a table of medians and
// ratios:
//
//   - floor: the floor of cjob's own topology, a minimal program that
//     creates and starts the same containers (a host sandbox per production
//     host, each task joined to it) through the Docker API with unbounded
//     parallelism and no ordering or health waits; its down removes them
//     the same way;
//   - floor-endpoint: the same tasks, each with a network endpoint of its
//     own (the topology Compose users write by hand), for reference;
//   - compose: docker-compose 1.x on the same containers as plain Compose
//     services (cjob's export without its probe services);
//   - compose-v2: a v2+ Compose ($COMPOSE, or the docker CLI's compose
//     plugin) on the same file, when one is found;
//   - compose-probes: docker-compose 1.x on the export as it is, with one
//     probe container per health check (extra row, named as what it is);
//   - cjob: cjob dev up / dev down.
//
// All are timed to the same finish line: every job answers on its
// production address, checked from inside the stack's network.
//
//	go run ./cmd/cjob-bench -n 50 -hosts 10 -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

func main() {
	var (
		n      = flag.Int("n", 50, "jobs")
		hosts  = flag.Int("hosts", 10, "production hosts")
		rounds = flag.Int("rounds", 3, "rounds of each way")
		image  = flag.String("image", "coding/git:1.0.0", "image of every job (an HTTP service answering /healthz on $PORT)")
		cjob   = flag.String("cjob", "bin/cjob", "the cjob binary (built static: make build)")
		ways   = flag.String("ways", "floor,floor-endpoint,compose,compose-v2,cjob", "which ways to run (also: compose-probes)")
		onb    = flag.String("onboard", "", "instead: onboarding time of this jobs file (e.g. examples/coding/jobs.yml) from an engine without its images, cjob against parallel pulls + Compose by hand")
	)
	flag.Parse()
	if *onb != "" {
		if err := onboard(*onb, *rounds, *cjob); err != nil {
			fmt.Fprintln(os.Stderr, "cjob-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *hosts, *rounds, *image, *cjob, strings.Split(*ways, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "cjob-bench:", err)
		os.Exit(1)
	}
}

type sample struct{ cold, noop, down time.Duration }

func run(n, hosts, rounds int, image, cjobBin string, ways []string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cjob-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(file, []byte(jobsFile(n, hosts, image)), 0o644); err != nil {
		return err
	}
	f, err := prodspec.Load(file, prodspec.LoadOptions{})
	if err != nil {
		return err
	}
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	info, _ := eng.Info(ctx)
	targets := finishLine(f)

	v1, v2 := findCompose()
	composers := map[string]*composer{"compose": v1, "compose-probes": v1, "compose-v2": v2}
	var run []string
	for _, way := range ways {
		if c, ok := composers[way]; ok && c == nil {
			fmt.Fprintf(os.Stderr, "%s: no such Compose here (COMPOSE=/path/to/docker-compose, or the docker compose plugin); row left out\n", way)
			continue
		}
		run = append(run, way)
	}
	results := map[string][]sample{}
	for r := 0; r < rounds; r++ {
		for _, way := range run {
			var s sample
			var err error
			switch way {
			case "cjob":
				s, err = roundCjob(ctx, eng, cjobBin, file, f, targets)
			case "compose", "compose-v2", "compose-probes":
				s, err = roundCompose(ctx, eng, *composers[way], way == "compose-probes", cjobBin, file, dir, f, targets)
			case "floor":
				s, err = roundFloor(ctx, eng, cjobBin, f, targets)
			case "floor-endpoint":
				s, err = roundFloorEndpoints(ctx, eng, cjobBin, f)
			default:
				err = fmt.Errorf("unknown way %q", way)
			}
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", way, r+1, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-15s cold %-8s noop %-8s down %s\n", r+1, way, ms(s.cold), ms(s.noop), ms(s.down))
			results[way] = append(results[way], s)
		}
	}
	fmt.Printf("\n%d jobs on %d hosts, median of %d rounds, alternating; Docker %s (API %s, storage driver %s), %d CPUs, %s\n\n",
		n, hosts, rounds, info.ServerVersion, info.APIVersion, info.Driver, info.CPUs, time.Now().Format("2006-01-02"))
	fmt.Printf("%-50s %10s %10s %10s\n", "way", "cold up", "no-op up", "down")
	med := map[string]sample{}
	for _, way := range run {
		m := median(results[way])
		med[way] = m
		fmt.Printf("%-50s %10s %10s %10s\n", label(way, composers[way]), ms(m.cold), ms(m.noop), ms(m.down))
	}
	if c, ok := med["cjob"]; ok {
		for _, other := range run {
			if o := med[other]; other != "cjob" && o.cold > 0 {
				fmt.Printf("%-50s %10s %10s %10s\n", "cjob / "+other, ratio(c.cold, o.cold), ratio(c.noop, o.noop), ratio(c.down, o.down))
			}
		}
	}
	if peakRSS > 0 {
		fmt.Printf("cjob peak memory (max RSS of any cjob run): %.1f MiB; cjob's CPU in a no-op up (user+system, median): %s\n", float64(peakRSS)/1024, ms(medianDur(noopCPU)))
	}
	return nil
}

func label(way string, c *composer) string {
	switch way {
	case "compose":
		return c.label() + " (plain services)"
	case "compose-v2":
		return c.label() + " (plain services)"
	case "compose-probes":
		return c.label() + " (export + probe containers)"
	case "floor":
		return "floor: raw API, host sandboxes"
	case "floor-endpoint":
		return "raw API, one endpoint per task"
	}
	return way
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "-"
	}
	r := float64(a) / float64(b)
	if r < 0.1 {
		return fmt.Sprintf("%.3fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func medianDur(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	v = append([]time.Duration(nil), v...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2]
}

func median(ss []sample) sample {
	pick := func(get func(sample) time.Duration) time.Duration {
		v := make([]time.Duration, len(ss))
		for i, s := range ss {
			v[i] = get(s)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	return sample{pick(func(s sample) time.Duration { return s.cold }), pick(func(s sample) time.Duration { return s.noop }), pick(func(s sample) time.Duration { return s.down })}
}

// jobsFile generates n jobs over the hosts, each answering /healthz on its
// own port of its host.
func jobsFile(n, hosts int, image string) string {
	var b strings.Builder
	b.WriteString("project: bench\nhosts:\n")
	for h := 0; h < hosts; h++ {
		fmt.Fprintf(&b, "  h%d: {}\n", h)
	}
	b.WriteString("services:\n  s:\n    jobs:\n")
	for i := 0; i < n; i++ {
		port := 9000 + i/hosts
		fmt.Fprintf(&b, "      j%d: {image: %q, port: %d, env: {ROLE: git, PORT: \"%d\"}, health: {http: /healthz}, run_on_host: h%d}\n", i, image, port, port, i%hosts)
	}
	return b.String()
}

// finishLine is every job's production address.
func finishLine(f *prodspec.File) []string {
	var t []string
	for _, j := range f.Jobs() {
		t = append(t, fmt.Sprintf("http://%s:%d/healthz", j.Tasks[0].Host, j.MainPort()))
	}
	return t
}

// waitAnswers polls from inside the stack (the host sandbox container
// `probeFrom`, which holds the cjob binary) until every target answers.
func waitAnswers(ctx context.Context, eng *engine.Engine, probeFrom string, targets []string, start time.Time) (time.Duration, error) {
	cmd := append([]string{"/cjob-sandbox", "probe", "--timeout", "1s"}, targets...)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, out, err := eng.Exec(ctx, probeFrom, cmd)
		if err == nil && code == 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not every job answered within 3 minutes: %v %s", err, lastLines(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

// peakRSS is the largest resident set of any cjob run, in KiB; lastCPU
// the user+system time of the last command; noopCPU cjob's in each no-op.
var (
	peakRSS int64
	lastCPU time.Duration
	noopCPU []time.Duration
)

func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState != nil {
		lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && strings.HasSuffix(name, "cjob") && ru.Maxrss > peakRSS {
		peakRSS = ru.Maxrss
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func roundCjob(ctx context.Context, eng *engine.Engine, cjobBin, file string, f *prodspec.File, targets []string) (sample, error) {
	var s sample
	_ = sh(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet")
	start := time.Now()
	if err := sh(cjobBin, "dev", "up", "-f", file, "--progress", "quiet"); err != nil {
		return s, err
	}
	var err error
	if s.cold, err = waitAnswers(ctx, eng, devenv.SandboxName(f.Project, "h0"), targets, start); err != nil {
		return s, err
	}
	start = time.Now()
	if err := sh(cjobBin, "dev", "up", "-f", file, "--progress", "quiet"); err != nil {
		return s, err
	}
	s.noop = time.Since(start)
	noopCPU = append(noopCPU, lastCPU)
	start = time.Now()
	err = sh(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet")
	s.down = time.Since(start)
	return s, err
}

// roundCompose runs Compose on the stack's export: as plain services (the
// probe containers dropped), or, with probes, as exported.
func roundCompose(ctx context.Context, eng *engine.Engine, c composer, probes bool, cjobBin, file, dir string, f *prodspec.File, targets []string) (sample, error) {
	var s sample
	compose := filepath.Join(dir, "compose.yml")
	out, err := exec.Command(cjobBin, "dev", "export", "--compose", "-f", file).Output()
	if err != nil {
		return s, fmt.Errorf("cjob dev export --compose: %w", err)
	}
	if !probes {
		if out, err = plainCompose(out); err != nil {
			return s, err
		}
	}
	if c.v1 {
		if out, err = composeV1(out); err != nil {
			return s, err
		}
	}
	if err := os.WriteFile(compose, out, 0o644); err != nil {
		return s, err
	}
	project := f.Project + "-compose"
	dc := func(args ...string) error {
		name, argv := c.cmd(project, compose, args...)
		return sh(name, argv...)
	}
	_ = dc("down", "-v")
	start := time.Now()
	if err := dc("up", "-d"); err != nil {
		return s, err
	}
	probe := devenv.SandboxName(f.Project, "h0") // the export keeps cjob's container names
	if s.cold, err = waitAnswers(ctx, eng, probe, targets, start); err != nil {
		return s, err
	}
	start = time.Now()
	if err := dc("up", "-d"); err != nil {
		return s, err
	}
	s.noop = time.Since(start)
	start = time.Now()
	err = dc("down", "-v")
	s.down = time.Since(start)
	return s, err
}

// floorRun is a raw-API run: containers made with unbounded parallelism,
// removed the same way.
type floorRun struct {
	eng     *engine.Engine
	network string
	labels  map[string]string
}

func newFloorRun(ctx context.Context, eng *engine.Engine, network string) *floorRun {
	fr := &floorRun{eng: eng, network: network, labels: map[string]string{"cjob-bench": network}}
	fr.remove(ctx)
	return fr
}

// all runs make for every item at once and returns the first error.
func all[T any](items []T, do func(T) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for _, it := range items {
		wg.Go(func() {
			if err := do(it); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (fr *floorRun) run(ctx context.Context, reqs []stack.CreateRequest) error {
	return all(reqs, func(r stack.CreateRequest) error {
		r.Labels, r.Network = fr.labels, fr.network
		id, err := fr.eng.Create(ctx, r)
		if err == nil {
			err = fr.eng.Start(ctx, id)
		}
		return err
	})
}

// remove removes the run's containers and network, all at once, as the
// floor of a down.
func (fr *floorRun) remove(ctx context.Context) error {
	obs, err := exec.Command("docker", "ps", "-aq", "--filter", "label=cjob-bench="+fr.network).Output()
	if err != nil {
		return err
	}
	if err := all(strings.Fields(string(obs)), func(id string) error { return fr.eng.Remove(ctx, id) }); err != nil {
		return err
	}
	return fr.eng.RemoveNetwork(ctx, fr.network)
}

func sandboxImage(cjobBin string) (string, error) {
	out, err := exec.Command(cjobBin, "sandbox", "image").Output()
	if err != nil {
		return "", fmt.Errorf("cjob sandbox image: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// roundFloor creates and starts the same containers as cjob (the host
// sandboxes, then every task joined to its sandbox) with unbounded
// parallelism, then removes them all at once.
func roundFloor(ctx context.Context, eng *engine.Engine, cjobBin string, f *prodspec.File, targets []string) (sample, error) {
	var s sample
	img, err := sandboxImage(cjobBin)
	if err != nil {
		return s, err
	}
	res, err := devenv.Rewrite(f, devenv.Options{SandboxImage: img})
	if err != nil {
		return s, err
	}
	st := res.Stack
	devenv.AssignPorts(st, nil, nil) // the same ports cjob publishes, without asking the machine
	const prefix = "bench-floor."
	fr := newFloorRun(ctx, eng, "bench-floor")
	// Each host's sandbox, then at once all of its tasks; every host at
	// once.
	hostsOf := map[string][]stack.CreateRequest{}
	var sandboxes []*stack.Unit
	for _, u := range st.Units {
		spec := u.Spec
		if u.Kind == stack.KindSandbox {
			sandboxes = append(sandboxes, u)
			continue
		}
		spec.JoinSandbox = prefix + spec.JoinSandbox
		hostsOf[u.Sandbox] = append(hostsOf[u.Sandbox], stack.CreateRequest{Name: prefix + u.Name, Spec: spec})
	}
	start := time.Now()
	if err := eng.EnsureNetwork(ctx, fr.network, fr.labels); err != nil {
		return s, err
	}
	err = all(sandboxes, func(u *stack.Unit) error {
		if err := fr.run(ctx, []stack.CreateRequest{{Name: prefix + u.Name, Spec: u.Spec}}); err != nil {
			return err
		}
		return fr.run(ctx, hostsOf[u.Key])
	})
	if err == nil {
		s.cold, err = waitAnswers(ctx, eng, prefix+devenv.SandboxName(f.Project, "h0"), targets, start)
	}
	start = time.Now()
	if rerr := fr.remove(ctx); err == nil {
		err = rerr
	}
	s.down = time.Since(start)
	return s, err
}

// roundFloorEndpoints creates and starts every task with a network
// endpoint of its own (its job's name as its alias; no published ports,
// which would collide), unbounded parallelism, timed until each answers on
// <job>:<port> from a probe container on the network (made before the
// clock starts), then removes them all at once.
func roundFloorEndpoints(ctx context.Context, eng *engine.Engine, cjobBin string, f *prodspec.File) (sample, error) {
	var s sample
	img, err := sandboxImage(cjobBin)
	if err != nil {
		return s, err
	}
	fr := newFloorRun(ctx, eng, "bench-floor-ep")
	if err := eng.EnsureNetwork(ctx, fr.network, fr.labels); err != nil {
		return s, err
	}
	probe := "bench-floor-ep.probe"
	if err := fr.run(ctx, []stack.CreateRequest{{Name: probe, Spec: stack.Spec{Image: img}}}); err != nil {
		return s, err
	}
	var reqs []stack.CreateRequest
	var targets []string
	for _, j := range f.Jobs() {
		alias := strings.ReplaceAll(j.FullName(), ".", "-")
		env := []string{}
		for k, v := range j.Env {
			env = append(env, k+"="+v)
		}
		reqs = append(reqs, stack.CreateRequest{Name: "bench-floor-ep." + alias, Spec: stack.Spec{Image: j.Image, Env: env, Aliases: []string{alias}}})
		targets = append(targets, fmt.Sprintf("http://%s:%d/healthz", alias, j.MainPort()))
	}
	start := time.Now()
	err = fr.run(ctx, reqs)
	if err == nil {
		s.cold, err = waitAnswers(ctx, eng, probe, targets, start)
	}
	start = time.Now()
	if rerr := fr.remove(ctx); err == nil {
		err = rerr
	}
	s.down = time.Since(start) // the probe container included: 51 containers
	return s, err
}

// Command cjob-bench brings the same generated stack up three ways, several
// rounds each, alternating, and prints a table of medians: cjob dev up,
// docker compose on the stack's exported Compose file, and the floor, a
// minimal program that creates and starts the same containers through the
// Docker API with unbounded parallelism and no ordering or health waits.
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
		ways   = flag.String("ways", "cjob,compose,floor", "which ways to run")
	)
	flag.Parse()
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

	results := map[string][]sample{}
	for r := 0; r < rounds; r++ {
		for _, way := range ways {
			var s sample
			var err error
			switch way {
			case "cjob":
				s, err = roundCjob(ctx, eng, cjobBin, file, f, targets)
			case "compose":
				s, err = roundCompose(ctx, eng, cjobBin, file, dir, f, targets)
			case "floor":
				s, err = roundFloor(ctx, eng, cjobBin, f, targets)
			default:
				err = fmt.Errorf("unknown way %q", way)
			}
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", way, r+1, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-8s cold %-8s noop %-8s down %s\n", r+1, way, ms(s.cold), ms(s.noop), ms(s.down))
			results[way] = append(results[way], s)
		}
	}
	fmt.Printf("\n%d jobs on %d hosts, median of %d rounds; Docker %s (API %s), %d CPUs, %s\n\n", n, hosts, rounds, info.ServerVersion, info.APIVersion, info.CPUs, time.Now().Format("2006-01-02"))
	fmt.Printf("%-22s %10s %10s %10s\n", "way", "cold up", "no-op up", "down")
	med := map[string]sample{}
	for _, way := range ways {
		m := median(results[way])
		med[way] = m
		fmt.Printf("%-22s %10s %10s %10s\n", label(way), ms(m.cold), ms(m.noop), ms(m.down))
	}
	if peakRSS > 0 {
		fmt.Printf("cjob peak memory (max RSS of any cjob run): %.1f MiB\n", float64(peakRSS)/1024)
	}
	if c, ok := med["cjob"]; ok {
		for _, other := range []string{"compose", "floor"} {
			if o, ok := med[other]; ok && o.cold > 0 {
				fmt.Printf("%-22s %10s %10s %10s\n", "cjob / "+other, ratio(c.cold, o.cold), ratio(c.noop, o.noop), ratio(c.down, o.down))
			}
		}
	}
	return nil
}

func label(way string) string {
	switch way {
	case "compose":
		out, _ := exec.Command("docker-compose", "version", "--short").Output()
		return "docker-compose " + strings.TrimSpace(string(out))
	case "floor":
		return "floor (raw API)"
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
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

// peakRSS is the largest resident set of any cjob run, in KiB.
var peakRSS int64

func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
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
	start = time.Now()
	err = sh(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet")
	s.down = time.Since(start)
	return s, err
}

func roundCompose(ctx context.Context, eng *engine.Engine, cjobBin, file, dir string, f *prodspec.File, targets []string) (sample, error) {
	var s sample
	compose := filepath.Join(dir, "compose.yml")
	out, err := exec.Command(cjobBin, "dev", "export", "--compose", "-f", file).Output()
	if err != nil {
		return s, fmt.Errorf("cjob dev export --compose: %w", err)
	}
	if out, err = composeV1(out); err != nil {
		return s, err
	}
	if err := os.WriteFile(compose, out, 0o644); err != nil {
		return s, err
	}
	project := f.Project + "-compose"
	dc := func(args ...string) error {
		return sh("docker-compose", append([]string{"-p", project, "-f", compose}, args...)...)
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

// roundFloor creates and starts the same containers (the host sandboxes,
// then every task joined to its sandbox) with unbounded parallelism.
func roundFloor(ctx context.Context, eng *engine.Engine, cjobBin string, f *prodspec.File, targets []string) (sample, error) {
	var s sample
	out, err := exec.Command(cjobBin, "sandbox", "image").Output()
	if err != nil {
		return s, fmt.Errorf("cjob sandbox image: %w", err)
	}
	img := strings.TrimSpace(string(out))
	res, err := devenv.Rewrite(f, devenv.Options{SandboxImage: img})
	if err != nil {
		return s, err
	}
	st := res.Stack
	devenv.AssignPorts(st, nil, nil) // the same ports cjob publishes, without asking the machine
	st.Network = "bench-floor"
	prefix := "bench-floor."
	labels := map[string]string{"cjob-bench": "floor"}
	cleanup := func() {
		obs, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=cjob-bench=floor").Output()
		if ids := strings.Fields(string(obs)); len(ids) > 0 {
			_ = sh("docker", append([]string{"rm", "-f"}, ids...)...)
		}
		_ = eng.RemoveNetwork(ctx, st.Network)
	}
	cleanup()
	start := time.Now()
	if err := eng.EnsureNetwork(ctx, st.Network, labels); err != nil {
		return s, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(st.Units))
	startAll := func(kind stack.Kind) {
		for _, u := range st.Units {
			if u.Kind != kind {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := u.Spec
				if spec.JoinSandbox != "" {
					spec.JoinSandbox = prefix + spec.JoinSandbox
				}
				id, err := eng.Create(ctx, stack.CreateRequest{Name: prefix + u.Name, Spec: spec, Labels: labels, Network: st.Network})
				if err == nil {
					err = eng.Start(ctx, id)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
	}
	startAll(stack.KindSandbox)
	startAll(stack.KindTask)
	close(errs)
	if err := <-errs; err != nil {
		cleanup()
		return s, err
	}
	s.cold, err = waitAnswers(ctx, eng, prefix+devenv.SandboxName(f.Project, "h0"), targets, start)
	cleanup()
	return s, err
}

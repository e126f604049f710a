package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/prodspec"
)

// onboard measures a new developer's first `cjob dev up`: the engine holds
// none of the stack's images (every name of them is removed; layers that
// other images on the engine share stay, as they would on a machine that
// already pulled a base image), a registry (Debian's docker-registry on
// loopback) holds them all; they are put back at the end. Rounds alternate between cjob (dev up pulls
// what is missing and starts every job as soon as its own image and
// dependencies are ready) and the same by hand: every image pulled in
// parallel, then a v2+ Compose `up -d --wait` of the stack's export (its
// probe services give the same health gating). Both end when every job is
// healthy.
func onboard(jobsPath string, rounds int, cjobBin string) error {
	_, v2 := findCompose()
	if v2 == nil {
		return fmt.Errorf("-onboard needs a v2+ Compose (for up --wait): set COMPOSE=/path/to/docker-compose or run scripts/compose-v5.sh")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cjob-onboard-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg, stop, err := startRegistry(dir)
	if err != nil {
		return err
	}
	defer stop()

	src, err := os.ReadFile(jobsPath)
	if err != nil {
		return err
	}
	text := strings.Replace(string(src), "\nproject: ", "\nregistry: "+reg+"\nproject: ", 1)
	if !strings.Contains(text, "registry: "+reg) {
		text = "registry: " + reg + "\n" + text
	}
	text = strings.Replace(text, "project: coding", "project: onboard", 1)
	file := filepath.Join(dir, "jobs.yml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		return err
	}
	f, err := prodspec.Load(file, prodspec.LoadOptions{})
	if err != nil {
		return err
	}
	images := map[string]bool{}
	for _, j := range f.Jobs() {
		images[j.Image] = true
	}
	var refs []string
	locals := map[string]string{} // registry ref -> the engine's own name for it
	for ref := range images {
		refs = append(refs, ref)
		local := strings.TrimPrefix(ref, reg+"/")
		locals[ref] = local
		if err := sh("docker", "tag", local, ref); err != nil {
			return fmt.Errorf("the stack's images are not on this engine (examples/coding/build-images.sh): %w", err)
		}
		if err := sh("docker", "push", ref); err != nil {
			return err
		}
	}
	eng, err := engine.Dial(ctx, engine.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	info, _ := eng.Info(ctx)
	// The engine must hold none of the images: every name of them goes,
	// and comes back at the end (pulled from the registry, tagged as
	// before).
	forget := func() {
		for _, ref := range refs {
			exec.Command("docker", "rmi", "-f", ref, locals[ref]).Run()
		}
	}
	defer func() {
		for _, ref := range refs {
			exec.Command("docker", "pull", "-q", ref).Run()
			exec.Command("docker", "tag", ref, locals[ref]).Run()
			exec.Command("docker", "rmi", ref).Run()
		}
	}()

	out, err := exec.Command(cjobBin, "dev", "export", "--compose", "-f", file).Output()
	if err != nil {
		return fmt.Errorf("cjob dev export --compose: %w", err)
	}
	compose := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(compose, out, 0o644); err != nil {
		return err
	}
	var cj, byHand, pulls []time.Duration
	for r := 1; r <= rounds; r++ {
		// cjob
		sh(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet")
		forget()
		start := time.Now()
		if err := sh(cjobBin, "dev", "up", "-f", file, "--progress", "quiet"); err != nil {
			return err
		}
		d := time.Since(start)
		cj = append(cj, d)
		sh(cjobBin, "dev", "down", "-v", "-f", file, "--progress", "quiet")
		fmt.Fprintf(os.Stderr, "round %d cjob dev up      %s\n", r, ms(d))

		// by hand: parallel pulls, then Compose up --wait
		forget()
		name, argv := v2.cmd("onboard-compose", compose, "down", "-v")
		sh(name, argv...)
		start = time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(refs))
		for _, ref := range refs {
			wg.Go(func() {
				if err := sh("docker", "pull", "-q", ref); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		pulls = append(pulls, time.Since(start))
		name, argv = v2.cmd("onboard-compose", compose, "up", "-d", "--wait")
		if err := sh(name, argv...); err != nil {
			return err
		}
		d = time.Since(start)
		byHand = append(byHand, d)
		name, argv = v2.cmd("onboard-compose", compose, "down", "-v")
		sh(name, argv...)
		fmt.Fprintf(os.Stderr, "round %d by hand          %s (pulls %s)\n", r, ms(d), ms(pulls[len(pulls)-1]))
	}
	c, h := medianDur(cj), medianDur(byHand)
	fmt.Printf("\nonboarding %s (%d jobs, %d images from a registry on loopback), median of %d rounds, alternating; Docker %s (%s), %d CPUs, %s\n\n",
		jobsPath, len(f.Jobs()), len(refs), rounds, info.ServerVersion, info.Driver, info.CPUs, time.Now().Format("2006-01-02"))
	fmt.Printf("%-58s %10s\n", "cjob dev up (pulls what is missing, every job healthy)", ms(c))
	fmt.Printf("%-58s %10s\n", "by hand: parallel docker pull + "+v2.label()+" up -d --wait", ms(h))
	fmt.Printf("%-58s %10s\n", "  of which the parallel pulls", ms(medianDur(pulls)))
	fmt.Printf("%-58s %10s\n", "cjob / by hand", ratio(c, h))
	return nil
}

// startRegistry runs Debian's docker-registry on a free loopback port.
func startRegistry(dir string) (string, func(), error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", nil, fmt.Errorf("-onboard needs Debian's docker-registry (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n", filepath.Join(dir, "registry"), addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("docker-registry did not start on %s", addr)
}

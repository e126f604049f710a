// Command demo plays every role of a small CODING-like platform, so that
// examples/coding/jobs.yml can be run locally by cjob from images built
// FROM scratch (see ../build-images.sh).
//
// The role comes from the first argument or, failing that, from $ROLE:
//
//	gateway web api git mail sms cache queue worker migrate prober
//
// With neither, the program runs the "generic" role, used by the legacy
// example (examples/legacy): it listens on every port of $LISTEN (comma
// separated), else on $http_port, $HTTP_PORT or $PORT, else on 9090, 9999
// and 4444 at once, skipping ports that are already in use.
//
// "demo healthcheck [URL]" is a tiny HTTP probe for images that have no curl:
// it GETs URL (default http://127.0.0.1:$PORT/healthz, with the role's
// default port) and exits 0 on a 2xx answer, 1 otherwise.
//
// All configuration comes from environment variables, as in production;
// upstream addresses are production addresses (http://core-app-1:8000).
// Every role that serves HTTP answers GET /healthz and GET / (a JSON status
// that includes the result of calling each upstream) and logs one line per
// request to stdout. The variables every role understands:
//
//	PORT              listen port (default: the role's port)
//	DEMO_UNHEALTHY=1  /healthz answers 500
//	DEMO_START_DELAY  wait this long (e.g. 2s) before listening
//	DEMO_EXIT=N       exit with code N right after startup (after the delay)
//	UPSTREAM_TIMEOUT  timeout of each call to another role (default 2s)
//	LOG_LEVEL=debug   also log every upstream call
//
// SIGTERM and SIGINT shut the program down gracefully in well under a second.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// role is one part the program can play.
type role struct {
	name  string
	port  int // default listen port; 0 for one-shot roles
	build func(c *config) (*service, error)
}

// roles is every role, by name. "generic" is the default.
var roles = map[string]role{
	"gateway": {"gateway", 8080, buildGateway},
	"web":     {"web", 3000, buildWeb},
	"api":     {"api", 8000, buildAPI},
	"git":     {"git", 8090, buildGit},
	"mail":    {"mail", 8025, buildSender},
	"sms":     {"sms", 8030, buildSender},
	"cache":   {"cache", 6379, buildCache},
	"queue":   {"queue", 5672, buildQueue},
	"worker":  {"worker", 9000, buildWorker},
	"migrate": {"migrate", 0, buildMigrate},
	"prober":  {"prober", 4444, buildProber},
	"generic": {"generic", 9090, buildGeneric},
}

// genericPorts are the ports the generic role tries when nothing names one.
var genericPorts = []int{9090, 9999, 4444}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. ctx is cancelled on
// SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	name := strings.TrimSpace(getenv("ROLE"))
	if len(args) > 0 && args[0] != "" {
		name = args[0]
	}
	if name == "healthcheck" {
		return healthcheck(ctx, args[1:], getenv, stdout)
	}
	if name == "" {
		name = "generic"
	}
	r, ok := roles[name]
	if !ok {
		fmt.Fprintf(stdout, "demo: unknown role %q (known: %s)\n", name, strings.Join(roleNames(), ", "))
		return 2
	}
	c := newConfig(r.name, getenv, stdout)
	c.logf("%s starting (pid %d, hostname %s)", r.name, os.Getpid(), c.hostname)

	if d := getenv("DEMO_START_DELAY"); d != "" {
		delay, err := parseDuration(d)
		if err != nil {
			c.logf("%s: DEMO_START_DELAY: %v", r.name, err)
			return 2
		}
		c.logf("%s: delaying start by %s (DEMO_START_DELAY)", r.name, delay)
		select {
		case <-ctx.Done():
			c.logf("%s: stopped before start", r.name)
			return 0
		case <-time.After(delay):
		}
	}
	if v := getenv("DEMO_EXIT"); v != "" {
		code, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || code < 0 || code > 255 {
			c.logf("%s: DEMO_EXIT=%q is not an exit code", r.name, v)
			return 2
		}
		c.logf("%s: exiting with code %d (DEMO_EXIT)", r.name, code)
		return code
	}

	svc, err := r.build(c)
	if err != nil {
		c.logf("%s: %v", r.name, err)
		return 2
	}
	if svc.oneshot != nil {
		return svc.oneshot(ctx)
	}
	ports, tolerant, err := listenPorts(r, getenv)
	if err != nil {
		c.logf("%s: %v", r.name, err)
		return 2
	}
	return serve(ctx, c, svc, ports, tolerant)
}

// listenPorts is where a role listens. tolerant reports whether ports that
// cannot be bound are skipped (the generic role) rather than fatal.
func listenPorts(r role, getenv func(string) string) (ports []int, tolerant bool, err error) {
	if r.name != "generic" {
		p, err := portFrom(getenv, "PORT", r.port)
		return []int{p}, false, err
	}
	if v := getenv("LISTEN"); strings.TrimSpace(v) != "" {
		for _, f := range strings.Split(v, ",") {
			p, err := parsePort(f)
			if err != nil {
				return nil, true, fmt.Errorf("LISTEN: %v", err)
			}
			if !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
		return ports, true, nil
	}
	for _, k := range []string{"http_port", "HTTP_PORT", "PORT"} {
		if v := getenv(k); strings.TrimSpace(v) != "" {
			p, err := parsePort(v)
			if err != nil {
				return nil, true, fmt.Errorf("%s: %v", k, err)
			}
			return []int{p}, true, nil
		}
	}
	return slices.Clone(genericPorts), true, nil
}

func roleNames() []string {
	var names []string
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

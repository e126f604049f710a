package converge

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/devenv"
	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/health"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

// Row is one container of `dev ps`.
type Row struct {
	Kind      string `json:"kind"`
	Job       string `json:"job,omitempty"`
	Task      int    `json:"task,omitempty"`
	Host      string `json:"host"`
	Container string `json:"container"`
	Image     string `json:"image"`
	State     string `json:"state"`
	Status    string `json:"status"`
	ExitCode  int    `json:"exit_code,omitempty"`
	Oneshot   bool   `json:"oneshot,omitempty"`
	Health    string `json:"health"`
	Ports     string `json:"ports,omitempty"`
	Outdated  bool   `json:"outdated"`
	Swapped   string `json:"swapped,omitempty"` // source folder of a local build
	// LiveUpdated is when new code last went into the swapped container
	// without an image build (its image is then older than its code).
	LiveUpdated *time.Time `json:"live_updated,omitempty"`
}

// Execer runs a command in a container: how health is read from inside
// the host sandboxes.
type Execer interface {
	Exec(ctx context.Context, id string, cmd []string) (int, string, error)
}

// StatusEngine is what Status needs of the engine.
type StatusEngine interface {
	Observer
	Execer
}

// Status lists the dev stack's containers with their state and, for
// running tasks with a check, their health checked now: from inside their
// host sandboxes through the engine (probe nil), or with probe from here.
func Status(ctx context.Context, eng StatusEngine, f *prodspec.File, probe apply.Prober) ([]Row, error) {
	res, err := rewriteDev(f, devenv.Options{KeepReplicas: true, SandboxImage: "-"})
	if err != nil {
		return nil, err
	}
	obs, err := eng.Observe(ctx, f.Project, devenv.Env, res.Stack.Network)
	if err != nil {
		return nil, err
	}
	return Rows(ctx, res.Stack, obs, HealthFrom{Engine: eng, Probe: probe}), nil
}

// HealthFrom says how Rows checks health now: with Probe from this machine
// when it is set, else from inside each host sandbox through Engine (one
// exec of `cjob-sandbox probe` per sandbox).
type HealthFrom struct {
	Engine Execer
	Probe  apply.Prober
}

// Rows are the rows of what was observed, against the desired stack st,
// with the health of running tasks checked now.
func Rows(ctx context.Context, st *stack.Stack, obs *stack.Observed, hf HealthFrom) []Row {
	probe := hf.Probe
	inside := map[string][]int{} // sandbox container -> rows checked there
	ips := map[string]string{}
	ports := map[string]string{}
	for _, c := range obs.Containers {
		if c.Kind() == stack.KindSandbox {
			ips[c.Labels[stack.LabelHost]] = c.IP
			var ps []string
			for _, p := range c.Ports {
				ps = append(ps, fmt.Sprintf("127.0.0.1:%d->%d", p.HostPort, p.ContainerPort))
			}
			sort.Strings(ps)
			ports[c.Labels[stack.LabelHost]] = strings.Join(ps, ", ")
		}
	}
	rows := make([]Row, len(obs.Containers))
	var wg sync.WaitGroup
	for i, c := range obs.Containers {
		r := Row{
			Kind: c.Kind().String(), Job: c.Labels[stack.LabelJob], Host: c.Labels[stack.LabelHost],
			Container: c.Name, Image: c.Image, State: c.State.String(), Status: c.Status, ExitCode: c.ExitCode,
			Oneshot: c.Labels[stack.LabelOneshot] == "true", Health: "-",
			Swapped: c.Labels[stack.LabelSwapped],
		}
		fmt.Sscan(c.Labels[stack.LabelTask], &r.Task)
		u := st.Unit(c.Key())
		if c.Kind() == stack.KindSandbox {
			r.Ports = ports[r.Host]
		} else if u != nil {
			var ps []string
			for _, url := range u.URLs {
				ps = append(ps, fmt.Sprint(url.Port))
			}
			r.Ports = strings.Join(ps, ",")
		}
		if u == nil {
			r.Health = "orphan"
		}
		rows[i] = r
		if u == nil || u.Health == nil || c.State != stack.StateRunning || len(u.Health.Cmd) > 0 {
			continue
		}
		if probe == nil && hf.Engine != nil && u.Spec.JoinSandbox != "" {
			inside[u.Spec.JoinSandbox] = append(inside[u.Spec.JoinSandbox], i)
			continue
		}
		if probe == nil {
			probe = health.Probe
		}
		ip := ips[r.Host]
		wg.Add(1)
		go func(i int, chk stack.Check) {
			defer wg.Done()
			chk.Timeout = time.Second
			if err := probe(ctx, &chk, ip); err != nil {
				rows[i].Health = "unhealthy"
			} else {
				rows[i].Health = "healthy"
			}
		}(i, *u.Health)
	}
	for sb, idx := range inside {
		wg.Go(func() { checkInside(ctx, hf.Engine, sb, st, obs, rows, idx) })
	}
	wg.Wait()
	return rows
}

// checkInside checks the tasks of rows idx from inside their host sandbox
// sb, all at once, and sets their health.
func checkInside(ctx context.Context, eng Execer, sb string, st *stack.Stack, obs *stack.Observed, rows []Row, idx []int) {
	targets := map[string][]int{}
	cmd := []string{sandbox.Program, "probe", "--timeout", "1s"}
	for _, i := range idx {
		t := apply.Target(st.Unit(obs.Containers[i].Key()).Health)
		if _, ok := targets[t]; !ok {
			cmd = append(cmd, t)
		}
		targets[t] = append(targets[t], i)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, out, err := eng.Exec(cctx, sb, cmd)
	if err != nil {
		for _, i := range idx {
			rows[i].Health = "unknown"
		}
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		h := "unhealthy"
		if f[0] == "ok" {
			h = "healthy"
		}
		for _, i := range targets[strings.TrimSuffix(f[1], ":")] {
			rows[i].Health = h
		}
	}
}

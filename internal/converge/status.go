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
}

// Status lists the dev stack's containers with their state and, for
// running tasks with a check, their health checked now (probe nil:
// health.Probe).
func Status(ctx context.Context, eng Observer, f *prodspec.File, probe apply.Prober) ([]Row, error) {
	res, err := rewriteDev(f, devenv.Options{KeepReplicas: true, SandboxImage: "-"})
	if err != nil {
		return nil, err
	}
	obs, err := eng.Observe(ctx, f.Project, devenv.Env, res.Stack.Network)
	if err != nil {
		return nil, err
	}
	return Rows(ctx, res.Stack, obs, probe), nil
}

// Rows are the rows of what was observed, against the desired stack st,
// with the health of running tasks checked now (probe nil: health.Probe).
func Rows(ctx context.Context, st *stack.Stack, obs *stack.Observed, probe apply.Prober) []Row {
	if probe == nil {
		probe = health.Probe
	}
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
	wg.Wait()
	return rows
}

package placement

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cjob/cjob/internal/golden"
)

const gib = 1 << 30

// pool makes pool hosts stg-1, stg-2, ... with the given memory in GiB.
func pool(gibs ...float64) []Host {
	var hosts []Host
	for i, g := range gibs {
		hosts = append(hosts, Host{Name: "stg-" + string(rune('1'+i)), Memory: int64(g * gib)})
	}
	return hosts
}

// unit makes a unit with memory in GiB.
func unit(name string, gibs float64, ports []int, jobs ...string) Unit {
	return Unit{Name: name, Memory: int64(gibs * gib), Ports: ports, Jobs: jobs}
}

// production is a small production: two app hosts running the same jobs, a
// database, a cache and a monitoring host.
func production() []Unit {
	return []Unit{
		unit("core-app-1", 2, []int{80, 443}, "coding-core.api", "coding-core.web"),
		unit("core-app-2", 2, []int{80, 443}, "coding-core.api", "coding-core.web"),
		unit("data-1", 4, []int{5432}, "infra.db"),
		unit("cache-1", 1, []int{6379}, "infra.cache"),
		unit("mon-1", 0.5, []int{9090}, "monitoring.prometheus"),
	}
}

// TestPlace runs each scenario and compares String() (or the error) with
// testdata/<name>.golden.
func TestPlace(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"basic", Input{Units: production(), Pool: pool(8, 8, 8)}},
		{"memory-limits", Input{
			Units: []Unit{unit("a", 3, nil), unit("b", 2, nil), unit("c", 1, nil), unit("d", 1, nil)},
			Pool:  pool(4, 3),
		}},
		{"port-conflict", Input{
			// Balance would put both on the big host; port 5432 forces them apart.
			Units: []Unit{unit("db-1", 1, []int{5432}), unit("db-2", 1, []int{5432, 8080})},
			Pool:  pool(16, 2),
		}},
		{"pins", Input{
			Units: production(),
			Pool:  pool(8, 8, 8),
			Pin:   map[string]string{"core-app-1": "stg-3", "data-1": "stg-3", "ghost-1": "stg-1"},
		}},
		{"spread", Input{
			// api runs on 3 units; the big unit makes stg-1 the most loaded,
			// but spreading beats balance.
			Units: []Unit{
				unit("big-1", 6, nil, "batch.crunch"),
				unit("app-1", 1, nil, "core.api"),
				unit("app-2", 1, nil, "core.api"),
				unit("app-3", 1, nil, "core.api"),
			},
			Pool: pool(8, 8, 8),
			Pin:  map[string]string{"big-1": "stg-1"},
		}},
		{"spread-impossible", Input{
			Units: []Unit{unit("app-1", 1, nil, "core.api"), unit("app-2", 1, nil, "core.api"), unit("app-3", 1, nil, "core.api", "core.web")},
			Pool:  pool(8),
		}},
		{"spread-partly", Input{
			// Four api units on three hosts: one pair must share.
			Units: []Unit{unit("app-1", 1, nil, "core.api"), unit("app-2", 1, nil, "core.api"), unit("app-3", 1, nil, "core.api"), unit("app-4", 1, nil, "core.api")},
			Pool:  pool(8, 8, 8),
		}},
		{"unknown-memory", Input{
			Units: []Unit{unit("a", 0, nil), unit("b", 0, nil), unit("c", 2, nil), unit("d", 1, []int{53})},
			Pool:  []Host{{Name: "stg-1", Memory: 4 * gib}, {Name: "stg-2"}},
		}},
		{"previous-kept", Input{
			Units:    production(),
			Pool:     pool(8, 8, 8),
			Previous: map[string]string{"core-app-1": "stg-1", "core-app-2": "stg-3", "data-1": "stg-2", "cache-1": "stg-2", "mon-1": "stg-2"},
		}},
		{"previous-grown", Input{
			// data-1 grew from 4 to 7 GiB and no longer fits next to cache-1
			// and mon-1: the smaller units stay, data-1 moves to stg-3.
			Units: append(production()[:2], unit("data-1", 7, []int{5432}, "infra.db"),
				unit("cache-1", 1, []int{6379}, "infra.cache"), unit("mon-1", 0.5, []int{9090}, "monitoring.prometheus")),
			Pool:     pool(8, 8, 10),
			Previous: map[string]string{"core-app-1": "stg-1", "core-app-2": "stg-3", "data-1": "stg-2", "cache-1": "stg-2", "mon-1": "stg-2"},
		}},
		{"previous-grown-makes-room", Input{
			// data-1 grew from 4 to 7 GiB and fits only on stg-2, where it
			// was: keeping every unit fails, and the search moves mon-1.
			Units: append(production()[:2], unit("data-1", 7, []int{5432}, "infra.db"),
				unit("cache-1", 1, []int{6379}, "infra.cache"), unit("mon-1", 0.5, []int{9090}, "monitoring.prometheus")),
			Pool:     pool(8, 8, 8),
			Previous: map[string]string{"core-app-1": "stg-1", "core-app-2": "stg-3", "data-1": "stg-2", "cache-1": "stg-2", "mon-1": "stg-2"},
		}},
		{"previous-new-port", Input{
			// mon-1 now also listens on 5432, like data-1 next to it.
			Units: append(production()[:4], unit("mon-1", 0.5, []int{5432, 9090}, "monitoring.prometheus")),
			Pool:  pool(8, 8, 8),
			Previous: map[string]string{"core-app-1": "stg-1", "core-app-2": "stg-3", "data-1": "stg-2", "cache-1": "stg-2",
				"mon-1": "stg-2"},
		}},
		{"previous-host-gone", Input{
			Units:    production(),
			Pool:     pool(8, 8),
			Previous: map[string]string{"core-app-1": "stg-1", "core-app-2": "stg-3", "data-1": "stg-2", "cache-1": "stg-3", "mon-1": "stg-2"},
		}},
		{"previous-pool-grown", Input{
			// The basic placement, deployed, and a fourth pool host: nothing moves.
			Units:    production(),
			Pool:     pool(8, 8, 8, 16),
			Previous: map[string]string{"core-app-1": "stg-3", "core-app-2": "stg-1", "data-1": "stg-2", "cache-1": "stg-3", "mon-1": "stg-1"},
		}},
		{"previous-pinned-away", Input{
			Units:    production(),
			Pool:     pool(8, 8, 8),
			Pin:      map[string]string{"data-1": "stg-3"},
			Previous: map[string]string{"core-app-1": "stg-3", "core-app-2": "stg-1", "data-1": "stg-2", "cache-1": "stg-3", "mon-1": "stg-1"},
		}},
		{"previous-no-room", Input{
			// Keeping b and c where they were leaves no room for a (6 GiB):
			// the search moves c.
			Units:    []Unit{unit("a", 6, nil), unit("b", 3, nil), unit("c", 3, nil)},
			Pool:     pool(8, 8),
			Previous: map[string]string{"b": "stg-1", "c": "stg-2"},
		}},
		{"search", Input{
			// First fit (least loaded) gets stuck; the search finds
			// 4+4+4 on one host and 3+3+3+3 on the other.
			Units: []Unit{unit("a", 4, nil), unit("b", 4, nil), unit("c", 4, nil),
				unit("d", 3, nil), unit("e", 3, nil), unit("f", 3, nil), unit("g", 3, nil)},
			Pool: pool(12, 12),
		}},
		{"empty", Input{Pool: pool(8)}},
		{"infeasible-unit", Input{
			Units: []Unit{unit("core-app-1", 6, []int{80}), unit("core-db-1", 1, []int{5432}), unit("data-1", 6, []int{5432})},
			Pool:  pool(8, 8),
			Pin:   map[string]string{"core-app-1": "stg-1", "core-db-1": "stg-2"},
		}},
		{"infeasible-too-big", Input{
			Units: []Unit{unit("data-1", 10, nil), unit("core-app-1", 1, nil)},
			Pool:  pool(8, 4),
		}},
		{"infeasible-port-crowd", Input{
			Units: []Unit{unit("a", 1, []int{9100}), unit("b", 1, []int{9100}), unit("c", 1, []int{9100})},
			Pool:  pool(8, 8),
		}},
		{"infeasible-total-memory", Input{
			Units: []Unit{unit("a", 5, nil), unit("b", 5, nil), unit("c", 5, nil)},
			Pool:  pool(8, 6),
		}},
		{"infeasible-pin-memory", Input{
			Units: []Unit{unit("a", 5, nil), unit("b", 4, nil)},
			Pool:  pool(8, 8),
			Pin:   map[string]string{"a": "stg-1", "b": "stg-1"},
		}},
		{"infeasible-pin-port", Input{
			Units: []Unit{unit("db-1", 1, []int{5432}), unit("db-2", 1, []int{5432})},
			Pool:  pool(8, 8),
			Pin:   map[string]string{"db-1": "stg-2", "db-2": "stg-2"},
		}},
		{"infeasible-search", Input{
			// Each fits alone, no two fit together, three units, two hosts.
			Units: []Unit{unit("a", 6, nil), unit("b", 6, nil), unit("c", 6, nil)},
			Pool:  pool(10, 10),
		}},
		{"infeasible-ports-search", Input{
			// A triangle of port conflicts on two hosts.
			Units: []Unit{unit("a", 1, []int{1, 2}), unit("b", 1, []int{2, 3}), unit("c", 1, []int{3, 1})},
			Pool:  pool(8, 8),
		}},
		{"error-pin-unknown-host", Input{
			Units: production(),
			Pool:  pool(8, 8),
			Pin:   map[string]string{"data-1": "stg-9"},
		}},
		{"error-duplicate", Input{
			Units: []Unit{unit("a", 1, nil), unit("a", 1, nil)},
			Pool:  pool(8),
		}},
		{"error-empty-pool", Input{Units: production()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Place(tt.in)
			var got string
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				if v := violations(tt.in, pl.Assign); v != "" {
					t.Errorf("hard constraint broken: %s", v)
				}
				got = render(pl)
			}
			if strings.HasPrefix(tt.name, "infeasible-") {
				var inf *Infeasible
				if !errors.As(err, &inf) {
					t.Errorf("error is %T, want *Infeasible: %v", err, err)
				}
			}
			if strings.HasPrefix(tt.name, "error-") && err == nil {
				t.Errorf("no error")
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

// render is what the golden files hold: the table, then the notes.
func render(pl *Placement) string {
	var b strings.Builder
	b.WriteString(pl.String())
	if len(pl.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range pl.Notes {
			b.WriteString("  " + n + "\n")
		}
	}
	return b.String()
}

// TestInfeasibleFields checks the structured error callers may inspect.
func TestInfeasibleFields(t *testing.T) {
	_, err := Place(Input{
		Units: []Unit{unit("core-app-1", 6, []int{80}), unit("core-db-1", 1, []int{5432}), unit("data-1", 6, []int{5432})},
		Pool:  pool(8, 8),
		Pin:   map[string]string{"core-app-1": "stg-1", "core-db-1": "stg-2"},
	})
	var inf *Infeasible
	if !errors.As(err, &inf) {
		t.Fatalf("error %v, want *Infeasible", err)
	}
	want := &Infeasible{Unit: "data-1", Memory: 6 * gib, Refusals: []Refusal{
		{Host: "stg-1", Free: 2 * gib, Total: 8 * gib, Short: 4 * gib},
		{Host: "stg-2", Free: 7 * gib, Total: 8 * gib, Port: 5432, With: "core-db-1"},
	}}
	if diff := cmp.Diff(want, inf); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestInputOrder checks that the order of Units and Pool does not matter.
func TestInputOrder(t *testing.T) {
	in := Input{Units: production(), Pool: pool(8, 8, 8)}
	a, err := Place(in)
	if err != nil {
		t.Fatal(err)
	}
	rev := Input{Pool: pool(8, 8, 8)}
	for i := len(in.Units) - 1; i >= 0; i-- {
		rev.Units = append(rev.Units, in.Units[i])
	}
	rev.Pool[0], rev.Pool[2] = rev.Pool[2], rev.Pool[0]
	b, err := Place(rev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(render(a), render(b)); diff != "" {
		t.Errorf("(-in order +reversed):\n%s", diff)
	}
}

// violations describes the hard constraints assign breaks, or "".
func violations(in Input, assign map[string]string) string {
	var out []string
	hosts := map[string]Host{}
	for _, h := range in.Pool {
		hosts[h.Name] = h
	}
	used := map[string]int64{}
	portOwner := map[string]map[int]string{}
	for _, u := range in.Units {
		h, ok := assign[u.Name]
		if !ok {
			out = append(out, u.Name+" not placed")
			continue
		}
		if _, ok := hosts[h]; !ok {
			out = append(out, u.Name+" on unknown host "+h)
		}
		if pin, ok := in.Pin[u.Name]; ok && pin != h {
			out = append(out, u.Name+" not on its pin "+pin)
		}
		used[h] += u.Memory
		if portOwner[h] == nil {
			portOwner[h] = map[int]string{}
		}
		for _, p := range u.Ports {
			if o, ok := portOwner[h][p]; ok && o != u.Name {
				out = append(out, u.Name+" and "+o+" share a port on "+h)
			}
			portOwner[h][p] = u.Name
		}
	}
	if len(assign) != len(in.Units) {
		out = append(out, "extra units assigned")
	}
	for name, h := range hosts {
		if h.Memory > 0 && used[name] > h.Memory {
			out = append(out, name+" over memory")
		}
	}
	return strings.Join(out, "; ")
}

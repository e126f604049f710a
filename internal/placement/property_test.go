package placement

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// gen describes random inputs.
type gen struct {
	maxHosts, maxUnits int
	ports              int     // ports are drawn from 8000 .. 8000+ports-1
	unitGiB            float64 // largest unit memory
	pin                float64 // chance a unit is pinned
}

// input draws a random input: pool hosts with random (sometimes unknown)
// memory, units with random memory, ports from a small range so that they
// conflict, and a few jobs shared between units.
func (g gen) input(r *rand.Rand) Input {
	var in Input
	for i := range 1 + r.Intn(g.maxHosts) {
		h := Host{Name: fmt.Sprintf("stg-%02d", i+1)}
		if r.Intn(10) > 0 {
			h.Memory = int64(1+r.Intn(16)) * gib / 2
		}
		in.Pool = append(in.Pool, h)
	}
	for i := range 1 + r.Intn(g.maxUnits) {
		u := Unit{Name: fmt.Sprintf("host-%02d", i+1)}
		if r.Intn(10) > 0 {
			u.Memory = int64(r.Float64()*g.unitGiB*gib) + 1
		}
		for range r.Intn(3) {
			u.Ports = append(u.Ports, 8000+r.Intn(g.ports))
		}
		for range r.Intn(3) {
			u.Jobs = append(u.Jobs, fmt.Sprintf("svc.job-%d", r.Intn(6)))
		}
		in.Units = append(in.Units, u)
		if r.Float64() < g.pin {
			if in.Pin == nil {
				in.Pin = map[string]string{}
			}
			in.Pin[u.Name] = in.Pool[r.Intn(len(in.Pool))].Name
		}
	}
	return in
}

var (
	small  = gen{maxHosts: 3, maxUnits: 6, ports: 4, unitGiB: 6, pin: 0.1}
	medium = gen{maxHosts: 4, maxUnits: 12, ports: 8, unitGiB: 4, pin: 0.05}
	large  = gen{maxHosts: 10, maxUnits: 60, ports: 40, unitGiB: 2, pin: 0.05}
)

// bruteForce reports whether some assignment satisfies the hard
// constraints. It is independent of Place: it tries every pool host for every
// unit in input order, abandoning a partial assignment as soon as it breaks a
// constraint.
func bruteForce(in Input) bool {
	used := make([]int64, len(in.Pool))
	ports := make([]map[int]bool, len(in.Pool))
	for h := range ports {
		ports[h] = map[int]bool{}
	}
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(in.Units) {
			return true
		}
		u := in.Units[i]
		for h, host := range in.Pool {
			if pin, ok := in.Pin[u.Name]; ok && pin != host.Name {
				continue
			}
			if host.Memory > 0 && used[h]+u.Memory > host.Memory {
				continue
			}
			if slices.ContainsFunc(u.Ports, func(p int) bool { return ports[h][p] }) {
				continue
			}
			used[h] += u.Memory
			for _, p := range u.Ports {
				ports[h][p] = true
			}
			ok := try(i + 1)
			used[h] -= u.Memory
			for _, p := range u.Ports {
				delete(ports[h], p)
			}
			if ok {
				return true
			}
		}
		return false
	}
	return try(0)
}

// TestProperties checks, on random inputs, that a placement keeps the hard
// constraints, is deterministic and stable, and that a failure is real.
func TestProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  gen
		n    int
	}{{"small", small, 400}, {"medium", medium, 300}, {"large", large, 300}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(3))
			placed, failed := 0, 0
			for i := range tc.n {
				in := tc.gen.input(r)
				checkInput(t, fmt.Sprintf("%s #%d", tc.name, i), in, r, &placed, &failed)
			}
			t.Logf("%d placed, %d infeasible", placed, failed)
			if placed == 0 || failed == 0 {
				t.Errorf("the generator should give both feasible and infeasible inputs")
			}
		})
	}
}

func checkInput(t *testing.T, name string, in Input, r *rand.Rand, placed, failed *int) {
	t.Helper()
	small := len(in.Units) <= 12 && len(in.Pool) <= 4
	pl, err := Place(in)
	if err != nil {
		*failed++
		var inf *Infeasible
		if !errors.As(err, &inf) {
			t.Fatalf("%s: error %v is not *Infeasible", name, err)
		}
		if inf.Exhausted {
			t.Errorf("%s: search exhausted: %v", name, err)
		}
		if small && bruteForce(in) {
			t.Errorf("%s: Place failed (%v) but a placement exists\n%+v", name, err, in)
		}
		return
	}
	*placed++
	if v := violations(in, pl.Assign); v != "" {
		t.Fatalf("%s: %s\n%s", name, v, pl)
	}

	// Deterministic.
	again, err := Place(in)
	if err != nil {
		t.Fatalf("%s: second run failed: %v", name, err)
	}
	if diff := cmp.Diff(pl, again); diff != "" {
		t.Fatalf("%s: second run differs:\n%s", name, diff)
	}

	// Stable: with Previous = Assign, nothing moves.
	in.Previous = pl.Assign
	kept, err := Place(in)
	if err != nil {
		t.Fatalf("%s: with Previous: %v", name, err)
	}
	if diff := cmp.Diff(pl.Assign, kept.Assign); diff != "" {
		t.Fatalf("%s: units moved with Previous = Assign:\n%s", name, diff)
	}

	// Adding a pool host moves nothing.
	grown := in
	grown.Pool = append(append([]Host(nil), in.Pool...), Host{Name: "stg-new", Memory: int64(r.Intn(16)) * gib})
	more, err := Place(grown)
	if err != nil {
		t.Fatalf("%s: with one more pool host: %v", name, err)
	}
	if diff := cmp.Diff(pl.Assign, more.Assign); diff != "" {
		t.Fatalf("%s: units moved when a pool host was added:\n%s", name, diff)
	}

	// Growing one unit that still fits where it is moves nothing.
	changed := in
	changed.Units = append([]Unit(nil), in.Units...)
	u := r.Intn(len(changed.Units))
	changed.Units[u].Memory += int64(r.Intn(4)) * gib / 4
	changed.Units[u].Jobs = append(append([]string(nil), changed.Units[u].Jobs...), "svc.new")
	after, err := Place(changed)
	if violations(changed, pl.Assign) == "" {
		if err != nil {
			t.Fatalf("%s: after growing %s, which still fits: %v", name, changed.Units[u].Name, err)
		}
		if diff := cmp.Diff(pl.Assign, after.Assign); diff != "" {
			t.Fatalf("%s: units moved after growing %s, which still fits:\n%s", name, changed.Units[u].Name, diff)
		}
	} else if err == nil {
		if v := violations(changed, after.Assign); v != "" {
			t.Fatalf("%s: after growing: %s", name, v)
		}
	}

	// A random, possibly infeasible, previous placement: Place succeeds
	// (a placement exists) and keeps the hard constraints.
	prev := map[string]string{}
	for _, unit := range in.Units {
		prev[unit.Name] = in.Pool[r.Intn(len(in.Pool))].Name
	}
	prev["ghost"] = "stg-01"
	in.Previous = prev
	moved, err := Place(in)
	if err != nil {
		t.Fatalf("%s: with a random Previous: %v", name, err)
	}
	if v := violations(in, moved.Assign); v != "" {
		t.Fatalf("%s: with a random Previous: %s", name, v)
	}
}

// TestSpreadEven checks spreading where nothing else constrains it: units
// of one job each, unlimited memory, no ports. Each job's units are spread
// evenly: no pool host holds more than ceil(units/hosts) of them.
func TestSpreadEven(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for i := range 200 {
		var in Input
		for h := range 1 + r.Intn(8) {
			in.Pool = append(in.Pool, Host{Name: fmt.Sprintf("stg-%d", h+1), Memory: int64(r.Intn(2)) * 64 * gib})
		}
		count := map[string]int{}
		for u := range 1 + r.Intn(40) {
			job := fmt.Sprintf("svc.job-%d", r.Intn(5))
			count[job]++
			in.Units = append(in.Units, Unit{Name: fmt.Sprintf("host-%02d", u), Memory: int64(r.Intn(4)) * gib / 4, Jobs: []string{job}})
		}
		pl, err := Place(in)
		if err != nil {
			t.Fatal(err)
		}
		per := map[[2]string]int{}
		for _, u := range in.Units {
			key := [2]string{u.Jobs[0], pl.Assign[u.Name]}
			per[key]++
			if limit := (count[u.Jobs[0]] + len(in.Pool) - 1) / len(in.Pool); per[key] > limit {
				t.Fatalf("#%d: %s holds %d units of %s, more than %d\n%s", i, key[1], per[key], key[0], limit, pl)
			}
		}
	}
}

// TestFreshStability measures how many units move when a pool host is added
// to a placement made without Previous: nothing is promised, and it is
// logged. With Previous, nothing moves (TestProperties).
func TestFreshStability(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	moved, total := 0, 0
	for range 50 {
		var in Input
		for i := range 10 {
			in.Pool = append(in.Pool, Host{Name: fmt.Sprintf("stg-%02d", i+1), Memory: 32 * gib})
		}
		for i := range 60 {
			in.Units = append(in.Units, Unit{Name: fmt.Sprintf("host-%02d", i+1),
				Memory: int64(1+r.Intn(8)) * gib / 4, Ports: []int{8000 + r.Intn(40)}, Jobs: []string{fmt.Sprintf("svc.job-%d", r.Intn(20))}})
		}
		before, err := Place(in)
		if err != nil {
			t.Fatal(err)
		}
		in.Pool = append(in.Pool, Host{Name: "stg-11", Memory: 32 * gib})
		after, err := Place(in)
		if err != nil {
			t.Fatal(err)
		}
		for u, h := range before.Assign {
			if after.Assign[u] != h {
				moved++
			}
		}
		total += len(before.Assign)
	}
	t.Logf("adding an 11th pool host to a fresh placement moved %d of %d units (%.0f%%; the new host's fair share is %.0f%%)",
		moved, total, 100*float64(moved)/float64(total), 100.0/11)
}

// TestSearchLimit checks that a search stopped at its limit says so.
func TestSearchLimit(t *testing.T) {
	defer func(n int) { searchLimit = n }(searchLimit)
	searchLimit = 5
	in := Input{
		// 12 GiB pairs fit only as 4+4+4 and 3+3+3+3 (see the search golden).
		Units: []Unit{unit("a", 4, nil), unit("b", 4, nil), unit("c", 4, nil),
			unit("d", 3, nil), unit("e", 3, nil), unit("f", 3, nil), unit("g", 3, nil)},
		Pool: pool(12, 12),
	}
	_, err := Place(in)
	var inf *Infeasible
	if !errors.As(err, &inf) || !inf.Exhausted {
		t.Fatalf("error %v, want an exhausted search", err)
	}
	t.Log(err)
}

// TestPreviousUntouched checks that Place does not modify its input.
func TestPreviousUntouched(t *testing.T) {
	in := Input{Units: production(), Pool: pool(8, 8, 8), Previous: map[string]string{"data-1": "stg-1"}}
	prev := maps.Clone(in.Previous)
	units := append([]Unit(nil), in.Units...)
	if _, err := Place(in); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(prev, in.Previous); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(units, in.Units); diff != "" {
		t.Error(diff)
	}
}

// benchInput is 200 units on 10 pool hosts: memory from 128 MiB to 2 GiB,
// one or two ports from 100, jobs from 40.
func benchInput(units, hosts int) Input {
	r := rand.New(rand.NewSource(1))
	var in Input
	for i := range hosts {
		in.Pool = append(in.Pool, Host{Name: fmt.Sprintf("stg-%02d", i+1), Memory: int64(units/hosts+8) * gib})
	}
	for i := range units {
		u := Unit{Name: fmt.Sprintf("host-%03d", i+1), Memory: int64(1+r.Intn(16)) * gib / 8}
		for range 1 + r.Intn(2) {
			u.Ports = append(u.Ports, 8000+r.Intn(units/2))
		}
		for range 1 + r.Intn(3) {
			u.Jobs = append(u.Jobs, fmt.Sprintf("svc.job-%d", r.Intn(40)))
		}
		in.Units = append(in.Units, u)
	}
	return in
}

func BenchmarkPlace200x10(b *testing.B) {
	in := benchInput(200, 10)
	if _, err := Place(in); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Place(in)
	}
}

func BenchmarkPlace500x50(b *testing.B) {
	in := benchInput(500, 50)
	if _, err := Place(in); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Place(in)
	}
}

func BenchmarkPlace200x10Previous(b *testing.B) {
	in := benchInput(200, 10)
	pl, err := Place(in)
	if err != nil {
		b.Fatal(err)
	}
	in.Previous = pl.Assign
	for b.Loop() {
		Place(in)
	}
}

// Package placement decides which staging pool host runs each production
// host, for `cjob staging up`.
//
// Staging mirrors production on a small pool of Docker hosts. The unit of
// placement is a whole production host (a Unit): all its tasks go to one pool
// host and run there with host networking, as in production. Place is a pure
// function: no Docker, no I/O, and the same Input always gives the same
// Placement, byte for byte.
//
// # Rules
//
// Hard constraints, never broken:
//
//   - Memory: the units on a pool host need no more than its memory (a pool
//     host with Memory 0 is unknown and treated as unlimited).
//   - Ports: two units that listen on a common port never share a pool host.
//   - Pins: a pinned unit goes to its pool host, or Place fails naming it.
//
// Preferences, in order:
//
//  1. Stability: a unit in Input.Previous stays on its pool host whenever the
//     hard constraints allow it, even if that leaves a job unspread or the
//     pool unbalanced. Re-running with Previous set to the last Assign moves
//     nothing, and so does adding a pool host. Changing units (more memory,
//     a new port, another job) moves only the units their previous pool host
//     can no longer hold: previous units are kept smallest first, which keeps
//     the most of them. Only if the kept units leave no room for the others
//     does the search move more of them, and a note says so.
//  2. Spreading: units holding tasks of the same job go to different pool
//     hosts. When that is impossible (more such units than pool hosts, or
//     the hard constraints forbid it), co-location is kept low: each unit
//     goes where the fewest tasks of its jobs already are, and a note names
//     the job.
//  3. Balance: the least loaded pool host, by memory fraction after placing
//     the unit, then by number of units. When some pool host has unknown
//     memory, fractions mean nothing, and pool hosts are balanced by number
//     of units, then memory used.
//  4. Ties: rendezvous (highest random weight) hashing of (unit, pool host),
//     then pool host name.
//
// # Search
//
// Pinned units are placed first, then previous units that still fit are
// kept. The rest are placed by a depth-first search whose first descent is
// first fit decreasing: the unit with the fewest feasible pool hosts next
// (at first, all have all: then the largest memory first), each on its most
// preferred feasible pool host. After each placement, forward checking drops
// that pool host from units that no longer fit there; the search backtracks
// when a unit fits nowhere or the free memory cannot hold the rest, and
// treats empty pool hosts of equal memory as one. Half of its budget
// (searchLimit) goes to this order; if that runs out, restarts with best fit
// and then random orders share the other half. If the kept units leave no
// placement, the search runs again with only the pins fixed, preferring
// previous hosts (and, if that runs out, without preferring them). A final
// pass moves newly placed units to pool hosts holding fewer tasks of their
// jobs, when the hard constraints allow it.
//
// A run that ends before the budget is spent has tried every arrangement:
// an *Infeasible error with Exhausted false means no placement exists. The
// budget is spent only on large, nearly full pools; the tests check the
// search against a brute force on small inputs.
//
// # Fresh placements
//
// Without Previous, nothing is promised about moves. The rendezvous
// tie-breaker decides only between pool hosts that are equally loaded and
// share as many jobs, which is rare once units differ in memory: a new empty
// pool host is the least loaded and attracts the first units, and every
// later choice shifts. TestFreshStability measures it: adding an 11th pool
// host to a fresh placement of 60 units on 10 moves about three quarters of
// them. Stability is what Previous is for: pass the deployed placement, and
// adding a pool host moves nothing.
package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// Unit is one production host: the thing placed, whole, on a pool host.
type Unit struct {
	Name   string
	Memory int64    // bytes its jobs need (the sum of their memory limits); 0 when none is set
	Ports  []int    // ports its tasks listen on; two units with a common port never share a pool host
	Jobs   []string // full names of the jobs with a task on it, for spreading
}

// Host is one pool host.
type Host struct {
	Name   string
	Memory int64 // bytes available to staging; 0 when unknown (treated as unlimited)
}

// Input is everything Place needs. The order of Units and Pool does not
// matter.
type Input struct {
	Units []Unit
	Pool  []Host
	// Pin fixes units to pool hosts (environments.staging.pin). A pin naming
	// a unit not in Units is ignored, with a note.
	Pin map[string]string
	// Previous is where units run now (from the engines' labels). A unit is
	// kept there when the hard constraints allow it. Entries naming unknown
	// units are ignored; entries naming pool hosts no longer in the pool are
	// moved, with a note.
	Previous map[string]string
}

// Placement is the result of Place.
type Placement struct {
	// Assign maps each unit to its pool host.
	Assign map[string]string
	// Hosts is the load of every pool host, sorted by name.
	Hosts []HostLoad
	// Notes explain the placement, one sentence each: warnings about the
	// input, then why each unit went where (sorted by unit), then jobs that
	// could not be spread (sorted by job).
	Notes []string
}

// HostLoad is what a pool host holds in a Placement.
type HostLoad struct {
	Name   string
	Memory int64  // the pool host's memory; 0 when unknown
	Used   int64  // memory its units need
	Units  []Unit // the units placed on it, sorted by name
}

// Ports returns the ports used on the pool host, sorted.
func (h HostLoad) Ports() []int {
	var ports []int
	for _, u := range h.Units {
		ports = append(ports, u.Ports...)
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// searchLimit bounds the backtracking search, in units of work: each step
// (placing one unit) costs the number of units left plus the number of pool
// hosts. First fit needs one step per unit; the limit stops a hopeless
// search on the largest pools (500 units, 50 hosts) in about a second, and
// allows millions of steps on small ones.
var searchLimit = 10_000_000

// Place assigns every unit to a pool host. It returns an *Infeasible error
// when the hard constraints leave no placement (or the search gave up), and
// another error when the input is malformed: duplicate or empty names,
// negative sizes, a pin to a pool host not in the pool, or an empty pool.
func Place(in Input) (*Placement, error) {
	p, err := newProblem(in)
	if err != nil {
		return nil, err
	}
	return p.solve()
}

// validate checks the input for mistakes that are not placement failures.
func validate(in Input) error {
	hosts := make(map[string]bool, len(in.Pool))
	for _, h := range in.Pool {
		switch {
		case h.Name == "":
			return fmt.Errorf("pool host with no name")
		case hosts[h.Name]:
			return fmt.Errorf("pool host %s listed twice", h.Name)
		case h.Memory < 0:
			return fmt.Errorf("pool host %s: negative memory %d", h.Name, h.Memory)
		}
		hosts[h.Name] = true
	}
	units := make(map[string]bool, len(in.Units))
	for _, u := range in.Units {
		switch {
		case u.Name == "":
			return fmt.Errorf("production host with no name")
		case units[u.Name]:
			return fmt.Errorf("production host %s listed twice", u.Name)
		case u.Memory < 0:
			return fmt.Errorf("production host %s: negative memory %d", u.Name, u.Memory)
		}
		for _, port := range u.Ports {
			if port < 1 || port > 65535 {
				return fmt.Errorf("production host %s: port %d out of range", u.Name, port)
			}
		}
		units[u.Name] = true
	}
	if len(in.Units) > 0 && len(in.Pool) == 0 {
		return fmt.Errorf("the staging pool is empty: declare pool hosts in environments.staging.pool")
	}
	for _, unit := range sortedKeys(in.Pin) {
		host := in.Pin[unit]
		if units[unit] && !hosts[host] {
			names := make([]string, 0, len(in.Pool))
			for _, h := range in.Pool {
				names = append(names, h.Name)
			}
			slices.Sort(names)
			return fmt.Errorf("production host %s is pinned to %s, which is not in the pool (pool: %s)",
				unit, host, joinList(names))
		}
	}
	return nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package placement

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// inputNotes warns about the input: unknown memory, ignored pins.
func (p *problem) inputNotes(in Input, unitIdx map[string]int) {
	var unknown []string
	for _, h := range p.hosts {
		if h.Memory == 0 {
			unknown = append(unknown, h.Name)
		}
	}
	if len(unknown) > 0 {
		p.notes = append(p.notes, fmt.Sprintf("%s: memory unknown, treated as unlimited; pool hosts are balanced by number of production hosts, not memory",
			nameList("pool host", unknown)))
	}
	var none []string
	for _, u := range p.units {
		if u.Memory == 0 {
			none = append(none, u.Name)
		}
	}
	if len(none) > 0 {
		p.notes = append(p.notes, fmt.Sprintf("%s: no memory limit on the jobs, counted as 0 B", nameList("production host", none)))
	}
	for _, unit := range sortedKeys(in.Pin) {
		if _, ok := unitIdx[unit]; !ok {
			p.notes = append(p.notes, fmt.Sprintf("pin %s -> %s ignored: no production host %s runs in staging", unit, in.Pin[unit], unit))
		}
	}
}

// nameList writes "pool host stg-1" or "pool hosts stg-1 and stg-2".
func nameList(noun string, names []string) string {
	if len(names) == 1 {
		return noun + " " + names[0]
	}
	return noun + "s " + joinList(names)
}

// placement builds the Placement of a solved problem.
func (r *result) placement() *Placement {
	s, p := r.s, r.s.p
	pl := &Placement{Assign: make(map[string]string, len(p.units))}
	for _, h := range p.hosts {
		pl.Hosts = append(pl.Hosts, HostLoad{Name: h.Name, Memory: h.Memory})
	}
	for u, h := range s.assign {
		pl.Assign[p.units[u].Name] = p.hosts[h].Name
		pl.Hosts[h].Used += p.units[u].Memory
		pl.Hosts[h].Units = append(pl.Hosts[h].Units, p.units[u])
	}

	pl.Notes = slices.Clone(p.notes)
	if r.phase == phaseMove {
		pl.Notes = append(pl.Notes, "keeping every deployed production host where it is left no placement, so some of them move")
	}
	if r.steps > 0 {
		pl.Notes = append(pl.Notes, fmt.Sprintf("first fit got stuck; the backtracking search found this placement in %d steps", r.steps))
	}
	why := r.why()
	for u, unit := range p.units {
		pl.Notes = append(pl.Notes, fmt.Sprintf("%s -> %s: %s", unit.Name, p.hosts[s.assign[u]].Name, why[u]))
	}
	pl.Notes = append(pl.Notes, r.spreadNotes()...)
	return pl
}

// why explains each unit's pool host, replaying the search's decisions.
func (r *result) why() []string {
	p := r.s.p
	why := make([]string, len(p.units))
	replay := newState(p)
	for _, u := range r.fixed {
		h := r.searched[u]
		switch {
		case p.pin[u] < 0:
			why[u] = "kept (deployed there)"
		case p.prevGone[u] != "":
			why[u] = "pinned; moved from " + p.prevGone[u] + ", which left the pool"
		case p.prev[u] >= 0 && p.prev[u] != h:
			why[u] = "pinned; moved from " + p.hosts[p.prev[u]].Name
		default:
			why[u] = "pinned"
		}
		replay.place(u, h)
	}
	for _, u := range r.order {
		h := r.searched[u]
		why[u] = replay.explain(u, h)
		replay.place(u, h)
		if r.spread[u] != "" {
			why[u] = r.spread[u]
		}
		switch {
		case p.prevGone[u] != "":
			why[u] = "moved from " + p.prevGone[u] + ", which left the pool; " + why[u]
		case r.evicted[u] != nil:
			why[u] = "moved from " + r.evicted[u].Host + ", which now " + r.evicted[u].reason() + "; " + why[u]
		case p.prev[u] >= 0 && p.prev[u] != r.s.assign[u]:
			why[u] = "moved from " + p.hosts[p.prev[u]].Name + " to make room; " + why[u]
		}
	}
	return why
}

// explain says why unit u goes to host h rather than elsewhere, in state s
// (before placing it).
func (s *state) explain(u, h int) string {
	p := s.p
	if p.prev[u] == h {
		return "kept (deployed there)"
	}
	chosen := s.cand(u, h)
	first, next := cand{h: -1}, cand{h: -1} // the best feasible host, the best after the chosen one
	var better []cand                       // refused hosts that rank higher than the chosen one
	var refused []int                       // all refused hosts but the one it left
	for i := range p.hosts {
		c := s.cand(u, i)
		if !s.fits(u, i) {
			if !c.prev {
				refused = append(refused, i)
				if compareCand(c, chosen) < 0 {
					better = append(better, c)
				}
			}
			continue
		}
		if first.h < 0 || compareCand(c, first) < 0 {
			first = c
		}
		if i != h && compareCand(c, chosen) > 0 && (next.h < 0 || compareCand(c, next) < 0) {
			next = c
		}
	}
	if first.h != h {
		return fmt.Sprintf("placed by the search (its first choice, %s, left no placement for the others)", p.hosts[first.h].Name)
	}
	if next.h < 0 {
		switch {
		case len(p.hosts) == 1:
			return "the only pool host"
		case len(refused) == 0: // the one it left is the only other
			return "the only other pool host"
		}
		var others []string
		for _, i := range refused {
			others = append(others, s.refusal(u, i).String())
		}
		return "the only pool host it fits: " + strings.Join(others, ", ")
	}
	slices.SortFunc(better, compareCand)
	var refusals []string
	for _, c := range better {
		refusals = append(refusals, s.refusal(u, c.h).String())
	}
	why := s.compare(u, chosen, next)
	if len(refusals) > 0 {
		why += "; ranked higher but refused: " + strings.Join(refusals, ", ")
	}
	return why
}

// compare says why candidate a beats candidate b for unit u.
func (s *state) compare(u int, a, b cand) string {
	p := s.p
	other := p.hosts[b.h].Name
	switch {
	case a.coll != b.coll:
		job, unit := s.sharedJob(u, b.h)
		if a.coll == 0 {
			return fmt.Sprintf("spreads %s (%s holds %s)", job, other, unit)
		}
		return fmt.Sprintf("fewest tasks of its jobs (%s holds %s of %s)", other, unit, job)
	case p.byCount && a.load != b.load:
		return fmt.Sprintf("least loaded (%s there, %s on %s)", plural(s.count[a.h], "production host"), plural(s.count[b.h], "production host"), other)
	case p.byCount && a.load2 != b.load2:
		return fmt.Sprintf("least loaded (%s used there, %s on %s)", size(s.used[a.h]), size(s.used[b.h]), other)
	case a.load != b.load:
		return fmt.Sprintf("least loaded (%.0f%% of memory after, %.0f%% on %s)", 100*a.load, 100*b.load, other)
	case a.load2 != b.load2:
		return fmt.Sprintf("least loaded (%s there, %s on %s)", plural(s.count[a.h], "production host"), plural(s.count[b.h], "production host"), other)
	}
	return fmt.Sprintf("as loaded as %s; chosen by hash", other)
}

// spreadNotes names the jobs whose units share a pool host.
func (r *result) spreadNotes() []string {
	s, p := r.s, r.s.p
	holders := make([][]int, len(p.jobs)) // job -> units
	for u, jobs := range p.unitJobs {
		for _, j := range jobs {
			holders[j] = append(holders[j], u)
		}
	}
	order := make([]int, len(p.jobs))
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(p.jobs[a], p.jobs[b]) })
	var notes []string
	for _, j := range order {
		byHost := make([][]string, len(p.hosts))
		shared := false
		for _, u := range holders[j] {
			h := s.assign[u]
			byHost[h] = append(byHost[h], p.units[u].Name)
			shared = shared || len(byHost[h]) > 1
		}
		if !shared {
			continue
		}
		var where []string
		for h, names := range byHost {
			if len(names) > 1 {
				where = append(where, p.hosts[h].Name+" holds "+joinList(names))
			}
		}
		if len(holders[j]) > len(p.hosts) {
			notes = append(notes, fmt.Sprintf("job %s not spread: it runs on %s and the pool has %s; %s",
				p.jobs[j], plural(len(holders[j]), "production host"), plural(len(p.hosts), "pool host"), strings.Join(where, ", ")))
		} else {
			notes = append(notes, fmt.Sprintf("job %s not spread: %s (the search found no better spread within memory, ports, pins and deployed placements)",
				p.jobs[j], strings.Join(where, ", ")))
		}
	}
	return notes
}

// String renders the placement as a table, one row per pool host followed
// by a row per production host on it: memory used of total, and ports. It
// is what `cjob staging explain` prints, and deterministic. The notes are
// not part of it (callers print them with the other notes).
func (pl *Placement) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "POOL HOST\tPRODUCTION HOST\tMEMORY\tPORTS")
	for _, h := range pl.Hosts {
		memory := size(h.Used) + " of unknown"
		if h.Memory > 0 {
			memory = fmt.Sprintf("%s of %s (%.0f%%)", size(h.Used), size(h.Memory), 100*float64(h.Used)/float64(h.Memory))
		}
		fmt.Fprintf(w, "%s\t\t%s\t%s\n", h.Name, memory, ports(h.Ports()))
		for _, u := range h.Units {
			memory := "-"
			if u.Memory > 0 {
				memory = size(u.Memory)
			}
			fmt.Fprintf(w, "\t%s\t%s\t%s\n", u.Name, memory, ports(u.Ports))
		}
	}
	w.Flush()
	return b.String()
}

// ports writes "80, 443", or "-".
func ports(ps []int) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

package placement

import (
	"cmp"
	"hash/fnv"
	"slices"
)

// problem is the normalised input, indexed: units and hosts sorted by name,
// ports and jobs numbered.
type problem struct {
	units     []Unit    // sorted by name; Ports and Jobs sorted, without duplicates
	hosts     []Host    // sorted by name
	unitPorts [][]int32 // port numbers (indexes into portVal) of each unit
	portVal   []int     // port number -> port
	portUsers [][]int32 // port number -> units listening on it
	unitJobs  [][]int32 // job numbers of each unit
	jobs      []string  // job number -> full name
	pin       []int     // unit -> pinned host, or -1
	prev      []int     // unit -> previous host in the pool, or -1
	noPrev    bool      // do not prefer previous hosts (a fresh search)
	prevGone  []string  // unit -> previous host no longer in the pool, or ""
	degree    []int     // unit -> how many port conflicts it has
	unitHash  []uint64
	hostHash  []uint64
	byCount   bool     // some pool host has unknown memory: balance by unit count
	unknown   []int    // pool hosts of unknown memory
	notes     []string // warnings about the input
}

func newProblem(in Input) (*problem, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	p := &problem{
		units: make([]Unit, len(in.Units)),
		hosts: slices.Clone(in.Pool),
	}
	for i, u := range in.Units {
		u.Ports = slices.Compact(slices.Sorted(slices.Values(u.Ports)))
		u.Jobs = slices.Compact(slices.Sorted(slices.Values(u.Jobs)))
		p.units[i] = u
	}
	slices.SortFunc(p.units, func(a, b Unit) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(p.hosts, func(a, b Host) int { return cmp.Compare(a.Name, b.Name) })
	hostIdx := make(map[string]int, len(p.hosts))
	for i, h := range p.hosts {
		hostIdx[h.Name] = i
		p.hostHash = append(p.hostHash, hash64(h.Name))
		if h.Memory == 0 {
			p.byCount = true
			p.unknown = append(p.unknown, i)
		}
	}
	unitIdx := make(map[string]int, len(p.units))
	portNum := map[int]int32{}
	jobNum := map[string]int32{}
	for i, u := range p.units {
		unitIdx[u.Name] = i
		p.unitHash = append(p.unitHash, hash64(u.Name))
		var ports []int32
		for _, port := range u.Ports {
			n, ok := portNum[port]
			if !ok {
				n = int32(len(p.portVal))
				portNum[port] = n
				p.portVal = append(p.portVal, port)
				p.portUsers = append(p.portUsers, nil)
			}
			ports = append(ports, n)
			p.portUsers[n] = append(p.portUsers[n], int32(i))
		}
		p.unitPorts = append(p.unitPorts, ports)
		var jobs []int32
		for _, job := range u.Jobs {
			n, ok := jobNum[job]
			if !ok {
				n = int32(len(p.jobs))
				jobNum[job] = n
				p.jobs = append(p.jobs, job)
			}
			jobs = append(jobs, n)
		}
		p.unitJobs = append(p.unitJobs, jobs)
	}
	p.degree = make([]int, len(p.units))
	for u, ports := range p.unitPorts {
		for _, port := range ports {
			p.degree[u] += len(p.portUsers[port]) - 1
		}
	}

	p.pin = make([]int, len(p.units))
	p.prev = make([]int, len(p.units))
	p.prevGone = make([]string, len(p.units))
	for i, u := range p.units {
		p.pin[i], p.prev[i] = -1, -1
		if h, ok := in.Pin[u.Name]; ok {
			p.pin[i] = hostIdx[h] // validate checked it is in the pool
		}
		if h, ok := in.Previous[u.Name]; ok {
			if j, ok := hostIdx[h]; ok {
				p.prev[i] = j
			} else {
				p.prevGone[i] = h
			}
		}
	}
	p.inputNotes(in, unitIdx)
	return p, nil
}

// hash64 is a well-mixed 64-bit hash of s, for rendezvous hashing.
func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return mix64(h.Sum64())
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// weight is the rendezvous weight of placing unit u on host h: the host with
// the highest weight wins a tie.
func (p *problem) weight(u, h int) uint64 {
	return mix64(p.unitHash[u] ^ mix64(p.hostHash[h]+0x9e3779b97f4a7c15))
}

// state is a partial placement.
type state struct {
	p       *problem
	assign  []int   // unit -> host, or -1
	used    []int64 // host -> memory of its units
	count   []int   // host -> number of units
	portUse []int32 // host*len(portVal)+port -> units using it (0 or 1)
	jobUse  []int32 // host*len(jobs)+job -> units holding a task of it
}

func newState(p *problem) *state {
	s := &state{
		p:       p,
		assign:  make([]int, len(p.units)),
		used:    make([]int64, len(p.hosts)),
		count:   make([]int, len(p.hosts)),
		portUse: make([]int32, len(p.hosts)*len(p.portVal)),
		jobUse:  make([]int32, len(p.hosts)*len(p.jobs)),
	}
	for i := range s.assign {
		s.assign[i] = -1
	}
	return s
}

func (s *state) place(u, h int) {
	s.assign[u] = h
	s.used[h] += s.p.units[u].Memory
	s.count[h]++
	for _, port := range s.p.unitPorts[u] {
		s.portUse[h*len(s.p.portVal)+int(port)]++
	}
	for _, job := range s.p.unitJobs[u] {
		s.jobUse[h*len(s.p.jobs)+int(job)]++
	}
}

func (s *state) unplace(u int) {
	h := s.assign[u]
	s.assign[u] = -1
	s.used[h] -= s.p.units[u].Memory
	s.count[h]--
	for _, port := range s.p.unitPorts[u] {
		s.portUse[h*len(s.p.portVal)+int(port)]--
	}
	for _, job := range s.p.unitJobs[u] {
		s.jobUse[h*len(s.p.jobs)+int(job)]--
	}
}

// fitsMemory reports whether unit u fits in the free memory of host h.
func (s *state) fitsMemory(u, h int) bool {
	total := s.p.hosts[h].Memory
	return total == 0 || s.used[h]+s.p.units[u].Memory <= total
}

// portClash returns a port of unit u already used on host h, or -1.
func (s *state) portClash(u, h int) int {
	row := s.portUse[h*len(s.p.portVal):]
	for _, port := range s.p.unitPorts[u] {
		if row[port] > 0 {
			return int(port)
		}
	}
	return -1
}

// fits reports whether unit u can go to host h: the hard constraints.
func (s *state) fits(u, h int) bool {
	return s.fitsMemory(u, h) && s.portClash(u, h) < 0
}

// collisions is how many tasks of unit u's jobs host h already holds.
func (s *state) collisions(u, h int) int32 {
	row := s.jobUse[h*len(s.p.jobs):]
	var n int32
	for _, job := range s.p.unitJobs[u] {
		n += row[job]
	}
	return n
}

// cand is a host as a candidate for a unit, with the soft criteria that rank
// it.
type cand struct {
	h     int
	prev  bool    // the unit's previous host
	coll  int32   // tasks of the unit's jobs already there
	load  float64 // memory fraction after placing (by count: number of units)
	load2 int64   // number of units (by count: memory used)
	w     uint64  // rendezvous weight
}

func (s *state) cand(u, h int) cand {
	c := cand{h: h, prev: !s.p.noPrev && s.p.prev[u] == h, coll: s.collisions(u, h), w: s.p.weight(u, h)}
	if s.p.byCount {
		c.load, c.load2 = float64(s.count[h]), s.used[h]
	} else {
		c.load = float64(s.used[h]+s.p.units[u].Memory) / float64(s.p.hosts[h].Memory)
		c.load2 = int64(s.count[h])
	}
	return c
}

// compareCand orders candidates best first: the previous host, fewest
// collisions, least loaded, highest rendezvous weight, then name.
func compareCand(a, b cand) int {
	if a.prev != b.prev {
		if a.prev {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.coll, b.coll); c != 0 {
		return c
	}
	if c := cmp.Compare(a.load, b.load); c != 0 {
		return c
	}
	if c := cmp.Compare(a.load2, b.load2); c != 0 {
		return c
	}
	if c := cmp.Compare(b.w, a.w); c != 0 {
		return c
	}
	return cmp.Compare(a.h, b.h)
}

// candidates appends the hosts unit u fits on to buf, in no order.
func (s *state) candidates(u int, buf []cand) []cand {
	buf = buf[:0]
	for h := range s.p.hosts {
		if s.fits(u, h) {
			buf = append(buf, s.cand(u, h))
		}
	}
	return buf
}

// bestFirst moves the best of cands to the front, by compare. Callers that
// usually need only the best one (the search's first descent) call it on
// shrinking tails instead of sorting.
func bestFirst(cands []cand, compare func(a, b cand) int) {
	b := 0
	for i := 1; i < len(cands); i++ {
		if compare(cands[i], cands[b]) < 0 {
			b = i
		}
	}
	cands[0], cands[b] = cands[b], cands[0]
}

// bestFit orders candidates by free memory, least first, as bin packing
// does; pool hosts of unknown memory come last.
func (d *search) bestFit(a, b cand) int {
	left := func(c cand) int64 {
		if m := d.s.p.hosts[c.h].Memory; m > 0 {
			return m - d.s.used[c.h]
		}
		return 1<<63 - 1
	}
	if c := cmp.Compare(left(a), left(b)); c != 0 {
		return c
	}
	return cmp.Compare(a.h, b.h)
}

// byWeight orders candidates by weight alone: the perturbed order of
// restarts.
func byWeight(a, b cand) int { return cmp.Compare(a.w, b.w) }

// ffdOrder sorts units for first fit decreasing: largest memory first, then
// most port conflicts, then name.
func (p *problem) ffdOrder(units []int) {
	slices.SortFunc(units, func(a, b int) int {
		if c := cmp.Compare(p.units[b].Memory, p.units[a].Memory); c != 0 {
			return c
		}
		if c := cmp.Compare(p.degree[b], p.degree[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

// search is a depth-first search with forward checking and backtracking. It
// places the pending units on top of a state, the most constrained first
// (fewest pool hosts left, then first fit decreasing order), each on its
// pool hosts in preference order, so that its first descent is a greedy
// first fit. After each placement it drops the pool host from the units that
// no longer fit there, and backtracks as soon as one fits nowhere or the
// free memory cannot hold the rest.
type search struct {
	s         *state
	pending   []int  // units not placed yet
	rank      []int  // unit -> position in first fit decreasing order
	ok        []bool // unit*len(hosts)+host -> the unit fits there now
	dom       []int  // unit -> how many pool hosts it fits
	trail     []int  // ok entries cleared, to restore when backtracking
	path      []int  // units in the order they were placed
	bufs      [][]cand
	steps     int    // nodes visited
	work      int    // pending units and pool hosts looked at, over all nodes
	backtrack int    // placements undone
	limit     int    // work in all
	stop      int    // work at which the current run stops
	seed      uint64 // 0 for the first run; then perturbs the order of restarts
	exhausted bool
}

func newSearch(s *state, units []int, limit int) *search {
	p := s.p
	nh := len(p.hosts)
	d := &search{s: s, pending: slices.Clone(units), limit: limit, rank: make([]int, len(p.units)),
		ok: make([]bool, len(p.units)*nh), dom: make([]int, len(p.units)), bufs: make([][]cand, len(units))}
	backing := make([]cand, len(units)*nh)
	for i := range d.bufs {
		d.bufs[i] = backing[i*nh : i*nh : (i+1)*nh]
	}
	p.ffdOrder(d.pending)
	for i, u := range d.pending {
		d.rank[u] = i
		for h := range nh {
			if s.fits(u, h) {
				d.ok[u*nh+h] = true
				d.dom[u]++
			}
		}
	}
	return d
}

// run reports whether all pending units could be placed; if so, they are
// placed in the state, else the state is as it was.
func (d *search) run() bool {
	for _, u := range d.pending {
		if d.dom[u] == 0 {
			return false
		}
	}
	if !d.memoryBound() {
		return false
	}
	// The first run follows the preferences, with half the budget. If it
	// stops at its limit, runs with other orders and doubling limits share
	// the other half: backtracking search has heavy tails, and restarts
	// escape a bad early choice. The first restart packs (best fit), the
	// others try pool hosts in a random order.
	budget, restart := d.limit/2, d.limit/64
	for {
		d.stop = d.work + budget
		d.exhausted = false
		if d.dfs() {
			return true
		}
		left := d.limit - d.work
		if !d.exhausted || left <= 0 {
			return false
		}
		d.seed++
		restart *= 2
		budget = min(restart, left)
	}
}

// memoryBound reports whether the pending units may still fit by memory.
// Units that fit no pool host of unknown memory must fit in the free memory
// of the others, and free memory on a pool host too full for even the
// smallest of them is wasted.
func (d *search) memoryBound() bool {
	p := d.s.p
	nh := len(p.hosts)
	var need int64
	minMem := int64(1<<63 - 1)
	for _, v := range d.pending {
		if slices.ContainsFunc(p.unknown, func(h int) bool { return d.ok[v*nh+h] }) {
			continue
		}
		need += p.units[v].Memory
		minMem = min(minMem, p.units[v].Memory)
	}
	if need == 0 {
		return true
	}
	var usable int64
	for h, host := range p.hosts {
		if free := host.Memory - d.s.used[h]; host.Memory > 0 && free >= minMem {
			usable += free
		}
	}
	return need <= usable
}

// tieRank orders units with as many pool hosts left: first fit decreasing
// order, perturbed in restarts.
func (d *search) tieRank(u int) uint64 {
	if d.seed == 0 {
		return uint64(d.rank[u])
	}
	return mix64(d.s.p.unitHash[u] ^ d.seed)
}

// pick returns the index in pending of the unit to place next.
func (d *search) pick() int {
	best := 0
	for i := 1; i < len(d.pending); i++ {
		u, b := d.pending[i], d.pending[best]
		if d.dom[u] < d.dom[b] || d.dom[u] == d.dom[b] && d.tieRank(u) < d.tieRank(b) {
			best = i
		}
	}
	return best
}

func (d *search) dfs() bool {
	if len(d.pending) == 0 {
		return true
	}
	d.steps++
	d.work += len(d.pending) + len(d.s.p.hosts)
	if d.work > d.stop {
		d.exhausted = true
		return false
	}
	p := d.s.p
	i, last := d.pick(), len(d.pending)-1
	u := d.pending[i]
	d.pending[i], d.pending[last] = d.pending[last], d.pending[i]
	d.pending = d.pending[:last]
	depth := len(d.path)
	d.path = append(d.path, u)

	cands := d.bufs[depth][:0]
	for h := range p.hosts {
		if d.ok[u*len(p.hosts)+h] {
			cands = append(cands, d.s.cand(u, h))
		}
	}
	compare := compareCand
	switch {
	case d.seed == 1:
		compare = d.bestFit
	case d.seed > 1:
		for i := range cands {
			cands[i].w = mix64(cands[i].w ^ d.seed)
		}
		compare = byWeight
	}
	d.bufs[depth] = cands
	// Empty pool hosts of equal memory are interchangeable: try one of them.
	var tried [4]int64
	triedEmpty := tried[:0]
	for k := range cands {
		bestFirst(cands[k:], compare)
		c := cands[k]
		if d.s.count[c.h] == 0 {
			m := p.hosts[c.h].Memory
			if slices.Contains(triedEmpty, m) {
				continue
			}
			triedEmpty = append(triedEmpty, m)
		}
		d.s.place(u, c.h)
		mark := len(d.trail)
		if d.forward(c.h) && d.dfs() {
			return true
		}
		d.restore(mark)
		d.s.unplace(u)
		d.backtrack++
		if d.exhausted {
			break
		}
	}

	d.path = d.path[:depth]
	d.pending = d.pending[:last+1]
	d.pending[i], d.pending[last] = d.pending[last], d.pending[i]
	return false
}

// forward drops host h from the pending units that no longer fit there,
// after a unit was placed on it. It reports false when a pending unit fits
// nowhere or the memory bound fails.
func (d *search) forward(h int) bool {
	nh := len(d.s.p.hosts)
	alive := true
	for _, v := range d.pending {
		if k := v*nh + h; d.ok[k] && !d.s.fits(v, h) {
			d.ok[k] = false
			d.dom[v]--
			d.trail = append(d.trail, k)
			alive = alive && d.dom[v] > 0
		}
	}
	return alive && d.memoryBound()
}

// restore undoes forward back to a mark in the trail.
func (d *search) restore(mark int) {
	nh := len(d.s.p.hosts)
	for _, k := range d.trail[mark:] {
		d.ok[k] = true
		d.dom[k/nh]++
	}
	d.trail = d.trail[:mark]
}

// phase says how a solution was reached, for the notes.
type phase int

const (
	phaseKeep phase = iota // previous units that still fit were kept
	phaseMove              // keeping them left no placement: only pins fixed
)

// result is a solved problem, with what the notes need.
type result struct {
	s        *state
	phase    phase
	fixed    []int      // units placed before the search, in order: pins, then kept units
	order    []int      // units placed by the search, in order
	searched []int      // assignment the search found, before spreading moves
	evicted  []*Refusal // unit -> why its previous host refused it (keep phase)
	spread   []string   // unit -> note when the spreading pass moved it
	steps    int        // search steps, when first fit got stuck
}

func (p *problem) solve() (*Placement, error) {
	s := newState(p)
	r := &result{s: s, evicted: make([]*Refusal, len(p.units)), spread: make([]string, len(p.units))}

	// Pins, by unit name.
	for u := range p.units {
		if h := p.pin[u]; h >= 0 {
			if !s.fits(u, h) {
				e := s.infeasible(u, false)
				e.Pin = p.hosts[h].Name
				e.Refusals = []Refusal{s.refusal(u, h)}
				return nil, e
			}
			s.place(u, h)
			r.fixed = append(r.fixed, u)
		}
	}
	pins := len(r.fixed)
	if err := s.impossible(); err != nil {
		return nil, err
	}

	// Keep previous units that still fit, smallest first.
	var kept []int
	for u := range p.units {
		if p.pin[u] < 0 && p.prev[u] >= 0 {
			kept = append(kept, u)
		}
	}
	slices.SortStableFunc(kept, func(a, b int) int { return cmp.Compare(p.units[a].Memory, p.units[b].Memory) })
	for _, u := range kept {
		if h := p.prev[u]; s.fits(u, h) {
			s.place(u, h)
			r.fixed = append(r.fixed, u)
		} else {
			ref := s.refusal(u, h)
			r.evicted[u] = &ref
		}
	}

	rest := unplaced(s)
	d := newSearch(s, rest, searchLimit)
	if !d.run() {
		// Keeping the previous units left no placement: search again with
		// only the pins fixed, still preferring previous hosts.
		for _, u := range r.fixed[pins:] {
			s.unplace(u)
		}
		r.fixed = r.fixed[:pins]
		r.phase = phaseMove
		for u := range p.units {
			r.evicted[u] = nil
			if h := p.prev[u]; h >= 0 && p.pin[u] < 0 && !s.fits(u, h) {
				ref := s.refusal(u, h)
				r.evicted[u] = &ref
			}
		}
		rest = unplaced(s)
		d = newSearch(s, rest, searchLimit)
		ok, exhausted := d.run(), d.exhausted
		if !ok && exhausted {
			// Preferring previous hosts may have led the search astray:
			// search as for a fresh placement.
			p.noPrev = true
			d = newSearch(s, rest, searchLimit)
			ok, exhausted = d.run(), d.exhausted
		}
		if !ok {
			// First fit is the search's first descent, so it fails too,
			// unless the search stopped at its limit on another path.
			p.ffdOrder(rest)
			e := s.firstFit(rest)
			if e != nil {
				e.Exhausted = exhausted
				e.Units, e.Pool = len(p.units), len(p.hosts)
				return nil, e
			}
			d.path = rest
		}
	}
	r.order = d.path
	if d.backtrack > 0 {
		r.steps = d.steps
	}
	r.searched = slices.Clone(s.assign)
	r.spreadMoves()
	return r.placement(), nil
}

// unplaced returns the units not placed in s.
func unplaced(s *state) []int {
	var units []int
	for u, h := range s.assign {
		if h < 0 {
			units = append(units, u)
		}
	}
	return units
}

// impossible checks what no search can fix, given the pins: a port used by
// more units than there are pool hosts, more memory needed than the pool
// has, and a unit that fits no pool host even with only the pins placed.
func (s *state) impossible() *Infeasible {
	p := s.p
	for port, users := range p.portUsers {
		if len(users) > len(p.hosts) {
			var names []string
			for _, u := range users {
				names = append(names, p.units[u].Name)
			}
			return &Infeasible{Port: p.portVal[port], PortUsers: names, Pool: len(p.hosts)}
		}
	}
	if !p.byCount {
		var need, have int64
		for _, u := range p.units {
			need += u.Memory
		}
		for _, h := range p.hosts {
			have += h.Memory
		}
		if need > have {
			return &Infeasible{Need: need, Have: have, Pool: len(p.hosts)}
		}
	}
	for u := range p.units {
		if s.assign[u] >= 0 {
			continue
		}
		ok := false
		for h := range p.hosts {
			if s.fits(u, h) {
				ok = true
				break
			}
		}
		if !ok {
			return s.infeasible(u, false)
		}
	}
	return nil
}

// firstFit places units in order, each on its best pool host. If one fits
// nowhere, it describes that one and leaves the state as it was. When the
// search fails, first fit fails too (it is the search's first descent when
// nothing is more constrained than the rest), and where it got stuck is the
// clearest explanation there is.
func (s *state) firstFit(order []int) *Infeasible {
	var buf []cand
	for i, u := range order {
		buf = s.candidates(u, buf)
		if len(buf) == 0 {
			e := s.infeasible(u, true)
			for _, v := range order[:i] {
				s.unplace(v)
			}
			return e
		}
		bestFirst(buf, compareCand)
		s.place(u, buf[0].h)
	}
	return nil
}

// spreadMoves moves units the search placed (not pinned, not kept) to pool
// hosts holding fewer tasks of their jobs, where they fit. Every move lowers
// the number of co-located task pairs, so it ends; the rounds are bounded
// anyway.
func (r *result) spreadMoves() {
	s, p := r.s, r.s.p
	var buf []cand
	for range 10 {
		moved := false
		for _, u := range r.order {
			h := s.assign[u]
			if p.prev[u] == h || len(p.unitJobs[u]) == 0 {
				continue
			}
			s.unplace(u)
			here := s.collisions(u, h)
			buf = s.candidates(u, buf)
			best := -1
			for i, c := range buf { // the best ranked of those sharing fewest jobs
				if c.coll < here && (best < 0 || compareCand(c, buf[best]) < 0) {
					best = i
				}
			}
			if best < 0 {
				s.place(u, h)
				continue
			}
			job, other := s.sharedJob(u, h)
			r.spread[u] = "spreads " + job + " (first fit chose " + p.hosts[h].Name + ", which holds " + other + ")"
			s.place(u, buf[best].h)
			moved = true
		}
		if !moved {
			return
		}
	}
}

// sharedJob returns a job of unit u with a task on host h, and a unit on h
// holding it.
func (s *state) sharedJob(u, h int) (job, unit string) {
	for _, j := range s.p.unitJobs[u] {
		if s.jobUse[h*len(s.p.jobs)+int(j)] == 0 {
			continue
		}
		for v, hv := range s.assign {
			if v != u && hv == h && slices.Contains(s.p.unitJobs[v], j) {
				return s.p.jobs[j], s.p.units[v].Name
			}
		}
	}
	return "", ""
}

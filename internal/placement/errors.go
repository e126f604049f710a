package placement

import (
	"fmt"
	"slices"
	"strings"
)

// Infeasible is the error Place returns when the hard constraints leave no
// placement. It names the cause: either one unit and why every pool host
// refuses it, or a cause that involves the whole pool (a port listened on by
// more units than there are pool hosts, or more memory needed than the pool
// has). Error suggests a fix.
type Infeasible struct {
	// Unit is the production host that fits no pool host; empty for the
	// pool-wide causes below.
	Unit   string
	Memory int64 // memory Unit needs
	// Pin is set when Unit is pinned to this pool host and does not fit
	// there; Refusals then holds that pool host alone.
	Pin string
	// Refusals says why each pool host refuses Unit, sorted by pool host.
	Refusals []Refusal
	// Partial is set when Refusals describe the pool after first fit placed
	// other units (Unit fits on its own); the search then tried every other
	// arrangement, unless Exhausted.
	Partial bool
	// Exhausted is set when the search stopped at its limit before trying
	// every arrangement: a placement may exist.
	Exhausted bool
	// Units and Pool count the production and pool hosts, when Partial.
	Units, Pool int

	// Port is a port that more units listen on than there are pool hosts,
	// PortUsers those units.
	Port      int
	PortUsers []string

	// Need and Have are the memory all units need and the pool has, when
	// Need > Have.
	Need, Have int64
}

// Refusal is why one pool host cannot take a unit.
type Refusal struct {
	Host        string
	Free, Total int64 // the pool host's free and total memory; 0 when unknown
	Short       int64 // memory missing; 0 when the unit fits by memory
	Port        int   // a port already used there; 0 when none
	With        string
}

// Memory reports whether the unit does not fit by memory.
func (r Refusal) Memory() bool { return r.Short > 0 }

// String says why, starting with the pool host: "stg-1 has 2.0 GiB free of
// 8.0 GiB (4.0 GiB short)", "stg-2 shares port 5432 with core-db-1".
func (r Refusal) String() string { return r.Host + " " + r.reason() }

func (r Refusal) reason() string {
	var parts []string
	if r.Memory() {
		parts = append(parts, fmt.Sprintf("has %s free of %s (%s short)", size(r.Free), size(r.Total), size(r.Short)))
	}
	if r.Port > 0 {
		parts = append(parts, fmt.Sprintf("shares port %d with %s", r.Port, r.With))
	}
	return strings.Join(parts, " and ")
}

// refusal says why unit u does not fit on host h in state s.
func (s *state) refusal(u, h int) Refusal {
	p := s.p
	host := p.hosts[h]
	r := Refusal{Host: host.Name, Total: host.Memory}
	if host.Memory > 0 {
		r.Free = host.Memory - s.used[h]
	}
	if !s.fitsMemory(u, h) {
		r.Short = p.units[u].Memory - r.Free
	}
	if port := s.portClash(u, h); port >= 0 {
		r.Port = p.portVal[port]
		for _, v := range p.portUsers[port] {
			if int(v) != u && s.assign[v] == h {
				r.With = p.units[v].Name
				break
			}
		}
	}
	return r
}

// infeasible describes unit u fitting no pool host in state s.
func (s *state) infeasible(u int, partial bool) *Infeasible {
	e := &Infeasible{Unit: s.p.units[u].Name, Memory: s.p.units[u].Memory, Partial: partial}
	for h := range s.p.hosts {
		if !s.fits(u, h) {
			e.Refusals = append(e.Refusals, s.refusal(u, h))
		}
	}
	return e
}

func (e *Infeasible) Error() string {
	var b strings.Builder
	switch {
	case e.Port > 0:
		fmt.Fprintf(&b, "port %d is used by %d production hosts (%s) but the pool has %s, and with host networking each needs its own: add %s, or exclude a job listening on port %d from staging",
			e.Port, len(e.PortUsers), joinList(e.PortUsers), plural(e.Pool, "pool host"), plural(len(e.PortUsers)-e.Pool, "pool host"), e.Port)
		return b.String()
	case e.Need > 0:
		fmt.Fprintf(&b, "the production hosts need %s in all but the pool has %s (%s short): add a pool host or memory, or lower memory limits in environments.staging.jobs",
			size(e.Need), size(e.Have), size(e.Need-e.Have))
		return b.String()
	}

	fmt.Fprintf(&b, "production host %s (%s)", e.Unit, needs(e.Memory))
	var reasons []string
	for _, r := range e.Refusals {
		reasons = append(reasons, r.String())
	}
	switch {
	case e.Pin != "":
		fmt.Fprintf(&b, " is pinned to %s but does not fit there: %s", e.Pin, strings.Join(reasons, ", "))
	case e.Partial:
		fmt.Fprintf(&b, " fits no pool host once first fit has placed the others: %s", strings.Join(reasons, ", "))
		if e.Exhausted {
			b.WriteString("; the search gave up before trying every arrangement, so a placement may exist: pin some production hosts to guide it")
		} else {
			fmt.Fprintf(&b, "; no arrangement of the %s on the %s fits", plural(e.Units, "production host"), plural(e.Pool, "pool host"))
		}
	default:
		fmt.Fprintf(&b, " fits no pool host: %s", strings.Join(reasons, ", "))
	}
	b.WriteString("; ")
	b.WriteString(e.fix())
	return b.String()
}

// fix suggests what to change.
func (e *Infeasible) fix() string {
	memory := slices.ContainsFunc(e.Refusals, Refusal.Memory)
	var nums []int
	for _, r := range e.Refusals {
		if r.Port > 0 {
			nums = append(nums, r.Port)
		}
	}
	slices.Sort(nums)
	var ports []string
	for _, p := range slices.Compact(nums) {
		ports = append(ports, fmt.Sprint(p))
	}
	var fixes []string
	switch {
	case e.Pin != "":
		fixes = append(fixes, "move or remove the pin (environments.staging.pin)")
	case memory:
		fixes = append(fixes, "add a pool host with "+size(e.Memory)+" free")
	default:
		fixes = append(fixes, "add a pool host")
	}
	if memory {
		fixes = append(fixes, "lower the memory limits of "+e.Unit+"'s jobs (environments.staging.jobs)")
	}
	if len(ports) == 1 {
		fixes = append(fixes, "exclude a job listening on port "+ports[0]+" from staging")
	} else if len(ports) > 1 {
		fixes = append(fixes, "exclude jobs listening on ports "+joinList(ports)+" from staging")
	}
	return "to fix: " + joinOr(fixes)
}

// needs describes a unit's memory: "needs 6.0 GiB", "no memory limit".
func needs(m int64) string {
	if m == 0 {
		return "no memory limit"
	}
	return "needs " + size(m)
}

// size formats a size in binary units: "512 B", "1.5 KiB", "6.0 GiB".
func size(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 && f > -1024 {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	return fmt.Sprintf("%.1f PiB", f/1024)
}

// plural writes n and a noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// joinList writes "a", "a and b", "a, b and c".
func joinList(items []string) string {
	return joinWith(items, "and")
}

// joinOr writes "a", "a or b", "a, b or c".
func joinOr(items []string) string {
	return joinWith(items, "or")
}

func joinWith(items []string, word string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + word + " " + items[len(items)-1]
}

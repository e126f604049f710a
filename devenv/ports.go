package devenv

import (
	"fmt"
	"sort"

	"github.com/cjob/cjob/internal/rewrite"
	"github.com/cjob/cjob/internal/stack"
)

// PortProbe reports whether a port on 127.0.0.1 can be published: nothing
// on this machine listens on it.
type PortProbe func(port int) bool

// AssignPorts chooses the local port each sandbox publishes. A job keeps its
// production port when it is free; a port already used on this machine, or
// wanted by two sandboxes, moves to the next free port above it. Ports the
// stack's running sandboxes already publish stay where they are, so a second
// `up` changes nothing. The result is deterministic: sandboxes are served in
// key order. It returns a note for every move.
func AssignPorts(st *stack.Stack, observed *stack.Observed, free PortProbe) []rewrite.Note {
	current := map[string]map[int]int{} // sandbox key -> container port -> host port
	ours := map[int]bool{}              // host ports held by this stack's sandboxes
	if observed != nil {
		for _, c := range observed.Containers {
			if c.Kind() != stack.KindSandbox {
				continue
			}
			m := map[int]int{}
			for _, p := range c.Ports {
				m[p.ContainerPort] = p.HostPort
				ours[p.HostPort] = true
			}
			current[c.Key()] = m
		}
	}
	taken := map[int]bool{}
	var notes []rewrite.Note
	var sandboxes []*stack.Unit
	for _, u := range st.Units {
		if u.Kind == stack.KindSandbox {
			sandboxes = append(sandboxes, u)
		}
	}
	sort.Slice(sandboxes, func(i, j int) bool { return sandboxes[i].Key < sandboxes[j].Key })
	// First pass: keep the ports already published by this stack.
	for _, sb := range sandboxes {
		for i, p := range sb.Spec.Publish {
			if hp, ok := current[sb.Key][p.ContainerPort]; ok && !taken[hp] {
				sb.Spec.Publish[i].HostPort = hp
				taken[hp] = true
			} else {
				sb.Spec.Publish[i].HostPort = 0
			}
		}
	}
	// Second pass: place the rest.
	for _, sb := range sandboxes {
		for i, p := range sb.Spec.Publish {
			if p.HostPort != 0 {
				continue
			}
			want := p.ContainerPort
			hp := want
			for ; hp <= 65535; hp++ {
				if taken[hp] || ours[hp] {
					continue
				}
				if free == nil || free(hp) {
					break
				}
			}
			if hp > 65535 {
				hp = 0 // the engine picks one
			}
			sb.Spec.Publish[i].HostPort = hp
			taken[hp] = true
			if hp != want {
				why := "in use on this machine"
				if takenBySandbox(sandboxes[:], sb, want) {
					why = "also used by another host sandbox"
				}
				notes = append(notes, rewrite.Note{Subject: "host " + sb.Host, Text: fmt.Sprintf("port %d published on 127.0.0.1:%d (%d is %s)", want, hp, want, why)})
			}
		}
	}
	// Tell the tasks where they answer.
	bySandbox := map[string]map[int]int{}
	for _, sb := range sandboxes {
		m := map[int]int{}
		for _, p := range sb.Spec.Publish {
			m[p.ContainerPort] = p.HostPort
		}
		bySandbox[sb.Key] = m
	}
	for _, u := range st.Units {
		for i := range u.URLs {
			if hp := bySandbox[u.Sandbox][u.URLs[i].Port]; hp != 0 {
				u.URLs[i].Local = fmt.Sprintf("127.0.0.1:%d", hp)
				if u.URLs[i].HTTP {
					u.URLs[i].Local = "http://" + u.URLs[i].Local
				}
			}
		}
	}
	return notes
}

func takenBySandbox(all []*stack.Unit, self *stack.Unit, port int) bool {
	for _, sb := range all {
		if sb == self {
			continue
		}
		for _, p := range sb.Spec.Publish {
			if p.ContainerPort == port && sb.Key < self.Key {
				return true
			}
		}
	}
	return false
}

package ui

import (
	"fmt"
	"slices"
	"strings"
)

// The topology page's dependency graph: every job a node, laid out in
// rows by how deep its dependencies go (the jobs nothing needs at the top,
// data stores at the bottom), an edge from each job to each job it talks
// to (depends_on, and the addresses its env names). Drawn as inline SVG by
// the server: no script, nothing fetched; it scales to the page's width.

const (
	gNodeW, gNodeH = 200, 46
	gColGap        = 24
	gRowGap        = 56
	gPad           = 12
)

type graphNode struct {
	Job, State, Hosts, Count string
	Swapped                  string // dev: what the job runs instead of production's image
	X, Y, W, H               int
}

type graphEdge struct {
	From, To, Why string
	D             string // the SVG path
}

type graph struct {
	Nodes  []graphNode
	Edges  []graphEdge
	W, H   int
	Cycles bool // some dependencies go round in a circle (drawn, not layered)
}

func buildGraph(s *Snapshot) *graph {
	present := map[string]*Job{}
	for i := range s.Jobs {
		present[s.Jobs[i].Job.Job] = &s.Jobs[i]
	}
	g := &graph{}
	// level: 0 for a job needing nothing, else one more than its deepest
	// dependency; a dependency cycle is cut where it is found.
	level := map[string]int{}
	visiting := map[string]bool{}
	var depth func(job string) int
	depth = func(job string) int {
		if l, ok := level[job]; ok {
			return l
		}
		if visiting[job] {
			g.Cycles = true
			return -1
		}
		visiting[job] = true
		l := 0
		for _, d := range present[job].Deps {
			if present[d.To] != nil {
				l = max(l, depth(d.To)+1)
			}
		}
		visiting[job] = false
		level[job] = l
		return l
	}
	maxLevel := 0
	for job := range present {
		maxLevel = max(maxLevel, depth(job))
	}
	rowsOf := make([][]*Job, maxLevel+1)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		r := maxLevel - level[j.Job.Job]
		rowsOf[r] = append(rowsOf[r], j)
	}
	widest := 0
	for _, row := range rowsOf {
		widest = max(widest, len(row))
	}
	rowWidth := func(n int) int { return n*gNodeW + max(0, n-1)*gColGap }
	pos := map[string]*graphNode{}
	for r, row := range rowsOf {
		slices.SortFunc(row, func(a, b *Job) int { return strings.Compare(a.Job.Job, b.Job.Job) })
		offset := (rowWidth(widest) - rowWidth(len(row))) / 2
		for c, j := range row {
			n := graphNode{
				Job: j.Job.Job, State: j.Job.State, Hosts: strings.Join(j.Job.Hosts, ", "),
				Count: fmt.Sprintf("%d/%d", j.Job.Running, j.Job.Needed),
				X:     gPad + offset + c*(gNodeW+gColGap), Y: gPad + r*(gNodeH+gRowGap), W: gNodeW, H: gNodeH,
			}
			if j.Swap != nil {
				n.Swapped = "swapped: " + j.Swap.Dir
			}
			g.Nodes = append(g.Nodes, n)
		}
	}
	for i := range g.Nodes {
		pos[g.Nodes[i].Job] = &g.Nodes[i]
	}
	for _, n := range g.Nodes {
		for _, d := range present[n.Job].Deps {
			to := pos[d.To]
			if to == nil {
				continue
			}
			e := graphEdge{From: n.Job, To: d.To, Why: d.Why}
			if to.Y <= n.Y { // a cycle: loop round the right-hand side
				x1, y1 := n.X+n.W, n.Y+n.H/2
				x2, y2 := to.X+to.W, to.Y+to.H/2
				e.D = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+50, y1, x2+50, y2, x2+6, y2)
			} else {
				x1, y1 := n.X+n.W/2, n.Y+n.H
				x2, y2 := to.X+to.W/2, to.Y
				mid := (y1 + y2) / 2
				e.D = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1, mid, x2, mid, x2, y2-6)
			}
			g.Edges = append(g.Edges, e)
		}
	}
	g.W = 2*gPad + rowWidth(widest) + 60
	g.H = 2*gPad + len(rowsOf)*gNodeH + max(0, len(rowsOf)-1)*gRowGap
	return g
}

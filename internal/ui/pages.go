package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// Limits of the lists the pages read.
const (
	historyLimit = 50
	eventsLimit  = 200
)

type totals struct {
	Jobs, Needed, Running, Outdated, Tasks int
	Hosts, HostsDown                       int
	CriticalShort                          int // critical jobs, wanted up, with fewer tasks running than needed
	States                                 []stateCount
}

type stateCount struct {
	State string
	N     int
}

type serviceGroup struct {
	Name                       string
	State                      string // the worst of its jobs
	Jobs                       []jobRow
	Needed, Running, Outdated  int
	CriticalShort, ProblemJobs int
}

// jobRow is a job in a table; Short shows the name without the service.
type jobRow struct {
	J       *Job
	P       *status.Job // &J.Job
	Short   bool
	Filter  string // what the filter box matches
	Lacking bool   // fewer tasks run than needed while they should
}

func newJobRow(j *Job, short bool) jobRow {
	return jobRow{J: j, P: &j.Job, Short: short, Filter: strings.ToLower(j.Job.Job), Lacking: wantsMore(&j.Job)}
}

// wantsMore reports whether a job runs fewer tasks than it should: not a
// completed oneshot, not a job set down.
func wantsMore(j *status.Job) bool {
	return j.Running < j.Needed && j.State != "completed" && j.State != "stopped" && j.Desired != "down"
}

// Label is the name shown.
func (r jobRow) Label() string {
	if r.Short {
		return strings.TrimPrefix(r.J.Job.Job, r.J.Job.Service+".")
	}
	return r.J.Job.Job
}

type servicesData struct {
	T        totals
	Services []serviceGroup
}

// severity orders job states from fine to bad.
func severity(state string) int {
	switch state {
	case "ok", "completed":
		return 0
	case "outdated", "stopped":
		return 1
	case "degraded":
		return 2
	case "down":
		return 3
	}
	return 1
}

func computeTotals(s *Snapshot) totals {
	var t totals
	counts := map[string]int{}
	for i := range s.Jobs {
		j := &s.Jobs[i].Job
		t.Jobs++
		if j.State != "completed" && j.State != "stopped" && j.Desired != "down" {
			t.Needed += j.Needed
		}
		t.Running += j.Running
		t.Outdated += j.Outdated
		t.Tasks += len(j.Tasks)
		if j.Critical && j.Desired != "down" && j.Running < j.Needed {
			t.CriticalShort++
		}
		counts[j.State]++
	}
	for _, n := range s.Nodes {
		t.Hosts++
		if !n.Reachable {
			t.HostsDown++
		}
	}
	for st, n := range counts {
		t.States = append(t.States, stateCount{st, n})
	}
	sort.Slice(t.States, func(a, b int) bool {
		sa, sb := severity(t.States[a].State), severity(t.States[b].State)
		if sa != sb {
			return sa > sb
		}
		return t.States[a].State < t.States[b].State
	})
	return t
}

// groupServices groups jobs by service in the order they come.
func groupServices(s *Snapshot) []serviceGroup {
	var out []serviceGroup
	idx := map[string]int{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		name := j.Job.Service
		if name == "" {
			name, _, _ = strings.Cut(j.Job.Job, ".")
		}
		k, ok := idx[name]
		if !ok {
			k = len(out)
			idx[name] = k
			out = append(out, serviceGroup{Name: name, State: "ok"})
		}
		g := &out[k]
		g.Jobs = append(g.Jobs, newJobRow(j, true))
		if j.Job.State != "completed" && j.Job.State != "stopped" && j.Job.Desired != "down" {
			g.Needed += j.Job.Needed
		}
		g.Running += j.Job.Running
		g.Outdated += j.Job.Outdated
		if j.Job.Critical && j.Job.Desired != "down" && j.Job.Running < j.Job.Needed {
			g.CriticalShort++
		}
		if severity(j.Job.State) > 0 {
			g.ProblemJobs++
		}
		if severity(j.Job.State) > severity(g.State) {
			g.State = j.Job.State
		}
	}
	return out
}

func (u *UI) services(w http.ResponseWriter, r *http.Request) {
	v, s, ok := u.snapshotPage(w, r, "services")
	if !ok {
		return
	}
	u.stale(v, s.At)
	v.D = servicesData{T: computeTotals(s), Services: groupServices(s)}
	u.render(w, r, "services", http.StatusOK, v)
}

type jobsData struct {
	T    totals
	Jobs []jobRow
}

func (u *UI) jobs(w http.ResponseWriter, r *http.Request) {
	v, s, ok := u.snapshotPage(w, r, "jobs")
	if !ok {
		return
	}
	u.stale(v, s.At)
	d := jobsData{T: computeTotals(s), Jobs: make([]jobRow, len(s.Jobs))}
	for i := range s.Jobs {
		d.Jobs[i] = newJobRow(&s.Jobs[i], false)
	}
	v.D = d
	u.render(w, r, "jobs", http.StatusOK, v)
}

// taskRow is a task with its job and whether its host answers.
type taskRow struct {
	J        *Job
	P        *status.Job // &J.Job
	T        *status.Task
	HostDown bool
	// Precomputed for the containers page, whose 500 rows are its cost.
	Filter, Class, Text, Mem, URL, JobURL string
}

type defLine struct {
	Text    string
	Changed bool
}

type jobData struct {
	J                 *Job
	P                 *status.Job // &J.Job
	Tasks             []taskRow
	ShowDefs          bool
	PushedDef, RunDef []defLine
}

func (u *UI) job(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("job")
	v, s, ok := u.snapshotPage(w, r, "jobs")
	if !ok {
		return
	}
	var j *Job
	for i := range s.Jobs {
		if s.Jobs[i].Job.Job == name {
			j = &s.Jobs[i]
			break
		}
	}
	if j == nil {
		u.notFound(w, r, "job", name, "/jobs", "every job")
		return
	}
	u.stale(v, s.At)
	down := nodesDown(s)
	d := jobData{J: j, P: &j.Job}
	for k := range j.Job.Tasks {
		t := &j.Job.Tasks[k]
		d.Tasks = append(d.Tasks, taskRow{J: j, P: &j.Job, T: t, HostDown: down[t.Host]})
	}
	if j.Pushed != j.Running {
		d.ShowDefs = true
		d.PushedDef, d.RunDef = defDiff(j.Pushed, j.Running)
	}
	v.D = d
	u.render(w, r, "job", http.StatusOK, v)
}

// defDiff splits two definitions into lines, marking the lines of each that
// the other does not have.
func defDiff(a, b string) (al, bl []defLine) {
	split := func(s string) []string {
		s = strings.TrimRight(s, "\n")
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	as, bs := split(a), split(b)
	count := func(ls []string) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l]++
		}
		return m
	}
	ac, bc := count(as), count(bs)
	for _, l := range as {
		al = append(al, defLine{Text: l, Changed: bc[l] == 0})
	}
	for _, l := range bs {
		bl = append(bl, defLine{Text: l, Changed: ac[l] == 0})
	}
	return al, bl
}

func nodesDown(s *Snapshot) map[string]bool {
	m := map[string]bool{}
	for _, n := range s.Nodes {
		if !n.Reachable {
			m[n.Name] = true
		}
	}
	return m
}

type containersData struct {
	Rows    []taskRow
	Missing int // tasks without a container
}

func (u *UI) containers(w http.ResponseWriter, r *http.Request) {
	v, s, ok := u.snapshotPage(w, r, "containers")
	if !ok {
		return
	}
	u.stale(v, s.At)
	down := nodesDown(s)
	var d containersData
	n := 0
	for i := range s.Jobs {
		n += len(s.Jobs[i].Job.Tasks)
	}
	d.Rows = make([]taskRow, 0, n)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		for k := range j.Job.Tasks {
			t := &j.Job.Tasks[k]
			if t.Container == "" {
				d.Missing++
				continue
			}
			d.Rows = append(d.Rows, taskRow{J: j, P: &j.Job, T: t, HostDown: down[t.Host],
				Filter: strings.ToLower(t.Container + " " + j.Job.Job + " " + t.Host + " " + t.Image),
				Class:  taskClass(t), Text: taskText(t), Mem: humanBytes(t.Memory),
				URL: "/containers/" + url.PathEscape(t.Container), JobURL: "/jobs/" + url.PathEscape(j.Job.Job)})
		}
	}
	v.D = d
	u.render(w, r, "containers", http.StatusOK, v)
}

type containerData struct {
	Name       string
	Row        *taskRow // nil when the snapshot does not list it
	Inspect    string
	InspectErr string
}

func (u *UI) container(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, s, ok := u.snapshotPage(w, r, "containers")
	if !ok {
		return
	}
	d := containerData{Name: name}
	if row := findContainer(s, name); row != nil {
		d.Row = row
		if row.T.Container != "" {
			d.Name = row.T.Container
		}
	}
	doc, ierr := u.src.Inspect(r.Context(), name)
	if d.Row == nil && ierr != nil {
		u.notFound(w, r, "container", name, "/containers", "every container")
		return
	}
	if ierr != nil {
		d.InspectErr = ierr.Error()
	} else {
		d.Inspect = prettyJSON(doc)
	}
	u.stale(v, s.At)
	v.D = d
	u.render(w, r, "container", http.StatusOK, v)
}

func findContainer(s *Snapshot, name string) *taskRow {
	down := nodesDown(s)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		for k := range j.Job.Tasks {
			t := &j.Job.Tasks[k]
			if t.Container == "" {
				continue
			}
			if t.Container == name || t.ID == name || (len(name) >= 6 && strings.HasPrefix(t.ID, name)) {
				return &taskRow{J: j, P: &j.Job, T: t, HostDown: down[t.Host]}
			}
		}
	}
	return nil
}

func prettyJSON(doc json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return string(doc)
	}
	return b.String()
}

type nodesData struct {
	Nodes    []status.Node
	Up, Down int
}

func (u *UI) nodes(w http.ResponseWriter, r *http.Request) {
	v, s, ok := u.snapshotPage(w, r, "nodes")
	if !ok {
		return
	}
	u.stale(v, s.At)
	d := nodesData{Nodes: s.Nodes}
	for _, n := range s.Nodes {
		if n.Reachable {
			d.Up++
		} else {
			d.Down++
		}
	}
	v.D = d
	u.render(w, r, "nodes", http.StatusOK, v)
}

type historyData struct {
	None     bool
	Versions []Version
}

func (u *UI) history(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "history")
	vs, err := u.src.Versions(r.Context(), historyLimit)
	if err != nil {
		u.failed(w, r, v, "the versions", err)
		return
	}
	v.D = historyData{None: vs == nil, Versions: vs}
	u.render(w, r, "history", http.StatusOK, v)
}

type eventsData struct {
	Events []store.Event
}

func (u *UI) events(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "events")
	evs, err := u.src.Events(r.Context(), eventsLimit)
	if err != nil {
		u.failed(w, r, v, "the events", err)
		return
	}
	v.D = eventsData{Events: evs}
	u.render(w, r, "events", http.StatusOK, v)
}

type topoService struct {
	Name  string
	State string
	Jobs  []topoJob
}

type topoJob struct {
	J      *Job
	P      *status.Job // &J.Job
	Hosts  []topoHost
	Filter string
}

type topoHost struct {
	Host  string
	Down  bool
	Tasks []*status.Task
}

// topology is the topology page: the dependency graph, then service ›
// job › host › container.
type topology struct {
	Services []topoService
	Graph    *graph
}

func (u *UI) topology(w http.ResponseWriter, r *http.Request) {
	v, s, ok := u.snapshotPage(w, r, "topology")
	if !ok {
		return
	}
	u.stale(v, s.At)
	down := nodesDown(s)
	var out []topoService
	for _, g := range groupServices(s) {
		ts := topoService{Name: g.Name, State: g.State}
		for _, jr := range g.Jobs {
			tj := topoJob{J: jr.J, P: jr.P}
			var fl strings.Builder
			fl.WriteString(strings.ToLower(jr.P.Job))
			at := map[string]int{}
			for k := range jr.J.Job.Tasks {
				t := &jr.J.Job.Tasks[k]
				i, ok := at[t.Host]
				if !ok {
					i = len(tj.Hosts)
					at[t.Host] = i
					tj.Hosts = append(tj.Hosts, topoHost{Host: t.Host, Down: down[t.Host]})
				}
				tj.Hosts[i].Tasks = append(tj.Hosts[i].Tasks, t)
				if t.Container != "" {
					fl.WriteString(" " + strings.ToLower(t.Container))
				}
			}
			tj.Filter = fl.String()
			ts.Jobs = append(ts.Jobs, tj)
		}
		out = append(out, ts)
	}
	v.D = topology{Services: out, Graph: buildGraph(s)}
	u.render(w, r, "topology", http.StatusOK, v)
}

// button is an action button; Confirm says exactly what will happen, with
// {tag} or {version} filled in by the page from the inputs next to it.
type button struct {
	Verb, Job, Label     string
	Task                 int
	Version              int64
	Confirm              string
	ConfirmTag           string // when a tag is given
	ConfirmVersion       string // when a version is given
	TagInput, VerInput   bool
	TagPlaceholder, Kind string
}

func hostsOf(j *Job) string {
	if len(j.Job.Hosts) == 0 {
		return ""
	}
	return " on " + strings.Join(j.Job.Hosts, ", ")
}

// jobButton is the button for verb on job j (task: one task of reload).
func jobButton(verb string, j *Job, task int) button {
	name := j.Job.Job
	on := hostsOf(j)
	b := button{Verb: verb, Job: name, Task: task}
	switch verb {
	case "up":
		b.Label = "Up"
		b.Confirm = fmt.Sprintf("Start every task of %s%s with the pushed config?", name, on)
	case "down":
		b.Label, b.Kind = "Down", "danger"
		b.Confirm = fmt.Sprintf("Stop and remove every task of %s%s?", name, on)
	case "reload":
		if task > 0 {
			host := ""
			for _, t := range j.Job.Tasks {
				if t.Task == task && t.Host != "" {
					host = " on " + t.Host
				}
			}
			b.Label = "Reload"
			b.Confirm = fmt.Sprintf("Reload task %d of %s%s (recreate it with the newest pushed config)?", task, name, host)
		} else {
			b.Label = "Reload all"
			b.Confirm = fmt.Sprintf("Reload every task of %s%s?", name, on)
		}
	case "rolling-update":
		b.Label, b.TagInput, b.TagPlaceholder = "Rolling update", true, "tag (optional)"
		b.Confirm = fmt.Sprintf("Rolling-update %s%s: replace its tasks one by one with the pushed config, rolling back on failure?", name, on)
		b.ConfirmTag = fmt.Sprintf("Rolling-update %s%s to image tag {tag}: push a version naming it and replace the tasks one by one, rolling back on failure?", name, on)
	case "update":
		b.Label, b.TagInput, b.TagPlaceholder = "Update", true, "tag (required)"
		b.Confirm = fmt.Sprintf("Update %s%s: give a tag first.", name, on)
		b.ConfirmTag = fmt.Sprintf("Update %s%s to image tag {tag}: push a version naming it and replace the tasks one by one, rolling back on failure?", name, on)
	case "rollback":
		b.Label, b.VerInput = "Roll back", true
		b.Confirm = fmt.Sprintf("Roll %s%s back to its newest earlier definition that differs from what runs, task by task?", name, on)
		b.ConfirmVersion = fmt.Sprintf("Roll %s%s back to its definition in version {version}, task by task?", name, on)
	case "restore":
		b.Label = "Restore"
		what := "the local build"
		if j.Swap != nil && j.Swap.Dir != "" {
			what = "the local build of " + j.Swap.Dir
		}
		b.Confirm = fmt.Sprintf("Restore %s%s: replace %s with the image %s from the jobs file?", name, on, what, j.Job.Image)
	default:
		b.Label = verb
		b.Confirm = fmt.Sprintf("%s %s%s?", verb, name, on)
	}
	return b
}

func deployButton(env Env, n int64) button {
	where := "this environment"
	if env.Name != stack.EnvUnknown {
		where = env.Name.String()
	}
	return button{Verb: "deploy", Version: n, Label: "Deploy this version",
		Confirm: fmt.Sprintf("Deploy version %d to %s: push its file again as the newest version and bring every job up on it?", n, where)}
}

// jobVerbs are the job actions in the order the job page shows them.
var jobVerbs = []string{"up", "down", "reload", "rolling-update", "update", "rollback", "restore"}

// jobButtons are the buttons the visitor may use on job j.
func (v *view) JobButtons(j *Job) []button {
	var out []button
	for _, verb := range jobVerbs {
		if !v.Can(verb) {
			continue
		}
		if verb == "restore" && j.Swap == nil {
			continue
		}
		out = append(out, jobButton(verb, j, 0))
	}
	return out
}

// TaskButton is the reload button of one task, when allowed.
func (v *view) TaskButton(j *Job, task int) *button {
	if !v.Can("reload") || task <= 0 {
		return nil
	}
	b := jobButton("reload", j, task)
	return &b
}

// DeployButton is the deploy button of version n, when allowed.
func (v *view) DeployButton(n int64) *button {
	if !v.Can("deploy") {
		return nil
	}
	b := deployButton(v.Env, n)
	return &b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

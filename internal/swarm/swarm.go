// Package swarm runs a rewritten stack on Docker Swarm: the swarm
// orchestrator of a staging pool or of production
// (environments.<env>.orchestrator: swarm).
//
// The rewrite is the one cjob's own orchestrator uses (rewrite.Staging,
// rewrite.Production): every task on the engine of the host it is placed
// on, in that host's network, production names in /etc/hosts. Here each
// task becomes one Swarm service, constrained to the node labelled
// cjob.host=<that host>, attached to the node's own network ("host"), with
// DNS round-robin endpoints: nothing needs a virtual IP or the ingress
// routing mesh, so it runs on kernels without IPVS. Swarm keeps each task
// running, restarts it, and rolls an update out and back by the service's
// update and rollback config; cjob orders the services by depends_on,
// gates each on its dependencies' health, puts images that only this
// machine holds on the nodes, and reports what Swarm did.
//
// Prepare is pure given the engines' answers; Plan.String is the golden
// format. Up, Down and Rows talk to the swarm's manager (Manager) and to
// the nodes' own engines (NodeEngine).
package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/stack"
)

// Manager is a manager of the swarm, as the orchestrator uses it.
type Manager interface {
	SwarmObserve(ctx context.Context, project string, env stack.Env) (*stack.SwarmObserved, error)
	ServiceStatus(ctx context.Context, id string) (stack.ServiceState, []stack.TaskState, error)
	CreateService(ctx context.Context, s stack.Service) (string, error)
	// UpdateService replaces the spec of service cur (at cur.Version) by s;
	// s.Force also bumps cur.ForceUpdate.
	UpdateService(ctx context.Context, cur stack.ServiceState, s stack.Service) error
	RollbackService(ctx context.Context, id string) error
	RemoveService(ctx context.Context, id string) error
	LabelNode(ctx context.Context, id, key, value string) error
}

// NodeEngine is a node's own engine: its images and the containers Swarm
// runs on it.
type NodeEngine interface {
	Info(ctx context.Context) (stack.EngineInfo, error)
	ImageID(ctx context.Context, ref string) (string, error)
	LoadImage(ctx context.Context, r io.Reader) error
	LogTail(ctx context.Context, id string, n int) string
	RemoveVolume(ctx context.Context, name string) error
}

// Source is the engine images are copied from (this machine's).
type Source interface {
	ImageID(ctx context.Context, ref string) (string, error)
	SaveImage(ctx context.Context, refs ...string) (io.ReadCloser, error)
}

// Cluster is a swarm as one environment sees it: its manager, and the
// environment's hosts with their engines and nodes.
type Cluster struct {
	Manager     Manager
	ManagerHost string                // the host whose engine is the manager
	Engines     map[string]NodeEngine // by host name
	NodeID      map[string]string     // host name -> node ID
	Address     map[string]string     // host name -> the address checks dial
}

// FromFleet is Connect over a fleet's connected hosts (their engines speak
// both NodeEngine and Manager).
func FromFleet(ctx context.Context, set fleet.Set) (*Cluster, error) {
	engines := map[string]NodeEngine{}
	managers := map[string]Manager{}
	address := map[string]string{}
	for name, m := range set {
		ne, ok := m.Engine.(NodeEngine)
		mg, ok2 := m.Engine.(Manager)
		if !ok || !ok2 {
			return nil, fmt.Errorf("host %s: its engine connection does not speak the Swarm API", name)
		}
		engines[name], managers[name], address[name] = ne, mg, m.Address
	}
	return Connect(ctx, engines, managers, address)
}

// ErrNotSwarm means the environment's engines are not (all) one swarm.
var ErrNotSwarm = errors.New("not a swarm")

// Connect finds the swarm the hosts' engines form: one of them must manage
// it, and every host must be a node of it. Each host's engine says which
// node it is (its Info), so no host name has to match a node's.
func Connect(ctx context.Context, engines map[string]NodeEngine, managers map[string]Manager, address map[string]string) (*Cluster, error) {
	c := &Cluster{Engines: engines, NodeID: map[string]string{}, Address: address}
	var names []string
	for h := range engines {
		names = append(names, h)
	}
	sort.Strings(names)
	infos := map[string]stack.SwarmInfo{}
	var inactive []string
	for _, h := range names {
		info, err := engines[h].Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h, err)
		}
		infos[h] = info.Swarm
		switch {
		case info.Swarm.State != "active" || info.Swarm.NodeID == "":
			inactive = append(inactive, fmt.Sprintf("%s (swarm state %q%s)", h, info.Swarm.State, errText(info.Swarm.Error)))
		case info.Swarm.Manager && c.Manager == nil:
			c.Manager, c.ManagerHost = managers[h], h
		}
		c.NodeID[h] = info.Swarm.NodeID
	}
	if c.Manager == nil {
		if len(inactive) == len(names) {
			return nil, fmt.Errorf("%w: no host of the environment is in a swarm (%s): run `docker swarm init --advertise-addr ADDRESS` on one and `docker swarm join --token TOKEN ADDRESS:2377` on the others (cjob doctor shows the commands)", ErrNotSwarm, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("%w: no host of the environment manages the swarm its engines are in: make one a manager (`docker node promote NODE` on a manager) or add a manager's engine to the environment's hosts", ErrNotSwarm)
	}
	if len(inactive) > 0 {
		return nil, fmt.Errorf("%w: %s not in the swarm %s manages: run `docker swarm join --token TOKEN %s:2377` on each (the token: `docker swarm join-token worker` on %s)",
			ErrNotSwarm, strings.Join(inactive, ", "), c.ManagerHost, managerAddr(infos[c.ManagerHost], c.Address[c.ManagerHost]), c.ManagerHost)
	}
	return c, nil
}

func errText(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func managerAddr(i stack.SwarmInfo, fallback string) string {
	if i.NodeAddr != "" {
		return i.NodeAddr
	}
	return fallback
}

// CheckNodes says which of the cluster's hosts are not nodes of the swarm
// its manager reports (a host in a swarm of its own).
func (c *Cluster) CheckNodes(obs *stack.SwarmObserved) error {
	known := map[string]bool{}
	for _, n := range obs.Nodes {
		known[n.ID] = true
	}
	var strays []string
	for _, h := range sortedKeys(c.NodeID) {
		if !known[c.NodeID[h]] {
			strays = append(strays, h)
		}
	}
	if len(strays) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s in another swarm than the one %s manages: run `docker swarm leave --force` there, then `docker swarm join --token TOKEN %s:2377` (the token: `docker swarm join-token worker` on %s)",
		ErrNotSwarm, strings.Join(strays, ", "), c.ManagerHost, c.Address[c.ManagerHost], c.ManagerHost)
}

// ServiceName is the Swarm service of a task's container name: dots become
// dashes (service names are DNS labels), at most 63 characters.
func ServiceName(container string) string {
	n := strings.ToLower(strings.ReplaceAll(container, ".", "-"))
	n = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 63 {
		sum := sha256.Sum256([]byte(container))
		n = strings.TrimRight(n[:54], "-_") + "-" + hex.EncodeToString(sum[:])[:8]
	}
	return n
}

// Images says, for each image of the stack, what the nodes run and how it
// gets there.
type Images map[string]*Image

// Image is one image of the stack.
type Image struct {
	Name  string
	ID    string            // the ID the services name ("" : they name Name and the nodes pull it)
	Local string            // the ID this machine's engine holds, "" when none
	Have  map[string]string // host -> the ID its engine holds ("" none)
	Copy  []string          // hosts cjob copies it to from this machine's engine
	Pull  []string          // hosts that pull it from its registry
	// Unknown are hosts whose engines did not answer (read-only commands
	// go on without them).
	Unknown []string
	Size    int64
}

// How says where the image comes from, for the plan.
func (im *Image) How() string {
	var parts []string
	var have []string
	for h, id := range im.Have {
		if id != "" && id == im.ID {
			have = append(have, h)
		}
	}
	sort.Strings(have)
	if len(have) > 0 {
		parts = append(parts, "on "+strings.Join(have, ", "))
	}
	if len(im.Copy) > 0 {
		parts = append(parts, "copied to "+strings.Join(im.Copy, ", ")+" from this machine's engine (docker save | docker load)")
	}
	if len(im.Pull) > 0 {
		parts = append(parts, "pulled by "+strings.Join(im.Pull, ", ")+" from its registry")
	}
	if len(im.Unknown) > 0 {
		parts = append(parts, "not known on "+strings.Join(im.Unknown, ", ")+" (its engine does not answer)")
	}
	if im.ID != "" {
		return strings.Join(parts, "; ") + "; services name it by ID " + shortID(im.ID) + " (no registry asked)"
	}
	return strings.Join(parts, "; ")
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ResolveImages asks every engine that will run an image whether it holds
// it, and this machine's engine (src, may be nil) too. An image the nodes
// lack and this machine holds is copied; one nobody holds is pulled by
// the nodes; services name an image by its ID whenever every node that
// runs it will hold that ID, so no node asks a registry.
func ResolveImages(ctx context.Context, c *Cluster, st *stack.Stack, src Source) (Images, error) {
	need := map[string]map[string]bool{} // image -> hosts
	for _, u := range st.Units {
		if need[u.Spec.Image] == nil {
			need[u.Spec.Image] = map[string]bool{}
		}
		need[u.Spec.Image][u.Engine] = true
	}
	out := Images{}
	for name, hosts := range need {
		im := &Image{Name: name, Have: map[string]string{}}
		if src != nil {
			id, err := src.ImageID(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("this machine's engine: %w", err)
			}
			im.Local = id
		}
		var ids []string
		for h := range hosts {
			e := c.Engines[h]
			if e == nil { // does not answer: what it holds is not known
				im.Unknown = append(im.Unknown, h)
				continue
			}
			id, err := e.ImageID(ctx, name)
			if err == nil && id != im.Local && im.Local != "" {
				// The node may hold this machine's image under another name.
				if lid, lerr := e.ImageID(ctx, im.Local); lerr == nil && lid != "" {
					id = lid
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", h, err)
			}
			im.Have[h] = id
			if id != "" {
				ids = append(ids, id)
			}
		}
		switch {
		case im.Local != "":
			im.ID = im.Local
		case len(ids) > 0 && len(ids) == len(hosts)-len(im.Unknown) && allSame(ids):
			im.ID = ids[0]
		}
		for _, h := range sortedKeys(hosts) {
			switch {
			case c.Engines[h] == nil:
			case im.ID != "" && im.Have[h] == im.ID:
			case im.Local != "":
				im.Copy = append(im.Copy, h)
			default:
				im.Pull = append(im.Pull, h)
			}
		}
		sort.Strings(im.Unknown)
		if len(im.Pull) > 0 {
			im.ID = "" // a pulled image's ID is not known before the pull: name it
		}
		out[name] = im
	}
	return out, nil
}

func allSame(s []string) bool {
	for _, x := range s[1:] {
		if x != s[0] {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Services are the stack's task units as Swarm services. images may be
// nil (every service names its image).
func Services(st *stack.Stack, images Images) ([]stack.Service, error) {
	var out []stack.Service
	seen := map[string]string{}
	for _, u := range st.Units {
		if u.Kind != stack.KindTask {
			continue
		}
		s := stack.Service{Name: ServiceName(u.Name), Unit: u, Node: u.Engine, Image: u.Spec.Image, Monitor: monitor(u)}
		if other, ok := seen[s.Name]; ok {
			return nil, fmt.Errorf("tasks %s and %s would both be Swarm service %s: rename one job", other, u.Key, s.Name)
		}
		seen[s.Name] = u.Key
		if im := images[u.Spec.Image]; im != nil && im.ID != "" {
			s.Image = im.ID
		}
		spec, _ := json.Marshal(u.Spec)
		s.ContainerLabels = map[string]string{
			stack.LabelProject: st.Project, stack.LabelEnv: st.Env.String(), stack.LabelKind: stack.KindTask.String(),
			stack.LabelKey: u.Key, stack.LabelService: u.Service, stack.LabelJob: u.Job, stack.LabelTask: strconv.Itoa(u.Task),
			stack.LabelHost: u.Host, stack.LabelHash: u.Hash(), stack.LabelSpec: string(spec),
		}
		if u.Oneshot {
			s.ContainerLabels[stack.LabelOneshot] = "true"
		}
		s.Labels = map[string]string{
			stack.LabelProject: st.Project, stack.LabelEnv: st.Env.String(), stack.LabelKey: u.Key, stack.LabelService: u.Service,
			stack.LabelJob: u.Job, stack.LabelTask: strconv.Itoa(u.Task), stack.LabelHost: u.Host, LabelPlaced: u.Engine,
			LabelImage: u.Spec.Image, stack.LabelSpec: string(spec),
		}
		if u.Oneshot {
			s.Labels[stack.LabelOneshot] = "true"
		}
		for k, v := range u.Labels {
			s.Labels[k] = v
			s.ContainerLabels[k] = v
		}
		s.Labels[stack.LabelHash] = Hash(s)
		out = append(out, s)
	}
	return out, nil
}

// Labels of services besides the shared ones.
const (
	LabelPlaced = "cjob.placed" // the host whose node runs the service
	LabelImage  = "cjob.image"  // the image's name, when the service names it by ID
)

// Hash is the service's config hash: it changes exactly when Swarm must
// replace the task.
func Hash(s stack.Service) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Unit, Node, Image string
		Monitor           time.Duration
		Health            *stack.Check // a command check is the container's healthcheck
	}{s.Unit.Hash(), s.Node, s.Image, s.Monitor, s.Unit.Health})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// monitor is how long Swarm watches a new task before it calls the update
// done: 5 s, plus the job's start period.
func monitor(u *stack.Unit) time.Duration {
	m := 5 * time.Second
	if u.Health != nil {
		m += u.Health.StartPeriod
	}
	return m
}

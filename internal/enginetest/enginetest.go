// Package enginetest is an in-memory Docker engine for unit tests: it
// applies every operation to its own state (containers, images, networks,
// volumes), so a test asserts the state that results, not a script of
// calls. It behaves as the engine does where cjob relies on it: names are
// unique, a task cannot start before the sandbox whose namespaces it joins
// is running, a stopped container keeps its labels, a removed one is gone.
//
// Faults are injected by name: an image that crashes on start, an image
// that cannot be pulled, a method that fails, or the whole engine down.
package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	pathpkg "path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/prodspec"
)

var _ fleet.Engine = (*Engine)(nil)

// ErrNotFound is returned for a container, image, network or volume the
// engine does not hold.
var ErrNotFound = errors.New("no such object")

// Container is one container the engine holds.
type Container struct {
	ID       string
	Name     string
	Image    string
	Spec     stack.Spec
	Labels   map[string]string
	Network  string
	State    stack.State
	ExitCode int
	IP       string
	Created  time.Time
	Starts   int               // how often it was started
	Files    map[string][]byte // files copied in with CopyTo, by absolute path
	Log      []string
}

// Engine is an in-memory engine. The zero value is not usable: use New.
type Engine struct {
	// Name is the endpoint Host reports.
	Name string
	// Now is the clock for creation times; nil: a fixed start that moves a
	// second per container.
	Now func() time.Time

	mu         sync.Mutex
	containers map[string]*Container // by ID
	images     map[string]bool
	networks   map[string]map[string]string // name -> labels
	volumes    map[string]map[string]string // name -> labels
	crash      map[string]int               // image or container name -> exit code right after start
	noPull     map[string]bool              // images no registry has
	fail       map[string]error             // method name -> error it returns
	execFn     func(c *Container, cmd []string) (int, string)
	memory     map[string]int64    // container name -> bytes
	logs       map[string][]string // image or container name -> log lines of containers made later
	down       bool
	nextID     int
	nextIP     int
	calls      []string
	started    []string
	pulled     []string
	pushed     []string
	info       stack.EngineInfo
}

// New is an empty engine answering as name.
func New(name string) *Engine {
	return &Engine{
		Name:       name,
		containers: map[string]*Container{},
		images:     map[string]bool{},
		networks:   map[string]map[string]string{},
		volumes:    map[string]map[string]string{},
		crash:      map[string]int{},
		noPull:     map[string]bool{},
		fail:       map[string]error{},
		memory:     map[string]int64{},
		logs:       map[string][]string{},
		info:       stack.EngineInfo{ServerVersion: "27.0.0-enginetest", APIVersion: "1.47", OS: "enginetest", Arch: "amd64", CPUs: 4, MemoryBytes: 8 << 30},
	}
}

// AddImage makes images present, as if built or pulled before.
func (e *Engine) AddImage(refs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range refs {
		e.images[r] = true
	}
}

// HasImage reports whether the engine holds the image.
func (e *Engine) HasImage(ref string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref]
}

// Crash makes containers of this image (or with this name) exit with code
// right after they start.
func (e *Engine) Crash(imageOrName string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.crash[imageOrName] = code
}

// NoPull makes pulls of ref fail, as for an image no registry has.
func (e *Engine) NoPull(ref string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.noPull[ref] = true
}

// Fail makes every call of the method (by its name, e.g. "Create") return
// err; a nil err clears it.
func (e *Engine) Fail(method string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		delete(e.fail, method)
		return
	}
	e.fail[method] = err
}

// SetDown makes every call fail as an unreachable engine does (down) or
// answer again.
func (e *Engine) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

// OnExec sets what Exec answers: the exit code and output for a command
// run in a container. By default every command exits 0 with no output.
func (e *Engine) OnExec(fn func(c *Container, cmd []string) (int, string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.execFn = fn
}

// SetMemory sets the memory use MemoryUsage reports for a container name.
func (e *Engine) SetMemory(name string, bytes int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.memory[name] = bytes
}

// SetLog sets the log lines of the container with this name, and of every
// container made later from this image or with this name.
func (e *Engine) SetLog(imageOrName string, lines ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs[imageOrName] = slices.Clone(lines)
	if c := e.byName(imageOrName); c != nil {
		c.Log = slices.Clone(lines)
	}
}

// Kill makes a running container exit with code, as if its process died.
func (e *Engine) Kill(name string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.byName(name); c != nil {
		c.State, c.ExitCode = stack.StateExited, code
	}
}

// Containers is a copy of every container, sorted by name.
func (e *Engine) Containers() []Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Container, 0, len(e.containers))
	for _, c := range e.containers {
		cc := *c
		cc.Labels = maps.Clone(c.Labels)
		cc.Files = maps.Clone(c.Files)
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Container is a copy of the named container, and whether there is one.
func (e *Engine) Container(name string) (Container, bool) {
	for _, c := range e.Containers() {
		if c.Name == name {
			return c, true
		}
	}
	return Container{}, false
}

// Names are the names of the containers in state, sorted.
func (e *Engine) Names(state stack.State) []string {
	var out []string
	for _, c := range e.Containers() {
		if c.State == state {
			out = append(out, c.Name)
		}
	}
	return out
}

// Started are the names of containers started, in order.
func (e *Engine) Started() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.started)
}

// Pulled and Pushed are the images pulled and pushed, in order.
func (e *Engine) Pulled() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.pulled)
}

func (e *Engine) Pushed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.pushed)
}

// Calls are the mutating calls made, in order ("Create coding-dev.host.a").
func (e *Engine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Networks and Volumes are the names the engine holds, sorted.
func (e *Engine) Networks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.networks))
}

func (e *Engine) Volumes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.volumes))
}

// enter checks the engine is up and the method has no injected fault, and
// records a mutating call. The caller holds e.mu.
func (e *Engine) enter(method, subject string, mutates bool) error {
	if e.down {
		return fmt.Errorf("%w at %s: connection refused", engine.ErrUnreachable, e.Name)
	}
	if err := e.fail[method]; err != nil {
		return err
	}
	if mutates {
		e.calls = append(e.calls, method+" "+subject)
	}
	return nil
}

// find resolves a container by ID, ID prefix or name. The caller holds e.mu.
func (e *Engine) find(ref string) *Container {
	if c := e.containers[ref]; c != nil {
		return c
	}
	if c := e.byName(ref); c != nil {
		return c
	}
	for id, c := range e.containers {
		if len(ref) >= 6 && strings.HasPrefix(id, ref) {
			return c
		}
	}
	return nil
}

func (e *Engine) byName(name string) *Container {
	for _, c := range e.containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Date(2026, 1, 1, 0, 0, e.nextID, 0, time.UTC)
}

func notFound(what, ref string) error { return fmt.Errorf("%s %s: %w", what, ref, ErrNotFound) }

// Host is the endpoint name.
func (e *Engine) Host() string { return e.Name }

// Close does nothing: the engine stays as it is for the test to look at.
func (e *Engine) Close() error { return nil }

// Info describes the engine and counts its containers.
func (e *Engine) Info(context.Context) (stack.EngineInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Info", "", false); err != nil {
		return stack.EngineInfo{}, err
	}
	i := e.info
	i.Host = e.Name
	for _, c := range e.containers {
		i.Containers++
		if c.State == stack.StateRunning {
			i.Running++
		}
	}
	return i, nil
}

// Observe lists the project environment's containers, network and volumes,
// as the real engine's three list calls do.
func (e *Engine) Observe(_ context.Context, project string, env stack.Env, network string) (*stack.Observed, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Observe", "", false); err != nil {
		return nil, err
	}
	mine := func(l map[string]string) bool {
		return l[stack.LabelProject] == project && l[stack.LabelEnv] == env.String()
	}
	o := &stack.Observed{Volumes: map[string]bool{}}
	for _, c := range e.containers {
		if !mine(c.Labels) {
			continue
		}
		sc := &stack.Container{ID: c.ID, Name: c.Name, Image: c.Image, ImageID: "sha256:" + c.Image, Labels: maps.Clone(c.Labels),
			State: c.State, Created: c.Created, Status: status(c)}
		if c.State == stack.StateExited {
			sc.ExitCode, sc.ExitKnown = c.ExitCode, true
		}
		if network != "" && c.Network == network {
			sc.IP = c.IP
		}
		sc.Ports = append(sc.Ports, c.Spec.Publish...)
		o.Containers = append(o.Containers, sc)
	}
	_, o.NetworkExists = e.networks[network]
	for name, l := range e.volumes {
		if mine(l) {
			o.Volumes[name] = true
		}
	}
	o.Sort()
	return o, nil
}

func status(c *Container) string {
	switch c.State {
	case stack.StateRunning:
		return "Up"
	case stack.StateExited:
		return fmt.Sprintf("Exited (%d)", c.ExitCode)
	case stack.StateCreated:
		return "Created"
	}
	return c.State.String()
}

// EnsureNetwork creates a network unless it exists.
func (e *Engine) EnsureNetwork(_ context.Context, name string, labels map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("EnsureNetwork", name, true); err != nil {
		return err
	}
	if _, ok := e.networks[name]; !ok {
		e.networks[name] = maps.Clone(labels)
	}
	return nil
}

// RemoveNetwork removes a network no container is attached to.
func (e *Engine) RemoveNetwork(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveNetwork", name, true); err != nil {
		return err
	}
	for _, c := range e.containers {
		if c.Network == name {
			return fmt.Errorf("remove network %s: container %s is attached", name, c.Name)
		}
	}
	delete(e.networks, name)
	return nil
}

// EnsureVolume creates a volume unless it exists (its data is kept).
func (e *Engine) EnsureVolume(_ context.Context, name string, labels map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("EnsureVolume", name, true); err != nil {
		return err
	}
	if _, ok := e.volumes[name]; !ok {
		e.volumes[name] = maps.Clone(labels)
	}
	return nil
}

// RemoveVolume removes a volume; a missing one is not an error.
func (e *Engine) RemoveVolume(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveVolume", name, true); err != nil {
		return err
	}
	delete(e.volumes, name)
	return nil
}

// ImageExists reports whether the image is present.
func (e *Engine) ImageExists(_ context.Context, ref string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("ImageExists", ref, false); err != nil {
		return false, err
	}
	return e.images[ref], nil
}

// Pull makes the image present, unless NoPull says no registry has it.
func (e *Engine) Pull(_ context.Context, ref string, progress func(engine.Progress)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Pull", ref, true); err != nil {
		return err
	}
	if e.noPull[ref] {
		return fmt.Errorf("pull %s: manifest unknown", ref)
	}
	e.pulled = append(e.pulled, ref)
	e.images[ref] = true
	if progress != nil {
		progress(engine.Progress{Pct: 100, Done: 1 << 20, Total: 1 << 20})
	}
	return nil
}

// Push records the push of a present image.
func (e *Engine) Push(_ context.Context, ref string, progress func(int)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Push", ref, true); err != nil {
		return err
	}
	if !e.images[ref] {
		return notFound("image", ref)
	}
	e.pushed = append(e.pushed, ref)
	if progress != nil {
		progress(100)
	}
	return nil
}

// ImportFiles makes an image from files.
func (e *Engine) ImportFiles(_ context.Context, ref string, _ []engine.File, _ []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("ImportFiles", ref, true); err != nil {
		return err
	}
	e.images[ref] = true
	return nil
}

// BuildImage reads the context to its end and makes the tagged images.
func (e *Engine) BuildImage(_ context.Context, buildContext io.Reader, opts engine.BuildOptions, log io.Writer) error {
	if _, err := io.Copy(io.Discard, buildContext); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("BuildImage", strings.Join(opts.Tags, ","), true); err != nil {
		return err
	}
	for _, t := range opts.Tags {
		e.images[t] = true
	}
	if log != nil {
		fmt.Fprintf(log, "built %s\n", strings.Join(opts.Tags, ", "))
	}
	return nil
}

// RemoveDevImages removes the project's dev-* tags no container uses,
// except keep.
func (e *Engine) RemoveDevImages(_ context.Context, project, repo, keep string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveDevImages", project, true); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, c := range e.containers {
		used[c.Image] = true
	}
	var removed []string
	for ref := range e.images {
		name, tag, _ := strings.Cut(ref[strings.LastIndexByte(ref, '/')+1:], ":")
		full := ref[:strings.LastIndexByte(ref, '/')+1] + name
		if ref == keep || used[ref] || !strings.HasPrefix(tag, "dev-") {
			continue
		}
		if (repo != "" && full != repo) || (repo == "" && !strings.HasPrefix(ref, project+"/")) {
			continue
		}
		delete(e.images, ref)
		removed = append(removed, ref)
	}
	sort.Strings(removed)
	return removed, nil
}

// Create makes a container in state created. The image must be present
// and the name free.
func (e *Engine) Create(_ context.Context, r stack.CreateRequest) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Create", r.Name, true); err != nil {
		return "", err
	}
	if !e.images[r.Spec.Image] {
		return "", fmt.Errorf("create %s: image %s: %w", r.Name, r.Spec.Image, ErrNotFound)
	}
	if e.byName(r.Name) != nil {
		return "", fmt.Errorf("create %s: the name is already in use", r.Name)
	}
	e.nextID++
	// IDs are unique across engines, as real ones are.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", e.Name, e.nextID))
	id := hex.EncodeToString(sum[:])
	c := &Container{ID: id, Name: r.Name, Image: r.Spec.Image, Spec: r.Spec, Labels: maps.Clone(r.Labels), State: stack.StateCreated, Created: e.now()}
	if l, ok := e.logs[r.Name]; ok {
		c.Log = slices.Clone(l)
	} else if l, ok := e.logs[r.Spec.Image]; ok {
		c.Log = slices.Clone(l)
	}
	if !r.Spec.HostNetwork && r.Spec.JoinSandbox == "" {
		if _, ok := e.networks[r.Network]; !ok {
			return "", fmt.Errorf("create %s: network %s: %w", r.Name, r.Network, ErrNotFound)
		}
		c.Network = r.Network
	}
	e.containers[id] = c
	return id, nil
}

// Start runs a created or stopped container. A task joining a sandbox
// needs the sandbox running; a container whose image or name is set to
// crash exits at once.
func (e *Engine) Start(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("Start", name(c, id), true); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if j := c.Spec.JoinSandbox; j != "" {
		sb := e.byName(j)
		if sb == nil || sb.State != stack.StateRunning {
			return fmt.Errorf("start %s: joining container %s, which is not running", c.Name, j)
		}
	}
	if c.State == stack.StateRunning {
		return nil
	}
	c.State, c.ExitCode = stack.StateRunning, 0
	c.Starts++
	if c.Network != "" && c.IP == "" {
		e.nextIP++
		// Documentation addresses (RFC 3849): never routable from the
		// test's machine, so cjob checks through the engine, as it does
		// against Docker Desktop or a remote engine.
		c.IP = fmt.Sprintf("2001:db8::%x", e.nextIP+1)
	}
	e.started = append(e.started, c.Name)
	if code, ok := e.crash[c.Image]; ok {
		c.State, c.ExitCode = stack.StateExited, code
	} else if code, ok := e.crash[c.Name]; ok {
		c.State, c.ExitCode = stack.StateExited, code
	}
	return nil
}

func name(c *Container, ref string) string {
	if c != nil {
		return c.Name
	}
	return ref
}

// Stop stops a running container; a missing one is not an error.
func (e *Engine) Stop(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("Stop", name(c, id), true); err != nil {
		return err
	}
	if c != nil && c.State == stack.StateRunning {
		c.State, c.ExitCode = stack.StateExited, 0
	}
	return nil
}

// Restart stops and starts a container.
func (e *Engine) Restart(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("Restart", name(c, id), true); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	c.State, c.ExitCode = stack.StateRunning, 0
	c.Starts++
	e.started = append(e.started, c.Name)
	return nil
}

// Remove removes a container, running or not; a missing one is not an
// error.
func (e *Engine) Remove(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("Remove", name(c, id), true); err != nil {
		return err
	}
	if c != nil {
		delete(e.containers, c.ID)
	}
	return nil
}

// Rename renames a container; the new name must be free.
func (e *Engine) Rename(_ context.Context, id, newName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("Rename", name(c, id)+" "+newName, true); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if o := e.byName(newName); o != nil && o != c {
		return fmt.Errorf("rename %s to %s: the name is already in use", c.Name, newName)
	}
	c.Name = newName
	return nil
}

// Inspect is the container's live state.
func (e *Engine) Inspect(_ context.Context, id, network string) (stack.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Inspect", id, false); err != nil {
		return stack.Status{}, err
	}
	c := e.find(id)
	if c == nil {
		return stack.Status{}, notFound("container", id)
	}
	st := stack.Status{State: c.State, ExitCode: c.ExitCode}
	if network != "" && c.Network == network {
		st.IP = c.IP
	}
	return st, nil
}

// InspectRaw is an inspect document shaped as the engine's: Id, Name,
// Config (Image, Env, Cmd, Labels) and State.
func (e *Engine) InspectRaw(_ context.Context, id string) (json.RawMessage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("InspectRaw", id, false); err != nil {
		return nil, err
	}
	c := e.find(id)
	if c == nil {
		return nil, notFound("container", id)
	}
	return json.Marshal(map[string]any{
		"Id": c.ID, "Name": "/" + c.Name, "Args": c.Spec.Command,
		"Config": map[string]any{"Image": c.Image, "Env": c.Spec.Env, "Cmd": c.Spec.Command, "Labels": c.Labels},
		"State":  map[string]any{"Status": c.State.String(), "Running": c.State == stack.StateRunning, "ExitCode": c.ExitCode},
	})
}

// MemoryUsage is the memory set with SetMemory (0 by default).
func (e *Engine) MemoryUsage(_ context.Context, id string) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("MemoryUsage", id, false); err != nil {
		return 0, err
	}
	c := e.find(id)
	if c == nil {
		return 0, notFound("container", id)
	}
	return e.memory[c.Name], nil
}

// Exec runs a command in a running container: OnExec answers.
func (e *Engine) Exec(_ context.Context, id string, cmd []string) (int, string, error) {
	e.mu.Lock()
	c := e.find(id)
	if err := e.enter("Exec", name(c, id)+" "+strings.Join(cmd, " "), true); err != nil {
		e.mu.Unlock()
		return -1, "", err
	}
	if c == nil {
		e.mu.Unlock()
		return -1, "", notFound("container", id)
	}
	if c.State != stack.StateRunning {
		e.mu.Unlock()
		return -1, "", fmt.Errorf("exec in %s: container is not running", c.Name)
	}
	fn, cc := e.execFn, *c
	e.mu.Unlock()
	if fn == nil {
		return 0, "", nil
	}
	code, out := fn(&cc, cmd)
	return code, out, nil
}

// CopyTo extracts a tar stream's regular files into the container at dir.
func (e *Engine) CopyTo(_ context.Context, id, dir string, tarStream io.Reader) error {
	var files []*tar.Header
	data := map[string][]byte{}
	tr := tar.NewReader(tarStream)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("copy into %s: %w", id, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files = append(files, h)
		data[h.Name] = b
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("CopyTo", name(c, id)+" "+dir, true); err != nil {
		return err
	}
	if c == nil {
		return notFound("container", id)
	}
	if c.Files == nil {
		c.Files = map[string][]byte{}
	}
	for _, h := range files {
		if h.Typeflag == tar.TypeReg {
			c.Files[strings.TrimRight(dir, "/")+"/"+strings.TrimPrefix(h.Name, "/")] = data[h.Name]
		}
	}
	return nil
}

// CopyFrom returns path from the container as a tar stream: a file copied
// in, or else one standing for the image's file ("<image>:<path>").
func (e *Engine) CopyFrom(_ context.Context, id, path string) (io.ReadCloser, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(id)
	if err := e.enter("CopyFrom", name(c, id)+" "+path, false); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notFound("container", id)
	}
	data, ok := c.Files[path]
	if !ok {
		data = []byte(c.Image + ":" + path)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: pathpkg.Base(path), Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(data)
	tw.Close()
	return io.NopCloser(&buf), nil
}

// Logs writes the container's log lines (the last tail of them; "all" or
// "" for every one). follow is ignored: the log is written and Logs returns.
func (e *Engine) Logs(_ context.Context, id, tail string, _, timestamps bool, w io.Writer) error {
	e.mu.Lock()
	if err := e.enter("Logs", id, false); err != nil {
		e.mu.Unlock()
		return err
	}
	c := e.find(id)
	if c == nil {
		e.mu.Unlock()
		return notFound("container", id)
	}
	lines := slices.Clone(c.Log)
	created := c.Created
	e.mu.Unlock()
	first := 0
	if n, err := parseTail(tail); err == nil && n < len(lines) {
		first = len(lines) - n
	}
	var b bytes.Buffer
	for i := first; i < len(lines); i++ {
		if timestamps {
			// Line i was written i ms after the container was made, in
			// the engine's fixed-width format.
			fmt.Fprintf(&b, "%s ", created.Add(time.Duration(i)*time.Millisecond).UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
		}
		b.WriteString(lines[i] + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func parseTail(tail string) (int, error) {
	var n int
	_, err := fmt.Sscan(tail, &n)
	return n, err
}

// LogTail is the last n lines of the log, as text.
func (e *Engine) LogTail(ctx context.Context, id string, n int) string {
	var b bytes.Buffer
	if err := e.Logs(ctx, id, fmt.Sprint(n), false, false, &b); err != nil {
		return ""
	}
	return strings.TrimRight(b.String(), "\n")
}

// Dialer is a fleet.Dialer over in-memory engines by host name: a host
// whose engine is missing from the map, or is down, does not answer.
func Dialer(engines map[string]*Engine) fleet.Dialer {
	return func(_ context.Context, h *prodspec.Host, _ time.Duration) (fleet.Engine, error) {
		e, ok := engines[h.Name]
		if !ok {
			return nil, fmt.Errorf("%w at %s: no route to host", engine.ErrUnreachable, h.Docker)
		}
		e.mu.Lock()
		down := e.down
		e.mu.Unlock()
		if down {
			return nil, fmt.Errorf("%w at %s: connection refused", engine.ErrUnreachable, h.Docker)
		}
		return e, nil
	}
}

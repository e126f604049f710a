// Package engine is cjob's small client of one Docker engine. It speaks in
// cjob's own types (package stack) and hides the Docker API's: every other
// package sees only the handful of operations it needs.
package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/stack"
)

// ErrUnreachable is returned when the engine does not answer.
var ErrUnreachable = errors.New("docker engine unreachable")

// Engine is a connection to one Docker engine.
type Engine struct {
	c      *client.Client
	host   string
	source string // how the endpoint was chosen (Discover)
	auth   func(registry string) (user, password string, ok bool)
}

// Options choose the engine.
type Options struct {
	// Host is the engine endpoint (unix:///var/run/docker.sock, tcp://...);
	// empty uses DOCKER_HOST and the usual environment.
	Host string
	// PingTimeout bounds the first contact. Zero means 5s.
	PingTimeout time.Duration
	// Auth gives the credentials for a registry host, for pulls and
	// pushes; nil: those `docker login` stored (registry.DockerConfigAuth:
	// config.json auths, credsStore, credHelpers).
	Auth func(registry string) (user, password string, ok bool)
	// TLS, for a tcp:// host: the client certificate files. Empty uses
	// DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set, as the docker CLI does.
	CA, Cert, Key string
}

// Dial connects to the engine and negotiates the API version. With no
// Host, the engine is found as the docker CLI finds it (Discover).
func Dial(ctx context.Context, opts Options) (*Engine, error) {
	source := "-H"
	if opts.Host == "" {
		ep := Discover(OSEnv())
		opts.Host, source = ep.Host, ep.Source
		if opts.CA == "" && opts.Cert == "" {
			opts.CA, opts.Cert, opts.Key = ep.CA, ep.Cert, ep.Key
		}
	}
	copts := []client.Opt{client.FromEnv, client.WithTraceProvider(tracerProvider{})}
	switch {
	case strings.HasPrefix(opts.Host, "ssh://"):
		// As the docker CLI does: the remote docker CLI relays the
		// engine's socket over ssh.
		copts = append(copts, client.WithHost("http://docker.ssh"), client.WithDialContext(sshDialer(opts.Host)))
	case opts.Host != "":
		copts = append(copts, client.WithHost(opts.Host))
	}
	if opts.CA != "" || opts.Cert != "" || opts.Key != "" {
		copts = append(copts, client.WithTLSClientConfig(opts.CA, opts.Cert, opts.Key))
	}
	c, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine %s: %w", opts.Host, err)
	}
	e := &Engine{c: c, host: c.DaemonHost(), source: source, auth: opts.Auth}
	if e.auth == nil {
		e.auth = registry.DockerConfigAuth()
	}
	if strings.HasPrefix(opts.Host, "ssh://") {
		e.host = opts.Host
	}
	t := opts.PingTimeout
	if t == 0 {
		t = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w at %s: %v (start dockerd, check DOCKER_HOST or -H, or run `cjob doctor`)", ErrUnreachable, e.host, err)
	}
	return e, nil
}

// Close releases the connection.
func (e *Engine) Close() error { return e.c.Close() }

// Host is the endpoint in use.
func (e *Engine) Host() string { return e.host }

// Source says how the endpoint was chosen: -H, DOCKER_HOST, a docker
// context, or the socket found.
func (e *Engine) Source() string { return e.source }

// APIVersion is the negotiated API version.
func (e *Engine) APIVersion() string { return e.c.ClientVersion() }

// Info describes the engine.
func (e *Engine) Info(ctx context.Context) (stack.EngineInfo, error) {
	r, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return stack.EngineInfo{}, fmt.Errorf("engine info: %w", err)
	}
	i := r.Info
	return stack.EngineInfo{
		Host: e.host, ServerVersion: i.ServerVersion, APIVersion: e.APIVersion(),
		OS: i.OperatingSystem, Arch: i.Architecture, CPUs: i.NCPU, MemoryBytes: i.MemTotal,
		Containers: i.Containers, Running: i.ContainersRunning, Driver: i.Driver,
		Swarm: swarmInfo(i.Swarm),
	}, nil
}

func projectFilter(project string, env stack.Env) client.Filters {
	f := client.Filters{}
	f.Add("label", stack.LabelProject+"="+project)
	f.Add("label", stack.LabelEnv+"="+env.String())
	return f
}

// Observe takes one snapshot of everything the engine holds for the
// project's environment: its containers (running or not), whether its
// network exists (networkName "": no network is looked for), and its
// volumes. Three list calls at most, nothing else.
func (e *Engine) Observe(ctx context.Context, project string, env stack.Env, networkName string) (*stack.Observed, error) {
	o := &stack.Observed{Volumes: map[string]bool{}}
	cl, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(project, env)})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s/%s: %w", project, env, err)
	}
	for _, s := range cl.Items {
		o.Containers = append(o.Containers, fromSummary(s, networkName))
	}
	if networkName != "" {
		nl, err := e.c.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", networkName)})
		if err != nil {
			return nil, fmt.Errorf("list networks: %w", err)
		}
		for _, n := range nl.Items {
			if n.Name == networkName {
				o.NetworkExists = true
			}
		}
	}
	vl, err := e.c.VolumeList(ctx, client.VolumeListOptions{Filters: projectFilter(project, env)})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vl.Items {
		o.Volumes[v.Name] = true
	}
	o.Sort()
	return o, nil
}

func fromSummary(s container.Summary, networkName string) *stack.Container {
	c := &stack.Container{
		ID: s.ID, Image: s.Image, ImageID: s.ImageID, Labels: s.Labels,
		State: stack.ParseState(string(s.State)), Status: s.Status,
		Created: time.Unix(s.Created, 0),
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if s.NetworkSettings != nil {
		if ep, ok := s.NetworkSettings.Networks[networkName]; ok && ep != nil && ep.IPAddress.IsValid() {
			c.IP = ep.IPAddress.String()
		}
	}
	if c.State == stack.StateExited {
		c.ExitCode, c.ExitKnown = parseExitStatus(s.Status)
	}
	for _, p := range s.Ports {
		if p.PublicPort != 0 {
			c.Ports = append(c.Ports, stack.Publish{ContainerPort: int(p.PrivatePort), HostPort: int(p.PublicPort)})
		}
	}
	if len(c.Ports) == 0 {
		c.Ports = stack.ParsePorts(s.Labels[stack.LabelPorts])
	}
	return c
}

// parseExitStatus reads the exit code from the engine's status text
// ("Exited (0) 3 minutes ago"). The list API carries the code only there;
// callers that need certainty use Inspect.
func parseExitStatus(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// EnsureNetwork creates the project network if it is missing.
func (e *Engine) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	_, err := e.c.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// RemoveNetwork removes the network; a missing one is not an error.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	if _, err := e.c.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// EnsureVolume creates a named volume; an existing one is kept with its data.
func (e *Engine) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	if _, err := e.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	return nil
}

// RemoveVolume removes a named volume and its data.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	if _, err := e.c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Create creates (does not start) a container.
func (e *Engine) Create(ctx context.Context, r stack.CreateRequest) (string, error) {
	s := r.Spec
	cfg := &container.Config{
		Image:      s.Image,
		Cmd:        s.Command,
		Entrypoint: s.Entrypoint,
		Env:        s.Env,
		Labels:     r.Labels,
	}
	if s.StopTimeout > 0 {
		secs := int(s.StopTimeout.Seconds())
		if secs < 1 {
			secs = 1
		}
		cfg.StopTimeout = &secs
	}
	hc := &container.HostConfig{
		ExtraHosts: s.ExtraHosts,
		Resources:  container.Resources{Memory: s.Memory},
	}
	if s.Init {
		t := true
		hc.Init = &t
	}
	for _, m := range s.Mounts {
		if m.Type == "bind" {
			// The Binds form, as `docker run -v` sends it: the engine
			// makes a missing host folder (the Mounts form refuses).
			b := m.Source + ":" + m.Target
			if m.ReadOnly {
				b += ":ro"
			}
			hc.Binds = append(hc.Binds, b)
			continue
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	var nc *network.NetworkingConfig
	if s.HostNetwork {
		hc.NetworkMode = "host"
	} else if s.JoinSandbox != "" {
		hc.NetworkMode = container.NetworkMode("container:" + s.JoinSandbox)
		hc.PidMode = container.PidMode("container:" + s.JoinSandbox)
	} else {
		cfg.Hostname = s.Hostname
		hc.NetworkMode = container.NetworkMode(r.Network)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			r.Network: {Aliases: s.Aliases},
		}}
		if len(s.Publish) > 0 {
			cfg.ExposedPorts = network.PortSet{}
			hc.PortBindings = network.PortMap{}
			for _, p := range s.Publish {
				port, err := network.ParsePort(strconv.Itoa(p.ContainerPort) + "/tcp")
				if err != nil {
					return "", fmt.Errorf("create %s: port %d: %w", r.Name, p.ContainerPort, err)
				}
				cfg.ExposedPorts[port] = struct{}{}
				hc.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(p.HostPort)}}
			}
		}
	}
	res, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: r.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc})
	if err != nil {
		return "", fmt.Errorf("create %s (image %s): %w", r.Name, s.Image, err)
	}
	return res.ID, nil
}

// Start starts a created or stopped container.
func (e *Engine) Start(ctx context.Context, id string) error {
	if _, err := e.c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", short(id), err)
	}
	return nil
}

// Stop stops a container, killing it after timeout.
func (e *Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout.Seconds())
	if _, err := e.c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", short(id), err)
	}
	return nil
}

// Remove removes a container (force kills a running one).
func (e *Engine) Remove(ctx context.Context, id string) error {
	if _, err := e.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", short(id), err)
	}
	return nil
}

// Inspect reads a container's live state; ip is read on the given network.
func (e *Engine) Inspect(ctx context.Context, id, networkName string) (stack.Status, error) {
	r, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return stack.Status{}, fmt.Errorf("inspect %s: %w", short(id), err)
	}
	c := r.Container
	var st stack.Status
	if c.State != nil {
		st.State = stack.ParseState(string(c.State.Status))
		st.ExitCode = c.State.ExitCode
		st.Error = c.State.Error
		st.OOM = c.State.OOMKilled
	}
	if c.NetworkSettings != nil {
		if ep, ok := c.NetworkSettings.Networks[networkName]; ok && ep != nil && ep.IPAddress.IsValid() {
			st.IP = ep.IPAddress.String()
		}
	}
	return st, nil
}

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// Kind is what kind of engine answers, and what that means for cjob.
type Kind struct {
	Name     string // Docker Engine, Docker Desktop, Podman, colima, Rancher Desktop
	Version  string
	Remote   bool // reached over tcp:// or ssh://: its containers are on another machine
	VM       bool // runs in a VM on this machine (Desktop, colima, Podman machine)
	Rootless bool
}

func (k Kind) String() string {
	s := k.Name + " " + k.Version
	switch {
	case k.Remote:
		s += " (remote)"
	case k.VM:
		s += " (in a VM)"
	}
	if k.Rootless {
		s += ", rootless"
	}
	return s
}

// Notes are what does not work the same on this kind of engine, each with
// what to do.
func (k Kind) Notes() []string {
	var out []string
	if k.Remote {
		out = append(out, "a remote engine: the dev stack's ports are published on the engine host's 127.0.0.1, not this machine's; reach them with an ssh tunnel (ssh -L 8080:127.0.0.1:8080 HOST) or use `cjob dev export --compose` on that host")
	}
	if k.VM {
		out = append(out, "an engine in a VM: published ports are forwarded to this machine's 127.0.0.1; bind mounts of this machine's paths work only under the folders the VM shares")
	}
	if k.Name == "Podman" && k.Rootless {
		out = append(out, "rootless Podman: ports below 1024 cannot be published (sysctl net.ipv4.ip_unprivileged_port_start=80 allows them), and memory limits need cgroup v2 with the memory controller delegated")
	}
	return out
}

// Kind asks the engine what it is (its version's components and platform,
// and its info).
func (e *Engine) Kind(ctx context.Context) (Kind, error) {
	v, err := e.c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Kind{}, fmt.Errorf("engine version: %w", err)
	}
	info, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Kind{}, fmt.Errorf("engine info: %w", err)
	}
	var comps []string
	for _, c := range v.Components {
		comps = append(comps, c.Name)
	}
	return kindOf(kindFacts{
		components: comps, platform: v.Platform.Name, version: v.Version,
		os: info.Info.OperatingSystem, name: info.Info.Name, security: info.Info.SecurityOptions, host: e.host,
	}), nil
}

type kindFacts struct {
	components []string
	platform   string
	version    string
	os, name   string
	security   []string
	host       string
}

func kindOf(f kindFacts) Kind {
	k := Kind{Name: "Docker Engine", Version: f.version}
	for _, c := range f.components {
		if strings.EqualFold(c, "Podman Engine") {
			k.Name = "Podman"
		}
	}
	switch {
	case k.Name == "Podman":
		k.VM = strings.Contains(f.host, "podman/machine") || strings.Contains(f.host, "podman-machine")
	case strings.Contains(f.platform, "Docker Desktop") || strings.Contains(f.os, "Docker Desktop"):
		k.Name, k.VM = "Docker Desktop", true
	case strings.Contains(f.os, "Rancher Desktop") || strings.Contains(f.host, "/.rd/"):
		k.Name, k.VM = "Rancher Desktop", true
	case f.name == "colima" || strings.Contains(f.host, "/.colima/"):
		k.Name, k.VM = "colima", true
	}
	k.Remote = strings.HasPrefix(f.host, "tcp://") || strings.HasPrefix(f.host, "ssh://")
	for _, s := range f.security {
		if strings.Contains(s, "rootless") {
			k.Rootless = true
		}
	}
	return k
}

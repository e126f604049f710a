package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
)

// Endpoint is where an engine was found, and how.
type Endpoint struct {
	Host   string // unix:///..., tcp://..., ssh://..., npipe://...; "" for the client's default
	Source string // "-H", "DOCKER_HOST", "docker context NAME", "the default socket", a found socket's owner
	// TLS files of a docker context's endpoint, when it has them.
	CA, Cert, Key string
}

// Env is how Discover reads the environment and the filesystem (os's by
// default), so tests can stand in for a machine.
type Env struct {
	Getenv   func(string) string
	Home     string
	Exists   func(path string) bool
	ReadFile func(path string) ([]byte, error)
	GOOS     string
}

// OSEnv is this machine.
func OSEnv() Env {
	home, _ := os.UserHomeDir()
	return Env{
		Getenv: os.Getenv, Home: home, ReadFile: os.ReadFile, GOOS: runtime.GOOS,
		Exists: func(p string) bool { _, err := os.Stat(p); return err == nil },
	}
}

// Discover finds the engine as the docker CLI does: DOCKER_HOST, then the
// docker context in use (DOCKER_CONTEXT, or currentContext in the docker
// config), then the first socket that exists of the usual places: the
// system's, Docker Desktop's, colima's, Rancher Desktop's, Podman's.
func Discover(e Env) Endpoint {
	if h := e.Getenv("DOCKER_HOST"); h != "" {
		return Endpoint{Host: h, Source: "DOCKER_HOST"}
	}
	if ep, ok := dockerContext(e); ok {
		return ep
	}
	for _, c := range sockets(e) {
		if e.Exists(c.path) {
			return Endpoint{Host: "unix://" + c.path, Source: c.owner}
		}
	}
	return Endpoint{Source: "the client's default"}
}

type socket struct{ path, owner string }

func sockets(e Env) []socket {
	if e.GOOS == "windows" {
		return nil // the client's default is Docker Desktop's named pipe
	}
	h := e.Home
	s := []socket{{"/var/run/docker.sock", "the system socket"}}
	if e.GOOS == "darwin" || e.GOOS == "linux" {
		s = append(s,
			socket{filepath.Join(h, ".docker/run/docker.sock"), "Docker Desktop"},
			socket{filepath.Join(h, ".docker/desktop/docker.sock"), "Docker Desktop"},
			socket{filepath.Join(h, ".colima/default/docker.sock"), "colima"},
			socket{filepath.Join(h, ".colima/docker.sock"), "colima"},
			socket{filepath.Join(h, ".rd/docker.sock"), "Rancher Desktop"},
		)
	}
	if rt := e.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		s = append(s, socket{filepath.Join(rt, "podman/podman.sock"), "Podman (rootless)"})
	}
	s = append(s, socket{"/run/podman/podman.sock", "Podman"})
	if e.GOOS == "darwin" {
		s = append(s, socket{filepath.Join(h, ".local/share/containers/podman/machine/podman.sock"), "Podman machine"})
	}
	return s
}

// dockerContext reads the docker CLI's current context: its name from
// DOCKER_CONTEXT or config.json, its endpoint from the context store
// (contexts/meta/<sha256 of the name>/meta.json).
func dockerContext(e Env) (Endpoint, bool) {
	dir := e.Getenv("DOCKER_CONFIG")
	if dir == "" {
		dir = filepath.Join(e.Home, ".docker")
	}
	name := e.Getenv("DOCKER_CONTEXT")
	if name == "" {
		b, err := e.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			return Endpoint{}, false
		}
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if json.Unmarshal(b, &cfg) != nil {
			return Endpoint{}, false
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return Endpoint{}, false
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := e.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	if err != nil {
		return Endpoint{}, false
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if json.Unmarshal(b, &meta) != nil || meta.Endpoints["docker"].Host == "" {
		return Endpoint{}, false
	}
	ep := Endpoint{Host: meta.Endpoints["docker"].Host, Source: "docker context " + name}
	tls := filepath.Join(dir, "contexts", "tls", id, "docker")
	if e.Exists(filepath.Join(tls, "cert.pem")) {
		ep.CA, ep.Cert, ep.Key = filepath.Join(tls, "ca.pem"), filepath.Join(tls, "cert.pem"), filepath.Join(tls, "key.pem")
	}
	return ep, true
}

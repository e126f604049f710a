package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machine is a stand-in machine: its environment and its files.
func machine(goos string, env map[string]string, files map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return env[k] },
		Home:   "/home/dev",
		GOOS:   goos,
		Exists: func(p string) bool { _, ok := files[p]; return ok },
		ReadFile: func(p string) ([]byte, error) {
			if b, ok := files[p]; ok {
				return []byte(b), nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

func metaPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "/home/dev/.docker/contexts/meta/" + hex.EncodeToString(sum[:]) + "/meta.json"
}

func TestDiscover(t *testing.T) {
	colimaMeta := `{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///home/dev/.colima/default/docker.sock"}}}`
	for _, tt := range []struct {
		name  string
		goos  string
		env   map[string]string
		files map[string]string
		want  Endpoint
	}{
		{name: "DOCKER_HOST wins", goos: "darwin", env: map[string]string{"DOCKER_HOST": "ssh://me@build-1"},
			files: map[string]string{"/var/run/docker.sock": ""}, want: Endpoint{Host: "ssh://me@build-1", Source: "DOCKER_HOST"}},
		{name: "the current docker context", goos: "darwin",
			files: map[string]string{"/home/dev/.docker/config.json": `{"currentContext":"colima"}`, metaPath("colima"): colimaMeta, "/var/run/docker.sock": ""},
			want:  Endpoint{Host: "unix:///home/dev/.colima/default/docker.sock", Source: "docker context colima"}},
		{name: "DOCKER_CONTEXT over config.json", goos: "linux", env: map[string]string{"DOCKER_CONTEXT": "colima"},
			files: map[string]string{"/home/dev/.docker/config.json": `{"currentContext":"other"}`, metaPath("colima"): colimaMeta},
			want:  Endpoint{Host: "unix:///home/dev/.colima/default/docker.sock", Source: "docker context colima"}},
		{name: "a context with TLS", goos: "linux", env: map[string]string{"DOCKER_CONTEXT": "prod"},
			files: map[string]string{metaPath("prod"): `{"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376"}}}`,
				"/home/dev/.docker/contexts/tls/" + metaPath("prod")[len("/home/dev/.docker/contexts/meta/"):len(metaPath("prod"))-len("/meta.json")] + "/docker/cert.pem": ""},
			want: func() Endpoint {
				dir := "/home/dev/.docker/contexts/tls/" + metaPath("prod")[len("/home/dev/.docker/contexts/meta/"):len(metaPath("prod"))-len("/meta.json")] + "/docker/"
				return Endpoint{Host: "tcp://10.0.0.5:2376", Source: "docker context prod", CA: dir + "ca.pem", Cert: dir + "cert.pem", Key: dir + "key.pem"}
			}()},
		{name: "the default context is the sockets", goos: "linux",
			files: map[string]string{"/home/dev/.docker/config.json": `{"currentContext":"default"}`, "/var/run/docker.sock": ""},
			want:  Endpoint{Host: "unix:///var/run/docker.sock", Source: "the system socket"}},
		{name: "Docker Desktop's socket", goos: "darwin",
			files: map[string]string{"/home/dev/.docker/run/docker.sock": ""},
			want:  Endpoint{Host: "unix:///home/dev/.docker/run/docker.sock", Source: "Docker Desktop"}},
		{name: "colima with no context", goos: "darwin",
			files: map[string]string{"/home/dev/.colima/default/docker.sock": ""},
			want:  Endpoint{Host: "unix:///home/dev/.colima/default/docker.sock", Source: "colima"}},
		{name: "rootless Podman", goos: "linux", env: map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"},
			files: map[string]string{"/run/user/1000/podman/podman.sock": ""},
			want:  Endpoint{Host: "unix:///run/user/1000/podman/podman.sock", Source: "Podman (rootless)"}},
		{name: "nothing found", goos: "linux", want: Endpoint{Source: "the client's default"}},
		{name: "windows: Desktop's pipe", goos: "windows", want: Endpoint{Source: "the client's default"}},
		{name: "a context that does not exist", goos: "linux", env: map[string]string{"DOCKER_CONTEXT": "gone"},
			files: map[string]string{"/var/run/docker.sock": ""},
			want:  Endpoint{Host: "unix:///var/run/docker.sock", Source: "the system socket"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Discover(machine(tt.goos, tt.env, tt.files))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for _, tt := range []struct {
		name  string
		facts kindFacts
		want  Kind
		notes int
	}{
		{"docker engine", kindFacts{components: []string{"Engine", "containerd"}, version: "20.10.24", host: "unix:///var/run/docker.sock"}, Kind{Name: "Docker Engine", Version: "20.10.24"}, 0},
		{"podman", kindFacts{components: []string{"Podman Engine", "Conmon"}, version: "4.3.1", host: "unix:///run/podman/podman.sock"}, Kind{Name: "Podman", Version: "4.3.1"}, 0},
		{"rootless podman", kindFacts{components: []string{"Podman Engine"}, version: "5.0", security: []string{"name=rootless"}}, Kind{Name: "Podman", Version: "5.0", Rootless: true}, 1},
		{"docker desktop", kindFacts{components: []string{"Engine"}, platform: "Docker Desktop 4.49.0 (208003)", version: "28.5", os: "Docker Desktop"}, Kind{Name: "Docker Desktop", Version: "28.5", VM: true}, 1},
		{"colima", kindFacts{components: []string{"Engine"}, version: "27.1", name: "colima", host: "unix:///Users/me/.colima/default/docker.sock"}, Kind{Name: "colima", Version: "27.1", VM: true}, 1},
		{"remote over ssh", kindFacts{components: []string{"Engine"}, version: "27.1", host: "ssh://me@build-1"}, Kind{Name: "Docker Engine", Version: "27.1", Remote: true}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := kindOf(tt.facts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := len(got.Notes()); n != tt.notes {
				t.Errorf("%d notes, want %d: %q", n, tt.notes, got.Notes())
			}
		})
	}
}

package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// dockerHubKey is the key of Docker Hub's credentials in Docker's config.
const dockerHubKey = "https://index.docker.io/v1/"

// DockerConfigAuth returns an Options.Auth that looks credentials up where
// `docker login` stores them: the config file $DOCKER_CONFIG/config.json,
// or ~/.docker/config.json without DOCKER_CONFIG. It reads the file at
// each call. Its "auths" entries hold a base64 "auth" ("user:password") or
// "username" and "password", under keys like "10.0.0.5:5000" or
// "https://10.0.0.5:5000/v1/" (Docker Hub's is "https://index.docker.io/v1/").
// A credential helper the file names (credHelpers for the host, or
// credsStore) is asked first, as Docker does: `docker-credential-NAME get`.
//
// A missing or unreadable file, or one without an entry for the host,
// means no credentials.
func DockerConfigAuth() func(host string) (string, string, bool) {
	return func(host string) (string, string, bool) {
		dir := os.Getenv("DOCKER_CONFIG")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", "", false
			}
			dir = filepath.Join(home, ".docker")
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			return "", "", false
		}
		var cfg dockerConfig
		if json.Unmarshal(b, &cfg) != nil {
			return "", "", false
		}
		return cfg.lookup(host)
	}
}

// dockerConfig is the part of Docker's config.json about credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// lookup returns the credentials for host (as named in image references).
func (cfg *dockerConfig) lookup(host string) (string, string, bool) {
	want := normalizeAuthKey(host)
	serverURL := host
	if want == "index.docker.io" {
		serverURL = dockerHubKey
	}
	helper := cfg.CredsStore
	for k, h := range cfg.CredHelpers {
		if normalizeAuthKey(k) == want {
			helper = h
		}
	}
	if helper != "" {
		if u, p, ok := credentialHelper(helper, serverURL); ok {
			return u, p, true
		}
	}
	for k, a := range cfg.Auths {
		if normalizeAuthKey(k) != want {
			continue
		}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Auth))
			if err != nil {
				continue
			}
			if u, p, ok := strings.Cut(string(dec), ":"); ok && u != "" {
				return u, p, true
			}
		}
		if a.Username != "" {
			return a.Username, a.Password, true
		}
	}
	return "", "", false
}

// normalizeAuthKey reduces a key of "auths" or a host to host[:port]:
// "https://10.0.0.5:5000/v1/" -> "10.0.0.5:5000"; Docker Hub's names to
// "index.docker.io".
func normalizeAuthKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	if _, rest, ok := strings.Cut(k, "://"); ok {
		k = rest
	}
	k, _, _ = strings.Cut(k, "/")
	switch k {
	case dockerHubDomain, "index.docker.io", dockerHubAPI, "registry.hub.docker.com":
		return "index.docker.io"
	}
	return k
}

// credentialHelper asks docker-credential-NAME for the credentials of
// serverURL.
func credentialHelper(name, serverURL string) (string, string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	var out bytes.Buffer
	cmd.Stdout = &out
	if cmd.Run() != nil {
		return "", "", false // not installed, or no credentials for serverURL
	}
	var c struct {
		Username, Secret string
	}
	// "<token>" is an identity token, for OAuth: not a password.
	if json.Unmarshal(out.Bytes(), &c) != nil || c.Username == "" || c.Username == "<token>" {
		return "", "", false
	}
	return c.Username, c.Secret, true
}

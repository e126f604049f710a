package engine

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// dockerHub is the registry of references that name none.
const dockerHub = "docker.io"

// RegistryHost is the registry an image reference names: its first path
// component when that has a dot or a colon or is localhost, else Docker Hub.
func RegistryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return dockerHub
	}
	return first
}

// registryAuth is the X-Registry-Auth header for ref's registry and whether
// it carries credentials: those e.auth gives, else none ("{}").
func (e *Engine) registryAuth(ref string) (string, bool) {
	host := RegistryHost(ref)
	if e.auth != nil {
		if user, pass, ok := e.auth(host); ok {
			server := host
			if host == dockerHub {
				server = "https://index.docker.io/v1/"
			}
			b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": server})
			return base64.URLEncoding.EncodeToString(b), true
		}
	}
	return "e30=", false // {}
}

// AuthError is a pull or push the registry refused for want of (valid)
// credentials.
type AuthError struct {
	Op, Image, Registry string
	Sent                bool // credentials were sent (and refused)
	Err                 error
}

func (e *AuthError) Error() string {
	fix := fmt.Sprintf("no credentials for %s were found where `docker login` keeps them ($DOCKER_CONFIG or ~/.docker/config.json): run `docker login %s`", e.Registry, e.Registry)
	if e.Sent {
		fix = fmt.Sprintf("the credentials `docker login %s` stored were refused: run `docker login %s` again", e.Registry, e.Registry)
	}
	why := strings.TrimPrefix(e.Err.Error(), e.Op+" "+e.Image+": ")
	why = strings.TrimPrefix(why, "Error response from daemon: ")
	return fmt.Sprintf("%s %s: the registry %s refused it (%s); %s", e.Op, e.Image, e.Registry, why, fix)
}

func (e *AuthError) Unwrap() error { return e.Err }

// ErrAuth matches every *AuthError.
var ErrAuth = errors.New("registry authentication")

func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// authFailure wraps err in an *AuthError when it says the registry wants
// (other) credentials.
func authFailure(op, ref string, sent bool, err error) error {
	if err == nil {
		return nil
	}
	s := strings.ToLower(err.Error())
	for _, m := range []string{"unauthorized", "authentication required", "no basic auth credentials", "denied", "may require 'docker login'", "incorrect username or password"} {
		if strings.Contains(s, m) {
			return &AuthError{Op: op, Image: ref, Registry: RegistryHost(ref), Sent: sent, Err: err}
		}
	}
	return err
}

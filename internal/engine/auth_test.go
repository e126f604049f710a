package engine

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRegistryHost(t *testing.T) {
	for ref, want := range map[string]string{
		"coding/api:1.0.0":                 "docker.io",
		"alpine":                           "docker.io",
		"registry.example.corp/team/api:1": "registry.example.corp",
		"127.0.0.1:5000/coding/api:1.0.0":  "127.0.0.1:5000",
		"localhost/api":                    "localhost",
		"localhost:5000/api@sha256:abc":    "localhost:5000",
	} {
		if got := RegistryHost(ref); got != want {
			t.Errorf("RegistryHost(%q) = %q, want %q", ref, got, want)
		}
	}
}

// TestRegistryAuth: the credentials of the image's registry go in the
// header, Docker Hub's under its server address; none is "{}".
func TestRegistryAuth(t *testing.T) {
	e := &Engine{auth: func(host string) (string, string, bool) {
		switch host {
		case "registry.example.corp":
			return "ci", "s3cret", true
		case "docker.io":
			return "hubuser", "hubpw", true
		}
		return "", "", false
	}}
	decode := func(h string) map[string]string {
		b, err := base64.URLEncoding.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		json.Unmarshal(b, &m)
		return m
	}
	h, sent := e.registryAuth("registry.example.corp/team/api:1")
	if m := decode(h); !sent || m["username"] != "ci" || m["password"] != "s3cret" || m["serveraddress"] != "registry.example.corp" {
		t.Errorf("private registry: %v %v", m, sent)
	}
	if m := decode(func() string { h, _ := e.registryAuth("coding/api:1"); return h }()); m["serveraddress"] != "https://index.docker.io/v1/" || m["username"] != "hubuser" {
		t.Errorf("Docker Hub: %v", m)
	}
	if h, sent := e.registryAuth("10.0.0.5:5000/x"); sent || h != "e30=" {
		t.Errorf("no credentials: %q %v", h, sent)
	}
}

func TestAuthFailure(t *testing.T) {
	err := authFailure("pull", "127.0.0.1:5000/coding/api:1.0.0", false, errors.New("pull 127.0.0.1:5000/coding/api:1.0.0: Error response from daemon: Head \"http://127.0.0.1:5000/v2/coding/api/manifests/1.0.0\": no basic auth credentials"))
	var ae *AuthError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAuth) || ae.Registry != "127.0.0.1:5000" {
		t.Fatalf("not an AuthError: %v", err)
	}
	for _, want := range []string{"the registry 127.0.0.1:5000 refused it", "run `docker login 127.0.0.1:5000`", "no credentials for 127.0.0.1:5000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	err = authFailure("pull", "r.example/x", true, errors.New("unauthorized: authentication required"))
	if !strings.Contains(err.Error(), "were refused: run `docker login r.example` again") {
		t.Errorf("refused credentials: %v", err)
	}
	other := errors.New("pull x: manifest unknown")
	if authFailure("pull", "x", false, other) != other {
		t.Error("an unrelated error was wrapped")
	}
}

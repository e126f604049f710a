package registry

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []challenge
	}{
		{`Basic realm="cjob"`, []challenge{{"basic", map[string]string{"realm": "cjob"}}}},
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"`,
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/ubuntu:pull"}}}},
		{`bearer Realm=https://x/token, service = "a \"q\" b", scope="repository:a:pull repository:b:pull"`,
			[]challenge{{"bearer", map[string]string{"realm": "https://x/token", "service": `a "q" b`, "scope": "repository:a:pull repository:b:pull"}}}},
		{`Negotiate, Basic realm="r", Bearer realm="t"`, []challenge{
			{"negotiate", map[string]string{}}, {"basic", map[string]string{"realm": "r"}}, {"bearer", map[string]string{"realm": "t"}}}},
		{``, nil},
		{`Basic realm="unterminated`, []challenge{{"basic", map[string]string{"realm": "unterminated"}}}},
	} {
		var got []challenge
		for _, ch := range parseChallenges(tc.in) {
			got = append(got, *ch)
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(challenge{})); diff != "" {
			t.Errorf("parseChallenges(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if ch := pickChallenge([]string{`Basic realm="r"`, `Bearer realm="t"`}); ch == nil || ch.scheme != "bearer" {
		t.Errorf("pickChallenge prefers Bearer: %+v", ch)
	}
	if ch := pickChallenge([]string{`Negotiate`}); ch != nil {
		t.Errorf("pickChallenge of unknown schemes: %+v", ch)
	}
}

func TestNextLink(t *testing.T) {
	for in, want := range map[string]string{
		`</v2/a/tags/list?last=b&n=2>; rel="next"`:               "/v2/a/tags/list?last=b&n=2",
		`<https://r/v2/a/tags/list?last=b>;rel=next`:             "https://r/v2/a/tags/list?last=b",
		`</prev>; rel="prev", </v2/next>; title="x"; rel="next"`: "/v2/next",
		`</v2/a/tags/list?last=b>; rel="prev"`:                   "",
		`garbage`:                                                "",
		``:                                                       "",
	} {
		if got := nextLink([]string{in}); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickImage(t *testing.T) {
	d := func(digest, os, arch string) descriptor {
		return descriptor{Digest: digest, Platform: &platform{OS: os, Architecture: arch}}
	}
	for _, tc := range []struct {
		in   []descriptor
		want string
	}{
		{[]descriptor{d("arm", "linux", "arm64"), d("amd", "linux", "amd64")}, "amd"},
		{[]descriptor{d("att", "unknown", "unknown"), d("s390", "linux", "s390x")}, "s390"},
		{[]descriptor{d("win", "windows", "amd64"), d("arm", "linux", "arm64")}, "win"},
		{[]descriptor{{Digest: "noplatform"}}, "noplatform"},
		{[]descriptor{d("att", "unknown", "unknown")}, "att"},
	} {
		got, ok := pickImage(tc.in)
		if !ok || got.Digest != tc.want {
			t.Errorf("pickImage(%v) = %v, want %s", tc.in, got.Digest, tc.want)
		}
	}
	if _, ok := pickImage(nil); ok {
		t.Error("pickImage(nil) found an image")
	}
}

func TestManifestType(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		m           manifest
		want        string
	}{
		{MediaTypeDockerManifest, manifest{}, MediaTypeDockerManifest},
		{"application/json", manifest{MediaType: MediaTypeOCIIndex}, MediaTypeOCIIndex},
		{"application/json", manifest{SchemaVersion: 1}, MediaTypeSchema1},
		{"application/octet-stream", manifest{SchemaVersion: 2, Manifests: []descriptor{}}, MediaTypeOCIIndex},
		{"", manifest{SchemaVersion: 2, Config: descriptor{Digest: "sha256:x"}}, MediaTypeOCIManifest},
		{"text/plain", manifest{}, "text/plain"},
	} {
		if got := manifestType(tc.contentType, tc.m); got != tc.want {
			t.Errorf("manifestType(%q, %+v) = %q, want %q", tc.contentType, tc.m, got, tc.want)
		}
	}
}

func TestSortTags(t *testing.T) {
	tags := []Tag{{Name: "b", Created: t2015}, {Name: "broken"}, {Name: "c", Created: t2017}, {Name: "a", Created: t2015}, {Name: "aa"}}
	sortTags(tags)
	var names []string
	for _, tag := range tags {
		names = append(names, tag.Name)
	}
	if diff := cmp.Diff([]string{"c", "a", "b", "aa", "broken"}, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestParseReference(t *testing.T) {
	c := newClient(t, Options{})
	for _, tc := range []struct{ image, name, addr, repo string }{
		{"10.0.0.5:5000/coding/api:1.0.0", "10.0.0.5:5000", "10.0.0.5:5000", "coding/api"},
		{"127.0.0.1:5000/coding/api", "127.0.0.1:5000", "127.0.0.1:5000", "coding/api"},
		{"ubuntu:22.04", "docker.io", "registry-1.docker.io", "library/ubuntu"},
		{"docker.io/cjob/tool@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", "docker.io", "registry-1.docker.io", "cjob/tool"},
		{"registry.example.com/a/b/c:t", "registry.example.com", "registry.example.com", "a/b/c"},
		{"localhost:5000/x", "localhost:5000", "localhost:5000", "x"},
	} {
		h, repo, err := c.parse(tc.image)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.image, err)
			continue
		}
		if h.name != tc.name || h.addr != tc.addr || repo != tc.repo {
			t.Errorf("parse(%q) = %s %s %s, want %s %s %s", tc.image, h.name, h.addr, repo, tc.name, tc.addr, tc.repo)
		}
	}
	if _, _, err := c.parse("a/B:1"); err == nil {
		t.Error("parse of an upper-case repository succeeded")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.8.9.10": true, "localhost:5000": true, "LOCALHOST": true, "[::1]:5000": true, "::1": true,
		"10.0.0.5:5000": false, "registry-1.docker.io": false, "[::2]:5000": false, "localhost.example.com": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

func TestLoginCommand(t *testing.T) {
	if got := loginCommand(&host{name: "docker.io"}); got != "docker login" {
		t.Errorf("Docker Hub: %q", got)
	}
	if got := loginCommand(&host{name: "10.0.0.5:5000"}); got != "docker login 10.0.0.5:5000" {
		t.Errorf("private registry: %q", got)
	}
}

func TestDockerConfigAuth(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	auth := DockerConfigAuth()
	if u, p, ok := auth("10.0.0.5:5000"); ok {
		t.Errorf("without config.json: %q %q", u, p)
	}

	writeFile(t, filepath.Join(dir, "config.json"), `{
	"auths": {
		"10.0.0.5:5000": {"auth": "Ym9iOnMzY3JldDp3aXRoOmNvbG9ucw=="},
		"https://registry.example.com/v1/": {"username": "alice", "password": "pw"},
		"https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"},
		"empty.example.com": {},
		"bad.example.com": {"auth": "!!!"}
	}
}`)
	for _, tc := range []struct {
		host, user, password string
		ok                   bool
	}{
		{"10.0.0.5:5000", "bob", "s3cret:with:colons", true},
		{"registry.example.com", "alice", "pw", true},
		{"docker.io", "hub", "hubpw", true},
		{"registry-1.docker.io", "hub", "hubpw", true},
		{"10.0.0.5:5001", "", "", false},
		{"empty.example.com", "", "", false},
		{"bad.example.com", "", "", false},
	} {
		u, p, ok := auth(tc.host)
		if u != tc.user || p != tc.password || ok != tc.ok {
			t.Errorf("auth(%q) = %q %q %v, want %q %q %v", tc.host, u, p, ok, tc.user, tc.password, tc.ok)
		}
	}

	writeFile(t, filepath.Join(dir, "config.json"), `{not json`)
	if _, _, ok := auth("10.0.0.5:5000"); ok {
		t.Error("a malformed config.json gave credentials")
	}

	// Without DOCKER_CONFIG: ~/.docker/config.json.
	home := t.TempDir()
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", home)
	writeFile(t, filepath.Join(home, ".docker", "config.json"), `{"auths":{"h:1":{"username":"u","password":"p"}}}`)
	if u, p, ok := auth("h:1"); u != "u" || p != "p" || !ok {
		t.Errorf("from ~/.docker: %q %q %v", u, p, ok)
	}
}

func TestDockerConfigCredentialHelpers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell-script credential helpers")
	}
	bin := t.TempDir()
	// A helper that knows one server, and says so on stdin.
	writeFile(t, filepath.Join(bin, "docker-credential-fake"), `#!/bin/sh
[ "$1" = get ] || exit 2
read server
case "$server" in
helped.example.com) echo '{"ServerURL":"helped.example.com","Username":"carol","Secret":"pw"}' ;;
https://index.docker.io/v1/) echo '{"Username":"hubuser","Secret":"hubpw"}' ;;
token.example.com) echo '{"Username":"<token>","Secret":"refresh"}' ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
`)
	if err := os.Chmod(filepath.Join(bin, "docker-credential-fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	writeFile(t, filepath.Join(dir, "config.json"), `{
	"credsStore": "fake",
	"credHelpers": {"other.example.com": "missing"},
	"auths": {"file.example.com": {"auth": "ZGF2ZTpwdw=="}, "other.example.com": {"auth": "ZXZlOnB3"}}
}`)
	auth := DockerConfigAuth()
	for _, tc := range []struct {
		host, user, password string
		ok                   bool
	}{
		{"helped.example.com", "carol", "pw", true},
		{"docker.io", "hubuser", "hubpw", true},
		{"file.example.com", "dave", "pw", true}, // the store has none: the file's
		{"other.example.com", "eve", "pw", true}, // its helper is not installed: the file's
		{"token.example.com", "", "", false},     // identity tokens are not passwords
		{"nowhere.example.com", "", "", false},
	} {
		start := time.Now()
		u, p, ok := auth(tc.host)
		if u != tc.user || p != tc.password || ok != tc.ok {
			t.Errorf("auth(%q) = %q %q %v, want %q %q %v", tc.host, u, p, ok, tc.user, tc.password, tc.ok)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("auth(%q) took %v", tc.host, d)
		}
	}
}

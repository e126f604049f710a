package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/registrytest"
)

// tokenServer issues bearer tokens as Docker Hub's auth.docker.io does.
type tokenServer struct {
	*httptest.Server
	user, password string // demanded as basic auth when user is set
	accessToken    bool   // answer "access_token" rather than "token"
	expiresIn      int    // seconds; 0 leaves it out

	mu       sync.Mutex
	hits     int
	scopes   []string          // asked for, in order
	services []string          // asked for, in order
	users    []string          // who asked
	tokens   map[string]string // token -> scope
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{tokens: map[string]string{}}
	ts.Server = httptest.NewServer(ts)
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.hits++
	scope := r.URL.Query().Get("scope")
	ts.scopes = append(ts.scopes, scope)
	ts.services = append(ts.services, r.URL.Query().Get("service"))
	u, p, ok := r.BasicAuth()
	ts.users = append(ts.users, u)
	if ts.user != "" && (!ok || u != ts.user || p != ts.password) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	ts.tokens[tok] = scope
	key := "token"
	if ts.accessToken {
		key = "access_token"
	}
	answer := map[string]any{key: tok, "issued_at": time.Now().UTC()}
	if ts.expiresIn > 0 {
		answer["expires_in"] = ts.expiresIn
	}
	json.NewEncoder(w).Encode(answer)
}

// scopeOf returns the scope of a token it issued.
func (ts *tokenServer) scopeOf(tok string) (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	s, ok := ts.tokens[tok]
	return s, ok
}

// revoke forgets every token issued.
func (ts *tokenServer) revoke() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	clear(ts.tokens)
}

func (ts *tokenServer) stats() (hits int, scopes, services, users []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.hits, slicesClone(ts.scopes), slicesClone(ts.services), slicesClone(ts.users)
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

var repoPath = regexp.MustCompile(`^/v2/(.+)/(tags|manifests|blobs)/`)

// bearerFront puts a real registry behind token authentication: requests
// need a token of ts for "repository:REPO:pull"; without one the answer is
// a 401 with a Bearer challenge, as Docker Hub's.
func bearerFront(t *testing.T, reg *registrytest.Registry, ts *tokenServer) string {
	proxy := proxyTo(t, reg.URL())
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := ""
		if m := repoPath.FindStringSubmatch(r.URL.Path); m != nil {
			want = "repository:" + m[1] + ":pull"
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		scope, ok := ts.scopeOf(tok)
		if !ok || want != "" && scope != want {
			challenge := fmt.Sprintf(`Bearer realm="%s/token",service="test-registry"`, ts.URL)
			if want != "" {
				challenge += fmt.Sprintf(`,scope="%s"`, want)
			}
			w.Header().Set("WWW-Authenticate", challenge)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.Listener.Addr().String()
}

// TestBearer: a registry demanding tokens gets them from its token server,
// once per repository while they last, with the scope it asks for.
func TestBearer(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	for i, tag := range []string{"a", "b", "c", "d", "e", "f"} {
		reg.PushImage(t, "coding/api", tag, t2015.Add(time.Duration(i)*time.Hour))
	}
	want := reg.Push(t, "coding/web", "1", registrytest.Image{Created: t2016})
	ts := newTokenServer(t)
	ts.expiresIn = 300
	addr := bearerFront(t, reg, ts)
	ctx := context.Background()

	now := time.Now()
	var clockMu sync.Mutex
	c := newClient(t, Options{Concurrency: 6})
	c.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	for range 2 {
		tags, err := c.Tags(ctx, addr+"/coding/api")
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != 6 || tags[0].Name != "f" || tags[0].Err != "" {
			t.Fatalf("Tags = %+v", tags)
		}
	}
	if _, err := c.Tag(ctx, addr+"/coding/api", "c"); err != nil {
		t.Fatal(err)
	}
	hits, scopes, services, users := ts.stats()
	if hits != 1 || scopes[0] != "repository:coding/api:pull" || services[0] != "test-registry" || users[0] != "" {
		t.Errorf("token server: %d hits, scopes %q, services %q, users %q; want 1 anonymous hit for repository:coding/api:pull, test-registry", hits, scopes, services, users)
	}

	// Another repository: another scope, another token.
	tag, err := c.Tag(ctx, addr+"/coding/web", "1")
	if err != nil || tag.ImageID != want.ID {
		t.Fatalf("Tag = %+v, %v", tag, err)
	}
	if hits, scopes, _, _ = ts.stats(); hits != 2 || scopes[1] != "repository:coding/web:pull" {
		t.Errorf("token server: %d hits, scopes %q", hits, scopes)
	}

	// An expired token is renewed.
	clockMu.Lock()
	now = now.Add(5 * time.Minute)
	clockMu.Unlock()
	if _, err := c.Tag(ctx, addr+"/coding/web", "1"); err != nil {
		t.Fatal(err)
	}
	if hits, _, _, _ = ts.stats(); hits != 3 {
		t.Errorf("token server: %d hits after expiry, want 3", hits)
	}

	// A token the registry no longer takes is renewed once.
	ts.revoke()
	if _, err := c.Tag(ctx, addr+"/coding/web", "1"); err != nil {
		t.Fatal(err)
	}
	if hits, _, _, _ = ts.stats(); hits != 4 {
		t.Errorf("token server: %d hits after revocation, want 4", hits)
	}
}

// TestBearerCredentials: a token server that demands credentials.
func TestBearerCredentials(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	v1 := reg.Push(t, "coding/api", "1", registrytest.Image{Created: t2015})
	ts := newTokenServer(t)
	ts.user, ts.password, ts.accessToken = "bob", "s3cret", true
	addr := bearerFront(t, reg, ts)
	image := addr + "/coding/api"
	ctx := context.Background()

	c := newClient(t, Options{Auth: func(host string) (string, string, bool) {
		if host != addr {
			t.Errorf("credentials asked for %s", host)
		}
		return "bob", "s3cret", true
	}})
	tag, err := c.Tag(ctx, image, "1")
	if err != nil || tag.ImageID != v1.ID {
		t.Fatalf("Tag = %+v, %v", tag, err)
	}
	if _, _, _, users := ts.stats(); len(users) != 1 || users[0] != "bob" {
		t.Errorf("token server asked by %q", users)
	}

	_, err = newClient(t, Options{}).Tag(ctx, image, "1")
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: authentication required for coding/api: run `docker login %s`", addr, addr))

	wrong := newClient(t, Options{Auth: func(string) (string, string, bool) { return "bob", "hunter2", true }})
	_, err = wrong.Tags(ctx, image)
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: credentials for %s were refused (user \"bob\", repository coding/api): run `docker login %s`", addr, addr, addr))
}

// TestBearerAnonymousDenied: a token server that gives anonymous tokens
// that the registry does not take for a private repository.
func TestBearerAnonymousDenied(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t)
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="svc",scope="repository:private/x:pull",error="insufficient_scope"`, ts.URL))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, err := newClient(t, Options{}).Tags(context.Background(), addr+"/private/x")
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: authentication required for private/x: run `docker login %s`", addr, addr))
	mu.Lock()
	defer mu.Unlock()
	// ping (https refused in plain HTTP, then http), tag list, its retry
	// with the scope of the challenge.
	if calls > 4 {
		t.Errorf("%d requests: the client insists", calls)
	}
}

// TestForbidden: a 403 DENIED with credentials names the user.
func TestForbidden(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c := newClient(t, Options{Auth: func(string) (string, string, bool) { return "eve", "x", true }})
	_, err := c.Tags(context.Background(), addr+"/coding/api")
	// No challenge was ever made: the credentials did not go.
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: access to coding/api is denied (DENIED: requested access to the resource is denied)", addr))
}

// TestRegistryErrors: error bodies are shown with their codes.
func TestRegistryErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
		case strings.HasPrefix(r.URL.Path, "/v2/busy/"):
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "storage is on fire")
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	c := newClient(t, Options{})
	_, err := c.Tags(context.Background(), addr+"/busy/x")
	if want := fmt.Sprintf("registry %s: GET /v2/busy/x/tags/list: 429 Too Many Requests (TOOMANYREQUESTS: slow down)", addr); err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	_, err = c.Tag(context.Background(), addr+"/a/b", "1")
	if want := fmt.Sprintf("registry %s: GET /v2/a/b/manifests/1: 500 Internal Server Error: storage is on fire", addr); err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

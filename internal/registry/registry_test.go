package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/registrytest"
	"github.com/google/go-cmp/cmp"
)

// noAuth gives no credentials: tests must not read the user's Docker config.
func noAuth(string) (string, string, bool) { return "", "", false }

// newClient returns a Client for tests: no credentials unless o says,
// and an empty certs.d.
func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Auth == nil {
		o.Auth = noAuth
	}
	c := New(o)
	c.certsDir = t.TempDir()
	return c
}

var (
	t2015 = time.Date(2015, 9, 11, 14, 26, 2, 0, time.UTC)
	t2016 = time.Date(2016, 1, 2, 3, 4, 5, 0, time.UTC)
	t2017 = time.Date(2017, 6, 7, 8, 9, 10, 123456789, time.UTC)
)

// TestTags lists the tags of a real registry: newest first, with the image
// ID, digest, creation time and size each tag's image has there.
func TestTags(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{})
	const repo = "coding/api"
	v1 := reg.Push(t, repo, "2b19fca", registrytest.Image{Created: t2015})
	v2 := reg.Push(t, repo, "3c20fdb", registrytest.Image{Created: t2016})
	v3 := reg.Push(t, repo, "4d31aec", registrytest.Image{Created: t2017, OCI: true})
	// latest is the same image as 4d31aec.
	reg.PushManifest(t, repo, "latest", v3.MediaType, v3.Manifest)

	c := newClient(t, Options{})
	ctx := context.Background()
	start := time.Now()
	got, err := c.Tags(ctx, reg.Image(repo, "whatever-tag"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Tags: %v", time.Since(start))
	want := []Tag{
		{Name: "4d31aec", Digest: v3.Digest, ImageID: v3.ID, Created: t2017, Size: v3.Size},
		{Name: "latest", Digest: v3.Digest, ImageID: v3.ID, Created: t2017, Size: v3.Size},
		{Name: "3c20fdb", Digest: v2.Digest, ImageID: v2.ID, Created: t2016, Size: v2.Size},
		{Name: "2b19fca", Digest: v1.Digest, ImageID: v1.ID, Created: t2015, Size: v1.Size},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if v1.ID == v2.ID || v2.ID == v3.ID || v1.Size == 0 {
		t.Errorf("the images should differ and have layers: %v %v %v", v1, v2, v3)
	}

	// One tag; the repository also named without a tag, or by digest.
	for _, image := range []string{reg.Image(repo, ""), reg.Image(repo, "x") + "@" + v1.Digest} {
		one, err := c.Tag(ctx, image, "3c20fdb")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[2], one); diff != "" {
			t.Errorf("Tag(%s) (-want +got):\n%s", image, diff)
		}
	}

	_, err = c.Tag(ctx, reg.Image(repo, ""), "9.9.9")
	wantErr(t, err, ErrTagNotFound, fmt.Sprintf("registry %s: coding/api has no tag 9.9.9", reg.Addr))
	_, err = c.Tag(ctx, reg.Image("nothing/here", ""), "1")
	wantErr(t, err, ErrRepoNotFound, fmt.Sprintf("registry %s has no repository nothing/here", reg.Addr))
	_, err = c.Tags(ctx, reg.Image("nothing/here", "1"))
	wantErr(t, err, ErrRepoNotFound, fmt.Sprintf("registry %s has no repository nothing/here", reg.Addr))
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || !e.hasCode("NAME_UNKNOWN") || e.Repository != "nothing/here" || e.Registry != reg.Addr {
		t.Errorf("error details: %#v", e)
	}
	if _, err := c.Tag(ctx, reg.Image(repo, ""), "bad tag!"); err == nil || !strings.Contains(err.Error(), `invalid tag "bad tag!"`) {
		t.Errorf("bad tag: %v", err)
	}
	if _, err := c.Tags(ctx, "Upper/Case"); err == nil || !strings.Contains(err.Error(), `invalid image reference "Upper/Case"`) {
		t.Errorf("bad reference: %v", err)
	}

	// The plain HTTP registry on loopback: HTTPS was tried, then HTTP kept.
	if h := c.hosts[reg.Addr]; h == nil || h.scheme != "http" || h.challenge != nil {
		t.Errorf("host state: %+v", h)
	}
}

// TestTagJSON: the JSON of a Tag, an error only when there is one.
func TestTagJSON(t *testing.T) {
	b, err := json.Marshal(Tag{Name: "v1", Digest: "sha256:a", ImageID: "sha256:b", Created: t2015, Size: 42})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"v1","digest":"sha256:a","image_id":"sha256:b","created":"2015-09-11T14:26:02Z","size":42}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	b, _ = json.Marshal(Tag{Name: "v0", Err: "boom"})
	if !strings.Contains(string(b), `"error":"boom"`) {
		t.Errorf("JSON = %s, want an error", b)
	}
}

// TestManifestLists: a tag naming a manifest list or OCI index resolves
// to its linux/amd64 image, else to its first.
func TestManifestLists(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	const repo = "multi/arch"
	arm := reg.Push(t, repo, "", registrytest.Image{Created: t2015, Architecture: "arm64"})
	amd := reg.Push(t, repo, "", registrytest.Image{Created: t2016})
	s390 := reg.Push(t, repo, "", registrytest.Image{Created: t2017, Architecture: "s390x", OCI: true})
	amdOCI := reg.Push(t, repo, "", registrytest.Image{Created: t2017, OCI: true})
	list := reg.PushIndex(t, repo, "list", registrytest.MediaTypeDockerManifestList, arm, amd)
	index := reg.PushIndex(t, repo, "index", registrytest.MediaTypeOCIIndex, s390, arm, amdOCI)
	noAMD := reg.PushIndex(t, repo, "no-amd64", registrytest.MediaTypeOCIIndex, s390, arm)

	got, err := newClient(t, Options{}).Tags(context.Background(), reg.Image(repo, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := []Tag{
		{Name: "index", Digest: index, ImageID: amdOCI.ID, Created: t2017, Size: amdOCI.Size},
		{Name: "no-amd64", Digest: noAMD, ImageID: s390.ID, Created: t2017, Size: s390.Size},
		{Name: "list", Digest: list, ImageID: amd.ID, Created: t2016, Size: amd.Size},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
}

// TestBrokenTags: a tag whose data cannot be read (a schema1 manifest, a
// missing config blob) carries its error; the others are listed anyway.
func TestBrokenTags(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{})
	const repo = "coding/api"
	good := reg.Push(t, repo, "good", registrytest.Image{Created: t2016})
	broken := reg.Push(t, repo, "broken", registrytest.Image{Created: t2017})
	reg.DeleteBlob(t, repo, broken.ID)
	oldDigest := reg.PushSchema1(t, repo, "old")

	c := newClient(t, Options{})
	ctx := context.Background()
	got, err := c.Tags(ctx, reg.Image(repo, ""))
	if err != nil {
		t.Fatal(err)
	}
	names := func(tags []Tag) (s []string) {
		for _, t := range tags {
			s = append(s, t.Name)
		}
		return s
	}
	if diff := cmp.Diff([]string{"good", "broken", "old"}, names(got)); diff != "" {
		t.Fatalf("order (-want +got):\n%s\n%+v", diff, got)
	}
	if g := got[0]; g.Err != "" || g.ImageID != good.ID || !g.Created.Equal(t2016) {
		t.Errorf("good tag: %+v", g)
	}
	wantBroken := fmt.Sprintf("registry %s: coding/api:broken: its config blob %s is missing", reg.Addr, broken.ID)
	if b := got[1]; b.Err != wantBroken || b.Digest != broken.Digest || b.ImageID != broken.ID || !b.Created.IsZero() {
		t.Errorf("broken tag: %+v\nwant error %q", b, wantBroken)
	}
	wantOld := fmt.Sprintf("registry %s: coding/api:old: it has a schema1 manifest, a format Docker no longer supports: push it again with a recent Docker", reg.Addr)
	if o := got[2]; o.Err != wantOld || o.Digest != oldDigest || o.ImageID != "" || !o.Created.IsZero() {
		t.Errorf("schema1 tag: %+v\nwant error %q", o, wantOld)
	}
	if _, err := c.Tag(ctx, reg.Image(repo, ""), "old"); err == nil || err.Error() != wantOld {
		t.Errorf("Tag(old) = %v, want %s", err, wantOld)
	}
}

// TestPagination: the tag list is followed page by page along its Link
// headers. The registry (distribution 2.8) does not paginate itself, so a
// front paginates its full list as distribution 3 and Docker Hub do.
func TestPagination(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	const repo = "coding/api"
	var want []string
	for i := range 7 {
		tag := fmt.Sprintf("v%d", i)
		reg.Push(t, repo, tag, registrytest.Image{Created: t2015.Add(time.Duration(i) * time.Hour)})
		want = append([]string{tag}, want...)
	}
	var pages atomic.Int32
	var absolute atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			proxyTo(t, reg.URL()).ServeHTTP(w, r)
			return
		}
		pages.Add(1)
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			t.Errorf("tag list request without n: %s", r.URL)
		}
		resp := reg.Do(t, http.MethodGet, r.URL.Path, "", nil)
		var all struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		json.NewDecoder(resp.Body).Decode(&all)
		resp.Body.Close()
		slices.Sort(all.Tags)
		last := r.URL.Query().Get("last")
		page := slices.DeleteFunc(all.Tags, func(s string) bool { return s <= last })
		if len(page) > n {
			page = page[:n]
			next := fmt.Sprintf("%s?last=%s&n=%d", r.URL.Path, page[n-1], n)
			if absolute.Load() {
				next = "http://" + r.Host + next
			}
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
		}
		all.Tags = page
		json.NewEncoder(w).Encode(all)
	}))
	t.Cleanup(front.Close)
	addr := front.Listener.Addr().String()

	for _, abs := range []bool{false, true} {
		absolute.Store(abs)
		pages.Store(0)
		c := newClient(t, Options{})
		c.pageSize = 2
		got, err := c.Tags(context.Background(), addr+"/"+repo)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("absolute links %v: tags (-want +got):\n%s", abs, diff)
		}
		if p := pages.Load(); p != 4 {
			t.Errorf("absolute links %v: %d pages, want 4", abs, p)
		}
	}

	// A real registry that ignores n answers the whole list at once.
	c := newClient(t, Options{})
	c.pageSize = 2
	got, err := c.Tags(context.Background(), reg.Image(repo, ""))
	if err != nil || len(got) != 7 {
		t.Errorf("Tags from the registry itself: %d tags, %v", len(got), err)
	}
}

// TestEndlessPagination: a Link that leads back fails instead of looping.
func TestEndlessPagination(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Link", `</v2/a/b/tags/list?last=x>; rel="next"`)
		fmt.Fprint(w, `{"name":"a/b","tags":[]}`)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, err := newClient(t, Options{}).Tags(context.Background(), addr+"/a/b")
	want := fmt.Sprintf("registry %s: the tag list of a/b does not end (page 3: http://%s/v2/a/b/tags/list?last=x)", addr, addr)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestBasicAuth: a registry with htpasswd authentication, over plain HTTP.
func TestBasicAuth(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{User: "bob", Password: "s3cret"})
	v1 := reg.Push(t, "coding/api", "1.0.0", registrytest.Image{Created: t2015})
	image := reg.Image("coding/api", "")
	ctx := context.Background()

	var asked []string
	c := newClient(t, Options{Auth: func(host string) (string, string, bool) {
		asked = append(asked, host)
		return "bob", "s3cret", true
	}})
	got, err := c.Tags(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ImageID != v1.ID || !got[0].Created.Equal(t2015) || got[0].Err != "" {
		t.Errorf("Tags = %+v", got)
	}
	if len(asked) != 1 || asked[0] != reg.Addr {
		t.Errorf("credentials asked for %v, want once for %s", asked, reg.Addr)
	}

	_, err = newClient(t, Options{}).Tags(ctx, image)
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: authentication required for coding/api: run `docker login %s`", reg.Addr, reg.Addr))

	wrong := newClient(t, Options{Auth: func(string) (string, string, bool) { return "bob", "hunter2", true }})
	_, err = wrong.Tag(ctx, image, "1.0.0")
	wantErr(t, err, ErrUnauthorized, fmt.Sprintf("registry %s: credentials for %s were refused (user \"bob\", repository coding/api): run `docker login %s`", reg.Addr, reg.Addr, reg.Addr))
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// TestDockerConfigCredentials: without Options.Auth, the credentials of
// `docker login` are used.
func TestDockerConfigCredentials(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{User: "bob", Password: "s3cret"})
	reg.PushImage(t, "coding/api", "1", t2015)
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	writeFile(t, filepath.Join(dir, "config.json"), fmt.Sprintf(`{"auths":{"http://%s":{"auth":"Ym9iOnMzY3JldA=="}}}`, reg.Addr))
	c := New(Options{})
	c.certsDir = t.TempDir()
	if _, err := c.Tag(context.Background(), reg.Image("coding/api", ""), "1"); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: an HTTPS registry whose CA is given by Options.RootCAs or by
// certs.d, as Docker reads it; unknown, a clear error.
func TestTLS(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{User: "bob", Password: "s3cret", TLS: true})
	v1 := reg.Push(t, "coding/api", "1", registrytest.Image{Created: t2015})
	image := reg.Image("coding/api", "")
	ctx := context.Background()
	bob := func(string) (string, string, bool) { return "bob", "s3cret", true }

	c := newClient(t, Options{Auth: bob, RootCAs: reg.RootCAs})
	if tag, err := c.Tag(ctx, image, "1"); err != nil || tag.ImageID != v1.ID {
		t.Errorf("with RootCAs: %+v, %v", tag, err)
	}
	if h := c.hosts[reg.Addr]; h.scheme != "https" || h.challenge == nil || h.challenge.scheme != "basic" {
		t.Errorf("host state: %+v", h)
	}

	c = newClient(t, Options{Auth: bob})
	writeFile(t, filepath.Join(c.certsDir, reg.Addr, "ca.crt"), readFile(t, reg.CAFile))
	if tag, err := c.Tag(ctx, image, "1"); err != nil || tag.ImageID != v1.ID {
		t.Errorf("with certs.d: %+v, %v", tag, err)
	}

	// Unknown CA: on loopback HTTP is tried too, but the TLS error is the
	// one that tells.
	c = newClient(t, Options{Auth: bob})
	_, err := c.Tag(ctx, image, "1")
	want := fmt.Sprintf("registry %s: TLS: tls: failed to verify certificate: x509: certificate signed by unknown authority (add the registry's CA to %s/%s/ca.crt, as for Docker)", reg.Addr, c.certsDir, reg.Addr)
	if err == nil || err.Error() != want {
		t.Errorf("unknown CA: %v\nwant %s", err, want)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Errorf("a certificate error is not unreachability: %v", err)
	}
}

// TestSchemeFallback: a registry that is not on loopback gets HTTP only if
// it answers HTTPS in plain HTTP, not on a TLS error.
func TestSchemeFallback(t *testing.T) {
	t.Parallel()
	plain := registrytest.Start(t, registrytest.Options{})
	plain.PushImage(t, "a/b", "1", t2015)
	tls := registrytest.Start(t, registrytest.Options{TLS: true})
	tls.PushImage(t, "a/b", "1", t2015)
	ctx := context.Background()

	c := newClient(t, Options{})
	c.isLoopback = func(string) bool { return false }
	if _, err := c.Tag(ctx, plain.Image("a/b", ""), "1"); err != nil {
		t.Errorf("plain HTTP registry: %v", err)
	}
	if s := c.hosts[plain.Addr].scheme; s != "http" {
		t.Errorf("scheme %q, want http", s)
	}
	_, err := c.Tag(ctx, tls.Image("a/b", ""), "1")
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("HTTPS registry with an unknown CA: %v", err)
	}
	if s := c.hosts[tls.Addr].scheme; s != "" {
		t.Errorf("scheme %q remembered after a failure", s)
	}
}

// TestUnreachable: a registry that is not there fails at once, saying so.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, loopback := range []bool{true, false} {
		c := newClient(t, Options{})
		c.isLoopback = func(string) bool { return loopback }
		start := time.Now()
		_, err = c.Tags(context.Background(), addr+"/coding/api:1.0.0")
		want := fmt.Sprintf("registry %s unreachable: dial tcp %s: connect: connection refused", addr, addr)
		wantErr(t, err, ErrUnreachable, want)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	}
}

// TestNotARegistry: a web server that is not a registry.
func TestNotARegistry(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, err := newClient(t, Options{}).Tags(context.Background(), addr+"/a/b")
	want := fmt.Sprintf("registry %s does not serve the registry API v2 (GET http://%s/v2/: 404 Not Found)", addr, addr)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestContext: a cancelled or expired context ends the requests.
func TestContext(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	for i := range 4 {
		reg.PushImage(t, "a/b", strconv.Itoa(i), t2015)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newClient(t, Options{}).Tags(ctx, reg.Image("a/b", ""))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}

	// A registry that hangs on manifests: the deadline ends Tags.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		proxyTo(t, reg.URL()).ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = newClient(t, Options{}).Tags(ctx, slow.Listener.Addr().String()+"/a/b")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestConcurrency: many tags, few workers, one shared client.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{InMemory: true})
	const n = 30
	for i := range n {
		reg.PushImage(t, "a/b", fmt.Sprintf("t%02d", i), t2015.Add(time.Duration(i)*time.Minute))
	}
	var inFlight, peak atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		proxyTo(t, reg.URL()).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	c := newClient(t, Options{Concurrency: 3})
	image := front.Listener.Addr().String() + "/a/b"
	done := make(chan error, 2)
	for range 2 {
		go func() {
			tags, err := c.Tags(context.Background(), image)
			if err == nil && (len(tags) != n || tags[0].Name != "t29" || tags[n-1].Name != "t00") {
				err = fmt.Errorf("got %d tags, first %s", len(tags), tags[0].Name)
			}
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p > 6 || p < 2 {
		t.Errorf("peak of %d requests at once, want 2..6 (two listings of 3 workers)", p)
	}
}

// proxyTo returns a reverse proxy to target.
func proxyTo(t *testing.T, target string) *httputil.ReverseProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

// wantErr checks that err is of kind and says msg.
func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want %q", msg)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if err.Error() != msg {
		t.Errorf("error\n  %s\nwant\n  %s", err, msg)
	}
}

func writeFile(t *testing.T, path string, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

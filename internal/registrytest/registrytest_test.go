package registrytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPushImage: an image pushed through the API is in the registry: its
// tag listed, its manifest naming the returned config digest.
func TestPushImage(t *testing.T) {
	t.Parallel()
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("InMemory=%v", inMemory), func(t *testing.T) {
			t.Parallel()
			testPushImage(t, Start(t, Options{InMemory: inMemory}))
		})
	}
}

func testPushImage(t *testing.T, r *Registry) {
	created := time.Date(2015, 9, 11, 14, 26, 2, 0, time.UTC)
	id := r.PushImage(t, "coding/api", "2b19fca", created)

	resp := r.Do(t, http.MethodGet, "/v2/coding/api/tags/list", "", nil)
	var list struct{ Tags []string }
	decode(t, resp, &list)
	if len(list.Tags) != 1 || list.Tags[0] != "2b19fca" {
		t.Errorf("tags = %v, want [2b19fca]", list.Tags)
	}
	req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/coding/api/manifests/2b19fca", nil)
	req.Header.Set("Accept", MediaTypeDockerManifest)
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MediaType string
		Config    struct{ Digest string }
	}
	decode(t, resp, &m)
	if m.MediaType != MediaTypeDockerManifest || m.Config.Digest != id {
		t.Errorf("manifest = %+v, want a schema2 manifest with config %s", m, id)
	}
	resp = r.Do(t, http.MethodGet, "/v2/coding/api/blobs/"+id, "", nil)
	var cfg struct {
		Created      time.Time
		Architecture string
		OS           string
	}
	decode(t, resp, &cfg)
	if !cfg.Created.Equal(created) || cfg.Architecture != "amd64" || cfg.OS != "linux" {
		t.Errorf("config = %+v", cfg)
	}
}

// TestAuthTLS: with a user and TLS the registry demands the credentials,
// over HTTPS with a certificate that RootCAs trusts.
func TestAuthTLS(t *testing.T) {
	t.Parallel()
	r := Start(t, Options{User: "bob", Password: "s3cret", TLS: true})
	if r.RootCAs == nil || r.CAFile == "" || r.URL() != "https://"+r.Addr {
		t.Fatalf("TLS registry without CA: %+v", r)
	}
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="cjob"` {
		t.Errorf("GET /v2/ without credentials: %s %v", resp.Status, resp.Header)
	}
	r.PushImage(t, "a/b", "1", time.Now()) // with the credentials
	resp = r.Do(t, http.MethodGet, "/v2/a/b/tags/list", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET tags with credentials: %s", resp.Status)
	}
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestMissingBinary: without docker-registry, Start skips loudly, or fails
// under CI=true.
func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(rec, Options{})
			rec.msg = "Start returned"
		}()
		<-done
		want := "SKIPPING " + t.Name() + ": docker-registry is not installed"
		if ci == "true" {
			want = "FATAL docker-registry is not installed (apt-get install docker-registry); .ci/run installs it"
		}
		if !strings.HasPrefix(rec.msg, want) {
			t.Errorf("CI=%q: %q, want %q...", ci, rec.msg, want)
		}
	}
}

// recorder records the first Skipf or Fatalf and ends its goroutine.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = "FATAL " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

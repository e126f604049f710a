package registry

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/registrytest"
)

// TestArtifact: an artifact pushed to a real registry behind basic auth
// comes back byte for byte; a second push sends no blob again; without
// credentials the push is refused.
func TestArtifact(t *testing.T) {
	t.Parallel()
	reg := registrytest.Start(t, registrytest.Options{User: "dev", Password: "pw-123", InMemory: true})
	auth := func(host string) (string, string, bool) { return "dev", "pw-123", host == reg.Addr }
	c := newClient(t, Options{Auth: auth})
	ctx := context.Background()
	ref := reg.Addr + "/team/snapshots:demo"
	config := []byte(`{"name":"demo"}`)
	layers := []ArtifactLayer{
		{Title: "vol-a.tar", MediaType: "application/vnd.cjob.volume.v1.tar", Data: bytes.Repeat([]byte("a"), 70000)},
		{Title: "vol-b.tar", MediaType: "application/vnd.cjob.volume.v1.tar", Data: []byte("b")},
	}
	dgst, err := c.PushArtifact(ctx, ref, "application/vnd.cjob.snapshot.v1", "application/vnd.cjob.snapshot.config.v1+json", config, layers)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dgst, "sha256:") {
		t.Errorf("digest %q", dgst)
	}
	typ, gotConfig, got, err := newClient(t, Options{Auth: auth}).PullArtifact(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "application/vnd.cjob.snapshot.v1" || !bytes.Equal(gotConfig, config) || len(got) != 2 {
		t.Fatalf("pulled %q %s %d layers", typ, gotConfig, len(got))
	}
	for i := range layers {
		if got[i].Title != layers[i].Title || !bytes.Equal(got[i].Data, layers[i].Data) || got[i].MediaType != layers[i].MediaType {
			t.Errorf("layer %d: %s %d bytes", i, got[i].Title, len(got[i].Data))
		}
	}
	if _, err := c.PushArtifact(ctx, reg.Addr+"/team/snapshots:again", "application/vnd.cjob.snapshot.v1", "application/vnd.cjob.snapshot.config.v1+json", config, layers); err != nil {
		t.Fatalf("second push: %v", err)
	}
	_, err = newClient(t, Options{}).PushArtifact(ctx, reg.Addr+"/team/snapshots:anon", "x", "application/json", config, nil)
	if err == nil || !strings.Contains(err.Error(), "docker login") {
		t.Errorf("a push without credentials: %v", err)
	}
}

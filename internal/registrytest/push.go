package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// Media types of the manifests and blobs Push writes.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIConfig          = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCILayer           = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeSchema1Signed      = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// Image describes an image for Push. Its zero value is a linux/amd64 image
// created at the zero time whose one layer holds /tag.txt.
type Image struct {
	Created      time.Time
	Architecture string            // default "amd64"
	OS           string            // default "linux"
	Files        map[string]string // path -> content; default {"tag.txt": the tag}
	OCI          bool              // OCI media types instead of Docker's
}

// Pushed is what Push uploaded.
type Pushed struct {
	ID           string // the config blob's digest: docker's IMAGE ID
	Digest       string // the manifest's digest
	MediaType    string // the manifest's media type
	Manifest     []byte // the manifest as uploaded
	Size         int64  // the sum of the layers' sizes
	Architecture string
	OS           string
}

// PushImage uploads a linux/amd64 image created at created under repo:tag:
// one gzip'd tar layer holding the file /tag.txt with the tag in it, a
// config blob, and a Docker schema2 manifest. It returns the config digest,
// which is the image ID `docker images` shows.
func (r *Registry) PushImage(t testing.TB, repo, tag string, created time.Time) string {
	t.Helper()
	return r.Push(t, repo, tag, Image{Created: created}).ID
}

// Push uploads img's layer, config and manifest to repo and tags the
// manifest tag; with tag "" the manifest is stored by digest only (as the
// images of a manifest list are).
func (r *Registry) Push(t testing.TB, repo, tag string, img Image) Pushed {
	t.Helper()
	if img.Architecture == "" {
		img.Architecture = "amd64"
	}
	if img.OS == "" {
		img.OS = "linux"
	}
	if img.Files == nil {
		img.Files = map[string]string{"tag.txt": tag}
	}
	layer, diffID := makeLayer(t, img.Files)
	config, err := json.Marshal(map[string]any{
		"created":      img.Created.UTC(),
		"architecture": img.Architecture,
		"os":           img.OS,
		"config":       map[string]any{"Cmd": []string{"/bin/true"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": img.Created.UTC(), "created_by": "registrytest"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mt, configType, layerType := MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer
	if img.OCI {
		mt, configType, layerType = MediaTypeOCIManifest, MediaTypeOCIConfig, MediaTypeOCILayer
	}
	manifest, err := json.MarshalIndent(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mt,
		"config":        descriptor(configType, config),
		"layers":        []any{descriptor(layerType, layer)},
	}, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	p := Pushed{
		ID:           r.PushBlob(t, repo, config),
		MediaType:    mt,
		Manifest:     manifest,
		Size:         int64(len(layer)),
		Architecture: img.Architecture,
		OS:           img.OS,
	}
	r.PushBlob(t, repo, layer)
	p.Digest = r.PushManifest(t, repo, tag, mt, manifest)
	return p
}

// PushIndex uploads a manifest list (mediaType MediaTypeDockerManifestList)
// or an OCI index (MediaTypeOCIIndex) of images already pushed to repo, in
// the given order, under repo:tag. It returns the index's digest.
func (r *Registry) PushIndex(t testing.TB, repo, tag, mediaType string, images ...Pushed) string {
	t.Helper()
	var entries []any
	for _, p := range images {
		entries = append(entries, map[string]any{
			"mediaType": p.MediaType,
			"digest":    p.Digest,
			"size":      len(p.Manifest),
			"platform":  map[string]string{"architecture": p.Architecture, "os": p.OS},
		})
	}
	body, err := json.MarshalIndent(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaType,
		"manifests":     entries,
	}, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	return r.PushManifest(t, repo, tag, mediaType, body)
}

// PushBlob uploads data to repo (a monolithic upload: POST then PUT) and
// returns its digest.
func (r *Registry) PushBlob(t testing.TB, repo string, data []byte) string {
	t.Helper()
	digest := Digest(data)
	resp := r.Do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("registrytest: POST blob upload to %s: %s", repo, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("registrytest: blob upload to %s: %v", repo, err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp = r.Do(t, http.MethodPut, loc.String(), "application/octet-stream", data)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("registrytest: PUT blob %s to %s: %s: %s", digest, repo, resp.Status, b)
	}
	return digest
}

// PushManifest uploads body, a manifest of type mediaType, under
// repo:ref (a tag, or "" for its digest) and returns its digest.
func (r *Registry) PushManifest(t testing.TB, repo, ref, mediaType string, body []byte) string {
	t.Helper()
	digest := Digest(body)
	if ref == "" {
		ref = digest
	}
	resp := r.Do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, mediaType, body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("registrytest: PUT manifest %s:%s: %s: %s", repo, ref, resp.Status, b)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest && mediaType != MediaTypeSchema1Signed {
		t.Fatalf("registrytest: manifest %s:%s stored as %s, want %s", repo, ref, got, digest)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" {
		digest = got
	}
	return digest
}

// DeleteBlob unlinks the blob digest from repo, which then answers
// BLOB_UNKNOWN for it: a way to make a broken image.
func (r *Registry) DeleteBlob(t testing.TB, repo, digest string) {
	t.Helper()
	resp := r.Do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+digest, "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("registrytest: DELETE blob %s of %s: %s", digest, repo, resp.Status)
	}
}

// Do sends a request to the registry, with the registry's credentials if
// it has a user. target is a path ("/v2/...") or an absolute URL. The
// caller closes the response body.
func (r *Registry) Do(t testing.TB, method, target, contentType string, body []byte) *http.Response {
	t.Helper()
	u, err := url.Parse(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u, err = u.Parse(target); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return resp
}

// Digest returns the sha256 digest of data, "sha256:<hex>".
func Digest(data []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(data))
}

// descriptor describes a blob for a manifest.
func descriptor(mediaType string, data []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "size": len(data), "digest": Digest(data)}
}

// makeLayer returns a gzip'd tar of files and the digest of the
// uncompressed tar (the layer's diff ID).
func makeLayer(t testing.TB, files map[string]string) (layer []byte, diffID string) {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		content := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarBuf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes(), Digest(tarBuf.Bytes())
}

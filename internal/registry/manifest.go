package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Media types of manifests.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
	MediaTypeSchema1            = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeSchema1Signed      = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// manifestAccept are the manifests the Client understands, for Accept.
var manifestAccept = []string{MediaTypeDockerManifest, MediaTypeOCIManifest, MediaTypeDockerManifestList, MediaTypeOCIIndex}

const (
	maxManifestBytes = 4 << 20  // as distribution's limit
	maxConfigBytes   = 16 << 20 // config blobs are a few KB
	maxIndexDepth    = 2        // an index of indexes at most
)

// manifest holds the fields of image manifests, manifest lists and OCI
// indexes that the Client reads.
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"`
	FSLayers      []struct{}   `json:"fsLayers"` // schema1
}

// descriptor points at a blob or a manifest.
type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// tag reads the data of repo:tag: its manifest (resolving a manifest list
// or index to its linux/amd64 image), and the image's config. On error it
// returns what it read so far.
func (c *Client) tag(ctx context.Context, h *host, repo, tag string) (Tag, error) {
	t := Tag{Name: tag}
	m, mt, digest, err := c.manifest(ctx, h, repo, tag)
	if err != nil {
		return t, err
	}
	t.Digest = digest
	for depth := 0; mt == MediaTypeDockerManifestList || mt == MediaTypeOCIIndex; depth++ {
		if depth == maxIndexDepth {
			return t, c.tagError(h, repo, tag, "its manifest lists are nested too deep")
		}
		d, ok := pickImage(m.Manifests)
		if !ok {
			return t, c.tagError(h, repo, tag, "its manifest list is empty")
		}
		if m, mt, _, err = c.manifest(ctx, h, repo, d.Digest); err != nil {
			return t, err
		}
	}
	switch mt {
	case MediaTypeDockerManifest, MediaTypeOCIManifest:
	case MediaTypeSchema1, MediaTypeSchema1Signed:
		return t, c.tagError(h, repo, tag, "it has a schema1 manifest, a format Docker no longer supports: push it again with a recent Docker")
	default:
		return t, c.tagError(h, repo, tag, fmt.Sprintf("its manifest has the unsupported media type %q", mt))
	}
	if m.Config.Digest == "" {
		return t, c.tagError(h, repo, tag, "its manifest names no config")
	}
	t.ImageID = m.Config.Digest
	for _, l := range m.Layers {
		t.Size += l.Size
	}
	created, err := c.created(ctx, h, repo, tag, m.Config.Digest)
	t.Created = created
	return t, err
}

// tagError says what is wrong with repo:tag.
func (c *Client) tagError(h *host, repo, tag, what string) error {
	return &Error{Registry: h.name, Repository: repo, msg: fmt.Sprintf("registry %s: %s:%s: %s", h.name, repo, tag, what)}
}

// manifest fetches the manifest repo:ref (ref a tag or a digest) and
// returns it with its media type and digest.
func (c *Client) manifest(ctx context.Context, h *host, repo, ref string) (manifest, string, string, error) {
	var m manifest
	resp, err := c.get(ctx, h, repo, "/v2/"+repo+"/manifests/"+ref, manifestAccept...)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.kind == nil && strings.Contains(e.path, "/manifests/") && (e.hasCode("MANIFEST_UNKNOWN") || e.StatusCode == 404) {
			e.kind = ErrTagNotFound
			if strings.Contains(ref, ":") {
				e.msg = fmt.Sprintf("registry %s: %s has no manifest %s", h.name, repo, ref)
			} else {
				e.msg = fmt.Sprintf("registry %s: %s has no tag %s", h.name, repo, ref)
			}
		}
		return m, "", "", err
	}
	header := resp.Header.Get("Docker-Content-Digest")
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	body, err := readBody(resp, maxManifestBytes)
	if err == nil {
		err = json.Unmarshal(body, &m)
	}
	if err != nil {
		return m, "", "", c.bodyError(ctx, h, repo, "the manifest "+repo+":"+ref, err)
	}
	mt = manifestType(mt, m)
	digest := "sha256:" + sha256Hex(body)
	if mt == MediaTypeSchema1 || mt == MediaTypeSchema1Signed {
		// The digest of a signed manifest is that of its unsigned payload,
		// which the registry knows.
		if header != "" {
			digest = header
		}
		return m, mt, digest, nil
	}
	want := header
	if strings.HasPrefix(ref, "sha256:") {
		want = ref
	}
	if strings.HasPrefix(want, "sha256:") && want != digest {
		return m, "", "", &Error{Registry: h.name, Repository: repo,
			msg: fmt.Sprintf("registry %s: the manifest %s:%s has digest %s, not %s", h.name, repo, ref, digest, want)}
	}
	if want != "" {
		digest = want
	}
	return m, mt, digest, nil
}

// manifestType returns the media type of m: contentType if it names a
// manifest, else the one in m, else one guessed from m's fields (old
// registries answer application/json).
func manifestType(contentType string, m manifest) string {
	switch contentType {
	case MediaTypeDockerManifest, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeSchema1, MediaTypeSchema1Signed:
		return contentType
	}
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.SchemaVersion == 1:
		return MediaTypeSchema1
	case m.Manifests != nil:
		return MediaTypeOCIIndex
	case m.Config.Digest != "":
		return MediaTypeOCIManifest
	}
	return contentType
}

// pickImage chooses the image of a manifest list: linux/amd64, else the
// first that is not an attestation ("unknown/unknown").
func pickImage(ds []descriptor) (descriptor, bool) {
	for _, d := range ds {
		if p := d.Platform; p != nil && p.OS == "linux" && p.Architecture == "amd64" {
			return d, true
		}
	}
	for _, d := range ds {
		if p := d.Platform; p == nil || p.OS != "unknown" {
			return d, true
		}
	}
	if len(ds) > 0 {
		return ds[0], true
	}
	return descriptor{}, false
}

// created returns the "created" time in the config blob digest of repo.
func (c *Client) created(ctx context.Context, h *host, repo, tag, digest string) (time.Time, error) {
	resp, err := c.get(ctx, h, repo, "/v2/"+repo+"/blobs/"+digest)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.kind == nil && strings.Contains(e.path, "/blobs/") && (e.hasCode("BLOB_UNKNOWN") || e.StatusCode == 404) {
			e.msg = fmt.Sprintf("registry %s: %s:%s: its config blob %s is missing", h.name, repo, tag, digest)
		}
		return time.Time{}, err
	}
	body, err := readBody(resp, maxConfigBytes)
	if err != nil {
		return time.Time{}, c.bodyError(ctx, h, repo, "the config of "+repo+":"+tag, err)
	}
	if strings.HasPrefix(digest, "sha256:") && "sha256:"+sha256Hex(body) != digest {
		return time.Time{}, c.tagError(h, repo, tag, fmt.Sprintf("its config blob does not match its digest %s", digest))
	}
	var cfg struct {
		Created string `json:"created"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return time.Time{}, c.bodyError(ctx, h, repo, "the config of "+repo+":"+tag, err)
	}
	if cfg.Created == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, cfg.Created)
	if err != nil {
		return time.Time{}, c.tagError(h, repo, tag, fmt.Sprintf("its config's created time %q is not RFC 3339", cfg.Created))
	}
	return t, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/distribution/reference"
)

// An OCI artifact: a manifest whose config and layers are files of cjob's
// own (media types below), not an image; `cjob dev snapshot push|pull`
// keeps snapshots in the team's registry this way.

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	titleKey    = "org.opencontainers.image.title"
)

// ArtifactLayer is one file of an artifact.
type ArtifactLayer struct {
	Title     string // its name (the org.opencontainers.image.title annotation)
	MediaType string
	Data      []byte
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ociArtifact struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	ArtifactType  string          `json:"artifactType,omitempty"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// artifactRef splits ref (registry/repo:tag) into its host, repository and
// tag (default "latest").
func (c *Client) artifactRef(ref string) (*host, string, string, error) {
	h, repo, err := c.parse(ref)
	if err != nil {
		return nil, "", "", err
	}
	tag := "latest"
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		if t, ok := named.(reference.Tagged); ok {
			tag = t.Tag()
		}
	}
	return h, repo, tag, nil
}

// PushArtifact uploads config and layers (blobs the registry already
// holds are not sent again) and tags the manifest ref. It returns the
// manifest's digest.
func (c *Client) PushArtifact(ctx context.Context, ref, artifactType, configType string, config []byte, layers []ArtifactLayer) (string, error) {
	h, repo, tag, err := c.artifactRef(ref)
	if err != nil {
		return "", err
	}
	m := ociArtifact{SchemaVersion: 2, MediaType: ociManifest, ArtifactType: artifactType}
	m.Config = ociDescriptor{MediaType: configType, Digest: digestOf(config), Size: int64(len(config))}
	if err := c.pushBlob(ctx, h, repo, config); err != nil {
		return "", err
	}
	for _, l := range layers {
		if err := c.pushBlob(ctx, h, repo, l.Data); err != nil {
			return "", fmt.Errorf("%s: %w", l.Title, err)
		}
		m.Layers = append(m.Layers, ociDescriptor{MediaType: l.MediaType, Digest: digestOf(l.Data), Size: int64(len(l.Data)), Annotations: map[string]string{titleKey: l.Title}})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	resp, err := c.send(ctx, h, repo, request{method: http.MethodPut, target: "/v2/" + repo + "/manifests/" + tag, body: body, contentType: ociManifest, push: true})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	resp.Body.Close()
	return digestOf(body), nil
}

func (c *Client) pushBlob(ctx context.Context, h *host, repo string, data []byte) error {
	dgst := digestOf(data)
	resp, err := c.send(ctx, h, repo, request{method: http.MethodHead, target: "/v2/" + repo + "/blobs/" + dgst, push: true,
		ok: func(code int) bool { return code == http.StatusOK || code == http.StatusNotFound }})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err = c.send(ctx, h, repo, request{method: http.MethodPost, target: "/v2/" + repo + "/blobs/uploads/", push: true})
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("%s: the registry gave no upload location", h.name)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, err = c.send(ctx, h, repo, request{method: http.MethodPut, target: loc + sep + "digest=" + dgst, body: data, contentType: "application/octet-stream", push: true})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// PullArtifact reads the artifact ref: its type, config and layers, each
// checked against its digest.
func (c *Client) PullArtifact(ctx context.Context, ref string) (artifactType string, config []byte, layers []ArtifactLayer, err error) {
	h, repo, tag, err := c.artifactRef(ref)
	if err != nil {
		return "", nil, nil, err
	}
	resp, err := c.get(ctx, h, repo, "/v2/"+repo+"/manifests/"+tag, ociManifest)
	if err != nil {
		return "", nil, nil, err
	}
	body, err := readBody(resp, 4<<20)
	if err != nil {
		return "", nil, nil, c.bodyError(ctx, h, repo, "manifest", err)
	}
	var m ociArtifact
	if err := json.Unmarshal(body, &m); err != nil {
		return "", nil, nil, fmt.Errorf("%s: not an artifact manifest: %v", ref, err)
	}
	if config, err = c.blob(ctx, h, repo, m.Config); err != nil {
		return "", nil, nil, err
	}
	for _, l := range m.Layers {
		data, err := c.blob(ctx, h, repo, l)
		if err != nil {
			return "", nil, nil, err
		}
		layers = append(layers, ArtifactLayer{Title: l.Annotations[titleKey], MediaType: l.MediaType, Data: data})
	}
	return m.ArtifactType, config, layers, nil
}

func (c *Client) blob(ctx context.Context, h *host, repo string, d ociDescriptor) ([]byte, error) {
	resp, err := c.get(ctx, h, repo, "/v2/"+repo+"/blobs/"+d.Digest)
	if err != nil {
		return nil, err
	}
	data, err := readBody(resp, d.Size)
	if err != nil {
		return nil, c.bodyError(ctx, h, repo, "blob "+d.Digest, err)
	}
	if digestOf(data) != d.Digest {
		return nil, fmt.Errorf("%s: blob %s does not match its digest", h.name, d.Digest)
	}
	return data, nil
}

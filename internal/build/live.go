package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"
)

// ErrNoLiveUpdate says a source folder's build cannot go into a running
// container without an image build; the error names why.
var ErrNoLiveUpdate = errors.New("no live update")

// liveTemplates are the templates whose image is a base and one artefact
// built on the host, at a fixed path: that artefact can replace the one in
// a running container. The value is the artefact's path in the image.
var liveTemplates = map[string]string{"go": "/app", "java": "/app.jar"}

// LiveTemplate reports whether a template's builds can be live updates.
func LiveTemplate(template string) bool { _, ok := liveTemplates[template]; return ok }

// rebuildTriggers are files whose change means a new image: they change
// how the artefact is built or what the image holds besides it.
var rebuildTriggers = map[string][]string{
	"go":   {"go.mod", "go.sum", "go.work", "go.work.sum", ".dockerignore"},
	"java": {"pom.xml", ".dockerignore"},
}

// Artifact is a live update's payload: the template's artefact, built on
// the host, as a tar stream to extract at the container's root.
type Artifact struct {
	Template string
	Path     string // where it lands, e.g. /app
	Tar      []byte
	Hash     string // the source folder's content hash (as an image tag's)
	Build    time.Duration
}

// LiveArtifact builds the artefact that opts's template puts in its image
// (go build, mvn package), on the host, without an image build. It fails
// with ErrNoLiveUpdate for a Dockerfile build or a template that has none
// (node, static: their files are synced instead).
func LiveArtifact(ctx context.Context, opts Options) (*Artifact, error) {
	p, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	dest, ok := liveTemplates[p.template]
	if !ok {
		what := "a Dockerfile"
		if p.template != "" {
			what = "the " + p.template + " template"
		}
		return nil, fmt.Errorf("%w: %s builds with %s; only the go and java templates build one artefact the running container can take", ErrNoLiveUpdate, display(p.dir), what)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	tree, sum, err := p.contentHash(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "cjob-live-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	entries, err := p.hostBuild(ctx, log, tmp, tree, p.dockerfile)
	if err != nil {
		return nil, err
	}
	art := &Artifact{Template: p.template, Path: dest, Hash: sum, Build: time.Since(start)}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.name != path.Base(dest) {
			continue // the Dockerfile
		}
		data := e.data
		if e.src != "" {
			if data, err = os.ReadFile(e.src); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	art.Tar = buf.Bytes()
	return art, nil
}

// ContentHash is the source folder's content hash as Build and LiveArtifact
// compute it (the image tag's, Artifact.Hash): equal hashes, equal
// builds.
func ContentHash(ctx context.Context, opts Options) (string, error) {
	p, err := resolve(opts)
	if err != nil {
		return "", err
	}
	_, sum, err := p.contentHash(ctx)
	return sum, err
}

// RebuildReason says why a change to the paths (relative to the source
// folder, slash-separated) needs an image build rather than a live update,
// or "" when it does not: a Dockerfile, a dependency manifest, or a path
// matching one of extra (path.Match patterns, from `--rebuild-on`).
func RebuildReason(template string, changed []string, extra []string) string {
	for _, c := range changed {
		base := path.Base(c)
		if base == "Dockerfile" || path.Ext(base) == ".Dockerfile" {
			return c + " changed"
		}
		for _, t := range rebuildTriggers[template] {
			if c == t {
				return c + " changed"
			}
		}
		for _, pat := range extra {
			if ok, _ := path.Match(pat, c); ok {
				return c + " changed (--rebuild-on " + pat + ")"
			}
		}
	}
	return ""
}

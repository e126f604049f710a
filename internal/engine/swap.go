package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Rename renames a container.
func (e *Engine) Rename(ctx context.Context, id, name string) error {
	if _, err := e.c.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("rename %s to %s: %w", short(id), name, err)
	}
	return nil
}

// Restart restarts a container, killing it after timeout.
func (e *Engine) Restart(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout.Seconds())
	if _, err := e.c.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("restart %s: %w", short(id), err)
	}
	return nil
}

// CopyTo extracts a tar stream into the container's filesystem at dir.
func (e *Engine) CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error {
	if _, err := e.c.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tarStream, AllowOverwriteDirWithFile: true}); err != nil {
		return fmt.Errorf("copy into %s:%s: %w", short(id), dir, err)
	}
	return nil
}

// CopyFrom reads path from the container's filesystem as a tar stream (the
// archive API: no tool is needed inside the image); the caller closes it.
func (e *Engine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	r, err := e.c.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("copy %s out of %s: %w", path, short(id), err)
	}
	return r.Content, nil
}

// RemoveDevImages removes the images `cjob dev swap` built under the
// project (tags `<project>/...:dev-*`), except keep. Images a container
// still uses are left, silently: the engine refuses to remove them. It
// returns the tags removed.
func (e *Engine) RemoveDevImages(ctx context.Context, project, repo, keep string) ([]string, error) {
	ref := project + "/*"
	if repo != "" {
		ref = repo
	}
	l, err := e.c.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", ref)})
	if err != nil {
		return nil, fmt.Errorf("list images %s: %w", ref, err)
	}
	var removed []string
	for _, img := range l.Items {
		for _, tag := range img.RepoTags {
			_, t, _ := strings.Cut(tag[strings.LastIndexByte(tag, '/')+1:], ":")
			if tag == keep || !strings.HasPrefix(t, "dev-") {
				continue
			}
			if _, err := e.c.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err == nil {
				removed = append(removed, tag)
			}
		}
	}
	return removed, nil
}

// Push pushes an image to its registry, calling progress with a percentage
// as layers go up. progress may be nil. Credentials are sent as for Pull.
func (e *Engine) Push(ctx context.Context, ref string, progress func(pct int)) error {
	auth, sent := e.registryAuth(ref)
	r, err := e.c.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return authFailure("push", ref, sent, fmt.Errorf("push %s: %w", ref, err))
	}
	defer r.Close()
	var pct func(Progress)
	if progress != nil {
		pct = func(p Progress) { progress(p.Pct) }
	}
	return authFailure("push", ref, sent, drainProgress(ctx, r.JSONMessages(ctx), "push "+ref, pct))
}

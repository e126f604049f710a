package engine

import (
	"context"
	"fmt"
	"io"
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

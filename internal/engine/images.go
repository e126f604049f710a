package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/cjob/cjob/internal/sandbox"
)

// ImageExists reports whether the engine has the image locally.
func (e *Engine) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.c.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// Pull pulls an image, calling progress with a percentage (0-100) as layers
// arrive. progress may be nil.
//
// It sends the credentials `docker login` stored for the image's registry
// (Options.Auth); a refusal is an *AuthError naming the registry, the image
// and the `docker login` to run.
func (e *Engine) Pull(ctx context.Context, ref string, progress func(Progress)) error {
	auth, sent := e.registryAuth(ref)
	r, err := e.c.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return authFailure("pull", ref, sent, fmt.Errorf("pull %s: %w", ref, err))
	}
	defer r.Close()
	return authFailure("pull", ref, sent, drainProgress(ctx, r.JSONMessages(ctx), "pull "+ref, progress))
}

// Progress is how far a pull or push is: Pct over all layers (a pull's
// counting each layer's download and extraction), Done and Total the
// layers' bytes moved so far and in all (Total grows as layers are
// announced).
type Progress struct {
	Pct         int
	Done, Total int64
}

// drainProgress reads a pull or push message stream to its end, reporting
// the percentage of bytes moved over all layers (each layer counts its
// transfer and, for pulls, its extraction).
func drainProgress(ctx context.Context, msgs iter.Seq2[jsonstream.Message, error], what string, progress func(Progress)) error {
	type layer struct{ cur, total, moved, size int64 }
	layers := map[string]*layer{}
	last := Progress{Pct: -1}
	for m, err := range msgs {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s", what, m.Error.Message)
		}
		if m.ID == "" || m.Progress == nil || m.Progress.Total <= 0 || progress == nil {
			continue
		}
		l := layers[m.ID]
		if l == nil {
			l = &layer{}
			layers[m.ID] = l
		}
		l.size = m.Progress.Total
		switch {
		case !strings.HasPrefix(what, "pull"):
			l.cur, l.total = m.Progress.Current, m.Progress.Total
			l.moved = m.Progress.Current
		case strings.HasPrefix(m.Status, "Extracting"):
			l.cur, l.total = m.Progress.Total+m.Progress.Current, 2*m.Progress.Total
			l.moved = m.Progress.Total
		default:
			l.cur, l.total = m.Progress.Current, 2*m.Progress.Total
			l.moved = m.Progress.Current
		}
		var cur, total int64
		p := Progress{}
		for _, l := range layers {
			cur += l.cur
			total += l.total
			p.Done += l.moved
			p.Total += l.size
		}
		p.Pct = int(cur * 100 / total)
		if p.Pct != last.Pct || p.Done-last.Done >= 1<<20 {
			last = p
			progress(p)
		}
	}
	return nil
}

// File is one file of an image made by ImportFiles.
type File = sandbox.ImageFile

// ImportFiles makes an image from the given files (a rootfs with nothing
// else in it), with Dockerfile-style changes such as `ENTRYPOINT ["/x"]`.
// It needs no base image and no pull.
func (e *Engine) ImportFiles(ctx context.Context, ref string, files []File, changes []string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	r, err := e.c.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, ref, client.ImageImportOptions{Changes: changes})
	if err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		return fmt.Errorf("import image %s: %s", ref, strings.TrimSpace(string(out)))
	}
	return nil
}

// Logs writes a container's log to w (stdout and stderr interleaved as the
// engine stored them). tail is a line count or "all"; follow streams until
// ctx ends or the container stops.
func (e *Engine) Logs(ctx context.Context, id string, tail string, follow bool, timestamps bool, w io.Writer) error {
	r, err := e.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: tail, Follow: follow, Timestamps: timestamps,
	})
	if err != nil {
		return fmt.Errorf("logs of %s: %w", short(id), err)
	}
	defer r.Close()
	if _, err := stdcopy.StdCopy(w, w, r); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of %s: %w", short(id), err)
	}
	return nil
}

// LogTail returns the last n lines of a container's log as text.
func (e *Engine) LogTail(ctx context.Context, id string, n int) string {
	var b bytes.Buffer
	if err := e.Logs(ctx, id, fmt.Sprint(n), false, false, &b); err != nil {
		return ""
	}
	return strings.TrimRight(b.String(), "\n")
}

// Exec runs cmd in a running container and returns its exit code and output.
func (e *Engine) Exec(ctx context.Context, id string, cmd []string) (int, string, error) {
	cr, err := e.c.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return -1, "", fmt.Errorf("exec in %s: %w", short(id), err)
	}
	ar, err := e.c.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return -1, "", fmt.Errorf("exec in %s: %w", short(id), err)
	}
	// A cancelled ctx ends the wait for output (the process itself goes on
	// until it ends on its own).
	stop := context.AfterFunc(ctx, func() { ar.Close() })
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, ar.Reader)
	stop()
	ar.Close()
	if ctx.Err() != nil {
		return -1, out.String(), fmt.Errorf("exec in %s: %w", short(id), ctx.Err())
	}
	ir, err := e.c.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
	if err != nil {
		return -1, out.String(), fmt.Errorf("exec in %s: %w", short(id), err)
	}
	return ir.ExitCode, out.String(), nil
}

// CanPull asks the image's registry whether it has the image, without
// pulling it.
func (e *Engine) CanPull(ctx context.Context, ref string) error {
	auth, sent := e.registryAuth(ref)
	if _, err := e.c.DistributionInspect(ctx, ref, client.DistributionInspectOptions{EncodedRegistryAuth: auth}); err != nil {
		return authFailure("pull", ref, sent, err)
	}
	return nil
}

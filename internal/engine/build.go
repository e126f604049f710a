package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// BuildOptions describe one image build.
type BuildOptions struct {
	// Tags name the image ("coding/api:dev-3f2a9c1b7e0d").
	Tags []string
	// Dockerfile is the Dockerfile's path inside the build context; empty
	// means "Dockerfile".
	Dockerfile string
	// Target is the stage to build in a multi-stage Dockerfile.
	Target string
	// BuildArgs are the Dockerfile's ARG values.
	BuildArgs map[string]string
	// Labels are added to the image.
	Labels map[string]string
}

// BuildImage builds an image from buildContext, a tar stream read until
// EOF, with the engine's classic builder (no intermediate containers are
// kept, even when a step fails). The build's output is written to log as
// plain text (log may be nil). A failed build returns an error carrying the
// engine's message.
func (e *Engine) BuildImage(ctx context.Context, buildContext io.Reader, opts BuildOptions, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	name := "image"
	if len(opts.Tags) > 0 {
		name = opts.Tags[0]
	}
	var args map[string]*string
	if len(opts.BuildArgs) > 0 {
		args = make(map[string]*string, len(opts.BuildArgs))
		for k, v := range opts.BuildArgs {
			args[k] = &v
		}
	}
	res, err := e.c.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags:        opts.Tags,
		Dockerfile:  opts.Dockerfile,
		Target:      opts.Target,
		BuildArgs:   args,
		Labels:      opts.Labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	defer res.Body.Close()
	if err := decodeBuildStream(res.Body, log); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("build %s: %w", name, err)
	}
	return nil
}

// buildMessage is one message of the build's JSON stream. The engine
// reports a failure in errorDetail and, for older clients, in error.
type buildMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// decodeBuildStream turns the engine's JSON message stream into plain text
// on log and returns the build's error, if any.
func decodeBuildStream(r io.Reader, log io.Writer) error {
	dec := json.NewDecoder(r)
	status := map[string]string{} // the last status printed per layer
	for {
		var m buildMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading the build output: %w", err)
		}
		switch {
		case m.Error != nil || m.ErrorMessage != "":
			msg := m.ErrorMessage
			if m.Error != nil && m.Error.Message != "" {
				msg = m.Error.Message
			}
			msg = strings.TrimSpace(msg)
			fmt.Fprintln(log, msg)
			return errors.New(msg)
		case m.Stream != "":
			io.WriteString(log, m.Stream)
		case m.Status != "":
			// Pulls of a base image: one line per status change, not
			// one per progress update.
			if m.ID != "" {
				if status[m.ID] != m.Status {
					status[m.ID] = m.Status
					fmt.Fprintf(log, "%s: %s\n", m.ID, m.Status)
				}
			} else {
				fmt.Fprintln(log, m.Status)
			}
		}
		// aux carries the built image's ID, which "Successfully built"
		// already reports on the stream.
	}
}

package converge

import (
	"context"
	"io"
	"time"

	"github.com/cjob/cjob/internal/apply"
	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/fleet"
	"github.com/cjob/cjob/internal/sandbox"
	"github.com/cjob/cjob/internal/stack"
)

// Observer takes one snapshot of what an engine holds for a project's
// environment.
type Observer interface {
	Observe(ctx context.Context, project string, env stack.Env, network string) (*stack.Observed, error)
}

// Offline is an engine that holds nothing: the plan and rewrites made
// without one (`cjob dev explain`) are those of a first `up`.
var Offline Observer = offline{}

type offline struct{}

func (offline) Observe(context.Context, string, stack.Env, string) (*stack.Observed, error) {
	return &stack.Observed{Volumes: map[string]bool{}}, nil
}

// Engine is the local engine as the dev commands use it: observe, apply a
// plan, make the sandbox image, build and swap images, copy files in,
// read logs.
type Engine interface {
	Observer
	apply.Engine
	sandbox.ImageMaker
	build.Engine
	Rename(ctx context.Context, id, name string) error
	Restart(ctx context.Context, id string, timeout time.Duration) error
	CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	Logs(ctx context.Context, id, tail string, follow, timestamps bool, w io.Writer) error
	RemoveDevImages(ctx context.Context, project, repo, keep string) ([]string, error)
}

var _ Engine = fleet.Engine(nil)

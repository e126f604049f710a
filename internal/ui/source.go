// Package ui is cjob's web UI: server-rendered pages (html/template, assets
// embedded) over one environment — production (served by `cjob server`),
// the dev stack (`cjob dev ui`) or a staging pool (`cjob staging ui`). The
// environment is a Source; the pages do not know which one they show.
package ui

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/stack"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// Source is an environment the UI shows and acts on.
type Source interface {
	// Env describes the environment: its name, project and what can be
	// done in it.
	Env() Env
	// Snapshot is the environment's state: jobs with their tasks, and the
	// hosts. fresh asks for a new look at the engines instead of the last
	// poll.
	Snapshot(ctx context.Context, fresh bool) (*Snapshot, error)
	// Logs writes a container's log (the last tail lines, then, with
	// follow, new lines until ctx is done). container is a name or ID.
	Logs(ctx context.Context, container string, tail int, follow bool, w io.Writer) error
	// Inspect is the container's `docker inspect` document, secrets masked.
	Inspect(ctx context.Context, container string) (json.RawMessage, error)
	// Versions are the pushed versions with their diffs, newest first
	// (nil where there are none: dev, staging).
	Versions(ctx context.Context, limit int) ([]Version, error)
	// Events are who did what, newest first.
	Events(ctx context.Context, limit int) ([]store.Event, error)
	// Authorize checks a token; who names its holder in events.
	Authorize(token string) (who string, ok bool)
	// Act runs an action, reporting progress; the result says what
	// happened. Only called for an authorized visitor, after confirmation.
	Act(ctx context.Context, a Action, rep progress.Reporter) Result
}

// Refuser is a Source that keeps an audit log: the UI tells it of every
// action it refuses (no login, a wrong token, no X-Cjob-UI header), with
// what the request asked for and why, in a word ("401: no token").
// Action.Who is the logged-in visitor, "" when there is none.
type Refuser interface {
	Refused(ctx context.Context, a Action, why string)
}

// Env describes an environment.
type Env struct {
	Name    stack.Env
	Project string
	Actions []string // the verbs Act accepts, e.g. up, down, reload, rolling-update, rollback, deploy, restore
	// Detail is a line under the title, e.g. "version 7 by alice, 2 minutes ago" or "local engine 20.10.24".
	Detail string
}

// Snapshot is an environment's state at one moment.
type Snapshot struct {
	At      time.Time
	Version int64 // the pushed version shown (production), 0 elsewhere
	Jobs    []Job
	Nodes   []status.Node
}

// Job is a job with what the UI shows beyond production's state.
type Job struct {
	status.Job
	URLs []string // where the job answers (dev: http://127.0.0.1:18080)
	Swap *Swap    // dev: the job runs a local build
	// Deps are the jobs it talks to (status.Dependencies): the topology
	// page's graph.
	Deps []status.Dep
	// Pushed and Running are the job's definition in the pushed version and
	// in the version its tasks run, as human text (secrets masked); equal
	// when nothing is outdated. Empty where there are no versions.
	Pushed, Running string
}

// Swap is a dev job replaced by a local build.
type Swap struct {
	Dir      string        // the source folder
	Image    string        // the image built from it
	At       time.Time     // when the last swap finished
	Build    time.Duration // build time of the last swap
	Total    time.Duration // save (or command) to serving
	BuildLog string        // the last build's output
	Err      string        // the last round's error, if it failed
}

// Version is a pushed version with its diff against the one before.
type Version struct {
	store.Version
	Diff jobdiff.Diff
}

// Action is what a visitor asked for.
type Action struct {
	Verb    string // one of Env.Actions
	Job     string // full job name; "" for deploy
	Task    int    // reload: one task (1-based); 0: all
	Tag     string // rolling-update: an image tag; "" for the pushed config
	Version int64  // rollback --to, deploy
	Who     string
}

// Result is how an action ended.
type Result struct {
	OK      bool
	Message string   // one line: "reload coding-core.api: 1 change in 252ms"
	Details []string // failures with log tails, notes
}

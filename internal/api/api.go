// Package api is the production server's HTTP API, version 1: the types
// that travel over the wire and the client the CLI uses. docs/api.md
// describes every endpoint.
//
// Reads are open; mutations need `Authorization: Bearer <token>`. Actions
// on jobs stream their progress as JSON lines (application/x-ndjson): zero
// or more {"event": ...} and {"warning": ...} lines, then one {"result": ...}.
package api

import (
	"time"

	"github.com/cjob/cjob/internal/jobdiff"
	"github.com/cjob/cjob/internal/production"
	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/internal/registry"
	"github.com/cjob/cjob/internal/status"
	"github.com/cjob/cjob/internal/store"
)

// Prefix is the path every endpoint starts with.
const Prefix = "/api/v1"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
	// Conflict is set on 409 answers to a push: the head it collided with.
	Conflict *store.Version `json:"conflict,omitempty"`
}

// Info is GET /api/v1/info.
type Info struct {
	Store        string    `json:"store"` // the store's identity: what a push's base is a version of
	Project      string    `json:"project,omitempty"`
	Head         int64     `json:"head"`
	Etcd         []string  `json:"etcd"`
	Embedded     bool      `json:"embedded_etcd"`
	Hosts        int       `json:"hosts"`
	PolledAt     time.Time `json:"polled_at,omitzero"`
	PollInterval string    `json:"poll_interval"`
	Started      time.Time `json:"started"`
	Webhook      bool      `json:"webhook"`
}

// PushRequest is POST /api/v1/versions.
type PushRequest struct {
	File    string `json:"file"`              // the rendered jobs file
	Message string `json:"message,omitempty"` // why
	Base    int64  `json:"base"`              // the version the file was based on; -1: the current head
	Force   bool   `json:"force,omitempty"`
}

// PushResult answers a push.
type PushResult struct {
	Version store.Version `json:"version"` // without the file
	Created bool          `json:"created"` // false: identical to the head, nothing stored
	Diff    jobdiff.Diff  `json:"diff"`    // against the previous head, secrets masked
}

// VersionDetail is GET /api/v1/versions/{n} (and /head): the file with
// secrets masked, each job's hash over its unmasked definition (so a client
// can tell a secret changed), and the diff against the previous version.
type VersionDetail struct {
	store.Version
	JobHashes map[string]string `json:"job_hashes"`
	Diff      jobdiff.Diff      `json:"diff"`
}

// JobHistory is one version in which a job's definition changed.
type JobHistory struct {
	Version store.Version `json:"version"`
	Change  *jobdiff.Job  `json:"change"`
}

// ActionRequest is the body of POST /api/v1/jobs/{job}/{action}.
type ActionRequest struct {
	Task        int    `json:"task,omitempty"`         // reload: one task (1-based); 0: all
	Tag         string `json:"tag,omitempty"`          // update, rolling-update: the image tag to roll onto
	MaxParallel int    `json:"max_parallel,omitempty"` // rolling-update: tasks at once; 0: 1
	// HealthTimeout (update, rolling-update, rollback) bounds how long a new
	// task may take to pass its check, e.g. "20s"; "": the job's own.
	HealthTimeout string `json:"health_timeout,omitempty"`
	To            int64  `json:"to,omitempty"` // rollback: the version whose definition of the job to restore; 0: the one before
	Message       string `json:"message,omitempty"`
}

// ActionResult is the last line of an action's stream.
type ActionResult struct {
	Outcome  *production.Outcome `json:"outcome,omitempty"`
	Error    string              `json:"error,omitempty"`
	Version  int64               `json:"version,omitempty"`  // a version the action pushed (update, rollback)
	Reverted int64               `json:"reverted,omitempty"` // a version pushed to undo a failed update
	Notes    []string            `json:"notes,omitempty"`    // what the operator should know (host paths made, hosts skipped)
}

// StreamLine is one line of an action's stream.
type StreamLine struct {
	Event   *progress.JSONEvent `json:"event,omitempty"`
	Warning string              `json:"warning,omitempty"`
	Result  *ActionResult       `json:"result,omitempty"`
}

// Tags is GET /api/v1/jobs/{job}/tags.
type Tags struct {
	Job     string         `json:"job"`
	Image   string         `json:"image"` // the pushed version's image
	Running []status.Task  `json:"running"`
	Tags    []registry.Tag `json:"tags"`
}

// Container is one production container, as GET /api/v1/containers lists.
type Container struct {
	status.Task
	Job string `json:"job"`
}

// JobDiff is one job of GET /api/v1/diff: how what runs differs from the
// pushed version.
type JobDiff struct {
	Job   string   `json:"job"`
	Tasks []string `json:"tasks"` // "task 1 on core-app-1: image coding/api:1.0 -> coding/api:1.1" ...
}

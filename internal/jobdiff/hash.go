package jobdiff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/cjob/cjob/prodspec"
)

// JobHash returns a stable hash of everything about a job that the jobs
// file says, secrets unmasked: "sha256:" and 64 hex digits. Two sides that
// each only show masked values can compare hashes to tell that a secret
// changed (see FilesAgainstHashes). nil gives "".
//
// The hash covers the job's full name and every field of prodspec.Job,
// Task and Health except source positions and task indexes (the order of
// the tasks is covered). Nil and empty maps hash alike, as do nil and
// empty lists other than commands, where nil means the image's default.
// Fields left at their zero value are left out of what is hashed, so a
// field added to prodspec.Job later changes no existing hash until it is
// used.
func JobHash(j *prodspec.Job) string {
	if j == nil {
		return ""
	}
	data, err := json.Marshal(canonicalJob(j))
	if err != nil {
		// Only maps of strings, lists and numbers: this cannot fail.
		panic("jobdiff: " + err.Error())
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// hashedJob is what JobHash hashes, as JSON (whose maps are written with
// sorted keys). Its field names must never change: they are part of every
// hash.
type hashedJob struct {
	Job        string            `json:"job"`
	Image      string            `json:"image,omitempty"`
	Command    *[]string         `json:"command,omitempty"`
	Entrypoint *[]string         `json:"entrypoint,omitempty"`
	Ports      []int             `json:"ports,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Volumes    []string          `json:"volumes,omitempty"`
	Memory     int64             `json:"memory,omitempty"`
	DependsOn  []string          `json:"depends_on,omitempty"`
	Health     *hashedHealth     `json:"health,omitempty"`
	Critical   bool              `json:"critical,omitempty"`
	Oneshot    bool              `json:"oneshot,omitempty"`
	Tasks      []hashedTask      `json:"tasks,omitempty"`
}

type hashedHealth struct {
	HTTP        string    `json:"http,omitempty"`
	TCP         int       `json:"tcp,omitempty"`
	Cmd         *[]string `json:"cmd,omitempty"`
	Interval    int64     `json:"interval_ns,omitempty"`
	Timeout     int64     `json:"timeout_ns,omitempty"`
	Retries     int       `json:"retries,omitempty"`
	StartPeriod int64     `json:"start_period_ns,omitempty"`
}

type hashedTask struct {
	Host string            `json:"host"`
	Env  map[string]string `json:"env,omitempty"`
}

// canonicalJob returns what JobHash hashes of j.
func canonicalJob(j *prodspec.Job) hashedJob {
	words := func(w []string) *[]string {
		if w == nil {
			return nil
		}
		return &w
	}
	h := hashedJob{
		Job:        j.FullName(),
		Image:      j.Image,
		Command:    words(j.Command),
		Entrypoint: words(j.Entrypoint),
		Ports:      j.Ports,
		Env:        j.Env,
		Memory:     j.Memory,
		DependsOn:  j.DependsOn,
		Critical:   j.Critical,
		Oneshot:    j.Oneshot,
	}
	for _, v := range j.Volumes {
		h.Volumes = append(h.Volumes, v.String())
	}
	if hc := j.Health; hc != nil {
		h.Health = &hashedHealth{
			HTTP:        hc.HTTP,
			TCP:         hc.TCP,
			Cmd:         words(hc.Cmd),
			Interval:    int64(hc.Interval),
			Timeout:     int64(hc.Timeout),
			Retries:     hc.Retries,
			StartPeriod: int64(hc.StartPeriod),
		}
	}
	for _, t := range j.Tasks {
		h.Tasks = append(h.Tasks, hashedTask{Host: t.Host, Env: t.Env})
	}
	return h
}

package production

import (
	"context"
	"fmt"
	"sort"

	"github.com/distribution/reference"

	"github.com/cjob/cjob/internal/progress"
	"github.com/cjob/cjob/prodspec"
)

// Versions is the record of pushed versions as a rollout uses it (the
// server's store).
type Versions interface {
	// Push stores f as a new version based on version base and returns its
	// number; it fails when someone pushed since base.
	Push(ctx context.Context, f *prodspec.File, p PushInfo) (int64, error)
	// File is version n's file.
	File(ctx context.Context, n int64) (*prodspec.File, error)
}

// PushInfo says who pushes a version, why, and on what it is based.
type PushInfo struct {
	Author  string
	Kind    string // push, update, rollback, deploy
	Message string
	Base    int64
}

// Rollout is a new definition of one job, pushed as a version and rolled
// out task by task.
type Rollout struct {
	Job     string         // full name
	From    Target         // the newest version, on which the new one is based
	To      *prodspec.File // From's file with the job's new definition
	Push    PushInfo       // Base is From's version
	Rolling RollingOptions
	// Note receives lines for the operator as the rollout goes ("version
	// 7 pushed: ..."); may be nil.
	Note func(string)
}

// RolloutResult is how a rollout ended.
type RolloutResult struct {
	Version  int64    // the version pushed (0: none)
	Outcome  *Outcome // nil when the rolling update did not start
	Reverted int64    // the automatic version that restores the job's previous definition, after a rollback
	Warnings []string
}

// Roll checks the job's hosts answer, pushes the new version and rolls the
// job onto it. When the rolling update fails and puts the old tasks back, a
// further version restores the job's previous definition, so the pushed
// file always says what runs. Nothing is pushed when a host is unreachable.
func (d *Deployer) Roll(ctx context.Context, vs Versions, r Rollout, rep progress.Reporter) (RolloutResult, error) {
	note := r.Note
	if note == nil {
		note = func(string) {}
	}
	var res RolloutResult
	if err := d.Preflight(ctx, r.To, r.Job); err != nil {
		return res, fmt.Errorf("%w; no version was pushed", err)
	}
	r.Push.Base = r.From.Version
	v, err := vs.Push(ctx, r.To, r.Push)
	if err != nil {
		return res, err
	}
	res.Version = v
	to, err := vs.File(ctx, v)
	if err != nil {
		return res, err
	}
	note(fmt.Sprintf("version %d pushed: %s", v, r.Push.Message))
	out, warns, err := d.RollingUpdate(ctx, Target{File: to, Version: v}, r.Job, r.Rolling, rep)
	res.Outcome, res.Warnings = out, warns
	if err == nil || out == nil || !out.RolledBack {
		return res, err
	}
	back, rerr := ReplaceJob(to, r.Job, r.From.File, r.From.Version)
	if rerr == nil {
		res.Reverted, rerr = vs.Push(ctx, back, PushInfo{Author: "cjob-server", Kind: "rollback",
			Message: fmt.Sprintf("automatic rollback of %s: %s failed", r.Job, r.Push.Message), Base: v})
	}
	if rerr != nil {
		return res, fmt.Errorf("%w; the pushed version %d still names the failed config (%v): run `cjob rollback %s`", err, v, rerr, r.Job)
	}
	return res, err
}

// WithTag is image on another tag (any digest dropped).
func WithTag(image, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %s: %v", image, err)
	}
	t, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return "", fmt.Errorf("tag %q: %v", tag, err)
	}
	return reference.FamiliarString(t), nil
}

// WithImage is f with the job's image replaced.
func WithImage(f *prodspec.File, job, image string) *prodspec.File {
	nf := f.Clone()
	if j := nf.Job(job); j != nil {
		j.Image = image
	}
	return nf
}

// ReplaceJob is base with job defined as version `version` (from) defines
// it; the job's hosts must still be declared in base.
func ReplaceJob(base *prodspec.File, job string, from *prodspec.File, version int64) (*prodspec.File, error) {
	src := from.Job(job)
	if src == nil {
		return nil, fmt.Errorf("version %d does not define %s", version, job)
	}
	for _, t := range src.Tasks {
		if base.Host(t.Host) == nil {
			return nil, fmt.Errorf("version %d places %s on host %s, which the current file no longer declares", version, job, t.Host)
		}
	}
	nf := base.Clone()
	nj := src.Clone()
	for _, svc := range nf.Services {
		if svc.Name != nj.Service {
			continue
		}
		for i, j := range svc.Jobs {
			if j.Name == nj.Name {
				svc.Jobs[i] = nj
				return nf, nil
			}
		}
		svc.Jobs = append(svc.Jobs, nj)
		sort.Slice(svc.Jobs, func(a, b int) bool { return svc.Jobs[a].Name < svc.Jobs[b].Name })
		return nf, nil
	}
	nf.Services = append(nf.Services, &prodspec.Service{Name: nj.Service, Jobs: []*prodspec.Job{nj}})
	sort.Slice(nf.Services, func(a, b int) bool { return nf.Services[a].Name < nf.Services[b].Name })
	return nf, nil
}

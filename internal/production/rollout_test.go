package production

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/prodspec"
)

// memVersions is the record of pushed versions in memory: version n is
// files[n-1]; a push must be based on the newest version.
type memVersions struct {
	mu     sync.Mutex
	files  []*prodspec.File
	pushes []PushInfo
	// refuse makes the push with this index (0-based, counting every
	// attempt) fail.
	refuse map[int]error
	tries  int
}

func (v *memVersions) Push(_ context.Context, f *prodspec.File, p PushInfo) (int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	try := v.tries
	v.tries++
	if err := v.refuse[try]; err != nil {
		return 0, err
	}
	if head := int64(len(v.files)); p.Base != head {
		return 0, fmt.Errorf("version %d was pushed since version %d: pull and try again", head, p.Base)
	}
	v.files = append(v.files, f.Clone())
	v.pushes = append(v.pushes, p)
	return int64(len(v.files)), nil
}

func (v *memVersions) File(_ context.Context, n int64) (*prodspec.File, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n < 1 || n > int64(len(v.files)) {
		return nil, fmt.Errorf("no version %d", n)
	}
	return v.files[n-1].Clone(), nil
}

func TestRoll(t *testing.T) {
	for _, c := range []struct {
		name     string
		setup    func(w *world, vs *memVersions)
		errs     []string // "" for success
		version  int64
		reverted int64
		pushes   []PushInfo // every version pushed after version 1
		api      []task     // core.api afterwards
		outcome  bool       // the rolling update ran
	}{
		{
			name:    "success pushes one version and rolls onto it",
			version: 2, outcome: true,
			pushes: []PushInfo{{Author: "alice", Kind: "update", Message: "core.api to 2", Base: 1}},
			api:    apiTasks(apiV2, "2"),
		},
		{
			name:    "a failure pushes the automatic rollback version",
			setup:   func(w *world, _ *memVersions) { w.engines["app-3"].Crash(apiV2, 1) },
			errs:    []string{"failed at task 3", "rolled back"},
			version: 2, reverted: 3, outcome: true,
			pushes: []PushInfo{
				{Author: "alice", Kind: "update", Message: "core.api to 2", Base: 1},
				{Author: "cjob-server", Kind: "rollback", Message: "automatic rollback of core.api: core.api to 2 failed", Base: 2},
			},
			api: apiTasks(apiV1, "1"),
		},
		{
			name:  "an unreachable host pushes nothing",
			setup: func(w *world, _ *memVersions) { w.engines["app-2"].SetDown(true); w.d.Fleet.Close() },
			errs:  []string{"host app-2 (tcp://app-2:2376) unreachable", "nothing was changed; no version was pushed"},
			api:   apiTasks(apiV1, "1"),
		},
		{
			name: "a push over a newer version is refused, nothing rolls",
			setup: func(w *world, vs *memVersions) {
				vs.Push(context.Background(), vs.files[0], PushInfo{Author: "bob", Base: 1})
			},
			errs:   []string{"version 2 was pushed since version 1"},
			pushes: []PushInfo{{Author: "bob", Base: 1}},
			api:    apiTasks(apiV1, "1"),
		},
		{
			name: "the rollback version cannot be pushed",
			setup: func(w *world, vs *memVersions) {
				w.engines["app-1"].Crash(apiV2, 1)
				vs.refuse = map[int]error{1: errors.New("etcd: request timed out")}
			},
			errs:    []string{"failed at task 1", "the pushed version 2 still names the failed config (etcd: request timed out): run `cjob rollback core.api`"},
			version: 2, outcome: true,
			pushes: []PushInfo{{Author: "alice", Kind: "update", Message: "core.api to 2", Base: 1}},
			api:    apiTasks(apiV1, "1"),
		},
		{
			// Only a rollback that put the old tasks back is recorded
			// as a version: the file would not say what runs otherwise.
			name:    "a failed rollback pushes no rollback version",
			setup:   func(w *world, _ *memVersions) { w.engines["app-2"].Fail("Create", errDiskFull) },
			errs:    []string{"rolling back failed too"},
			version: 2, outcome: true,
			pushes: []PushInfo{{Author: "alice", Kind: "update", Message: "core.api to 2", Base: 1}},
			api: []task{
				{Host: "app-1", Name: taskName("core.api", 1), Image: apiV1, Version: "1", State: "running"},
				{Host: "app-3", Name: taskName("core.api", 3), Image: apiV1, Version: "1", State: "running"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			v1 := target(t, spec{}, 1)
			vs := &memVersions{files: []*prodspec.File{v1.File.Clone()}}
			w.up(v1, "core.api")
			if c.setup != nil {
				c.setup(w, vs)
			}
			var notes []string
			res, err := w.d.Roll(w.ctx(), vs, Rollout{
				Job: "core.api", From: v1, To: WithImage(v1.File, "core.api", apiV2),
				Push: PushInfo{Author: "alice", Kind: "update", Message: "core.api to 2"},
				Note: func(s string) { notes = append(notes, s) },
			}, nil)
			if c.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				errContains(t, err, c.errs...)
			}
			if res.Version != c.version || res.Reverted != c.reverted || (res.Outcome != nil) != c.outcome {
				t.Errorf("result: version %d, reverted %d, outcome %+v; want version %d, reverted %d, outcome %v", res.Version, res.Reverted, res.Outcome, c.version, c.reverted, c.outcome)
			}
			if diff := cmp.Diff(c.pushes, vs.pushes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
			if c.version > 0 {
				if diff := cmp.Diff([]string{fmt.Sprintf("version %d pushed: core.api to 2", c.version)}, notes); diff != "" {
					t.Errorf("notes (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(c.api, w.tasks("core.api"), ignoreHash); diff != "" {
				t.Errorf("core.api (-want +got):\n%s", diff)
			}
			if c.reverted > 0 {
				// The rollback version defines the job as version 1 did,
				// and everything else as the failed version.
				back, _ := vs.File(context.Background(), c.reverted)
				failed, _ := vs.File(context.Background(), c.version)
				if diff := cmp.Diff(v1.File.Job("core.api"), back.Job("core.api")); diff != "" {
					t.Errorf("core.api in the rollback version (-version 1 +rollback):\n%s", diff)
				}
				for _, j := range []string{"core.db", "core.web"} {
					if diff := cmp.Diff(failed.Job(j), back.Job(j)); diff != "" {
						t.Errorf("%s in the rollback version (-failed version +rollback):\n%s", j, diff)
					}
				}
				// What runs is what the newest version says: an up of
				// it has nothing to do.
				out, _, err := w.d.Up(w.ctx(), Target{File: back, Version: c.reverted}, "core.api", nil)
				if err != nil || out.Changed != 0 {
					t.Errorf("up of the rollback version: %+v, %v; want nothing to do", out, err)
				}
			}
			if strings.Contains(c.name, "unreachable") && !errors.Is(err, engine.ErrUnreachable) {
				t.Errorf("errors.Is(%v, engine.ErrUnreachable) is false", err)
			}
		})
	}
}

func TestWithTag(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name, image, tag, want, err string
	}{
		{name: "another tag", image: "example/api:1", tag: "2", want: "example/api:2"},
		{name: "no tag before", image: "example/api", tag: "1.2.0", want: "example/api:1.2.0"},
		{name: "registry with a port", image: "registry.example.com:5000/team/api:1.0", tag: "1.1", want: "registry.example.com:5000/team/api:1.1"},
		{name: "digest dropped", image: "example/api:1@" + digest, tag: "2", want: "example/api:2"},
		{name: "digest only", image: "example/api@" + digest, tag: "2", want: "example/api:2"},
		{name: "docker hub official image in its familiar form", image: "docker.io/library/nginx:1.25", tag: "1.27", want: "nginx:1.27"},
		{name: "invalid image", image: "Example/API:1", tag: "2", err: "image Example/API:1: "},
		{name: "invalid tag", image: "example/api:1", tag: "bad tag", err: `tag "bad tag": `},
		{name: "empty tag", image: "example/api:1", tag: "", err: `tag "": `},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := WithTag(c.image, c.tag)
			if c.err != "" {
				errContains(t, err, c.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("WithTag(%q, %q) = %q, want %q", c.image, c.tag, got, c.want)
			}
		})
	}
}

func TestWithImage(t *testing.T) {
	f := parse(t, spec{}.yaml())
	for _, c := range []struct {
		name, job string
		want      map[string]string // job -> image
	}{
		{name: "the job's image", job: "core.api", want: map[string]string{"core.api": apiV2, "core.db": dbV1, "core.web": webV1}},
		{name: "an unknown job changes nothing", job: "core.nope", want: map[string]string{"core.api": apiV1, "core.db": dbV1, "core.web": webV1}},
		{name: "a short name is not resolved", job: "api", want: map[string]string{"core.api": apiV1, "core.db": dbV1, "core.web": webV1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nf := WithImage(f, c.job, apiV2)
			got := map[string]string{}
			for _, j := range nf.Jobs() {
				got[j.FullName()] = j.Image
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if f.Job("core.api").Image != apiV1 {
				t.Errorf("WithImage changed the file it was given")
			}
		})
	}
}

func TestReplaceJob(t *testing.T) {
	const text = `project: ptest
hosts:
  app-1: {docker: "tcp://app-1:2376"}
  app-2: {docker: "tcp://app-2:2376"}
services:
  core:
    jobs:
      api: {image: "example/api:%s", tasks: [app-1, app-2]}
      db: {image: example/db:1, run_on_host: app-1}
  mail:
    jobs:
      sms: {image: example/sms:1, run_on_host: app-2}
`
	from := parse(t, fmt.Sprintf(text, "1"))
	current := parse(t, fmt.Sprintf(text, "2"))
	drop := func(f *prodspec.File, job string) *prodspec.File {
		nf := f.Clone()
		for _, s := range nf.Services {
			for i, j := range s.Jobs {
				if j.FullName() == job {
					s.Jobs = append(s.Jobs[:i], s.Jobs[i+1:]...)
					break
				}
			}
		}
		var svcs []*prodspec.Service
		for _, s := range nf.Services {
			if len(s.Jobs) > 0 {
				svcs = append(svcs, s)
			}
		}
		nf.Services = svcs
		return nf
	}
	noApp2 := current.Clone()
	noApp2.Hosts = noApp2.Hosts[:1]
	for _, c := range []struct {
		name string
		base *prodspec.File
		job  string
		want []string // service.job=image, in file order
		err  string
	}{
		{name: "the job as the old version defines it", base: current, job: "core.api",
			want: []string{"core.api=example/api:1", "core.db=example/db:1", "mail.sms=example/sms:1"}},
		{name: "a job the base no longer has goes back into its service, sorted", base: drop(current, "core.api"), job: "core.api",
			want: []string{"core.api=example/api:1", "core.db=example/db:1", "mail.sms=example/sms:1"}},
		{name: "a service the base no longer has comes back, sorted", base: drop(current, "core.api"), job: "mail.sms",
			want: []string{"core.db=example/db:1", "mail.sms=example/sms:1"}},
		{name: "a service the base no longer has comes back before others", base: drop(drop(current, "core.api"), "core.db"), job: "core.db",
			want: []string{"core.db=example/db:1", "mail.sms=example/sms:1"}},
		{name: "a job the old version does not define", base: current, job: "core.nope", err: "version 7 does not define core.nope"},
		{name: "a short name is not resolved", base: current, job: "api", err: "version 7 does not define api"},
		{name: "a host the base no longer declares", base: noApp2, job: "core.api", err: "version 7 places core.api on host app-2, which the current file no longer declares"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := c.base.Clone()
			got, err := ReplaceJob(c.base, c.job, from, 7)
			if c.err != "" {
				errContains(t, err, c.err)
				if got != nil {
					t.Errorf("a file with the error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var jobs []string
			for _, j := range got.Jobs() {
				jobs = append(jobs, j.FullName()+"="+j.Image)
			}
			if diff := cmp.Diff(c.want, jobs); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(from.Job(c.job), got.Job(c.job)); diff != "" {
				t.Errorf("%s (-old version +replaced):\n%s", c.job, diff)
			}
			if diff := cmp.Diff(before, c.base); diff != "" {
				t.Errorf("ReplaceJob changed the base (-before +after):\n%s", diff)
			}
			got.Job(c.job).Env = map[string]string{"CHANGED": "yes"}
			if from.Job(c.job).Env["CHANGED"] != "" {
				t.Errorf("the result shares the old version's job")
			}
		})
	}
}

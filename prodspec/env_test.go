package prodspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const envFile = `
project: coding
hosts: {core-app-2: {}, mon: {}, stg-1: {}, stg-2: {}}
services:
  coding-blog:
    jobs:
      blog:
        image: coding-blog:1
        command: [/blog]
        env: {REDIS_ADDR: "core-app-3:6379", DEBUG: "0"}
        memory: 512MiB
        run_on_host: core-app-2
  monitoring:
    jobs:
      prober: {image: prober:1, run_on_host: mon}
environments:
  dev:
    exclude: [prober]
    jobs:
      coding-blog.blog:
        env: {DEBUG: "1", TRACE: "yes"}
        image: coding-blog:dev
        command: /blog --dev
        memory: 0
  staging:
    pool: [stg-1, stg-2]
    pin: {core-app-2: stg-1}
`

func mustParse(t *testing.T, src string, opts LoadOptions) *File {
	t.Helper()
	f, err := Parse("jobs.yml", []byte(src), opts)
	if err != nil {
		if l, ok := err.(ErrorList); ok {
			t.Fatalf("parse:\n%s", l.Format())
		}
		t.Fatal(err)
	}
	return f
}

func TestForEnvironment(t *testing.T) {
	f := mustParse(t, envFile, LoadOptions{})
	orig := f.Clone()
	dev, notes, err := f.ForEnvironment("dev")
	if err != nil {
		t.Fatal(err)
	}
	wantNotes := []string{
		"excluded monitoring.prober",
		"coding-blog.blog: image coding-blog:dev (dev patch)",
		`coding-blog.blog: command ["/blog", "--dev"] (dev patch)`,
		"coding-blog.blog: env DEBUG=1 (dev patch)",
		"coding-blog.blog: env TRACE=yes (dev patch)",
		"coding-blog.blog: memory no limit (dev patch)",
	}
	if diff := cmp.Diff(wantNotes, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if dev.Job("monitoring.prober") != nil || len(dev.Services) != 1 {
		t.Errorf("monitoring.prober not excluded: %v", dev.Jobs())
	}
	blog := dev.Job("coding-blog.blog")
	wantEnv := map[string]string{"REDIS_ADDR": "core-app-3:6379", "DEBUG": "1", "TRACE": "yes"}
	if diff := cmp.Diff(wantEnv, blog.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if blog.Image != "coding-blog:dev" || blog.Memory != 0 || !cmp.Equal(blog.Command, []string{"/blog", "--dev"}) {
		t.Errorf("patch not applied: image %q memory %d command %q", blog.Image, blog.Memory, blog.Command)
	}
	// The result is a valid file, and applying dev again changes nothing.
	out, err := Render(dev)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, dev, out)
	again, notes, err := dev.ForEnvironment("dev")
	if err != nil || len(notes) != 0 {
		t.Errorf("dev applied twice: notes %q, err %v", notes, err)
	}
	if diff := cmp.Diff(dev, again); diff != "" {
		t.Errorf("dev applied twice (-once +twice):\n%s", diff)
	}

	// f itself is unchanged.
	if diff := cmp.Diff(orig, f); diff != "" {
		t.Errorf("ForEnvironment changed f (-before +after):\n%s", diff)
	}

	// An environment the file does not declare: an unchanged copy.
	same, notes, err := f.ForEnvironment("qa")
	if err != nil || notes != nil {
		t.Fatalf("qa: notes %v, err %v", notes, err)
	}
	if diff := cmp.Diff(f, same); diff != "" {
		t.Errorf("qa copy differs (-f +copy):\n%s", diff)
	}
	if same == f || same.Services[0] == f.Services[0] || same.Services[0].Jobs[0] == f.Services[0].Jobs[0] {
		t.Error("qa copy shares pointers with f")
	}

	// staging changes no job.
	stg, notes, err := f.ForEnvironment("staging")
	if err != nil || len(notes) != 0 {
		t.Fatalf("staging: notes %v, err %v", notes, err)
	}
	if got := stg.Environments["staging"].Pin["core-app-2"]; got != "stg-1" {
		t.Errorf("staging pin = %q", got)
	}
}

func TestForEnvironmentExcludedDependency(t *testing.T) {
	src := strings.Replace(envFile, "        memory: 512MiB\n", "        memory: 512MiB\n        depends_on: [monitoring.prober]\n", 1)
	f := mustParse(t, src, LoadOptions{})
	_, _, err := f.ForEnvironment("dev")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	const want = `jobs.yml:18:3: environments.dev.exclude: coding-blog.blog depends on monitoring.prober, which environment "dev" excludes (exclude coding-blog.blog too, or stop excluding monitoring.prober)`
	if got := err.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

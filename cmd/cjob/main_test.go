package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cjob/cjob/prodspec"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCompleteJobs(t *testing.T) {
	out, err := run(t, "__complete", "dev", "up", "-f", "../../examples/coding/jobs.yml", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"coding-core.api\n", "\napi\n", "infra.cache\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderValidate(t *testing.T) {
	out, err := run(t, "validate", "-f", "../../examples/coding/jobs.yml")
	if err != nil || !strings.Contains(out, "valid: project coding, 6 services, 11 jobs") {
		t.Errorf("validate: %v\n%s", err, out)
	}
	out, err = run(t, "render", "-f", "../../examples/legacy/jobs.pb.txt", "--project", "seed")
	if err != nil || !strings.Contains(out, "project: seed") || !strings.Contains(out, "webhook-listener") {
		t.Errorf("render of the legacy file: %v\n%s", err, out)
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	list := prodspec.ErrorList{
		{File: "jobs.yml", Line: 3, Column: 5, Path: "services.a", Msg: "first"},
		{File: "jobs.yml", Line: 9, Column: 1, Path: "services.b", Msg: "second"},
	}
	if code := report(&b, list); code != 1 {
		t.Errorf("exit code %d", code)
	}
	if got := b.String(); !strings.Contains(got, "jobs.yml:3:5: services.a: first\njobs.yml:9:1: services.b: second\ncjob: 2 errors in the jobs file\n") {
		t.Errorf("report:\n%s", got)
	}
	b.Reset()
	if code := report(&b, context.Canceled); code != 130 || !strings.Contains(b.String(), "interrupted") {
		t.Errorf("interrupt: %d %s", code, b.String())
	}
	b.Reset()
	if code := report(&b, exitError{3}); code != 3 || b.Len() != 0 {
		t.Errorf("exitError: %d %q", code, b.String())
	}
	if code := report(&b, errors.New("boom")); code != 1 || !strings.Contains(b.String(), "cjob: boom") {
		t.Errorf("plain error: %d %s", code, b.String())
	}
}

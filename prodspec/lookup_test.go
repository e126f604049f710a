package prodspec

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveJob(t *testing.T) {
	f, err := Parse("jobs.yml", []byte(`project: p
hosts: {h: {}}
services:
  store:
    jobs:
      api: {image: a, run_on_host: h}
      migrate: {image: m, run_on_host: h, oneshot: true}
  data:
    jobs:
      api: {image: d, run_on_host: h}
`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in, want string
		err      error
		text     string
	}{
		{in: "store.api", want: "store.api"},
		{in: "migrate", want: "store.migrate"},
		{in: "api", err: ErrAmbiguousJob, text: `job name "api" is ambiguous: use one of data.api, store.api`},
		{in: "migrat", err: ErrUnknownJob, text: `unknown job "migrat" (did you mean "store.migrate"?)`},
		{in: "store.apj", err: ErrUnknownJob, text: `(did you mean "store.api"?)`},
		{in: "zzzzzz", err: ErrUnknownJob, text: `unknown job "zzzzzz" (jobs: data.api, store.api, store.migrate)`},
	} {
		j, err := f.ResolveJob(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("ResolveJob(%q) error = %v, want %v containing %q", tt.in, err, tt.err, tt.text)
			}
			continue
		}
		if err != nil || j.FullName() != tt.want {
			t.Errorf("ResolveJob(%q) = %v, %v; want %s", tt.in, j, err, tt.want)
		}
	}
}

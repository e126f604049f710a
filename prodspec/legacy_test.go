package prodspec

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLegacyPositions checks that errors found after prototext has parsed a
// legacy file point at the right place, whatever syntax the file uses.
func TestLegacyPositions(t *testing.T) {
	const src = `# jobs: < in a comment >
jobs [
  { name: "a" image: 'a:1' run_on_host: "h" port: "80" },
  <
    name: "b>" "c"   # adjacent strings, a > inside
    image: "b:1"
    run_on_host: "h"
    port: "x"
    envs { key: "A" value: "1" }
    envs: [{ key: "A" value: "2" }]
    depends_on: ["a", "zz"]
  >
]
`
	_, err := Parse("jobs.pb.txt", []byte(src), LoadOptions{Project: "p"})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	want := []string{
		`jobs.pb.txt:5:11: jobs[1].name: invalid job name "b>c": use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
		`jobs.pb.txt:8:11: jobs[1].port: invalid port "x": want a number from 1 to 65535`,
		`jobs.pb.txt:10:19: jobs[1].envs[1].key: duplicate environment variable "A"`,
		`jobs.pb.txt:11:23: jobs[1].depends_on[1]: unknown job "zz"`,
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

package prodspec

import (
	"errors"
	"os"
	"testing"
)

// TestErrorExample checks the exact error of the documentation:
//
//	jobs.yml:31:9: services.coding-blog.jobs.blog.depends_on[0]: unknown job "cache.redsi" (did you mean "cache.redis"?)
func TestErrorExample(t *testing.T) {
	data, err := os.ReadFile("testdata/errors/unknown-dep.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("jobs.yml", data, LoadOptions{})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	const want = `jobs.yml:31:9: services.coding-blog.jobs.blog.depends_on[0]: unknown job "cache.redsi" (did you mean "cache.redis"?)`
	if got := list[0].Error(); got != want {
		t.Errorf("first error:\n got %s\nwant %s", got, want)
	}
	var e *Error
	if !errors.As(err, &e) || e != list[0] {
		t.Errorf("errors.As(err, *Error) = %v, want the first error", e)
	}
	if got, want := err.Error(), want+" (and 3 more errors)"; got != want {
		t.Errorf("Error():\n got %s\nwant %s", got, want)
	}
}

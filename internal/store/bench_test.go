package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPush: one version of a 40 KB jobs file (about 100 jobs), pushed
// on the head, on an embedded member (fsync on).
func BenchmarkPush(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	body := strings.Repeat("# a jobs file line of about forty bytes\n", 1000)
	var base int64
	i := 0
	for b.Loop() {
		i++
		v, _, err := s.Push(ctx, PushRequest{File: fmt.Sprintf("%s# %d\n", body, i), Author: "bench", Base: base})
		if err != nil {
			b.Fatal(err)
		}
		base = v.Number
	}
}

// BenchmarkVersions: listing the newest 50 of 500 versions (what
// `cjob history` reads first).
func BenchmarkVersions(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var base int64
	for i := 0; i < 500; i++ {
		v, _, err := s.Push(ctx, PushRequest{File: fmt.Sprintf("f%d", i), Author: "bench", Base: base})
		if err != nil {
			b.Fatal(err)
		}
		base = v.Number
	}
	for b.Loop() {
		vs, err := s.Versions(ctx, ListOptions{Limit: 50})
		if err != nil || len(vs) != 50 {
			b.Fatal(err, len(vs))
		}
	}
}

// BenchmarkAddEvent: one event recorded.
func BenchmarkAddEvent(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.AddEvent(ctx, Event{Who: "bench", Action: "up", Target: "svc.job", Result: "ok"}); err != nil {
			b.Fatal(err)
		}
	}
}

package engine

import (
	"context"
	"iter"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
)

// TestPullProgress: a pull's progress counts each layer's download and
// extraction in Pct, and the bytes downloaded over all layers in Done and
// Total.
func TestPullProgress(t *testing.T) {
	msg := func(id, status string, cur, total int64) jsonstream.Message {
		return jsonstream.Message{ID: id, Status: status, Progress: &jsonstream.Progress{Current: cur, Total: total}}
	}
	stream := []jsonstream.Message{
		msg("a", "Downloading", 1<<20, 4<<20),
		msg("b", "Downloading", 2<<20, 4<<20),
		msg("a", "Downloading", 4<<20, 4<<20),
		msg("a", "Extracting", 4<<20, 4<<20),
		msg("b", "Downloading", 4<<20, 4<<20),
		msg("b", "Extracting", 4<<20, 4<<20),
	}
	var seq iter.Seq2[jsonstream.Message, error] = func(yield func(jsonstream.Message, error) bool) {
		for _, m := range stream {
			if !yield(m, nil) {
				return
			}
		}
	}
	var got []Progress
	if err := drainProgress(context.Background(), seq, "pull x", func(p Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	if last.Pct != 100 || last.Done != 8<<20 || last.Total != 8<<20 {
		t.Errorf("last progress %+v, want 100%% of 8 MiB", last)
	}
	if first := got[0]; first.Done != 1<<20 || first.Total != 4<<20 || first.Pct != 12 {
		t.Errorf("first progress %+v", first)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Pct < got[i-1].Pct {
			t.Errorf("progress went back: %+v after %+v", got[i], got[i-1])
		}
	}
}

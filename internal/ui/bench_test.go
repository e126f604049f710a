package ui

import (
	"net/http/httptest"
	"testing"
)

// 250 jobs x 2 tasks = 500 containers on 50 nodes.
func bench500(b *testing.B, target string) {
	u := newTestUI(bigFake(50, 5, 2, 50))
	h := u.Handler()
	r := httptest.NewRequest("GET", target, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("%s: %d", target, w.Code)
	}
	b.SetBytes(int64(w.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
	}
}

func BenchmarkServices500(b *testing.B)   { bench500(b, "/services") }
func BenchmarkContainers500(b *testing.B) { bench500(b, "/containers") }
func BenchmarkJobs500(b *testing.B)       { bench500(b, "/jobs") }
func BenchmarkTopology500(b *testing.B)   { bench500(b, "/topology") }

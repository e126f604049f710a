package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkHashContext measures the content hash (walk, .dockerignore,
// read and digest) of a folder of 2,000 small files in 40 folders: cold,
// every file read (a first build), and warm, unchanged files' digests taken
// from the cache (the builds of a watch loop).
func BenchmarkHashContext(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /\n",
		".dockerignore": "*.tmp\n!keep.tmp\nbuild\n",
	}
	for i := range 2000 {
		files[fmt.Sprintf("pkg%02d/file%04d.go", i%40, i)] = fmt.Sprintf("package pkg\n\n// File %d.\nvar x%d = %q\n", i, i, make([]byte, 200+i%800))
	}
	writeFiles(b, dir, files)
	p, err := resolve(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	// Files written just now are never cached (racyWindow).
	time.Sleep(racyWindow + 100*time.Millisecond)

	hash := func(b *testing.B) {
		if _, _, err := p.contentHash(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			clearDigestCache()
			b.StartTimer()
			hash(b)
		}
	})
	b.Run("warm", func(b *testing.B) {
		b.SetBytes(size)
		hash(b)
		for b.Loop() {
			hash(b)
		}
	})
}

func clearDigestCache() {
	digestCache.Lock()
	clear(digestCache.m)
	digestCache.Unlock()
}

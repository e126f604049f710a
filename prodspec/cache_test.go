package prodspec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.gob"))
	return m
}

// TestCache: a kept file loads exactly as a fresh parse does; a change of
// the bytes, the options or the stamp is a miss; small files, errors and
// unreadable entries are never served from it; it keeps at most 16.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jobs.yml")
	data := bigFile(20, 10, 10)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(dir, "cache")
	c := &Cache{Dir: cdir, Stamp: "build-1", Min: 1}
	fresh, err := Parse(path, data, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Load(path, LoadOptions{})
	if err != nil || !reflect.DeepEqual(first, fresh) {
		t.Fatalf("first load: %v", err)
	}
	if n := len(cacheEntries(t, cdir)); n != 1 {
		t.Fatalf("%d entries after the first load, want 1", n)
	}
	second, err := c.Load(path, LoadOptions{})
	if err != nil || !reflect.DeepEqual(second, fresh) || second == first {
		t.Fatalf("a cached load differs from a fresh parse (err %v)", err)
	}

	// Options, stamp and bytes are each part of the key.
	set := LoadOptions{Set: map[string]string{"tag": "other"}}
	withSet, err := c.Load(path, set)
	if err != nil || !strings.Contains(withSet.Services[0].Jobs[0].Image, ":other") {
		t.Fatalf("--set served from the cache of another value: %v", err)
	}
	if _, err := (&Cache{Dir: cdir, Stamp: "build-2", Min: 1}).Load(path, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(cacheEntries(t, cdir)); n != 3 {
		t.Errorf("%d entries, want 3 (file, file with --set, another build)", n)
	}
	changed := []byte(strings.Replace(string(data), "port: 10000", "port: 10099", 1))
	os.WriteFile(path, changed, 0o644)
	f, err := c.Load(path, LoadOptions{})
	if err != nil || f.Services[0].Jobs[0].Ports[0] != 10099 {
		t.Fatalf("a changed file served from the cache: %v", err)
	}

	// An unreadable entry is a miss, and is replaced.
	for _, e := range cacheEntries(t, cdir) {
		os.WriteFile(e, []byte("not gob"), 0o644)
	}
	if f, err := c.Load(path, LoadOptions{}); err != nil || f.Services[0].Jobs[0].Ports[0] != 10099 {
		t.Fatalf("a corrupt entry: %v", err)
	}

	// Errors are not kept; small files are not kept.
	os.WriteFile(path, []byte("project: x\nservices: {s: {jobs: {j: {image: i, run_on_host: nowhere}}}}\n"), 0o644)
	before := len(cacheEntries(t, cdir))
	if _, err := c.Load(path, LoadOptions{}); err == nil {
		t.Fatal("a broken file loaded")
	}
	if _, err := (&Cache{Dir: cdir, Stamp: "build-1"}).Load(path, LoadOptions{}); err == nil {
		t.Fatal("a broken file loaded")
	}
	small := filepath.Join(dir, "small.yml")
	os.WriteFile(small, []byte("project: x\nhosts: {h: {}}\nservices: {s: {jobs: {j: {image: i, run_on_host: h}}}}\n"), 0o644)
	if _, err := (&Cache{Dir: cdir, Stamp: "build-1"}).Load(small, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(cacheEntries(t, cdir)); n != before {
		t.Errorf("%d entries, want %d: an error or a small file was kept", n, before)
	}

	// At most 16 kept.
	for i := range 20 {
		c := &Cache{Dir: cdir, Stamp: "build-x" + string(rune('a'+i)), Min: 1}
		os.WriteFile(path, data, 0o644)
		if _, err := c.Load(path, LoadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(cacheEntries(t, cdir)); n != maxCached {
		t.Errorf("%d entries, want %d", n, maxCached)
	}
}

package main

// The data roles: cache (a key/value store over HTTP that keeps every key as
// a file under DATA_DIR) and migrate (a one-shot that writes the schema
// version to the cache).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// kvStore keeps each key in its own file, so the data survives the
// container when DATA_DIR is a volume.
type kvStore struct{ dir string }

// validKey allows names that are safe as file names: [A-Za-z0-9._-], at most
// 128 characters, not starting with a dot.
func validKey(k string) bool {
	if k == "" || len(k) > 128 || k[0] == '.' {
		return false
	}
	for _, r := range k {
		ok := r == '.' || r == '_' || r == '-' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func (s *kvStore) get(key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, key))
}

// put writes atomically: a temporary file renamed over the key.
func (s *kvStore) put(key string, value []byte) error {
	f, err := os.CreateTemp(s.dir, ".tmp-"+key+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(value)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(s.dir, key))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (s *kvStore) del(key string) error {
	return os.Remove(filepath.Join(s.dir, key))
}

func (s *kvStore) keys() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		if e.Type().IsRegular() && validKey(e.Name()) {
			keys = append(keys, e.Name())
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// buildCache: PUT /kv/<key> (the body is the value), GET /kv/<key> (404 when
// missing), DELETE /kv/<key>, GET /kv/ (the keys). Each key is the file
// DATA_DIR/<key> (default /data).
func buildCache(c *config) (*service, error) {
	dir := c.getenv("DATA_DIR")
	if dir == "" {
		dir = "/data"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("DATA_DIR: %v", err)
	}
	st := &kvStore{dir: dir}
	keys, err := st.keys()
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR: %v", err)
	}
	c.logf("cache: %d keys in %s", len(keys), dir)

	mux := http.NewServeMux()
	withKey := func(h func(w http.ResponseWriter, r *http.Request, key string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			key := r.PathValue("key")
			if !validKey(key) {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad key %q: use [A-Za-z0-9._-]", key)})
				return
			}
			h(w, r, key)
		}
	}
	mux.HandleFunc("GET /kv/{key}", withKey(func(w http.ResponseWriter, r *http.Request, key string) {
		v, err := st.get(key)
		if errors.Is(err, fs.ErrNotExist) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such key", "key": key})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(v)
	}))
	mux.HandleFunc("PUT /kv/{key}", withKey(func(w http.ResponseWriter, r *http.Request, key string) {
		v, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = st.put(key, v)
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		c.debugf("set %s (%d bytes)", key, len(v))
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("DELETE /kv/{key}", withKey(func(w http.ResponseWriter, r *http.Request, key string) {
		if err := st.del(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /kv/{$}", func(w http.ResponseWriter, r *http.Request) {
		keys, err := st.keys()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"keys": append([]string{}, keys...)})
	})
	return &service{mux: mux, info: func() map[string]any {
		keys, err := st.keys()
		if err != nil {
			return map[string]any{"data_dir": dir, "error": err.Error()}
		}
		return map[string]any{"data_dir": dir, "keys": len(keys)}
	}}, nil
}

// buildMigrate: a one-shot. It writes schema_version = SCHEMA_VERSION
// (default 1) to the cache at CACHE_URL, retrying for MIGRATE_TIMEOUT
// (default 30s), prints "migrated to N" and exits 0; it exits 1 if the cache
// never answers.
func buildMigrate(c *config) (*service, error) {
	cache, err := c.baseURL("CACHE_URL")
	if err != nil {
		return nil, err
	}
	version := strings.TrimSpace(c.getenv("SCHEMA_VERSION"))
	if version == "" {
		version = "1"
	}
	timeout, err := c.duration("MIGRATE_TIMEOUT", 30*time.Second)
	if err != nil {
		return nil, err
	}
	retry, err := c.duration("MIGRATE_RETRY", 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return &service{oneshot: func(ctx context.Context) int {
		target := cache + "/kv/schema_version"
		c.logf("migrate: writing schema_version=%s to %s", version, target)
		deadline := time.Now().Add(timeout)
		lastErr := ""
		for attempt := 1; ; attempt++ {
			_, _, err := c.send(ctx, http.MethodPut, target, "text/plain", []byte(version))
			if err == nil {
				c.logf("migrated to %s", version)
				return 0
			}
			if err.Error() != lastErr {
				c.logf("migrate: attempt %d: %v", attempt, err)
				lastErr = err.Error()
			}
			if time.Now().Add(retry).After(deadline) {
				c.logf("migrate: giving up after %s: %v", timeout, err)
				return 1
			}
			select {
			case <-ctx.Done():
				c.logf("migrate: interrupted")
				return 1
			case <-time.After(retry):
			}
		}
	}}, nil
}

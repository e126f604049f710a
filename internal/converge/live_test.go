package converge_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cjob/cjob/internal/build"
	"github.com/cjob/cjob/internal/converge"
	"github.com/cjob/cjob/internal/localstate"
	"github.com/cjob/cjob/internal/stack"
)

// goSrc is a Go source folder (the go template) printing greeting.
func goSrc(t *testing.T, greeting string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/api\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() { println(\"" + greeting + "\") }\n",
	})
	return dir
}

// TestLiveUpdate: after a go template swap, a live update builds the
// binary on the host, copies it into the same container (no image is
// built) and restarts it; a broken build changes nothing; a new binary
// that does not come up is replaced by the one that ran; a job that is not
// swapped from the folder cannot be live-updated.
func TestLiveUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	eng, f := demoUp(t)
	dir := goSrc(t, "v1")
	if r := swap(eng, f, "svc.api", dir, healthy); r.err != nil || r.res.Template != "go" {
		t.Fatalf("swap: %+v %v\n%s", r.res, r.err, r.log.String())
	}
	swapped, _ := eng.Container(cAPI)
	imageCalls := func() int {
		n := 0
		for _, c := range eng.Calls() {
			if strings.HasPrefix(c, "BuildImage") {
				n++
			}
		}
		return n
	}
	builds := imageCalls()
	var recs []localstate.SwapRecord
	live := func(probe func(context.Context, *stack.Check, string) error) (*converge.SwapResult, error) {
		return converge.LiveUpdate(t.Context(), eng, converge.SwapOptions{File: f, Job: "svc.api", Build: build.Options{Dir: dir}, Probe: probe,
			Record: func(r localstate.SwapRecord) { recs = append(recs, r) }})
	}

	writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() { println(\"v2\") }\n"})
	res, err := live(healthy)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := eng.Container(cAPI)
	if !res.Live || res.Image != swapped.Image || res.Template != "go" || !slices.Equal(res.Tasks, []string{"svc.api/1"}) {
		t.Errorf("result %+v", res)
	}
	if c.ID != swapped.ID || c.Starts != swapped.Starts+1 || c.Image != swapped.Image {
		t.Errorf("container %s (starts %d, image %s); want the same container %s restarted once on %s", c.ID[:8], c.Starts, c.Image, swapped.ID[:8], swapped.Image)
	}
	v2 := c.Files["/app"]
	if !bytes.HasPrefix(v2, []byte("\x7fELF")) || !bytes.Contains(v2, []byte("v2")) {
		t.Errorf("/app in the container is not the new binary (%d bytes)", len(v2))
	}
	if n := imageCalls(); n != builds {
		t.Errorf("%d image builds for a live update", n-builds)
	}
	if len(recs) != 1 || !recs[0].Live || recs[0].Image != swapped.Image {
		t.Errorf("records %+v", recs)
	}

	t.Run("a broken build changes nothing", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() { undefinedName() }\n"})
		calls := len(eng.Calls())
		if _, err := live(healthy); err == nil || !strings.Contains(err.Error(), "undefinedName") {
			t.Errorf("a broken build: %v", err)
		}
		for _, call := range eng.Calls()[calls:] {
			if strings.HasPrefix(call, "CopyTo") || strings.HasPrefix(call, "Restart") {
				t.Errorf("the engine was changed: %s", call)
			}
		}
		if c, _ := eng.Container(cAPI); !bytes.Equal(c.Files["/app"], v2) {
			t.Error("/app changed")
		}
	})

	t.Run("a binary that does not come up is replaced by the one that ran", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() { println(\"v3\") }\n"})
		// The v3 binary never answers; the one before it does.
		v3Fails := func(context.Context, *stack.Check, string) error {
			if c, _ := eng.Container(cAPI); bytes.Contains(c.Files["/app"], []byte("v3")) {
				return errors.New("connection refused")
			}
			return nil
		}
		_, err := live(v3Fails)
		var rb *converge.RollbackError
		if !errors.As(err, &rb) || rb.Task != "svc.api/1" {
			t.Fatalf("err %v, want a RollbackError", err)
		}
		c, _ := eng.Container(cAPI)
		if !bytes.Equal(c.Files["/app"], v2) || c.ID != swapped.ID || c.State != stack.StateRunning {
			t.Errorf("after the rollback: %d bytes in /app (v2: %d), id %s, %s", len(c.Files["/app"]), len(v2), c.ID[:8], c.State)
		}
	})

	t.Run("only a job swapped from the folder", func(t *testing.T) {
		_, err := converge.LiveUpdate(t.Context(), eng, converge.SwapOptions{File: f, Job: "svc.web", Build: build.Options{Dir: dir}, Probe: healthy})
		if !errors.Is(err, build.ErrNoLiveUpdate) {
			t.Errorf("live update of a job that is not swapped: %v", err)
		}
	})
}

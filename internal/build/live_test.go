package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestLiveArtifact: a Go folder's artefact is built on the host and comes
// as a tar holding one executable, app, for /app; a build error is the
// compiler's; a Dockerfile or a template with no artefact cannot.
func TestLiveArtifact(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/api\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	})
	art, err := LiveArtifact(t.Context(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if art.Template != "go" || art.Path != "/app" || art.Hash == "" {
		t.Errorf("artifact %+v", art)
	}
	tr := tar.NewReader(bytes.NewReader(art.Tar))
	h, err := tr.Next()
	if err != nil || h.Name != "app" || h.Mode&0o111 == 0 {
		t.Fatalf("first entry %+v, %v; want the executable app", h, err)
	}
	b, _ := io.ReadAll(tr)
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		t.Errorf("app is not a Linux executable (%d bytes)", len(b))
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than the artefact in the tar: %v", err)
	}

	writeFiles(t, dir, map[string]string{"main.go": "package main\n\nfunc main() { undefined() }\n"})
	var log bytes.Buffer
	if _, err := LiveArtifact(t.Context(), Options{Dir: dir, Log: &log}); err == nil || !strings.Contains(err.Error()+log.String(), "undefined") {
		t.Errorf("a broken build: %v\n%s", err, log.String())
	}

	df := t.TempDir()
	writeFiles(t, df, map[string]string{"Dockerfile": "FROM scratch\n"})
	if _, err := LiveArtifact(t.Context(), Options{Dir: df}); !errors.Is(err, ErrNoLiveUpdate) || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("a Dockerfile build: %v", err)
	}
	static := t.TempDir()
	writeFiles(t, static, map[string]string{"index.html": "<p>hi</p>\n"})
	if _, err := LiveArtifact(t.Context(), Options{Dir: static}); !errors.Is(err, ErrNoLiveUpdate) || !strings.Contains(err.Error(), "static template") {
		t.Errorf("the static template: %v", err)
	}
}

func TestRebuildReason(t *testing.T) {
	for _, c := range []struct {
		template string
		changed  []string
		extra    []string
		want     string
	}{
		{"go", []string{"main.go", "internal/x.go"}, nil, ""},
		{"go", []string{"main.go", "go.mod"}, nil, "go.mod changed"},
		{"go", []string{"go.sum"}, nil, "go.sum changed"},
		{"go", []string{"sub/go.mod"}, nil, ""}, // a nested module's file is source
		{"go", []string{"Dockerfile"}, nil, "Dockerfile changed"},
		{"java", []string{"pom.xml"}, nil, "pom.xml changed"},
		{"java", []string{"go.mod"}, nil, ""},
		{"go", []string{"assets/logo.png"}, []string{"assets/*"}, "assets/logo.png changed (--rebuild-on assets/*)"},
	} {
		if got := RebuildReason(c.template, c.changed, c.extra); got != c.want {
			t.Errorf("RebuildReason(%s, %v, %v) = %q, want %q", c.template, c.changed, c.extra, got, c.want)
		}
	}
}

// TestLiveArtifactJava: a folder holding a built jar (the java template,
// no Maven needed) gives app.jar for /app.jar.
func TestLiveArtifactJava(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"service-1.0.jar": "PK\x03\x04 a jar"})
	art, err := LiveArtifact(t.Context(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if art.Template != "java" || art.Path != "/app.jar" {
		t.Fatalf("artifact %+v", art)
	}
	tr := tar.NewReader(bytes.NewReader(art.Tar))
	h, err := tr.Next()
	if err != nil || h.Name != "app.jar" {
		t.Fatalf("first entry %+v, %v", h, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "PK\x03\x04 a jar" {
		t.Errorf("app.jar holds %q", b)
	}
	if got := RebuildReason("java", []string{"src/Main.java"}, nil); got != "" {
		t.Errorf("a source change needs a rebuild: %q", got)
	}
}

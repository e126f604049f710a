package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/templates"
)

// writeFiles creates files under dir; a name ending in "/" is a folder.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tarFile is one member of a context the fake engine received.
type tarFile struct {
	typ  byte
	mode int64
	link string
	data string
}

// fakeEngine records builds: it reads the whole context back with
// archive/tar.
type fakeEngine struct {
	mu      sync.Mutex
	images  map[string]bool
	builds  int
	opts    engine.BuildOptions
	names   []string // context members, in order
	files   map[string]tarFile
	fail    error // returned by BuildImage after writing failLog
	failLog string
}

func newFakeEngine() *fakeEngine { return &fakeEngine{images: map[string]bool{}} }

func (f *fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[ref], nil
}

func (f *fakeEngine) BuildImage(_ context.Context, r io.Reader, opts engine.BuildOptions, log io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds++
	f.opts = opts
	f.names, f.files = nil, map[string]tarFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		f.names = append(f.names, h.Name)
		f.files[h.Name] = tarFile{typ: h.Typeflag, mode: h.Mode, link: h.Linkname, data: string(b)}
	}
	if f.fail != nil {
		io.WriteString(log, f.failLog)
		return f.fail
	}
	fmt.Fprintf(log, "Successfully tagged %s\n", opts.Tags[0])
	for _, t := range opts.Tags {
		f.images[t] = true
	}
	return nil
}

func mustBuild(t *testing.T, eng Engine, opts Options) *Result {
	t.Helper()
	res, err := Build(context.Background(), eng, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return res
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // template, "" for a Dockerfile build, "error" for none
	}{
		{"go module", map[string]string{"go.mod": "module x\n", "main.go": "package main\n"}, "go"},
		{"node", map[string]string{"package.json": "{}"}, "node"},
		{"maven", map[string]string{"pom.xml": "<project/>"}, "java"},
		{"built jar", map[string]string{"app-1.0.jar": "PK"}, "java"},
		{"sources jar only", map[string]string{"app-1.0-sources.jar": "PK"}, "error"},
		{"site", map[string]string{"index.html": "<h1>hi</h1>"}, "static"},
		{"go site", map[string]string{"index.html": "", "go.mod": "module x\n"}, "go"},
		{"node site", map[string]string{"index.html": "", "package.json": "{}"}, "node"},
		{"maven site", map[string]string{"index.html": "", "pom.xml": "<project/>"}, "java"},
		{"Dockerfile wins", map[string]string{"Dockerfile": "FROM scratch\n", "go.mod": "module x\n"}, ""},
		{"Dockerfile folder is not a Dockerfile", map[string]string{"Dockerfile/": "", "index.html": ""}, "static"},
		{"nothing", map[string]string{"README.md": "hi"}, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			got, _, err := Describe(Options{Dir: dir})
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("Describe: template %q, want an error", got)
				}
				for _, s := range []string{"no template recognises it", "--template", "Dockerfile", "go.mod", "package.json", "pom.xml", "index.html"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error lacks %q:\n%v", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("template %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEveryTemplateHasARule(t *testing.T) {
	var ruled []string
	for _, r := range rules {
		ruled = append(ruled, r.template)
	}
	slices.Sort(ruled)
	if got := templates.Names(); !slices.Equal(got, ruled) {
		t.Errorf("templates %v, detection rules %v", got, ruled)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"go.mod": "module x\n", "Dockerfile.dev": "FROM scratch\nCOPY . /\n"})
	for _, tc := range []struct {
		name     string
		opts     Options
		files    map[string]string
		template string
		want     []string // lines the Dockerfile must have
		err      string
	}{
		{name: "go", opts: Options{}, template: "go",
			want: []string{"FROM scratch", "COPY app /app", `ENTRYPOINT ["/app"]`}},
		{name: "go base", opts: Options{Base: "gcr.io/distroless/static"}, template: "go",
			want: []string{"FROM gcr.io/distroless/static"}},
		{name: "static default port", opts: Options{Template: "static"}, template: "static",
			want: []string{"FROM scratch", "COPY rootfs /", `CMD ["/cjob-sandbox", "serve-static", "/site", "--listen", ":8080"]`}},
		{name: "static port", opts: Options{Template: "static", Port: 9000}, template: "static",
			want: []string{`CMD ["/cjob-sandbox", "serve-static", "/site", "--listen", ":9000"]`}},
		{name: "node", opts: Options{Template: "node"}, template: "node",
			want: []string{"FROM node:20-alpine", "WORKDIR /app", "COPY app /app", `CMD ["node", "index.js"]`}},
		{name: "java", opts: Options{Template: "java", Base: "eclipse-temurin:21-jre"}, template: "java",
			want: []string{"FROM eclipse-temurin:21-jre", "ADD app.jar /app.jar", `CMD ["java", "-jar", "/app.jar"]`}},
		{name: "dockerfile", opts: Options{Dockerfile: "Dockerfile.dev"}, template: "",
			want: []string{"FROM scratch", "COPY . /"}},
		{name: "unknown template", opts: Options{Template: "rust"}, err: `no template "rust"`},
		{name: "base with a Dockerfile", opts: Options{Dockerfile: "Dockerfile.dev", Base: "alpine"}, err: "--base is a template parameter"},
		{name: "target with a template", opts: Options{Target: "dev"}, err: "--target applies to Dockerfile builds"},
		{name: "build arg with a template", opts: Options{Template: "static", BuildArgs: map[string]string{"x": "1"}}, err: `no build arg "x"`},
		{name: "bad base", opts: Options{Base: "a b"}, err: "invalid base image"},
		{name: "missing Dockerfile", opts: Options{Dockerfile: "nope"}, err: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir = dir
			tmpl, df, err := Describe(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tmpl != tc.template {
				t.Errorf("template %q, want %q", tmpl, tc.template)
			}
			lines := strings.Split(df, "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("Dockerfile lacks the line %q:\n%s", w, df)
				}
			}
		})
	}
}

func TestDescribeNodeMain(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"package.json": `{"main": "./src/server.js", "scripts": {"start": "node ."}}`})
	_, df, err := Describe(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(df, `CMD ["node", "src/server.js"]`) {
		t.Errorf("Dockerfile:\n%s", df)
	}
	writeFiles(t, dir, map[string]string{"package.json": `{"main": "../x.js"}`})
	if _, _, err := Describe(Options{Dir: dir}); err == nil {
		t.Error("main outside the folder: no error")
	}
}

const ignoreFile = `# comment
*.log
!keep.log
build
docs/**/*.md
!docs/README.md
vendor
!vendor/keep.txt
Dockerfile
.dockerignore
`

var ignoreTree = map[string]string{
	".dockerignore":    ignoreFile,
	"Dockerfile":       "FROM scratch\nCOPY . /\n",
	"main.go":          "package main\n",
	"x.log":            "excluded",
	"keep.log":         "re-included",
	"build/out.bin":    "excluded dir",
	"build/sub/a":      "excluded dir",
	"docs/a/b.md":      "excluded by **",
	"docs/c.md":        "excluded by ** (zero folders)",
	"docs/README.md":   "re-included",
	"docs/guide.txt":   "kept",
	"vendor/keep.txt":  "re-included below an excluded dir",
	"vendor/other.txt": "excluded",
	".git/HEAD":        "always excluded",
	"sub/x.log":        "kept: *.log is anchored at the root",
}

func TestIgnore(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, ignoreTree)
	m, err := Ignore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"main.go", false, false},
		{"x.log", false, true},
		{"keep.log", false, false},
		{"build", true, true},
		{"build/out.bin", false, true},
		{"build/sub", true, true},
		{"docs", true, false},
		{"docs/a/b.md", false, true},
		{"docs/c.md", false, true},
		{"docs/README.md", false, false},
		{"docs/guide.txt", false, false},
		{"vendor", true, false}, // an exception below: a watcher must enter it
		{"vendor/keep.txt", false, false},
		{"vendor/other.txt", false, true},
		{".git", true, true},
		{".git/HEAD", false, true},
		{"sub/x.log", false, false},
		{"Dockerfile", false, false}, // always sent
		{".dockerignore", false, false},
		{".", true, false},
		{"./x.log", false, true},
	} {
		if got := m.Ignored(tc.path, tc.isDir); got != tc.want {
			t.Errorf("Ignored(%q, %v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
		}
	}

	// The context holds exactly what the matcher keeps.
	eng := newFakeEngine()
	mustBuild(t, eng, Options{Dir: dir, Repo: "test/ignore"})
	var got []string
	for _, n := range eng.names {
		if !strings.HasSuffix(n, "/") {
			got = append(got, n)
		}
	}
	want := []string{".dockerignore", "Dockerfile", "docs/README.md", "docs/guide.txt", "keep.log", "main.go", "sub/x.log", "vendor/keep.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("context files\n got %q\nwant %q", got, want)
	}
	for _, n := range eng.names {
		if n == "vendor/" || n == "build/" {
			t.Errorf("context lists the excluded folder %s", n)
		}
	}
}

func TestIgnoreMissingFile(t *testing.T) {
	m, err := Ignore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if m.Ignored("a/b", false) || !m.Ignored(".git/config", false) {
		t.Errorf("without .dockerignore: patterns %q", m.Patterns())
	}
}

func TestIgnoreBadPattern(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".dockerignore": "[\n"})
	if _, err := Ignore(dir); err == nil {
		t.Error("no error for a malformed pattern")
	}
}

func TestContentHash(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /\n",
		".dockerignore": "*.tmp\n",
		"a.txt":         "hello",
		"sub/b.txt":     "world",
	})
	hash := func(opts Options) string {
		t.Helper()
		opts.Dir = dir
		opts.Repo = "test/hash"
		p, err := resolve(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, sum, err := p.contentHash(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	h0 := hash(Options{})
	if len(h0) != 12 {
		t.Fatalf("hash %q: want 12 hex digits", h0)
	}
	if h := hash(Options{}); h != h0 {
		t.Fatalf("hash not stable: %s then %s", h0, h)
	}

	// Ignored files and .git do not count; modification times do not count.
	writeFiles(t, dir, map[string]string{"scratch.tmp": "x", ".git/HEAD": "ref: main"})
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "a.txt"), old, old)
	if h := hash(Options{}); h != h0 {
		t.Errorf("an ignored file, .git or a touch changed the hash")
	}

	// One byte of one file does.
	writeFiles(t, dir, map[string]string{"sub/b.txt": "worle"})
	h1 := hash(Options{})
	if h1 == h0 {
		t.Errorf("a changed byte left the hash as is")
	}
	writeFiles(t, dir, map[string]string{"sub/b.txt": "world"})
	if h := hash(Options{}); h != h0 {
		t.Errorf("the same content again: hash %s, want %s", h, h0)
	}

	for _, c := range []struct {
		name   string
		change func() error
	}{
		{"mode", func() error { return os.Chmod(filepath.Join(dir, "a.txt"), 0o755) }},
		{"new dir", func() error { return os.Mkdir(filepath.Join(dir, "empty"), 0o755) }},
		{"rename", func() error { return os.Rename(filepath.Join(dir, "a.txt"), filepath.Join(dir, "c.txt")) }},
		{"symlink", func() error { return os.Symlink("sub/b.txt", filepath.Join(dir, "link")) }},
		{"symlink target", func() error {
			os.Remove(filepath.Join(dir, "link"))
			return os.Symlink("c.txt", filepath.Join(dir, "link"))
		}},
	} {
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		if h := hash(Options{}); h == h0 {
			t.Errorf("%s: hash unchanged", c.name)
		}
		h0 = hash(Options{})
	}

	// So do the build's parameters.
	seen := map[string]string{hash(Options{}): "none"}
	for name, opts := range map[string]Options{
		"target":    {Target: "dev"},
		"build arg": {BuildArgs: map[string]string{"A": "1"}},
		"arg value": {BuildArgs: map[string]string{"A": "2"}},
		"template":  {Template: "static"},
		"base":      {Template: "static", Base: "busybox"},
		"port":      {Template: "static", Port: 9000},
		"server":    {Template: "static", StaticServer: []byte("x")},
	} {
		h := hash(opts)
		if prev, ok := seen[h]; ok {
			t.Errorf("%s: same hash as %s", name, prev)
		}
		seen[h] = name
	}
	// Build args in any order hash the same.
	a := hash(Options{BuildArgs: map[string]string{"A": "1", "B": "2", "C": "3"}})
	for range 5 {
		if b := hash(Options{BuildArgs: map[string]string{"C": "3", "B": "2", "A": "1"}}); b != a {
			t.Fatalf("build args: hash depends on map order")
		}
	}
}

func TestReuse(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n", "a.txt": "v1"})
	eng := newFakeEngine()
	var log bytes.Buffer
	r1 := mustBuild(t, eng, Options{Dir: dir, Repo: "test/reuse", Log: &log})
	if r1.Reused || eng.builds != 1 || r1.Image != "test/reuse:dev-"+r1.Hash {
		t.Fatalf("first build: %+v, %d builds", r1, eng.builds)
	}
	wantLabel := fmt.Sprintf("LABEL %q=%q %q=%q\n", LabelContentHash, r1.Hash, LabelSource, dir)
	if got := eng.files["Dockerfile"].data; !strings.HasSuffix(got, "COPY . /\n"+wantLabel) || eng.opts.Labels != nil {
		t.Errorf("labels: Dockerfile sent\n%s\noptions %v", got, eng.opts.Labels)
	}
	if !strings.Contains(log.String(), "Successfully tagged") {
		t.Errorf("log lacks the engine's output:\n%s", log.String())
	}
	r2 := mustBuild(t, eng, Options{Dir: dir, Repo: "test/reuse"})
	if !r2.Reused || eng.builds != 1 || r2.Image != r1.Image {
		t.Fatalf("second build: %+v, %d builds", r2, eng.builds)
	}
	writeFiles(t, dir, map[string]string{"a.txt": "v2"})
	r3 := mustBuild(t, eng, Options{Dir: dir, Repo: "test/reuse"})
	if r3.Reused || eng.builds != 2 || r3.Hash == r1.Hash {
		t.Fatalf("after a change: %+v, %d builds", r3, eng.builds)
	}
}

func TestTarStream(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /\n",
		"b/z.txt":       "z",
		"b/a.txt":       "a",
		"a.txt":         "top",
		"run.sh":        "#!/bin/sh\n",
		"empty/":        "",
		"b/c/deep.txt":  "deep",
		"b/c/deeper/x/": "",
	})
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	if err := os.Symlink("b/a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine()
	mustBuild(t, eng, Options{Dir: dir, Repo: "test/tar", Target: "dev", BuildArgs: map[string]string{"A": "1"}})
	want := []string{"Dockerfile", "a.txt", "b/", "b/a.txt", "b/c/", "b/c/deep.txt", "b/c/deeper/", "b/c/deeper/x/", "b/z.txt", "dangling", "empty/", "link", "run.sh"}
	if !slices.Equal(eng.names, want) {
		t.Errorf("context\n got %q\nwant %q", eng.names, want)
	}
	f := eng.files
	if l := f["link"]; l.typ != tar.TypeSymlink || l.link != "b/a.txt" {
		t.Errorf("link: %+v", l)
	}
	if l := f["dangling"]; l.typ != tar.TypeSymlink || l.link != "/nowhere" {
		t.Errorf("dangling: %+v", l)
	}
	if r := f["run.sh"]; r.typ != tar.TypeReg || r.mode != 0o755 || r.data != "#!/bin/sh\n" {
		t.Errorf("run.sh: %+v", r)
	}
	if r := f["b/c/deep.txt"]; r.mode != 0o644 || r.data != "deep" {
		t.Errorf("b/c/deep.txt: %+v", r)
	}
	if d := f["empty/"]; d.typ != tar.TypeDir {
		t.Errorf("empty/: %+v", d)
	}
	o := eng.opts
	if o.Dockerfile != "Dockerfile" || o.Target != "dev" || o.BuildArgs["A"] != "1" {
		t.Errorf("build options %+v", o)
	}
}

func TestDockerfileOutsideTheFolder(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "a", ".dockerignore": "*.tmp"})
	writeFiles(t, other, map[string]string{"dev.Dockerfile": "FROM scratch\nCOPY a.txt /\n"})
	eng := newFakeEngine()
	res := mustBuild(t, eng, Options{Dir: dir, Repo: "test/outside", Dockerfile: filepath.Join(other, "dev.Dockerfile")})
	if res.Dockerfile != "FROM scratch\nCOPY a.txt /\n" || eng.opts.Dockerfile != externalDockerfile {
		t.Errorf("result %+v, options %+v", res, eng.opts)
	}
	if got := eng.files[externalDockerfile].data; !strings.HasPrefix(got, res.Dockerfile+"LABEL ") {
		t.Errorf("context Dockerfile %q", got)
	}
	if got := eng.files[".dockerignore"].data; got != "*.tmp\n"+externalDockerfile+"\n" {
		t.Errorf(".dockerignore %q", got)
	}
}

func TestDockerfileInASubfolder(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"docker/dev.Dockerfile": "FROM scratch\n",
		".dockerignore":         "docker\n",
		"a.txt":                 "a",
	})
	eng := newFakeEngine()
	mustBuild(t, eng, Options{Dir: dir, Repo: "test/sub", Dockerfile: "docker/dev.Dockerfile"})
	if eng.opts.Dockerfile != "docker/dev.Dockerfile" {
		t.Errorf("Dockerfile option %q", eng.opts.Dockerfile)
	}
	if _, ok := eng.files["docker/dev.Dockerfile"]; !ok {
		t.Errorf("the ignored Dockerfile was not sent: %q", eng.names)
	}
}

func TestStaticContext(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "<h1>hi</h1>", "css/site.css": "h1{}", ".dockerignore": "*.bak", "old.bak": ""})
	eng := newFakeEngine()
	res := mustBuild(t, eng, Options{Dir: dir, Repo: "test/static", StaticServer: []byte("\x7fELF"), Port: 3000})
	if res.Template != "static" {
		t.Fatalf("template %q", res.Template)
	}
	want := []string{"Dockerfile", "rootfs/", "rootfs/site/", "rootfs/site/.dockerignore", "rootfs/site/css/", "rootfs/site/css/site.css", "rootfs/site/index.html", "rootfs/cjob-sandbox"}
	if !slices.Equal(eng.names, want) {
		t.Errorf("context\n got %q\nwant %q", eng.names, want)
	}
	if c := eng.files["rootfs/cjob-sandbox"]; c.mode != 0o755 || c.data != "\x7fELF" {
		t.Errorf("server: %+v", c)
	}
	if !strings.Contains(eng.files["Dockerfile"].data, `":3000"`) {
		t.Errorf("Dockerfile:\n%s", eng.files["Dockerfile"].data)
	}
	if _, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/static", Port: 3001}); err == nil || !strings.Contains(err.Error(), "StaticServer") {
		t.Errorf("no server binary: %v", err)
	}
}

func TestNodeContext(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"package.json":        `{"main": "server.js"}`,
		"server.js":           "require('http')",
		"node_modules/x/a.js": "x",
		".dockerignore":       "*.md",
		"README.md":           "",
	})
	eng := newFakeEngine()
	res := mustBuild(t, eng, Options{Dir: dir, Repo: "test/node"})
	want := []string{"Dockerfile", "app/", "app/.dockerignore", "app/node_modules/", "app/node_modules/x/", "app/node_modules/x/a.js", "app/package.json", "app/server.js"}
	if res.Template != "node" || !slices.Equal(eng.names, want) {
		t.Errorf("template %q, context\n got %q\nwant %q", res.Template, eng.names, want)
	}
}

func TestJavaPrebuiltJar(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app-1.0.jar": "PK-big-jar", "app-1.0-sources.jar": "PK-sources-are-bigger"})
	eng := newFakeEngine()
	res := mustBuild(t, eng, Options{Dir: dir, Repo: "test/java"})
	if res.Template != "java" || !slices.Equal(eng.names, []string{"Dockerfile", "app.jar"}) || eng.files["app.jar"].data != "PK-big-jar" {
		t.Errorf("template %q, context %q", res.Template, eng.names)
	}
}

// goProgram is a module whose main package answers "v1" over HTTP.
var goProgram = map[string]string{
	"go.mod": "module example.com/hello\n\ngo 1.21\n",
	"main.go": `package main

import (
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v1")) })
	http.ListenAndServe(":"+port, nil)
}
`,
}

func TestGoTemplateContext(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, goProgram)
	eng := newFakeEngine()
	res := mustBuild(t, eng, Options{Dir: dir, Repo: "test/go"})
	if res.Template != "go" || !slices.Equal(eng.names, []string{"Dockerfile", "app"}) {
		t.Fatalf("template %q, context %q", res.Template, eng.names)
	}
	app := eng.files["app"]
	if app.mode&0o111 == 0 || !strings.HasPrefix(app.data, "\x7fELF") {
		t.Errorf("app: mode %o, %d bytes", app.mode, len(app.data))
	}
	if res.HostBuild <= 0 {
		t.Errorf("HostBuild %v", res.HostBuild)
	}
}

func TestGoTemplateMainPackage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":            goProgram["go.mod"],
		"cmd/hello/main.go": goProgram["main.go"],
	})
	eng := newFakeEngine()
	if _, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/go"}); err == nil {
		t.Error(`no main package in ".": no error`)
	}
	mustBuild(t, eng, Options{Dir: dir, Repo: "test/go", BuildArgs: map[string]string{"main": "./cmd/hello"}})
}

func TestHostBuildFailure(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() {\n\tfoo()\n}\n",
	})
	eng := newFakeEngine()
	var log bytes.Buffer
	_, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/broken", Log: &log})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"go build in ", "failed:\n", "main.go:4:2: undefined: foo"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if !strings.Contains(log.String(), "undefined: foo") {
		t.Errorf("log lacks the compiler's output:\n%s", log.String())
	}
	if eng.builds != 0 {
		t.Errorf("the engine built after a failed host build")
	}
}

func TestEngineBuildFailure(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY missing /\n"})
	eng := newFakeEngine()
	eng.fail = errors.New("build test/fail:dev-x: COPY failed: file not found in build context")
	eng.failLog = "Step 1/2 : FROM scratch\n ---> \nStep 2/2 : COPY missing /\nCOPY failed: file not found in build context\n"
	_, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/fail"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "Step 2/2 : COPY missing /") || strings.Count(msg, "COPY failed") != 1 {
		t.Errorf("error:\n%s", msg)
	}
}

func TestSourceChanged(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "aaaa"})
	m, err := newMatcher(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := walkTree(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"a.txt": "aaaaaaaa"})
	if err := writeTar(io.Discard, tree); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("writeTar after a change: %v", err)
	}
	os.Remove(filepath.Join(dir, "a.txt"))
	if err := writeTar(io.Discard, tree); !errors.Is(err, ErrSourceChanged) {
		t.Errorf("writeTar after a removal: %v", err)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(3)
	io.WriteString(tl, "one\ntwo\nthr")
	io.WriteString(tl, "ee\nfour\r\nfi")
	if got := tl.String(); got != "two\nthree\nfour\nfi" {
		t.Errorf("tail %q", got)
	}
}

func TestWalkSkipsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a": "a"})
	if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
		t.Skip(err)
	}
	m, _ := newMatcher(dir, nil, nil)
	tree, err := walkTree(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 1 || tree[0].name != "a" || tree[0].mode&fs.ModeNamedPipe != 0 {
		t.Errorf("tree %+v", tree)
	}
}

func TestLabels(t *testing.T) {
	const multi = "FROM scratch AS build\nCOPY . /\n\nfrom build as Final\nLABEL x=y\n"
	for _, tc := range []struct {
		name, dockerfile, target, dir string
		inline                        bool
	}{
		{"plain", "FROM scratch\nCOPY . /", "", "/src", true},
		{"last stage", multi, "final", "/src", true},
		{"earlier stage", multi, "build", "/src", false},
		{"continued line", "FROM scratch\nLABEL a=b \\\n", "", "/src", false},
		{"dollar in path", "FROM scratch\n", "", "/src/$HOME", false},
		{"quote in path", "FROM scratch\n", "", `/src/"x"`, false},
		{"space in path", "FROM scratch\n", "", "/my src", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &plan{dir: tc.dir, dockerfile: tc.dockerfile, opts: Options{Target: tc.target}}
			text, labels := p.labelled("0123456789ab")
			if !tc.inline {
				if text != tc.dockerfile || labels[LabelSource] != tc.dir || labels[LabelContentHash] != "0123456789ab" {
					t.Errorf("not inline: text %q, labels %v", text, labels)
				}
				return
			}
			want := strings.TrimRight(tc.dockerfile, "\n") + "\nLABEL \"cjob.content-hash\"=\"0123456789ab\" \"cjob.source\"=\"" + tc.dir + "\"\n"
			if text != want || labels != nil {
				t.Errorf("inline: text\n%s\nwant\n%s\nlabels %v", text, want, labels)
			}
		})
	}
}

func TestTemplateLabelIsCached(t *testing.T) {
	p := &plan{dir: "/src", template: "go", dockerfile: "# go\nFROM scratch\nENTRYPOINT [\"/app\"]\nCOPY app /app\n"}
	text, labels := p.labelled("0123456789ab")
	want := "# go\nFROM scratch\nLABEL \"cjob.source\"=\"/src\"\nENTRYPOINT [\"/app\"]\nCOPY app /app\n"
	if text != want || labels != nil {
		t.Errorf("template label: text\n%s\nwant\n%s\nlabels %v", text, want, labels)
	}
}

func TestDigestCache(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Hour).UnixNano()
	e := entry{src: "/cache-test/a", stat: fileStat{size: 1, mtime: old, ctime: old, ino: 7, ok: true}, sum: [32]byte{1}}
	cacheSum(&e, now)
	got := entry{src: e.src, stat: e.stat}
	if !cachedSum(&got) || got.sum != e.sum {
		t.Fatalf("an old file's digest was not cached")
	}
	for name, change := range map[string]func(*fileStat){
		"size":  func(s *fileStat) { s.size++ },
		"mtime": func(s *fileStat) { s.mtime++ },
		"ctime": func(s *fileStat) { s.ctime++ },
		"inode": func(s *fileStat) { s.ino++ },
	} {
		c := entry{src: e.src, stat: e.stat}
		change(&c.stat)
		if cachedSum(&c) {
			t.Errorf("%s changed: cache hit", name)
		}
	}
	// A file written within racyWindow of its read is not cached.
	for name, st := range map[string]fileStat{
		"recent mtime": {size: 1, mtime: now.Add(-time.Second).UnixNano(), ctime: old, ok: true},
		"recent ctime": {size: 1, mtime: old, ctime: now.UnixNano(), ok: true},
	} {
		r := entry{src: "/cache-test/" + name, stat: st}
		cacheSum(&r, now)
		if cachedSum(&entry{src: r.src, stat: st}) {
			t.Errorf("%s: cached", name)
		}
	}
}

func TestIgnoreFor(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pom.xml": "<project/>", "target/app.jar": "PK", ".dockerignore": "docker\n.dockerignore\n", "docker/dev.Dockerfile": "FROM scratch\n"})
	m, err := IgnoreFor(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Ignored("target", true) || m.Ignored("pom.xml", false) || m.Ignored(".dockerignore", false) {
		t.Errorf("java: patterns %q", m.Patterns())
	}
	m, err = IgnoreFor(Options{Dir: dir, Dockerfile: "docker/dev.Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Ignored("docker/dev.Dockerfile", false) || m.Ignored("docker", true) || m.Ignored("target/app.jar", false) {
		t.Errorf("dockerfile: patterns %q", m.Patterns())
	}
}

func TestMissingHostTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pom.xml": "<project/>"})
	eng := newFakeEngine()
	_, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/java"})
	if err == nil || !strings.Contains(err.Error(), "mvn package in") || !strings.Contains(err.Error(), "mvn is not on PATH") {
		t.Errorf("java without mvn: %v", err)
	}

	dir = t.TempDir()
	writeFiles(t, dir, map[string]string{"package.json": `{"scripts": {"build": "tsc"}}`, "index.js": ""})
	var log bytes.Buffer
	if _, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/node", Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "npm is not on PATH") {
		t.Errorf("node without npm: log\n%s", log.String())
	}
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("SKIPPING: %s is not on PATH", name)
	}
}

func TestNodeHostBuild(t *testing.T) {
	needTool(t, "npm")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"package.json": `{"main": "dist/server.js", "scripts": {"build": "node build.js"}}`,
		"build.js":     `require("fs").mkdirSync("dist", {recursive: true}); require("fs").writeFileSync("dist/server.js", "console.log('built')")`,
	})
	eng := newFakeEngine()
	var log bytes.Buffer
	res, err := Build(context.Background(), eng, Options{Dir: dir, Repo: "test/node", Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if got := eng.files["app/dist/server.js"].data; got != "console.log('built')" {
		t.Errorf("the build's output is not in the context: %q\nlog:\n%s", eng.names, log.String())
	}
	if !strings.Contains(res.Dockerfile, `CMD ["node", "dist/server.js"]`) || res.HostBuild == 0 {
		t.Errorf("result %+v", res)
	}

	// A failing build script fails the build, with its output.
	writeFiles(t, dir, map[string]string{"build.js": `console.error("src/app.ts(3,1): error TS2304: Cannot find name 'foo'."); process.exit(2)`})
	_, err = Build(context.Background(), eng, Options{Dir: dir, Repo: "test/node"})
	if err == nil || !strings.Contains(err.Error(), "npm run build in ") || !strings.Contains(err.Error(), "Cannot find name 'foo'") {
		t.Errorf("failing build script: %v", err)
	}
}

func TestMavenFailure(t *testing.T) {
	needTool(t, "mvn")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pom.xml": "<project/>"})
	_, err := Build(context.Background(), newFakeEngine(), Options{Dir: dir, Repo: "test/java"})
	if err == nil || !strings.Contains(err.Error(), "mvn package in ") || !strings.Contains(err.Error(), "'version' is missing") {
		t.Errorf("broken pom.xml: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "\x1b[") {
		t.Errorf("colours in the error: %q", err)
	}
}

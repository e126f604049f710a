// Package build turns a source folder into a local image for `cjob dev
// swap`, fast, and not at all when nothing changed.
//
// A folder builds either with a Dockerfile (the folder is the context,
// filtered by its .dockerignore as docker would) or with one of cjob's
// templates (package templates): the artefact is built on the host with the
// language's own tool (go build, npm, mvn) and the image only copies it in.
//
// Before anything is built, a content hash is computed over what the build
// depends on: every file of the folder that .dockerignore keeps (path, mode,
// content), the Dockerfile text, target, build args, template and base. The
// image is tagged <repo>:dev-<hash>; when the engine already has that tag,
// Build returns it with Reused set and builds nothing.
//
// The build context is streamed to the engine as a tar (never staged in a
// temporary folder nor held in memory), in a deterministic order, symlinks
// kept as symlinks. Built images are labelled cjob.source and
// cjob.content-hash.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/cjob/cjob/internal/engine"
	"github.com/cjob/cjob/templates"
)

// Options describe one build.
type Options struct {
	// Dir is the source folder (made absolute).
	Dir string
	// Dockerfile (--dockerfile) is a path relative to Dir, or absolute.
	// Empty: Dir/Dockerfile if it exists, else a template.
	Dockerfile string
	// Template (--template NAME) forces a template, ignoring any Dockerfile.
	Template string
	// Base (--base IMAGE) is the template's base image; each template has a
	// default. Dockerfile builds reject it.
	Base string
	// Target (--target) is the stage of a Dockerfile build.
	Target string
	// BuildArgs (--build-arg) are a Dockerfile build's ARG values. The go
	// template takes two: main=PKG, the package to build (default "."),
	// and ldflags=FLAGS for go build (default "-s -w").
	BuildArgs map[string]string
	// Repo is the image repository, e.g. "coding/api"; the tag is
	// "dev-<hash>".
	Repo string
	// Port is the job's main port (templates that serve need it; 0 if none).
	Port int
	// Command is the job's production command, if any (informational for
	// templates).
	Command []string
	// Log receives the build output as plain text: the host tool's (go
	// build, npm, mvn), then the engine's. Nil discards it.
	Log io.Writer
	// StaticServer is a static binary that serves a folder, for the static
	// template (cjob-sandbox): it runs as /cjob-sandbox serve-static /site --listen :PORT.
	StaticServer []byte
}

// Result is what Build made (or found).
type Result struct {
	Image      string        // "coding/api:dev-3f2a9c1b7e0d"
	Hash       string        // content hash (12 hex digits)
	Reused     bool          // the engine already had this image: nothing was built
	Template   string        // template used, or "" for a Dockerfile build
	Dockerfile string        // the Dockerfile text used
	HostBuild  time.Duration // time in the host tool (go build etc.)
	ImageBuild time.Duration // time in the engine build
}

// Engine is what Build needs of the engine; *engine.Engine implements it.
type Engine interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	BuildImage(ctx context.Context, buildContext io.Reader, opts engine.BuildOptions, log io.Writer) error
}

// Labels put on every built image.
const (
	LabelSource      = "cjob.source"
	LabelContentHash = "cjob.content-hash"
)

// externalDockerfile is the context name of a Dockerfile that lies outside
// the source folder (docker's own client does the same, with a random name).
const externalDockerfile = ".dockerfile.cjob"

// Build builds opts.Dir into the image <Repo>:dev-<hash>, or finds it
// already built. A failed host build returns an error carrying the tool's
// output; a failed engine build, the build output's last lines. A file
// saved during the build may fail it with ErrSourceChanged.
func Build(ctx context.Context, eng Engine, opts Options) (*Result, error) {
	if opts.Repo == "" {
		return nil, errors.New("build: no image repository given")
	}
	p, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	tree, sum, err := p.contentHash(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Image:      opts.Repo + ":dev-" + sum,
		Hash:       sum,
		Template:   p.template,
		Dockerfile: p.dockerfile,
	}
	have, err := eng.ImageExists(ctx, res.Image)
	if err != nil {
		return nil, err
	}
	if have {
		res.Reused = true
		fmt.Fprintf(log, "%s is up to date: nothing to build\n", res.Image)
		return res, nil
	}

	tmp, err := os.MkdirTemp("", "cjob-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	sent, apiLabels := p.labelled(res.Hash)
	start := time.Now()
	entries, err := p.hostBuild(ctx, log, tmp, tree, sent)
	res.HostBuild = time.Since(start)
	if err != nil {
		return nil, err
	}

	start = time.Now()
	err = p.engineBuild(ctx, eng, entries, res, apiLabels, log)
	res.ImageBuild = time.Since(start)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Describe returns what Build would use, without building: the template's
// name (or "" for a Dockerfile build) and the Dockerfile text. It is `cjob
// dev swap --print-dockerfile`.
func Describe(opts Options) (template string, dockerfile string, err error) {
	p, err := resolve(opts)
	if err != nil {
		return "", "", err
	}
	return p.template, p.dockerfile, nil
}

// IgnoreFor returns the matcher Build uses for opts: Ignore's, and also
// keeping a --dockerfile inside Dir that .dockerignore lists, and ignoring
// target/ of a Maven project (the java template's output, not its source).
// A watcher that uses it rebuilds exactly when the content hash may change.
func IgnoreFor(opts Options) (*Matcher, error) {
	p, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	return p.matcher, nil
}

// plan is a resolved build: how the folder builds and what the context
// holds.
type plan struct {
	opts       Options
	dir        string
	template   string // "" for a Dockerfile build
	data       templates.Data
	dockerfile string   // the text
	dfName     string   // its path in the context
	dfOutside  bool     // a Dockerfile outside dir, sent as externalDockerfile
	matcher    *Matcher // decides which of dir's files count (hash and context)
	tool       string   // the host tool the template runs ("" for none)
	pkg        packageJSON
}

// resolve chooses between a Dockerfile and a template and renders the
// Dockerfile.
func resolve(opts Options) (*plan, error) {
	if opts.Dir == "" {
		return nil, errors.New("build: no source folder given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("source folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("source folder %s is not a folder", display(dir))
	}
	opts.Dir = dir
	p := &plan{opts: opts, dir: dir}
	switch {
	case opts.Template != "":
		if _, ok := templates.Get(opts.Template); !ok {
			return nil, fmt.Errorf("no template %q.\n%s", opts.Template, templateList())
		}
		p.template = opts.Template
	case opts.Dockerfile != "":
		df := opts.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(dir, df)
		}
		return p, p.resolveDockerfile(df)
	default:
		if fi, err := os.Stat(filepath.Join(dir, "Dockerfile")); err == nil && fi.Mode().IsRegular() {
			return p, p.resolveDockerfile(filepath.Join(dir, "Dockerfile"))
		}
		if p.template, err = detect(dir); err != nil {
			return nil, err
		}
	}
	return p, p.resolveTemplate()
}

// resolveDockerfile sets up a build with the Dockerfile at df.
func (p *plan) resolveDockerfile(df string) error {
	if p.opts.Base != "" {
		return fmt.Errorf("--base is a template parameter; a Dockerfile build starts FROM what %s says", display(df))
	}
	b, err := os.ReadFile(df)
	if err != nil {
		return fmt.Errorf("dockerfile: %w", err)
	}
	p.dockerfile = string(b)
	keep := []string{".dockerignore"}
	rel, err := filepath.Rel(p.dir, df)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		p.dfName = filepath.ToSlash(rel)
		keep = append(keep, p.dfName)
	} else {
		p.dfName, p.dfOutside = externalDockerfile, true
	}
	p.matcher, err = newMatcher(p.dir, nil, keep)
	return err
}

// resolveTemplate sets up a template build and renders its Dockerfile.
func (p *plan) resolveTemplate() error {
	t, _ := templates.Get(p.template)
	if p.opts.Target != "" {
		return fmt.Errorf("--target applies to Dockerfile builds, not to the %s template", p.template)
	}
	for k := range p.opts.BuildArgs {
		if p.template != "go" || k != "main" && k != "ldflags" {
			return fmt.Errorf("the %s template takes no build arg %q (the go template takes main=PKG and ldflags=FLAGS; other build args are for Dockerfile builds)", p.template, k)
		}
	}
	p.data = templates.Data{Base: p.opts.Base, Port: p.opts.Port, Command: p.opts.Command}
	if p.data.Base == "" {
		p.data.Base = t.DefaultBase
	}
	var extra []string // ignored by the hash besides .dockerignore's patterns
	switch p.template {
	case "go":
		p.data.Artifact, p.tool = "app", "go"
	case "static":
		p.data.Artifact = "rootfs"
		if p.data.Port == 0 {
			p.data.Port = 8080
		}
	case "node":
		p.data.Artifact, p.data.Main = "app", "index.js"
		if exists(p.dir, "package.json") {
			pkg, err := readPackageJSON(p.dir)
			if err != nil {
				return err
			}
			p.pkg = pkg
		}
		if m := p.pkg.Main; m != "" {
			m = path.Clean(filepath.ToSlash(m))
			if path.IsAbs(m) || m == ".." || strings.HasPrefix(m, "../") {
				return fmt.Errorf("package.json: main %q is outside the folder", p.pkg.Main)
			}
			p.data.Main = m
		}
		if p.pkg.Scripts["build"] != "" && toolID("npm") != "" {
			p.tool = "npm"
		}
	case "java":
		p.data.Artifact = "app.jar"
		if exists(p.dir, "pom.xml") {
			// mvn writes target/ (jars with fresh timestamps): it is
			// output, not source.
			p.tool, extra = "mvn", []string{"target"}
		}
	default:
		return fmt.Errorf("template %s: cjob does not know how to build it", p.template)
	}
	var err error
	if p.dockerfile, err = t.Render(p.data); err != nil {
		return err
	}
	p.dfName = "Dockerfile"
	p.matcher, err = newMatcher(p.dir, extra, nil)
	return err
}

// contentHash walks the folder and returns its entries (digested) and the
// content hash.
func (p *plan) contentHash(ctx context.Context) ([]entry, string, error) {
	tree, err := walkTree(p.dir, p.matcher)
	if err != nil {
		return nil, "", err
	}
	if err := hashFiles(ctx, tree); err != nil {
		return nil, "", err
	}
	h := newHasher()
	h.param("template", p.template)
	h.param("base", p.data.Base)
	h.param("dockerfile", p.dockerfile)
	h.param("dockerfile-name", p.dfName)
	h.param("target", p.opts.Target)
	for _, k := range slices.Sorted(maps.Keys(p.opts.BuildArgs)) {
		h.param("build-arg", k+"="+p.opts.BuildArgs[k])
	}
	if p.tool != "" {
		h.param("tool", toolID(p.tool))
	}
	if p.template == "go" {
		for _, k := range goEnv {
			h.param("env", k+"="+os.Getenv(k))
		}
	}
	if p.template == "static" {
		s := sha256.Sum256(p.opts.StaticServer)
		h.param("static-server", hex.EncodeToString(s[:]))
	}
	h.entries(tree)
	return tree, h.sum(), nil
}

// labelled returns the Dockerfile text to send, and the labels left for the
// engine to add. The engine's classic builder adds each label of the build
// request as a step of its own (a container and a commit, up to a second
// each), so the labels go into the Dockerfile as one LABEL instruction when
// that is safe: the last stage is the one built, and no value needs quoting
// beyond double quotes.
//
// A template's Dockerfile is cjob's own: its label goes right after FROM and
// carries only the source folder, which does not change between rounds, so
// the engine's cache keeps that step and a rebuild costs only the COPY (the
// content hash is in the tag).
func (p *plan) labelled(hash string) (dockerfile string, labels map[string]string) {
	if p.template != "" && inlineSafe(p.dir) {
		lines := strings.SplitAfter(p.dockerfile, "\n")
		for i, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "FROM") {
				label := fmt.Sprintf("LABEL %q=%q\n", LabelSource, p.dir)
				if !strings.HasSuffix(l, "\n") {
					label = "\n" + label
				}
				return strings.Join(lines[:i+1], "") + label + strings.Join(lines[i+1:], ""), nil
			}
		}
	}
	labels = map[string]string{LabelSource: p.dir, LabelContentHash: hash}
	text := strings.TrimRight(p.dockerfile, " \t\r\n")
	if strings.HasSuffix(text, "\\") || strings.HasSuffix(text, "`") {
		return p.dockerfile, labels // a continued last line
	}
	if p.opts.Target != "" && !strings.EqualFold(lastStage(text), p.opts.Target) {
		return p.dockerfile, labels
	}
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\nLABEL")
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !inlineSafe(labels[k]) {
			return p.dockerfile, labels
		}
		fmt.Fprintf(&b, " %q=%q", k, labels[k])
	}
	b.WriteString("\n")
	return b.String(), nil
}

// inlineSafe reports whether v can be a double-quoted Dockerfile value as
// it is: printable, with nothing the builder would unescape or expand.
func inlineSafe(v string) bool {
	for _, r := range v {
		if !unicode.IsPrint(r) || strings.ContainsRune("\"\\$`", r) {
			return false
		}
	}
	return true
}

// lastStage returns the name of a Dockerfile's last stage ("" if unnamed).
func lastStage(dockerfile string) string {
	name := ""
	for _, line := range strings.Split(dockerfile, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		name = ""
		if n := len(f); n >= 4 && strings.EqualFold(f[n-2], "AS") {
			name = f[n-1]
		}
	}
	return name
}

// hostBuild runs the template's host tool and returns the build context's
// entries. tree is the folder as hashed; dockerfile is the text to send.
func (p *plan) hostBuild(ctx context.Context, log io.Writer, tmp string, tree []entry, dockerfile string) ([]entry, error) {
	now := time.Now()
	df := entry{name: p.dfName, data: []byte(dockerfile), mode: 0o644, mtime: now}
	switch p.template {
	case "":
		if p.dfOutside {
			return withExternalDockerfile(tree, df), nil
		}
		// The Dockerfile as hashed (and perhaps labelled) replaces the
		// file: what is sent is what was hashed.
		out := slices.Clone(tree)
		for i, e := range out {
			if e.name == p.dfName {
				df.mode, df.mtime = e.mode, e.mtime
				out[i] = df
			}
		}
		return out, nil

	case "go":
		pkg := "."
		if m := p.opts.BuildArgs["main"]; m != "" {
			pkg = m
		}
		// No VCS stamp: .git is not part of the content hash, so the
		// binary must not depend on it either.
		out := filepath.Join(tmp, "app")
		// No DWARF nor symbol table by default (stack traces keep their
		// names): linking is a quarter faster, the binary a quarter smaller
		// to copy, and the edit
		// loop waits for it (ldflags=... as a build argument overrides).
		ldflags := "-s -w"
		if l, ok := p.opts.BuildArgs["ldflags"]; ok {
			ldflags = l
		}
		if err := runTool(ctx, log, p.dir, []string{"CGO_ENABLED=0", "GOOS=linux"}, "go build", "go", "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", out, pkg); err != nil {
			return nil, err
		}
		app, err := fileEntry("app", out)
		if err != nil {
			return nil, err
		}
		return []entry{df, app}, nil

	case "static":
		if len(p.opts.StaticServer) == 0 {
			return nil, errors.New("the static template needs a static file server binary (Options.StaticServer)")
		}
		es := append([]entry{df}, prefixed("rootfs/site", tree, now)...)
		return append(es, entry{name: "rootfs/cjob-sandbox", data: p.opts.StaticServer, mode: 0o755, mtime: now}), nil

	case "node":
		if p.tool == "npm" {
			if err := runTool(ctx, log, p.dir, nil, "npm run build", "npm", "run", "build"); err != nil {
				return nil, err
			}
			// The context is the folder as the build left it.
			var err error
			if tree, err = walkTree(p.dir, p.matcher); err != nil {
				return nil, err
			}
		} else if p.pkg.Scripts["build"] != "" {
			fmt.Fprintln(log, "warning: npm is not on PATH: skipping `npm run build`")
		}
		return append([]entry{df}, prefixed("app", tree, now)...), nil

	case "java":
		var jar string
		if p.tool == "mvn" {
			if err := runTool(ctx, log, p.dir, nil, "mvn package", "mvn", "-B", "-q", "-DskipTests", "package"); err != nil {
				return nil, err
			}
			j, err := pickJar(jars(filepath.Join(p.dir, "target")))
			if err != nil {
				return nil, fmt.Errorf("mvn package in %s made no jar in target/", display(p.dir))
			}
			jar = j
		} else {
			j, err := pickJar(jars(p.dir))
			if err != nil {
				return nil, fmt.Errorf("the java template needs a pom.xml or a built *.jar in %s", display(p.dir))
			}
			jar = j
		}
		fmt.Fprintf(log, "using %s\n", display(jar))
		app, err := fileEntry("app.jar", jar)
		if err != nil {
			return nil, err
		}
		return []entry{df, app}, nil
	}
	return nil, fmt.Errorf("template %s: cjob does not know how to build it", p.template)
}

// fileEntry is the context entry name for the regular file at src.
func fileEntry(name, src string) (entry, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return entry{}, err
	}
	return entry{name: name, src: src, mode: fi.Mode() & modeBits, size: fi.Size(), mtime: fi.ModTime()}, nil
}

// withExternalDockerfile adds a Dockerfile from outside the folder to the
// context and lists it in .dockerignore, so the engine drops it from the
// context after reading it (as docker's client does).
func withExternalDockerfile(tree []entry, df entry) []entry {
	ignore := entry{name: ".dockerignore", data: []byte(".dockerignore\n"), mode: 0o644, mtime: df.mtime}
	var rest []entry
	for _, e := range tree {
		if e.name == ".dockerignore" && e.mode.IsRegular() {
			if b, err := os.ReadFile(e.src); err == nil {
				ignore.data, ignore.mode, ignore.mtime = b, e.mode, e.mtime
			}
			continue
		}
		rest = append(rest, e)
	}
	ignore.data = append(ignore.data, "\n"+externalDockerfile+"\n"...)
	return append([]entry{df, ignore}, rest...)
}

// engineBuild streams the context to the engine and builds the image.
func (p *plan) engineBuild(ctx context.Context, eng Engine, entries []entry, res *Result, labels map[string]string, log io.Writer) error {
	bopts := engine.BuildOptions{
		Tags:       []string{res.Image},
		Dockerfile: p.dfName,
		Labels:     labels,
	}
	if p.template == "" {
		bopts.Target, bopts.BuildArgs = p.opts.Target, p.opts.BuildArgs
	}
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := writeTar(pw, entries)
		pw.CloseWithError(err)
		sent <- err
	}()
	tail := newTail(20)
	err := eng.BuildImage(ctx, pr, bopts, io.MultiWriter(log, tail))
	pr.CloseWithError(errStopped) // the engine is done reading, if it had not yet
	if terr := <-sent; terr != nil && !errors.Is(terr, errStopped) {
		return fmt.Errorf("sending the build context of %s: %w", display(p.dir), terr)
	}
	if err != nil {
		msg := err.Error()
		lines := strings.Split(tail.String(), "\n")
		if n := len(lines); n > 0 && strings.Contains(msg, strings.TrimSpace(lines[n-1])) {
			lines = lines[:n-1]
		}
		if out := strings.TrimSpace(strings.Join(lines, "\n")); out != "" {
			return fmt.Errorf("%w\nlast lines of the build output:\n%s", err, out)
		}
		return err
	}
	return nil
}

// errStopped ends the context stream when the engine stops reading it.
var errStopped = errors.New("build ended")

package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cjob/cjob/templates"
)

// rule is how a template recognises a source folder.
type rule struct {
	template  string
	looksFor  string // for the error listing the templates
	recognise func(dir string) bool
}

// rules are tried in order; the first that recognises the folder wins.
var rules = []rule{
	{"go", "go.mod, or .go files inside a Go module; `go build` on the host (CGO_ENABLED=0 GOOS=linux), the binary alone in the image", func(dir string) bool {
		return exists(dir, "go.mod") || hasGoFiles(dir) && inModule(dir)
	}},
	{"node", "package.json; `npm run build` on the host if it has a build script, the folder in /app", func(dir string) bool {
		return exists(dir, "package.json")
	}},
	{"java", "pom.xml (`mvn package` on the host) or a built *.jar; the jar alone in the image", func(dir string) bool {
		return exists(dir, "pom.xml") || len(jars(dir)) > 0
	}},
	{"static", "index.html (and none of the above); the site served by cjob serve-static", func(dir string) bool {
		return exists(dir, "index.html")
	}},
}

// detect returns the template for a folder without a Dockerfile.
func detect(dir string) (string, error) {
	for _, r := range rules {
		if r.recognise(dir) {
			return r.template, nil
		}
	}
	return "", fmt.Errorf("%s has no Dockerfile and no template recognises it.\n%s\nChoose one with --template NAME, or write a Dockerfile (or pass --dockerfile PATH)", display(dir), templateList())
}

// templateList describes the templates and what each looks for.
func templateList() string {
	var b strings.Builder
	b.WriteString("Templates, and what each looks for:")
	for _, t := range templates.List() {
		looks := "(chosen with --template only)"
		for _, r := range rules {
			if r.template == t.Name {
				looks = r.looksFor
			}
		}
		fmt.Fprintf(&b, "\n  %-7s %s (base %s)", t.Name, looks, t.DefaultBase)
	}
	return b.String()
}

// exists reports whether dir/name exists.
func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// jars lists the application jars directly in dir: not sources, javadoc,
// tests, or the original-*.jar the shade plugin leaves beside its result.
func jars(dir string) []string {
	all, _ := filepath.Glob(filepath.Join(dir, "*.jar"))
	var out []string
	for _, j := range all {
		b := filepath.Base(j)
		if strings.HasPrefix(b, "original-") || strings.HasSuffix(b, "-sources.jar") ||
			strings.HasSuffix(b, "-javadoc.jar") || strings.HasSuffix(b, "-tests.jar") {
			continue
		}
		if fi, err := os.Stat(j); err == nil && fi.Mode().IsRegular() {
			out = append(out, j)
		}
	}
	return out
}

// display names a path for messages: relative to the working directory
// (./src) when inside it, else absolute.
func display(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	if rel == "." {
		return "."
	}
	return "." + string(filepath.Separator) + rel
}

// hasGoFiles reports whether dir holds Go source files.
func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// inModule reports whether a folder above dir holds go.mod: dir is a main
// package inside a larger module (only dir is hashed and watched).
func inModule(dir string) bool {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if exists(d, "go.mod") {
			return true
		}
		if parent := filepath.Dir(d); parent == d {
			return false
		}
	}
}

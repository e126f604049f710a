// Package templates holds the Dockerfile templates of `cjob dev swap`.
//
// Each template is a file <name>.Dockerfile in this folder: a text/template
// rendered with [Data]. A template is "three lines" (FROM base / ADD app /
// CMD): the artefact is built on the host with the language's own tool, and
// the image only copies it in. Package internal/build chooses a template,
// builds the artefact and lays out the build context the template expects.
package templates

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"text/template"
)

//go:embed *.Dockerfile
var files embed.FS

// defaultBases is each template's base image when --base is not given. A
// template without an entry here fails TestDefaults.
var defaultBases = map[string]string{
	"go":     "scratch",
	"static": "scratch",
	"node":   "node:20-alpine",
	"java":   "eclipse-temurin:17-jre",
}

// Data is what a template is rendered with.
type Data struct {
	// Base is the image to start FROM.
	Base string
	// Port is the job's main port (0 if it has none).
	Port int
	// Artifact is the name, in the build context, of what the image copies
	// in: a file (go: "app", java: "app.jar") or a folder (node: "app",
	// static: "rootfs").
	Artifact string
	// Main is the entry script of a node application, relative to /app.
	Main string
	// Command is the job's production command, if any (informational).
	Command []string
}

// Template is one Dockerfile template.
type Template struct {
	Name        string // "go"
	DefaultBase string // used when Data.Base is empty
	Text        string // the text/template source
}

// List returns every template, sorted by name.
func List() []Template {
	var ts []Template
	names, _ := fs.Glob(files, "*.Dockerfile")
	for _, n := range names {
		t, _ := Get(strings.TrimSuffix(n, ".Dockerfile"))
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b Template) int { return strings.Compare(a.Name, b.Name) })
	return ts
}

// Names returns the templates' names, sorted.
func Names() []string {
	var ns []string
	for _, t := range List() {
		ns = append(ns, t.Name)
	}
	return ns
}

// Get returns the template called name.
func Get(name string) (Template, bool) {
	if name == "" || strings.ContainsAny(name, "/\\*?[") {
		return Template{}, false
	}
	b, err := files.ReadFile(name + ".Dockerfile")
	if err != nil {
		return Template{}, false
	}
	return Template{Name: name, DefaultBase: defaultBases[name], Text: string(b)}, true
}

// funcs are the functions a template may call: json quotes a string for an
// exec-form (JSON array) instruction.
var funcs = template.FuncMap{
	"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
}

// Render renders the template with d; an empty d.Base is the template's
// default base.
func (t Template) Render(d Data) (string, error) {
	if d.Base == "" {
		d.Base = t.DefaultBase
	}
	if d.Base == "" || strings.ContainsAny(d.Base, " \t\r\n") {
		return "", fmt.Errorf("template %s: invalid base image %q", t.Name, d.Base)
	}
	tt, err := template.New(t.Name).Funcs(funcs).Option("missingkey=error").Parse(t.Text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name, err)
	}
	var b strings.Builder
	if err := tt.Execute(&b, d); err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name, err)
	}
	return b.String(), nil
}

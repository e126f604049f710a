package prodspec

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// TemplateData is what a template in a jobs file sees: {{ .Vars.tag }},
// {{ .Project }}.
type TemplateData struct {
	Vars    map[string]string // the file's vars after --set overrides
	Project string
}

// maxTemplateOutput bounds what one template may produce.
const maxTemplateOutput = 1 << 20

// templater renders string scalars as text/template templates with
// missingkey=error. Scalars without "{{" are returned as they are; results
// are cached by source text, since the data never changes during a load.
type templater struct {
	data  TemplateData
	cache map[string]string
}

func newTemplater(data TemplateData) *templater {
	return &templater{data: data, cache: map[string]string{}}
}

// templateError is a failed template, with a hint for the user.
type templateError struct{ msg, hint string }

func (e *templateError) Error() string { return e.msg }

var (
	missingKeyRE   = regexp.MustCompile(`map has no entry for key "((?:[^"\\]|\\.)*)"`)
	templatePrefix = regexp.MustCompile(`^template: t:(\d+:)?(\d+:)? ?`)
	executingRE    = regexp.MustCompile(`executing "t" at (<[^>]*>): `)
)

// render renders s, or returns a *templateError.
func (t *templater) render(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	if out, ok := t.cache[s]; ok {
		return out, nil
	}
	tmpl, err := template.New("t").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", &templateError{msg: "template: " + cleanTemplateError(err)}
	}
	for _, tt := range tmpl.Templates() {
		if tt.Tree != nil && hasRange(tt.Tree.Root) {
			return "", &templateError{msg: "template: range is not supported in jobs file templates"}
		}
	}
	var b limitedBuilder
	if err := tmpl.Execute(&b, t.data); err != nil {
		if m := missingKeyRE.FindStringSubmatch(err.Error()); m != nil {
			name := m[1]
			return "", &templateError{msg: fmt.Sprintf("undefined var %q", name), hint: t.varsHint(name)}
		}
		if errors.Is(err, errTemplateTooLong) {
			return "", &templateError{msg: fmt.Sprintf("template output longer than %d bytes", maxTemplateOutput)}
		}
		return "", &templateError{msg: "template: " + cleanTemplateError(err)}
	}
	out := b.String()
	t.cache[s] = out
	return out, nil
}

// varsHint lists the defined vars and how to set the missing one.
func (t *templater) varsHint(missing string) string {
	if len(t.data.Vars) == 0 {
		return fmt.Sprintf("no vars are defined: add it under vars: or pass --set %s=VALUE", missing)
	}
	names := make([]string, 0, len(t.data.Vars))
	for k := range t.data.Vars {
		names = append(names, k)
	}
	slices.Sort(names)
	return fmt.Sprintf("defined vars: %s; add it under vars: or pass --set %s=VALUE", strings.Join(names, ", "), missing)
}

// cleanTemplateError drops text/template's "template: t:1:5:" prefix and
// names the failing action.
func cleanTemplateError(err error) string {
	s := templatePrefix.ReplaceAllString(err.Error(), "")
	return executingRE.ReplaceAllString(s, "at $1: ")
}

// hasRange reports whether a template uses range, which could loop for a
// very long time ({{ range 1000000000000 }}).
func hasRange(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if hasRange(c) {
				return true
			}
		}
	case *parse.RangeNode:
		return true
	case *parse.IfNode:
		return hasRange(n.List) || (n.ElseList != nil && hasRange(n.ElseList))
	case *parse.WithNode:
		return hasRange(n.List) || (n.ElseList != nil && hasRange(n.ElseList))
	}
	return false
}

var errTemplateTooLong = errors.New("template output too long")

// limitedBuilder is a strings.Builder that refuses to grow past
// maxTemplateOutput.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTemplateOutput {
		return 0, errTemplateTooLong
	}
	return b.Builder.Write(p)
}

// escapeTemplate returns a template that renders to exactly s: every "{{"
// becomes {{"{{"}}. Render uses it so that rendered text is read back
// unchanged.
func escapeTemplate(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return strings.ReplaceAll(s, "{{", `{{"{{"}}`)
}

package prodspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// LoadOptions change how a file is loaded.
type LoadOptions struct {
	// Set overrides vars, as `--set k=v` does. A name the file does not
	// declare is added, with a warning.
	Set map[string]string

	// Project is the project of a legacy file, which cannot name one.
	// When empty, a legacy file's project is its directory's name made
	// into a valid project name, or "coding" when that gives nothing.
	// YAML files always name their own project; Project does not change it.
	Project string
}

// Load reads and parses the jobs file at path; see Parse.
func Load(path string, opts LoadOptions) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// Parse parses a jobs file: YAML, or the original tool's protobuf text
// format (see IsLegacy). path is used in errors and to name a legacy file's
// project; it is not read. The returned File is validated and normalised.
// On failure the error is an ErrorList holding every problem found.
func Parse(path string, data []byte, opts LoadOptions) (*File, error) {
	if IsLegacy(path, data) {
		return parseLegacy(path, data, opts)
	}
	return parseYAML(path, data, opts)
}

var legacyStartRE = regexp.MustCompile(`^jobs\s*:?\s*[<{\[]`)

// IsLegacy reports whether a file is in the legacy protobuf text format: its
// name ends in .pb.txt, .textproto, .txtpb or .prototxt, or its first token
// after comments is `jobs` followed by `<` or `{` (with or without a colon).
func IsLegacy(path string, data []byte) bool {
	for _, ext := range []string{".pb.txt", ".textproto", ".txtpb", ".prototxt"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	rest := data
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		return legacyStartRE.Match(line)
	}
	return false
}

// Top-level keys of a jobs file.
var fileKeys = []string{"project", "registry", "dns_suffix", "vars", "hosts", "services", "environments"}

// parseYAML parses and validates a YAML jobs file.
func parseYAML(path string, data []byte, opts LoadOptions) (*File, error) {
	d := &decoder{reporter: reporter{file: path}, maxWork: 100_000 + 10*len(data)}
	root := d.parseDocument(data)
	if root == nil {
		return nil, d.result()
	}
	f := &File{Path: path, DNSSuffix: DefaultDNSSuffix}
	src := &sources{}
	d.decodeFile(root, f, src, opts)
	if d.closed {
		return nil, d.result()
	}
	validate(f, src, &d.reporter, &d.suggest)
	if err := d.result(); err != nil {
		return nil, err
	}
	f.Warnings = append(src.warnings, placementWarnings(f)...)
	slices.Sort(f.Warnings)
	return f, nil
}

// yamlErrorRE matches yaml.v3 syntax errors, which carry only a line.
var yamlErrorRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// unknownAnchorRE matches yaml.v3's error for an alias to no anchor, which
// carries no position.
var unknownAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// yamlParserErrors are the yaml.v3 errors raised by its parser rather than
// its scanner. yaml.v3 reports their line counting from 0 (and the scanner's
// counting from 1), so their line needs one added.
var yamlParserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// parseDocument parses data into the root node of its single document, or
// records an error and returns nil.
func (d *decoder) parseDocument(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on some malformed input in the past.
		if r := recover(); r != nil {
			d.errorAt(Pos{Line: 1, Column: 1}, "", "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorAt(Pos{Line: 1, Column: 1}, "", "empty file").Hint = "a jobs file needs at least project: and services:"
			return nil
		}
		d.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(data, err)
		return nil
	default:
		d.errorAt(pos(&extra), "", "more than one YAML document").Hint = "a jobs file is one document: remove the ---"
		return nil
	}
	if len(doc.Content) == 0 {
		d.errorAt(Pos{Line: 1, Column: 1}, "", "empty file")
		return nil
	}
	return d.node(doc.Content[0])
}

// syntaxError records a yaml.v3 error. yaml.v3 reports only the line, so
// the column is that of the line's first non-blank character.
func (d *decoder) syntaxError(data []byte, err error) {
	msg := err.Error()
	p := Pos{Line: 1, Column: 1}
	if m := yamlErrorRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if yamlParserErrors[msg] {
			p.Line++
		}
		p.Column = firstColumn(data, p.Line)
	} else if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			p = offsetPos(data, i)
		}
		msg = fmt.Sprintf("alias *%s refers to no anchor", m[1])
		d.errorAt(p, "", "%s", msg).Hint = fmt.Sprintf("define it first with &%s", m[1])
		return
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errorAt(p, "", "YAML syntax error: %s", msg)
}

// offsetPos returns the position of a byte offset.
func offsetPos(data []byte, off int) Pos {
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return Pos{Line: line, Column: utf8.RuneCount(before) + 1}
}

// firstColumn returns the column of the first non-blank character of a
// line, or 1.
func firstColumn(data []byte, line int) int {
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	if line < 1 || line > len(lines) {
		return 1
	}
	l := lines[line-1]
	return len(l) - len(bytes.TrimLeft(l, " \t")) + 1
}

// decodeFile decodes the top level of a jobs file.
func (d *decoder) decodeFile(root *yaml.Node, f *File, src *sources, opts LoadOptions) {
	top, ok := d.fields(root, "", fileKeys)
	if !ok {
		return
	}
	// project and vars are plain text, needed before any template renders.
	if e, ok := top["project"]; ok {
		if s, ok := d.str(e.v, "project"); ok {
			if err := checkName("project", s); err != nil {
				d.errorAt(pos(e.v), "project", "%v", err)
			}
			f.Project = s
		}
	} else {
		d.errorAt(pos(root), "", "missing required key %q", "project").Hint = "add project: <name>, e.g. project: coding"
	}
	if e, ok := top["vars"]; ok {
		f.Vars, _ = d.strMap(e.v, "vars", nil)
	}
	for _, k := range sortedKeys(opts.Set) {
		if _, ok := f.Vars[k]; !ok {
			src.warnings = append(src.warnings, fmt.Sprintf("--set %s: the file declares no var %q", k, k))
		}
		if f.Vars == nil {
			f.Vars = map[string]string{}
		}
		f.Vars[k] = opts.Set[k]
	}
	d.tmpl = newTemplater(TemplateData{Vars: f.Vars, Project: f.Project})

	if e, ok := top["registry"]; ok {
		if s, ok := d.str(e.v, "registry"); ok {
			s = strings.TrimSuffix(s, "/")
			if err := checkRegistry(s); err != nil {
				d.errorAt(pos(e.v), "registry", "%v", err)
			} else {
				f.Registry = s
				d.registry = s
			}
		}
	}
	if e, ok := top["dns_suffix"]; ok {
		if s, ok := d.str(e.v, "dns_suffix"); ok {
			if !dnsRE.MatchString(s) {
				err := d.errorAt(pos(e.v), "dns_suffix", "invalid dns_suffix %q: want a dot and a lowercase DNS name, like %s", s, DefaultDNSSuffix)
				if dnsRE.MatchString("." + s) {
					err.Hint = fmt.Sprintf("did you mean %q?", "."+s)
				}
			} else {
				f.DNSSuffix = s
			}
		}
	}
	if e, ok := top["hosts"]; ok {
		f.Hosts = d.hosts(e.v)
	}
	if e, ok := top["services"]; ok {
		f.Services = d.services(e.v, src)
	}
	if e, ok := top["environments"]; ok {
		f.Environments = d.environments(e.v, src)
	}
}

// Keys of a host.
var hostKeys = []string{"address", "docker", "tls", "memory", "labels"}

// Keys of a host's tls.
var tlsKeys = []string{"ca", "cert", "key"}

// hosts decodes the hosts mapping, sorted by name.
func (d *decoder) hosts(n *yaml.Node) []*Host {
	es, _ := d.mapping(n, "hosts")
	var out []*Host
	for _, e := range es {
		path := join("hosts", e.key)
		if err := checkHostName(e.key); err != nil {
			d.errorAt(pos(e.k), path, "%v", err)
		}
		h := &Host{Name: e.key, Pos: pos(e.k)}
		out = append(out, h)
		fs, ok := d.fields(e.v, path, hostKeys)
		if !ok {
			continue
		}
		if e, ok := fs["address"]; ok {
			h.Address, _ = d.str(e.v, join(path, "address"))
		}
		if e, ok := fs["docker"]; ok {
			if s, ok := d.str(e.v, join(path, "docker")); ok {
				if !strings.Contains(s, "://") {
					d.errorAt(pos(e.v), join(path, "docker"), "invalid docker endpoint %q", s).Hint =
						"use a URL such as tcp://10.0.2.12:2376, ssh://user@host or unix:///var/run/docker.sock"
				} else {
					h.Docker = s
				}
			}
		}
		if e, ok := fs["tls"]; ok {
			tpath := join(path, "tls")
			if tf, ok := d.fields(e.v, tpath, tlsKeys); ok {
				h.TLS = &TLS{}
				for key, dst := range map[string]*string{"ca": &h.TLS.CA, "cert": &h.TLS.Cert, "key": &h.TLS.Key} {
					if te, ok := tf[key]; ok {
						*dst, _ = d.str(te.v, join(tpath, key))
					} else {
						d.errorAt(pos(e.v), tpath, "missing %s", key).Hint = "tls needs ca, cert and key: the files of the engine's client certificate"
					}
				}
			}
		}
		if e, ok := fs["memory"]; ok {
			h.Memory, _ = d.size(e.v, join(path, "memory"))
		}
		if e, ok := fs["labels"]; ok {
			h.Labels, _ = d.strMap(e.v, join(path, "labels"), nonEmptyKey)
		}
	}
	slices.SortFunc(out, func(a, b *Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func nonEmptyKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	return nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
